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

  if (!ps.snapshot->data.empty()) {
    if (Status s = state_.RestoreSnapshot(ps.snapshot->data); !s.ok()) return s;
  }
  snapshot_index_ = ps.snapshot->meta.index;
  applied_ = snapshot_index_;
  records_ = state_.vm_count() + state_.node_count();
  SyncAddressesFromState();
  for (const raft::Entry& e : ps.entries) NoteConfEntry(e, false);
  SetAddress(config_.id, config_.address);

  raft::Config rc;
  rc.id = config_.id;
  rc.election_tick = config_.election_ticks;
  rc.heartbeat_tick = 1;
  rc.seed = config_.id * 0x9E3779B97F4A7C15ull ^
            static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  const raft::HardState persisted = ps.hard_state;
  raft_ = std::make_unique<raft::Raft>(rc, std::move(ps));
  ready_ = std::make_unique<ReadyLoop>(raft_.get(), store_.get(), static_cast<ReadyHost*>(this), persisted);
  const raft::ConfState& conf = raft_->conf();
  if (conf.voters.size() == 1 && conf.voters[0] == config_.id) raft_->campaign();
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
    const auto now = Clock::now();
    for (raft::Message& msg : batch) {
      last_heard_[msg.from] = now;
      raft_->step(msg);
    }
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
  if (tick_due) {
    raft_->tick();
    if (raft_->role() == raft::Role::kLeader) RunControllers();
    ExpireProposals();
    ForgetRemovedPeers();
  }
  auto handle_readies = [&] {
    if (Status s = ready_->Drain(); !s.ok()) {
      Fatal(s);
      FailAll(Status::Unavailable("node stopped after a storage failure"));
      return false;
    }
    return true;
  };
  if (!handle_readies()) return false;
  // A new VM is placed as soon as its create is applied, not at the next
  // tick (PlacePendingVms batches: one entry in flight at a time).
  if (placement_dirty_ && raft_->role() == raft::Role::kLeader) {
    PlacePendingVms();
    if (!handle_readies()) return false;
  }
  FlushReplies();
  PublishStatus();
  return true;
}

// ---- the Ready handling's callbacks (ReadyLoop, in its fixed order) ----

void Node::Impl::Send(std::vector<raft::Message> messages) {
  if (config_.transport) config_.transport->Send(std::move(messages));
}

void Node::Impl::OnPersisted(const raft::Ready& rd) {
  for (const raft::Entry& e : rd.entries) NoteConfEntry(e, false);
}

bool Node::Impl::Continue(Stage stage) {
  if (stage == Stage::kPersisted && BLIXARD_FAULT("node/crash-after-persist")) ::raise(SIGKILL);
  return true;
}

Status Node::Impl::ApplySnapshot(const raft::Snapshot& snapshot) {
  if (snapshot.meta.index <= applied_) return Status::Ok();
  std::unique_lock lk(state_mu_);
  if (Status s = state_.RestoreSnapshot(snapshot.data); !s.ok()) return s;
  applied_ = snapshot.meta.index;
  snapshot_index_ = applied_;
  records_ = state_.vm_count() + state_.node_count();
  placement_dirty_ = true;
  lk.unlock();
  SyncAddressesFromState();
  return Status::Ok();
}

void Node::Impl::Apply(const std::vector<raft::Entry>& committed) {
  {
    std::unique_lock lk(state_mu_);
    for (const raft::Entry& e : committed) ApplyEntry(e);
    records_ = state_.vm_count() + state_.node_count();
  }
  if (vms_changed_) {
    vms_changed_ = false;
    if (config_.on_vms_changed) config_.on_vms_changed();
  }
}

void Node::Impl::OnReadStates(std::vector<raft::ReadState>& read_states) {
  for (raft::ReadState& rs : read_states) {
    auto it = reads_.find(rs.context);
    if (it != reads_.end()) it->second.index = rs.index;
  }
}

Status Node::Impl::OnAdvanced() {
  ServeReads();
  return MaybeSnapshot();
}

// REQUIRES: state_mu_ held exclusively.
void Node::Impl::ApplyEntry(const raft::Entry& e) {
  state::ApplyResult result;
  auto it = proposals_.find(e.index);
  // Someone waits for this very entry (same index and term: Log Matching).
  const bool awaited = it != proposals_.end() && it->second.term == e.term;
  if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
    v1::Command parsed;
    const v1::Command* known = awaited ? it->second.cmd.get() : nullptr;
    if (!known && !parsed.ParseFromString(e.data)) {
      result.status = Status::Corruption("entry " + std::to_string(e.index) + " is not a command");
    } else {
      const v1::Command& cmd = known ? *known : parsed;
      result = state_.Apply(cmd, e.index, awaited);
      TraceAppliedCommand(cmd);
      if (MayNeedPlacement(cmd)) placement_dirty_ = true;
      // The agent runs what is placed here: it is poked only when a
      // command changed that set (AssignmentsChangedAt names the nodes a
      // command touched), not for every VM created or moved elsewhere.
      if ((cmd.has_create_vm() || cmd.has_delete_vm() || cmd.has_set_vm_desired_state() ||
           cmd.has_place_vms()) &&
          state_.AssignmentsChangedAt(config_.id) == e.index) {
        vms_changed_ = true;
      }
      if (cmd.has_register_node() || cmd.has_remove_node()) SyncAddressesFromState();
    }
  } else if (e.type == raft::EntryType::kConfChange) {
    NoteConfEntry(e, true);
    placement_dirty_ = true;
  }
  applied_ = e.index;
  if (it != proposals_.end()) {
    if (awaited) {
      it->second.Complete(std::move(result), pending_replies_);
    } else {
      Overwritten(it->second);
    }
    proposals_.erase(it);
  }
  // Waiters below this index were overwritten by another leader's entries.
  while (!proposals_.empty() && proposals_.begin()->first < e.index) {
    Overwritten(proposals_.begin()->second);
    proposals_.erase(proposals_.begin());
  }
}

Status OverwrittenStatus() {
  return Status::Aborted("leadership changed before the write committed; it was not applied");
}

bool IsLeaderChange(const Status& s) { return s.code() == StatusCode::kAborted; }

// Nothing of the write was applied: an asynchronous client write is routed
// again (to whichever member leads now) while its deadline allows, as a
// blocked one is by ProposeLocal's caller; a controller's proposal fails.
void Node::Impl::Overwritten(ProposalWaiter& w) {
  if (w.done && w.cmd && Clock::now() < w.deadline) {
    RunBlocking([this, cmd = w.cmd, deadline = w.deadline, done = std::move(w.done)] {
      (*done)(Propose(*cmd, deadline));
    });
    return;
  }
  w.Complete(OverwrittenStatus(), pending_replies_);
}

// Asynchronous proposers have nobody waiting on a clock: fail theirs once
// the deadline passed (blocked callers time out by themselves).
void Node::Impl::ExpireProposals() {
  const auto now = Clock::now();
  for (auto it = proposals_.begin(); it != proposals_.end();) {
    if (it->second.done && it->second.deadline <= now) {
      it->second.Complete(Status::Unavailable(
          "write not committed before the deadline (no quorum?); it may or may not be applied"),
                          pending_replies_);
      it = proposals_.erase(it);
    } else {
      ++it;
    }
  }
}

void Node::Impl::ServeReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.index != 0 && it->second.index <= applied_) {
      it->second.promise->set_value(Status::Ok());
      it = reads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Node::Impl::OnSoftState(const raft::SoftState& ss) {
  spdlog::info("raft: node {} is {} (term {}, leader {})", config_.id, raft::RoleName(ss.role),
               raft_->term(), ss.leader);
  if (ss.role != raft::Role::kLeader) {
    // A ReadIndex request may be lost with the old leader: fail fast so
    // the client retries rather than waiting for its deadline.
    for (auto& [ctx, w] : reads_) {
      w.promise->set_value(Status::Aborted("leadership changed while the read was confirmed"));
    }
    reads_.clear();
    removing_.clear();
    return;
  }
  leader_since_ = Clock::now();
  placement_dirty_ = true;
  placement_ = control::PlacementController();  // moves of an earlier term are not ours
  // The bootstrapping node records the cluster id, and every leader makes
  // sure it is registered with its address; both commands are idempotent.
  bool need_init = false, need_register = true;
  {
    std::shared_lock lk(state_mu_);
    need_init = state_.cluster_id().empty() && !cluster_id_.empty();
    if (const v1::Node* n = state_.FindNode(config_.id)) {
      need_register = n->address() != config_.address;
    }
  }
  if (need_init) ProposeInternal(state::MakeInitCluster(cluster_id_, NowUnixMs()));
  if (need_init && !config_.vm_subnet.empty()) {
    ProposeInternal(state::MakeSetVmSubnet(config_.vm_subnet, NowUnixMs()));
  }
  if (need_register) {
    v1::Node n;
    n.set_id(config_.id);
    n.set_address(config_.address);
    n.set_role(v1::NODE_ROLE_VOTER);
    n.set_health(v1::NODE_HEALTH_READY);
    n.set_registered_at_unix_ms(NowUnixMs());
    ProposeInternal(state::MakeRegisterNode(n, NowUnixMs()));
  }
}

void Node::Impl::ProposeInternal(const v1::Command& cmd) {
  std::string data;
  cmd.SerializeToString(&data);
  auto idx = raft_->propose(std::move(data));
  if (!idx.ok()) spdlog::warn("internal proposal refused: {}", idx.status().ToString());
}

Status Node::Impl::MaybeSnapshot() {
  uint64_t every = config_.snapshot_threshold;
  if (every == 0) every = std::max<uint64_t>(kDefaultSnapshotEntries, records_);
  if (applied_ < snapshot_index_ + every) return Status::Ok();
  std::string data;
  {
    std::shared_lock lk(state_mu_);
    data = state_.EncodeSnapshot();
  }
  auto meta = raft_->compact(applied_, data);
  if (!meta.ok()) {
    spdlog::debug("snapshot at {} deferred: {}", applied_, meta.status().ToString());
    return Status::Ok();
  }
  raft::Snapshot snap{*meta, std::move(data)};
  if (Status s = store_->Compact(snap); !s.ok()) return s;
  snapshot_index_ = meta->index;
  spdlog::debug("snapshot at index {} ({} bytes); log compacted", snap.meta.index, snap.data.size());
  return Status::Ok();
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
  for (auto& [idx, w] : proposals_) w.Complete(s, pending_replies_);
  proposals_.clear();
  replies_.Run(pending_replies_);
  for (auto& [ctx, w] : reads_) w.promise->set_value(s);
  reads_.clear();
  std::lock_guard lk(mu_);
  tasks_.clear();  // their promises break: waiters see future_error and report shutdown
}

void Node::Impl::FlushReplies() {
  if (pending_replies_.empty()) return;
  if (pending_replies_.size() == 1) {
    bool idle;
    {
      std::lock_guard lk(mu_);
      idle = tasks_.empty();
    }
    if (idle) {
      pending_replies_.front()();
      pending_replies_.clear();
      return;
    }
  }
  replies_.Run(pending_replies_);
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
std::future<Result<state::ApplyResult>> Node::ProposeInTerm(v1::Command cmd, uint64_t term) {
  return impl_->ProposeInTerm(std::move(cmd), term);
}
Result<uint64_t> Node::LastIndexInTerm(uint64_t term, Deadline d) {
  return impl_->LastIndexInTerm(term, d);
}
void Node::Read(const std::function<void(const state::ClusterState&)>& fn) const { impl_->Read(fn); }
NodeStatus Node::GetStatus() const { return impl_->GetStatus(); }
uint64_t Node::AddApplyListener(std::function<void(uint64_t)> fn) {
  return impl_->AddApplyListener(std::move(fn));
}
void Node::RemoveApplyListener(uint64_t id) { impl_->RemoveApplyListener(id); }
uint64_t Node::id() const { return impl_->id(); }
std::string Node::cluster_id() const { return impl_->cluster_id(); }

}  // namespace blixard::node
