#include "daemon/worker.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <optional>

#include "agent/agent.h"
#include "api/access.h"
#include "api/worker_vm_service.h"
#include "common/fault_point.h"
#include "common/file.h"
#include "common/wall_clock.h"
#include "daemon/backend.h"
#include "daemon/capacity.h"
#include "daemon/cert_renewal.h"
#include "daemon/credentials.h"
#include "daemon/data_dir.h"
#include "daemon/fence_guard.h"
#include "daemon/liveness.h"
#include "daemon/worker_link.h"
#include "rpc/security.h"
#include "rpc/servers.h"
#include "state/commands.h"
#include "vmm/host_net.h"
#include "vmm/hypervisor.h"

namespace blixard::daemon {

using node::Clock;

namespace {

// The agent's view of a worker: placements from the stream, status reports
// through a server.
class WorkerAgentHost : public agent::AgentHost {
 public:
  explicit WorkerAgentHost(WorkerLink& link) : link_(link) {}
  std::optional<std::vector<v1::Vm>> PlacedHere() override { return link_.Placed(); }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation) override {
    return link_
        .Write(state::MakeReportVmStatus(name, link_.id(), phase, message, NowUnixMs(), seq, observed_generation),
               Clock::now() + std::chrono::seconds(5))
        .ok();
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    return link_
        .Write(state::MakeVmStoppedForMove(name, link_.id(), move_index, NowUnixMs()),
               Clock::now() + std::chrono::seconds(5))
        .ok();
  }

 private:
  WorkerLink& link_;
};

// Liveness of a worker: heartbeats go only to the --join servers (a worker
// reaches the cluster by the addresses it was given, which need not be the
// servers' own: a proxy, NAT), to the one that acked last, else to each in
// turn; a server that is not the leader passes them on to the leader
// (daemon/liveness.h). A leader hint naming an address outside --join is not
// followed. The fence rule re-opens once the stream reached the ack's index.
class WorkerSelf : public LivenessSelf {
 public:
  WorkerSelf(WorkerLink& link, std::vector<std::string> servers)
      : link_(link), servers_(std::move(servers)) {}
  uint64_t id() const override { return link_.id(); }
  std::string cluster_id() const override { return link_.cluster_id(); }
  std::string HeartbeatAddress(const std::string& hint) override {
    if (BLIXARD_FAULT("worker/cut-off")) return "";  // sends nothing
    const bool given = std::find(servers_.begin(), servers_.end(), hint) != servers_.end();
    return given ? hint : link_.NextServer();
  }
  uint64_t applied_index() override { return link_.applied_index(); }

 private:
  WorkerLink& link_;
  const std::vector<std::string> servers_;
};

std::string ReadClusterId(const std::string& path) {
  std::ifstream in(path);
  std::string id;
  in >> id;
  return id;
}

// The worker's certificate (loaded, or got with its join token), shown on
// every channel and server it builds. False (logged) when it has none.
// `out`: the credentials, for renewal and the worker's offer.
bool SecureChannels(const DaemonOptions& o, const std::string& known_cluster, std::optional<NodeCredentials>* out) {
  if (o.insecure) {
    spdlog::warn("--insecure: serving without TLS; anyone who reaches {} can drive this worker's VMs", o.bind);
    return true;
  }
  auto loaded = LoadCredentials(o.data_dir, pki::Identity::Worker("", o.id));
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return false;
  }
  Result<NodeCredentials> c = Status::Internal("unset");
  if (*loaded) {
    c = std::move(**loaded);
  } else if (!known_cluster.empty()) {
    spdlog::error("{} belongs to cluster {} but holds no certificate (made without TLS); start it with --insecure",
                  o.data_dir, known_cluster);
    return false;
  } else if (o.token.empty()) {
    spdlog::error("a new worker needs --token (make one on a server with 'blixard cluster token create --role "
                  "worker'), or --insecure on every node");
    return false;
  } else {
    c = JoinWithToken(o.data_dir, pki::Identity::Kind::kWorker, o.id, o.join, o.token,
                      Clock::now() + std::chrono::seconds(o.join_timeout_s));
  }
  if (!c.ok()) {
    spdlog::error("worker {} has no certificate: {}", o.id, c.status().ToString());
    return false;
  }
  rpc::SetProcessSecurity(rpc::RpcSecurity::Tls(c->tls, api::CheckCall));
  *out = std::move(c).value();
  return true;
}

}  // namespace

int RunWorker(const DaemonOptions& o, const sigset_t& signals) {
  auto lock = DataDirLock::Acquire(o.data_dir);
  if (!lock.ok()) {
    spdlog::error("{}", lock.status().message());
    return 1;
  }
  if (!EnsureFenceGuard(o)) return 1;
  auto offer = NodeOffer(o.capacity, ReadHostResources(o.data_dir));
  if (!offer.ok()) {
    spdlog::error("{}", offer.status().message());
    return 2;
  }
  offer->set_address(o.bind);
  const std::string cluster_file = o.data_dir + "/cluster-id";
  const std::string known_cluster = ReadClusterId(cluster_file);
  std::optional<NodeCredentials> credentials;
  if (!SecureChannels(o, known_cluster, &credentials)) return 1;
  std::atomic<int64_t> cert_expires{credentials ? credentials->cert.not_after_unix : 0};
  offer->set_cert_expires_unix(cert_expires);
  WorkerLink link(o.id, o.join, known_cluster);
  // Serves what needs this node (vm logs, pause, resume) for the VMs placed
  // here; the servers proxy those calls to its --bind. Listening before
  // registering, so that a busy --bind fails at once.
  std::unique_ptr<vmm::Hypervisor> hypervisor = MakeHypervisor(o);
  // The agent is made here (it starts nothing yet): pause and resume go
  // through it, held until liveness opens it at the first fresh ack.
  std::unique_ptr<vmm::HostNetwork> host_net = MakeHostNetwork(o);
  WorkerAgentHost agent_host(link);
  agent::AgentOptions agent_options;
  agent_options.bridge = o.bridge;
  agent_options.host_net = host_net.get();
  agent::Agent agent(agent_options, *hypervisor, agent_host);
  agent.Hold();
  api::WorkerVmService vm_service(
      o.id, *hypervisor, agent,
      {.placed = [&link](const std::string& name) { return link.PlacedVm(name); },
       .report = [&link, &agent](const v1::Vm& vm, v1::VmPhase phase,
                                 const std::string& message) {
         // Ordered with the agent's reports (Agent::NextReportSeq).
         return link.Write(state::MakeReportVmStatus(vm.spec().name(), link.id(), phase, message,
                                                     NowUnixMs(), agent.NextReportSeq(),
                                                     vm.generation()),
                           Clock::now() + std::chrono::seconds(5));
       }});
  auto listening = rpc::StartServer(o.bind, {&vm_service}, rpc::ServerOptions::Worker());
  if (!listening.ok()) {
    spdlog::error("{}; stop the other process or choose another --bind", listening.status().message());
    return 1;
  }
  std::unique_ptr<grpc::Server> server = std::move(listening->server);
  auto cluster = link.Register(*offer, Clock::now() + std::chrono::seconds(o.join_timeout_s));
  if (!cluster.ok()) {
    spdlog::error("worker {} cannot register: {}", o.id, cluster.status().message());
    return 1;
  }
  if (*cluster != known_cluster) {
    if (Status s = WriteFileAtomically(cluster_file, *cluster + "\n"); !s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
  }
  spdlog::info("worker {} registered in cluster {} (servers {})", o.id, *cluster, fmt::join(o.join, ","));

  WorkerSelf self(link, o.join);
  const LivenessOptions lo = LivenessOptionsFor(o);
  HeartbeatSender liveness(lo, self, agent);  // holds the agent until a fresh ack
  link.Watch([&agent] { agent.Poke(); });
  liveness.Start();
  agent.Start();
  spdlog::info("worker {} running VMs with the {} backend", o.id, hypervisor->BackendName());
  offer->set_id(o.id);
  // What changes under the running worker (e.g. its CPU affinity narrowed)
  // reaches its record; registration carried the offer of this start.
  auto offer_reporter = std::make_unique<OfferReporter>(
      "worker " + std::to_string(o.id),
      [&o, &cert_expires, registered = *offer]() -> Result<v1::Node> {
        auto now = NodeOffer(o.capacity, ReadHostResources(o.data_dir));
        if (now.ok()) {
          now->set_id(registered.id());
          now->set_address(registered.address());
          now->set_cert_expires_unix(cert_expires.load());
        }
        return now;
      },
      [&link](const v1::Node& offer) {
        return link.Write(state::MakeUpdateNode(offer, NowUnixMs()), Clock::now() + std::chrono::seconds(5));
      },
      *offer, std::chrono::milliseconds(std::max<int64_t>(lo.ttl_ms / 3, 100)));
  std::unique_ptr<CertRenewal> renewal;
  if (credentials) {
    renewal = std::make_unique<CertRenewal>(credentials->identity.Describe(), credentials->cert,
                                            WorkerRenewal(TlsDir(o.data_dir), credentials->identity, o.join),
                                            [&cert_expires](const pki::CertInfo& c) { cert_expires = c.not_after_unix; });
    renewal->Start();
  }

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", strsignal(sig));
  if (renewal) renewal->Stop();
  offer_reporter.reset();
  liveness.Stop();
  agent.Stop();  // VMs keep running: the next start adopts them
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  link.Stop();
  spdlog::info("worker {} stopped cleanly", o.id);
  return 0;
}

}  // namespace blixard::daemon
