#include "node/worker.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "agent/agent.h"
#include "api/worker_vm_service.h"
#include "blixard/v1/internal.grpc.pb.h"
#include "common/fault_point.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"
#include "node/capacity.h"
#include "node/daemon_common.h"
#include "node/data_dir.h"
#include "node/fence_guard.h"
#include "node/liveness.h"
#include "node/logging.h"
#include "rpc/channels.h"
#include "rpc/servers.h"
#include "state/commands.h"
#include "vmm/host_net.h"
#include "vmm/hypervisor.h"

namespace blixard::node {
namespace {

constexpr auto kReconnect = std::chrono::milliseconds(100);

std::chrono::system_clock::time_point ToSystem(Deadline d) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(d - Clock::now());
}

Status FromGrpc(const grpc::Status& s, const std::string& address) {
  if (s.ok()) return Status::Ok();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Status::Unavailable("server " + address + ": " + s.error_message());
  }
  return Status(static_cast<StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

struct WorkerLink::Impl {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  grpc::ClientContext* watching = nullptr;  // the open stream, to cancel at Stop

  std::unique_ptr<v1::WorkerService::Stub> Stub(const std::string& address) {
    std::lock_guard lk(mu);
    auto& ch = channels[address];
    if (!ch) ch = rpc::NewChannel(address, rpc::ChannelOptions::WorkerLink());
    return v1::WorkerService::NewStub(ch);
  }
};

WorkerLink::WorkerLink(uint64_t id, std::vector<std::string> servers, std::string cluster_id)
    : id_(id), servers_(std::move(servers)), impl_(std::make_unique<Impl>()),
      cluster_id_(std::move(cluster_id)) {}

WorkerLink::~WorkerLink() { Stop(); }

std::string WorkerLink::NextServer() {
  std::lock_guard lk(mu_);
  return servers_[next_++ % servers_.size()];
}

std::string WorkerLink::cluster_id() const {
  std::lock_guard lk(mu_);
  return cluster_id_;
}

Result<std::string> WorkerLink::Register(const v1::Node& offer, Deadline deadline) {
  Status last = Status::Unavailable("no server answered");
  auto backoff = std::chrono::milliseconds(100);
  while (Clock::now() < deadline) {
    const std::string via = NextServer();
    v1::RegisterWorkerRequest req;
    req.set_cluster_id(cluster_id());
    *req.mutable_node() = offer;
    req.mutable_node()->set_id(id_);
    v1::RegisterWorkerResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(ToSystem(std::min(deadline, Clock::now() + std::chrono::seconds(10))));
    Status s = FromGrpc(impl_->Stub(via)->RegisterWorker(&ctx, req, &resp), via);
    if (s.ok()) {
      std::lock_guard lk(mu_);
      cluster_id_ = resp.cluster_id();
      return cluster_id_;
    }
    if (s.code() != StatusCode::kUnavailable) {
      return Status(s.code(), "registering through " + via + " was refused: " + s.message());
    }
    last = s;
    spdlog::warn("worker {}: registering through {} failed, retrying: {}", id_, via, s.message());
    std::this_thread::sleep_for(
        std::min<Clock::duration>(backoff, std::max<Clock::duration>(deadline - Clock::now(), {})));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
  return Status::Unavailable("could not register with any server before the deadline (--join-timeout): " +
                             last.message());
}

Status WorkerLink::Write(const v1::Command& cmd, Deadline deadline) {
  v1::WorkerWriteRequest req;
  req.set_cluster_id(cluster_id());
  req.set_node_id(id_);
  cmd.SerializeToString(req.mutable_command());
  Status last = Status::Unavailable("no server answered");
  if (BLIXARD_FAULT("worker/cut-off")) return Status::Unavailable("cut off (fault point worker/cut-off)");
  for (size_t i = 0; i < servers_.size() && Clock::now() < deadline; ++i) {
    std::string via;
    {
      std::lock_guard lk(mu_);
      via = servers_[next_ % servers_.size()];
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(ToSystem(deadline));
    v1::WorkerWriteResponse resp;
    last = FromGrpc(impl_->Stub(via)->WorkerWrite(&ctx, req, &resp), via);
    if (last.code() != StatusCode::kUnavailable) return last;
    NextServer();  // that one is unreachable: use the next from now on
  }
  return last;
}

void WorkerLink::Watch(std::function<void()> on_change) {
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] {
    SetThreadName("assign-watch");
    WatchLoop();
  });
}

void WorkerLink::Stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->watching) impl_->watching->TryCancel();
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WorkerLink::WatchLoop() {
  while (true) {
    v1::WatchAssignmentsRequest req;
    std::string via;
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      via = servers_[watch_next_ % servers_.size()];
      req.set_cluster_id(cluster_id_);
      req.set_from_version(view_.has_set() ? view_.version() : 0);
    }
    req.set_node_id(id_);
    if (BLIXARD_FAULT("worker/cut-off")) {
      std::unique_lock lk(mu_);
      stop_cv_.wait_for(lk, kReconnect, [this] { return stopping_; });
      continue;
    }
    grpc::ClientContext ctx;
    {
      std::lock_guard lk(impl_->mu);
      impl_->watching = &ctx;
    }
    {
      std::lock_guard lk(mu_);
      if (stopping_) ctx.TryCancel();
    }
    auto reader = impl_->Stub(via)->WatchAssignments(&ctx, req);
    v1::AssignmentUpdate u;
    bool first = true;
    while (reader->Read(&u)) {
      if (BLIXARD_FAULT("worker/cut-off")) {
        ctx.TryCancel();
        break;
      }
      if (first) {
        ++opened_;
        if (u.full()) {
          ++full_sets_;
          spdlog::info("worker {}: assignment stream from {}: a full set of {} VMs at version {}", id_,
                       via, u.vms_size(), u.version());
        } else {
          spdlog::info("worker {}: assignment stream from {} resumed from version {} (a diff to {})",
                       id_, via, u.base_version(), u.version());
        }
        first = false;
      }
      Status s;
      {
        std::lock_guard lk(mu_);
        s = view_.Apply(u);
      }
      if (!s.ok()) {
        spdlog::warn("worker {}: assignment stream from {}: {}; reconnecting", id_, via, s.message());
        ctx.TryCancel();
        break;
      }
      if (!state::EmptyDiff(u) && on_change_) on_change_();
    }
    grpc::Status end = reader->Finish();
    {
      std::lock_guard lk(impl_->mu);
      impl_->watching = nullptr;
    }
    std::unique_lock lk(mu_);
    if (stopping_) return;
    spdlog::debug("worker {}: assignment stream from {} ended: {}", id_, via, end.error_message());
    if (first) ++watch_next_;  // nothing came: try the next server (else the same, which can resume)
    stop_cv_.wait_for(lk, kReconnect, [this] { return stopping_; });
  }
}

std::optional<std::vector<v1::Vm>> WorkerLink::Placed() const {
  std::lock_guard lk(mu_);
  if (!view_.has_set()) return std::nullopt;
  std::vector<v1::Vm> out;
  out.reserve(view_.set().size());
  for (const auto& [name, vm] : view_.set()) out.push_back(vm);
  return out;
}

std::optional<v1::Vm> WorkerLink::PlacedVm(const std::string& name) const {
  std::lock_guard lk(mu_);
  if (!view_.has_set()) return std::nullopt;
  auto it = view_.set().find(name);
  if (it == view_.set().end()) return std::nullopt;
  return it->second;
}

uint64_t WorkerLink::version() const {
  std::lock_guard lk(mu_);
  return view_.version();
}

uint64_t WorkerLink::applied_index() const {
  std::lock_guard lk(mu_);
  return view_.applied_index();
}

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
// (node/liveness.h). A leader hint naming an address outside --join is not
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

Status WriteClusterId(const std::string& path, const std::string& id) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    out.flush();
    if (!out) return Status::IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IoError("cannot rename " + tmp);
  return Status::Ok();
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
  WorkerLink link(o.id, o.join, known_cluster);
  // Serves what needs this node (vm logs, pause, resume) for the VMs placed
  // here; the servers proxy those calls to its --bind. Listening before
  // registering, so that a busy --bind fails at once.
  std::unique_ptr<vmm::Hypervisor> hypervisor = MakeHypervisor(o);
  // Made here (it starts nothing yet): pause and resume report in its sequence.
  std::unique_ptr<vmm::HostNetwork> host_net = MakeHostNetwork(o);
  WorkerAgentHost agent_host(link);
  agent::AgentOptions agent_options;
  agent_options.bridge = o.bridge;
  agent_options.host_net = host_net.get();
  agent::Agent agent(agent_options, *hypervisor, agent_host);
  api::WorkerVmService vm_service(
      o.id, *hypervisor,
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
    if (Status s = WriteClusterId(cluster_file, *cluster); !s.ok()) {
      spdlog::error("{}", s.message());
      return 1;
    }
  }
  spdlog::info("worker {} registered in cluster {} (servers {})", o.id, *cluster, fmt::join(o.join, ","));

  WorkerSelf self(link, o.join);
  LivenessOptions lo;
  lo.ttl_ms = static_cast<int64_t>(o.node_ttl_s * 1000);
  lo.tick_ms = o.tick_ms;
  lo.state_file = o.data_dir + "/liveness";
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
      [&o, registered = *offer]() -> Result<v1::Node> {
        auto now = NodeOffer(o.capacity, ReadHostResources(o.data_dir));
        if (now.ok()) {
          now->set_id(registered.id());
          now->set_address(registered.address());
        }
        return now;
      },
      [&link](const v1::Node& offer) {
        return link.Write(state::MakeUpdateNode(offer, NowUnixMs()), Clock::now() + std::chrono::seconds(5));
      },
      *offer, std::chrono::milliseconds(std::max<int64_t>(lo.ttl_ms / 3, 100)));

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down", strsignal(sig));
  offer_reporter.reset();
  liveness.Stop();
  agent.Stop();  // VMs keep running: the next start adopts them
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  link.Stop();
  spdlog::info("worker {} stopped cleanly", o.id);
  return 0;
}

}  // namespace blixard::node
