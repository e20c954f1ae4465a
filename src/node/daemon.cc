#include "node/daemon.h"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>

#include "agent/agent.h"
#include "api/services.h"
#include "api/worker_service.h"
#include "common/wall_clock.h"
#include "state/commands.h"
#include "state/network.h"
#include "vmm/host_net.h"
#include "vmm/fake_hypervisor.h"
#include "vmm/hypervisor.h"
#include "vmm/microvm_flake.h"
#include "node/daemon_common.h"
#include "node/data_dir.h"
#include "node/worker.h"
#include "node/fault_control.h"
#include "node/fence_guard.h"
#include "node/liveness.h"
#include "node/logging.h"
#include "node/node.h"
#include "rpc/servers.h"
#include "storage/log_store.h"
#include "storage/wal_log_store.h"
#include "transport/transport.h"

namespace blixard::node {
namespace {

// The agent's view of its node: VMs placed here, and status reports that go
// through Raft (forwarded to the leader).
class NodeAgentHost : public agent::AgentHost {
 public:
  explicit NodeAgentHost(Node& node) : node_(node) {}
  std::optional<std::vector<v1::Vm>> PlacedHere() override {
    // Caught up: a leader is known and everything this node knows to be
    // committed is applied (after a restart, the log has been replayed).
    NodeStatus st = node_.GetStatus();
    if (st.leader_id == 0 || st.applied_index < st.commit_index) return std::nullopt;
    std::vector<v1::Vm> out;
    node_.Read([&](const state::ClusterState& st) {
      for (const v1::Vm* vm : st.VmsOnNode(node_.id())) out.push_back(*vm);
    });
    return out;
  }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation) override {
    auto r = node_.Propose(
        state::MakeReportVmStatus(name, node_.id(), phase, message, NowUnixMs(), seq, observed_generation),
        Clock::now() + std::chrono::seconds(5));
    return r.ok() && r->status.ok();
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    auto r = node_.Propose(state::MakeVmStoppedForMove(name, node_.id(), move_index, NowUnixMs()),
                           Clock::now() + std::chrono::seconds(5));
    return r.ok() && r->status.ok();
  }

 private:
  Node& node_;
};

std::string DefaultGuestDir() {
  if (const char* d = getenv("BLIXARD_GUEST_DIR")) return d;
  const char* home = getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/blixard/guest";
}

}  // namespace

std::unique_ptr<vmm::Hypervisor> MakeHypervisor(const DaemonOptions& o) {
  if (o.backend == "fake") {
    vmm::FakeHypervisorOptions f;
    f.host = "node-" + std::to_string(o.id);
    f.now_ms = [] { return NowUnixMs(); };
    if (!o.fake_record.empty()) {
      auto out = std::make_shared<std::ofstream>(o.fake_record, std::ios::app);
      f.on_event = [out, host = f.host](int64_t at, const std::string& vm, const std::string& what) {
        *out << at << ' ' << host << ' ' << vm << ' ' << what << std::endl;  // one write per line
      };
    }
    return std::make_unique<vmm::FakeHypervisor>(std::move(f));
  }
  const std::string runtime_root = o.runtime_dir.empty() ? o.data_dir + "/vms" : o.runtime_dir;
  if (o.backend == "microvm-nix") {
    vmm::MicrovmNixOptions m;
    m.runtime_root = runtime_root;
    m.hypervisor = o.microvm_hypervisor;
    m.nixpkgs = o.microvm_nixpkgs;
    m.microvm = o.microvm_flake;
    return vmm::NewMicrovmNixHypervisor(m);
  }
  vmm::QemuOptions q;
  q.runtime_root = runtime_root;
  const std::string guest = o.guest_dir.empty() ? DefaultGuestDir() : o.guest_dir;
  q.default_kernel = guest + "/vmlinuz";
  q.default_initrd = guest + "/initrd.img";
  q.accel = o.accel == "kvm" ? vmm::Accel::kKvm : o.accel == "tcg" ? vmm::Accel::kTcg : vmm::Accel::kAuto;
  if (access(q.default_kernel.c_str(), R_OK) != 0) {
    spdlog::warn("default guest kernel {} is missing: VMs without --kernel will fail; "
                 "build it with scripts/guest-image {}", q.default_kernel, guest);
  }
  return vmm::NewQemuHypervisor(q);
}

std::unique_ptr<vmm::HostNetwork> MakeHostNetwork(const DaemonOptions& o) {
  // Bridge VMs: real bridge and taps for real VMs, pretend ones for fake VMs.
  if (o.backend == "fake") return std::make_unique<vmm::FakeHostNetwork>();
  return vmm::NewLinuxHostNetwork();
}

Status ValidateOptions(const DaemonOptions& o) {
  if (o.role != "server" && o.role != "worker") {
    return Status::InvalidArgument("--role " + o.role + " is not a role: use server (a Raft member) or worker");
  }
  if (o.role == "worker" && o.join.empty()) {
    return Status::InvalidArgument("a worker needs --join SERVER[,SERVER...]: the address of one or more "
                                   "servers of its cluster");
  }
  if (o.id == 0) return Status::InvalidArgument("--id 0 is reserved: use a node id of 1 or more");
  if (o.bind.empty()) return Status::InvalidArgument("--bind is empty: use HOST:PORT or unix:/path");
  if (o.data_dir.empty()) return Status::InvalidArgument("--data-dir is empty: give a directory");
  if (o.tick_ms < 1 || o.tick_ms > 10000) {
    return Status::InvalidArgument("--tick-ms " + std::to_string(o.tick_ms) + " is out of range: use 1-10000");
  }
  if (o.election_ticks < 2 || o.election_ticks > 1000) {
    return Status::InvalidArgument("--election-ticks " + std::to_string(o.election_ticks) +
                                   " is out of range: use 2-1000");
  }
  if (o.store != "wal" && o.store != "lmdb") {
    return Status::InvalidArgument("--store " + o.store + " is not a log store: use wal or lmdb");
  }
  if (o.backend != "qemu" && o.backend != "microvm-nix" && o.backend != "fake") {
    return Status::InvalidArgument("--backend " + o.backend + " is not a backend: use qemu, microvm-nix or fake");
  }
  if (!vmm::IsMicrovmHypervisor(o.microvm_hypervisor)) {
    return Status::InvalidArgument("--microvm-hypervisor " + o.microvm_hypervisor +
                                   " is not a hypervisor microvm.nix knows: use " + vmm::MicrovmHypervisorList());
  }
  if (!o.fake_record.empty() && o.backend != "fake") {
    return Status::InvalidArgument("--fake-record needs --backend fake");
  }
  if (o.accel != "auto" && o.accel != "kvm" && o.accel != "tcg") {
    return Status::InvalidArgument("--accel " + o.accel + " is not an accelerator: use auto, kvm or tcg");
  }
  if (!o.vm_subnet.empty()) {
    if (auto subnet = state::ParseSubnet(o.vm_subnet); !subnet.ok()) {
      return Status::InvalidArgument("--vm-subnet: " + subnet.status().message());
    }
  }
  if (o.bridge.empty() || o.bridge.size() > 15 || o.bridge.find_first_of("/ :") != std::string::npos) {
    return Status::InvalidArgument("--bridge \"" + o.bridge + "\" is not an interface name: use 1-15 characters without '/', ':' or spaces");
  }
  if (o.voters < 1 || o.voters > 7) {
    return Status::InvalidArgument("--voters " + std::to_string(o.voters) + " is out of range: use 1-7 (3 or 5 is usual)");
  }
  if (!(o.node_ttl_s >= 0.3 && o.node_ttl_s <= 3600)) {
    return Status::InvalidArgument("--node-ttl " + std::to_string(o.node_ttl_s) +
                                   " is out of range: use 0.3-3600 seconds (default 3)");
  }
  if (o.max_message_bytes < 4096) {
    return Status::InvalidArgument("--max-message-bytes is too small: use at least 4096");
  }
  return Status::Ok();
}

int RunDaemon(const DaemonOptions& o) {
  // SIGINT/SIGTERM are taken synchronously by this thread (sigwait); every
  // thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: every lock gRPC takes then updates a global lock graph
  // under a global spinlock (a few % of the daemon's CPU under load).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  if (Status s = SetupLogging(o.log_level, o.log_format); !s.ok()) {
    fprintf(stderr, "error: %s\n", s.message().c_str());
    return 2;
  }
  if (Status s = ValidateOptions(o); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  if (Status s = EnableFaultPointsFromEnv(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  if (o.fence_guard) return RunFenceGuard(o, MakeHypervisor(o));
  if (o.role == "worker") return RunWorker(o, signals);
  auto lock = DataDirLock::Acquire(o.data_dir);
  if (!lock.ok()) {
    spdlog::error("{}", lock.status().message());
    return 1;
  }
  if (!EnsureFenceGuard(o)) return 1;
  auto offer = NodeOffer(o.capacity, ReadHostResources(o.data_dir));  // after the dir exists
  if (!offer.ok()) {
    spdlog::error("{}", offer.status().message());
    return 2;
  }
  // The WAL does one fdatasync per Ready (LMDB two, plus a B-tree branch
  // rewrite); both pass the same LogStore contract tests.
  auto store = o.store == "lmdb" ? storage::OpenLmdbLogStore(o.data_dir)
                                 : storage::OpenWalLogStore(o.data_dir);
  if (!store.ok()) {
    spdlog::error("cannot open the store in {}: {}", o.data_dir, store.status().ToString());
    return 1;
  }

  if (rpc::UnixSocketInUse(o.bind)) {
    spdlog::error("{} is in use by another server; stop it or choose another --bind", o.bind);
    return 1;
  }

  // The node is created before the server (a joining node must know its
  // cluster first); peer messages that arrive meanwhile are dropped and
  // Raft retransmits them.
  std::atomic<Node*> node_ptr{nullptr};
  auto cluster_id = [&node_ptr] {
    Node* n = node_ptr.load();
    return n ? n->cluster_id() : std::string();
  };
  transport::GrpcTransportOptions to;
  to.self = o.id;
  to.cluster_id = cluster_id;
  to.max_message_bytes = o.max_message_bytes;
  std::unique_ptr<transport::Transport> transport = transport::NewGrpcTransport(to);
  std::unique_ptr<grpc::Service> peer_service =
      transport::NewPeerService(cluster_id, [&node_ptr](std::vector<raft::Message> batch) {
        if (Node* n = node_ptr.load()) n->Receive(std::move(batch));
      });

  std::atomic<bool> fatal{false};
  // The agent starts after the node; until then there is nothing to wake.
  std::atomic<agent::Agent*> agent_ptr{nullptr};
  NodeConfig nc;
  nc.id = o.id;
  nc.address = o.bind;
  nc.snapshot_threshold = o.snapshot_threshold;
  nc.tick_ms = o.tick_ms;
  nc.election_ticks = o.election_ticks;
  nc.join = o.join;
  nc.max_voters = o.voters;
  nc.voter_replace_after_ms = o.voter_replace_after_s * 1000;
  nc.vm_subnet = o.vm_subnet;
  nc.transport = transport.get();
  nc.on_vms_changed = [&agent_ptr] {
    if (agent::Agent* a = agent_ptr.load()) a->Poke();
  };
  nc.on_fatal = [&fatal](const Status&) {
    fatal = true;
    ::kill(::getpid(), SIGTERM);  // wakes sigwait below
  };
  auto node = Node::Start(std::move(nc), std::move(store).value(),
                          Clock::now() + std::chrono::seconds(o.join_timeout_s));
  if (!node.ok()) {
    spdlog::error("cannot start node {} from {}: {}", o.id, o.data_dir, node.status().ToString());
    transport->Stop();
    return 1;
  }
  node_ptr = node->get();

  // Before the API, which serves console logs and pause/resume through it,
  // and so outlives the server.
  std::unique_ptr<vmm::Hypervisor> hypervisor = MakeHypervisor(o);
  api::ApiServices api(**node, hypervisor.get());
  // The agent acts only once liveness lets it (a fresh heartbeat ack).
  NodeAgentHost agent_host(**node);
  std::unique_ptr<vmm::HostNetwork> host_net = MakeHostNetwork(o);
  agent::AgentOptions agent_options;
  agent_options.bridge = o.bridge;
  agent_options.host_net = host_net.get();
  agent::Agent agent(agent_options, *hypervisor, agent_host);
  api.SetReportSeq([&agent] { return agent.NextReportSeq(); });
  LivenessOptions lo;
  lo.ttl_ms = static_cast<int64_t>(o.node_ttl_s * 1000);
  lo.tick_ms = o.tick_ms;
  lo.state_file = o.data_dir + "/liveness";
  Liveness liveness(lo, **node, agent);
  api.SetHeartbeatHandler([&liveness](const v1::HeartbeatRequest& req, Deadline d) {
    return liveness.HandleHeartbeat(req, d);
  });
  api::WorkerServiceImpl worker_service(**node);  // workers register and watch here
  std::vector<grpc::Service*> services = api.Services();
  services.push_back(&worker_service);
  services.push_back(peer_service.get());
  auto listening = rpc::StartServer(o.bind, services, rpc::ServerOptions::Member(o.max_message_bytes));
  if (!listening.ok()) {
    spdlog::error("{}; stop the other server or choose another --bind", listening.status().message());
    node_ptr = nullptr;
    (*node)->Stop();
    transport->Stop();
    return 1;
  }
  std::unique_ptr<grpc::Server> server = std::move(listening->server);
  spdlog::info("blixard node {} serving on {} (data dir {})", o.id, o.bind, o.data_dir);

  liveness.Start();
  agent.Start();
  agent_ptr = &agent;
  spdlog::info("agent running VMs with the {} backend", hypervisor->BackendName());
  OfferReporter offer_reporter(
      "node " + std::to_string(o.id),
      [&o]() -> Result<v1::Node> {
        auto now = NodeOffer(o.capacity, ReadHostResources(o.data_dir));
        if (now.ok()) now->set_id(o.id);
        return now;
      },
      ServerOfferWriter(**node), std::nullopt, std::chrono::milliseconds(250));

  int sig = 0;
  sigwait(&signals, &sig);
  if (fatal) {
    spdlog::error("stopping after a storage failure");
  } else {
    spdlog::info("received {}, shutting down", strsignal(sig));
  }
  agent_ptr = nullptr;
  liveness.Stop();
  agent.Stop();  // VMs keep running: the next start adopts them
  transport->Stop();
  // Other members' Raft streams never end on their own: give calls in
  // progress a moment, then cancel what is left.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  (*node)->Stop();
  server->Wait();
  if (fatal) {
    spdlog::error("node {} stopped after a storage failure; its data dir is recovered at the next start",
                  o.id);
    return 1;
  }
  spdlog::info("node {} stopped cleanly", o.id);
  return 0;
}

}  // namespace blixard::node
