#include "daemon/worker_link.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "blixard/v1/internal.grpc.pb.h"
#include "common/fault_point.h"
#include "common/thread_name.h"
#include "rpc/channels.h"

namespace blixard::daemon {

using node::Clock;
using node::Deadline;

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

}  // namespace blixard::daemon
