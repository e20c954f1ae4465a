// Node::Impl: start-up, the loop pass (Ready handling, apply, snapshots)
// and the Node facade. Writes and reads are in proposals.cc, the published
// status and apply listeners in node_status.cc, membership in membership.cc,
// the leader's side of forwarded requests in forwarding.cc.
#include "node/node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <signal.h>

#include <algorithm>
#include <random>

#include "common/fault_point.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"
#include "node/command_trace.h"
#include "node/node_impl.h"
#include "raft/conf_change.h"
#include "state/commands.h"
#include "transport/transport.h"

namespace blixard::node {
namespace {

// Passes a thread that found the loop idle runs before it hands the rest
// to the loop thread (RunOrPost).
constexpr int kMaxInlinePasses = 4;

}  // namespace

std::string NewClusterId() {
  std::random_device rd;
  return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
}

Node::Impl::Impl(NodeConfig config, std::unique_ptr<storage::LogStore> store)
    : config_(std::move(config)),
      request_nonce_((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()),
      store_(std::move(store)) {}

Node::Impl::~Impl() { Stop(); }

Status Node::Impl::Init(Deadline join_deadline) {
  auto id_meta = store_->GetMeta("node_id");
  if (!id_meta.ok()) return id_meta.status();
  const std::string my_id = std::to_string(config_.id);
  if (id_meta->has_value() && **id_meta != my_id) {
    return Status::FailedPrecondition("data dir belongs to node " + **id_meta + "; start with --id " +
                                      **id_meta + " or use another --data-dir");
  }
  auto loaded = store_->Load();
  if (!loaded.ok()) return loaded.status();
  raft::PersistentState ps = std::move(loaded).value();
  const bool fresh = ps.snapshot->meta.index == 0 && ps.snapshot->meta.conf.voters.empty() &&
                     ps.snapshot->meta.conf.learners.empty() && ps.entries.empty() &&
                     ps.hard_state == raft::HardState{};
  auto cid = store_->GetMeta("cluster_id");
  if (!cid.ok()) return cid.status();
  if (fresh && !cid->has_value()) {
    if (!config_.join.empty()) {
      if (Status s = JoinExisting(join_deadline); !s.ok()) return s;
    } else {
      auto snap = std::make_shared<raft::Snapshot>();
      snap->meta.conf.voters = {config_.id};
      if (Status s = store_->Save(std::nullopt, {}, snap); !s.ok()) return s;
      const std::string cid = config_.bootstrap_cluster_id.empty() ? NewClusterId() : config_.bootstrap_cluster_id;
      if (Status s = store_->PutMeta("cluster_id", cid); !s.ok()) return s;
      ps.snapshot = snap;
      spdlog::info("bootstrapped a new one-member cluster");
    }
  } else if (!config_.join.empty()) {
    spdlog::info("data dir already belongs to a cluster; --join ignored");
  }
  if (!id_meta->has_value()) {
    if (Status s = store_->PutMeta("node_id", my_id); !s.ok()) return s;
  }
  cid = store_->GetMeta("cluster_id");
  if (!cid.ok()) return cid.status();
  cluster_id_ = cid->value_or("");
  auto member = store_->GetMeta("member");
  if (!member.ok()) return member.status();
  ever_member_ = member->has_value();

  MemberConfig mc;
  mc.id = config_.id;
  mc.tick_ms = config_.tick_ms;
  mc.election_ticks = config_.election_ticks;
  mc.raft.heartbeat_tick = 1;
  mc.raft.seed = config_.id * 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  mc.snapshot_threshold = config_.snapshot_threshold;
  mc.max_voters = config_.max_voters;
  mc.voter_replace_after_ms = config_.voter_replace_after_ms;
  mc.self.set_address(config_.address);
  mc.self.set_role(v1::NODE_ROLE_VOTER);
  mc.self.set_health(v1::NODE_HEALTH_READY);
  mc.cluster_id = cluster_id_;
  mc.vm_subnet = config_.vm_subnet;
  mc.liveness_ttl_ms = config_.liveness_ttl_ms;
  mc.liveness_tick_ms = config_.tick_ms;
  member_ = std::make_unique<Member>(std::move(mc), store_.get(), static_cast<MemberHost*>(this));
  if (Status s = member_->Init(std::move(ps)); !s.ok()) return s;
  SetAddress(config_.id, config_.address);
  PublishStatus();
  thread_ = std::thread([this] {
    SetThreadName("raft-loop");
    Loop();
  });
  return Status::Ok();
}

void Node::Impl::Stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.get_id() == std::this_thread::get_id()) return;
  if (thread_.joinable()) thread_.join();
  replies_.Stop();
  std::unique_lock lk(mu_);
  blocking_cv_.wait(lk, [&] { return blocking_threads_ == 0; });
}

bool Node::Impl::RunBlocking(std::function<void()> fn) {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    ++blocking_threads_;
  }
  std::thread([this, fn = std::move(fn)]() mutable {
    fn();
    fn = nullptr;  // its captures go before Stop() may return
    std::lock_guard lk(mu_);
    if (--blocking_threads_ == 0) blocking_cv_.notify_all();
  }).detach();
  return true;
}

bool Node::Impl::Post(Task t) {
  bool wake;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(t));
    // Else the pass's end wakes the loop thread (EndInlinePass), or the
    // loop thread runs the pass itself.
    wake = !in_pass_;
  }
  if (wake) cv_.notify_one();
  return true;
}

bool Node::Impl::RunOrPost(Task t) {
  std::deque<Task> tasks;
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    // Behind what is queued, in order; and the loop thread's turn when it
    // waits for one (a tick is due).
    if (in_pass_ || !tasks_.empty() || loop_waits_for_pass_) {
      tasks_.push_back(std::move(t));
      if (!in_pass_) cv_.notify_one();
      return true;
    }
    in_pass_ = true;
  }
  tasks.push_back(std::move(t));
  // What arrives meanwhile is run here too, for a few passes, unless the
  // loop thread needs the pass (a tick is due).
  for (int pass = 1; Pass(tasks, false) && pass < kMaxInlinePasses; ++pass) {
    std::lock_guard lk(mu_);
    if (tasks_.empty() || loop_waits_for_pass_ || stopping_) break;
    tasks.swap(tasks_);
  }
  EndInlinePass();
  return true;
}

void Node::Impl::EndInlinePass() {
  bool wake;
  {
    std::lock_guard lk(mu_);
    in_pass_ = false;
    wake = !tasks_.empty() || loop_waits_for_pass_ || stopping_;
  }
  if (wake) cv_.notify_one();
}

void Node::Impl::Receive(std::vector<raft::Message> batch) {
  RunOrPost([this, batch = std::move(batch)]() mutable {
    for (const raft::Message& msg : batch) member_->Step(msg);
  });
}

std::string Node::Impl::AddressOf(uint64_t id) const {
  std::lock_guard lk(status_mu_);
  auto it = addresses_.find(id);
  return it == addresses_.end() ? "" : it->second;
}

// ---------------- the loop ----------------

void Node::Impl::Loop() {
  const auto tick = std::chrono::milliseconds(config_.tick_ms);
  auto next_tick = Clock::now() + tick;
  while (true) {
    std::deque<Task> tasks;
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_tick, [&] { return stopping_ || (!tasks_.empty() && !in_pass_); });
      if (!stopping_ && in_pass_) {  // a tick is due: wait for the inline pass
        loop_waits_for_pass_ = true;
        cv_.wait(lk, [&] { return stopping_ || !in_pass_; });
        loop_waits_for_pass_ = false;
      }
      if (stopping_) break;
      in_pass_ = true;
      tasks.swap(tasks_);
    }
    const bool tick_due = Clock::now() >= next_tick;
    if (tick_due) {
      next_tick += tick;
      if (next_tick < Clock::now()) next_tick = Clock::now() + tick;  // fell behind
    }
    const bool ok = Pass(tasks, tick_due);
    {
      std::lock_guard lk(mu_);
      in_pass_ = false;
    }
    if (!ok) return;
  }
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !in_pass_; });  // an inline pass ends first
    in_pass_ = true;
  }
  FailAll(Status::Unavailable("node is shutting down; the write may or may not be applied"));
}

bool Node::Impl::Pass(std::deque<Task>& tasks, bool tick_due) {
  for (auto& t : tasks) t();
  tasks.clear();
  if (tick_due) member_->Tick();
  if (Status s = member_->Drain(); !s.ok()) {
    Fatal(s);
    FailAll(Status::Unavailable("node stopped after a storage failure"));
    return false;
  }
  FlushReplies();
  PublishStatus();
  return true;
}

// ---- the member's host ----

int64_t Node::Impl::WallMs() { return NowUnixMs(); }

void Node::Impl::Send(std::vector<raft::Message> messages) {
  if (config_.transport) config_.transport->Send(std::move(messages));
}

void Node::Impl::ForgetPeer(uint64_t id) {
  if (config_.transport) config_.transport->RemovePeer(id);
}

bool Node::Impl::Continue(ReadyHost::Stage stage) {
  if (stage == ReadyHost::Stage::kPersisted && BLIXARD_FAULT("node/crash-after-persist")) ::raise(SIGKILL);
  return true;
}

void Node::Impl::OnSoftState(const raft::SoftState& ss) {
  spdlog::info("raft: node {} is {} (term {}, leader {})", config_.id, raft::RoleName(ss.role),
               member_->raft().term(), ss.leader);
}

bool Node::Impl::Fatal(const Status& s) {
  spdlog::critical("storage failure, stopping the node: {}", s.ToString());
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  if (config_.on_fatal) config_.on_fatal(s);
  return false;
}

void Node::Impl::FailAll(const Status& s) {
  member_->FailAll(s);
  auto done = member_->TakeCompleted();
  replies_.Run(done);
  std::lock_guard lk(mu_);
  tasks_.clear();  // their promises break: waiters see future_error and report shutdown
}

void Node::Impl::FlushReplies() {
  std::vector<ReplyThread::Callback> done = member_->TakeCompleted();
  if (done.empty()) return;
  if (done.size() == 1) {
    bool idle;
    {
      std::lock_guard lk(mu_);
      idle = tasks_.empty();
    }
    if (idle) {
      done.front()();
      return;
    }
  }
  replies_.Run(done);
}

// ---------------- Node ----------------

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() = default;

Result<std::unique_ptr<Node>> Node::Start(NodeConfig config, std::unique_ptr<storage::LogStore> store,
                                          Deadline join_deadline) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(store));
  if (Status s = impl->Init(join_deadline); !s.ok()) return s;
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

void Node::Stop() { impl_->Stop(); }
void Node::Receive(std::vector<raft::Message> batch) { impl_->Receive(std::move(batch)); }
Result<state::ApplyResult> Node::Propose(v1::Command cmd, Deadline d) {
  return impl_->Propose(std::move(cmd), d);
}
void Node::ProposeAsync(v1::Command cmd, Deadline d, ApplyCallback done) {
  impl_->ProposeAsync(std::move(cmd), d, std::move(done));
}
Result<JoinResult> Node::AddMember(uint64_t id, const std::string& address, Deadline d) {
  return impl_->AddMember(id, address, d);
}
Status Node::RemoveMember(uint64_t id, Deadline d) { return impl_->RemoveMember(id, d); }
Status Node::TransferLeader(uint64_t to, Deadline d) { return impl_->TransferLeader(to, d); }
v1::ForwardResponse Node::HandleForward(const v1::ForwardRequest& req, Deadline d) {
  return impl_->HandleForward(req, d);
}
Status Node::ReadBarrier(Deadline d) { return impl_->ReadBarrier(d); }
Result<Member::HeartbeatAck> Node::Heartbeat(uint64_t node_id, Deadline d) { return impl_->Heartbeat(node_id, d); }
void Node::Read(const std::function<void(const state::ClusterState&)>& fn) const { impl_->Read(fn); }
NodeStatus Node::GetStatus() const { return impl_->GetStatus(); }
uint64_t Node::AddApplyListener(std::function<void(uint64_t)> fn) {
  return impl_->AddApplyListener(std::move(fn));
}
void Node::RemoveApplyListener(uint64_t id) { impl_->RemoveApplyListener(id); }
uint64_t Node::id() const { return impl_->id(); }
std::string Node::cluster_id() const { return impl_->cluster_id(); }

}  // namespace blixard::node
