// Member: start-up, inputs, the Ready handling's callbacks (apply, reads,
// snapshots) and the waiters. The leader's controllers are in
// member_controllers.cc.
#include "node/member.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "node/command_trace.h"
#include "raft/conf_change.h"
#include "state/commands.h"

namespace blixard::node {

Status OverwrittenStatus() {
  return Status::Aborted("leadership changed before the write committed; it was not applied");
}

bool IsLeaderChange(const Status& s) { return s.code() == StatusCode::kAborted; }

Member::Member(MemberConfig config, storage::LogStore* store, MemberHost* host)
    : config_(std::move(config)),
      store_(store),
      host_(host),
      liveness_(control::LivenessConfig{.ttl_ms = config_.liveness_ttl_ms}) {
  config_.raft.id = config_.id;
  config_.raft.election_tick = config_.election_ticks;
}

Member::~Member() = default;

Status Member::Init(raft::PersistentState ps) {
  if (!ps.snapshot->data.empty()) {
    if (Status s = state_.RestoreSnapshot(ps.snapshot->data); !s.ok()) return s;
  }
  snapshot_index_ = ps.snapshot->meta.index;
  applied_ = snapshot_index_;
  records_ = state_.vm_count() + state_.node_count();
  SyncPeersFromState();
  for (const raft::Entry& e : ps.entries) NoteConfEntry(e, false);
  const raft::HardState persisted = ps.hard_state;
  raft_ = std::make_unique<raft::Raft>(config_.raft, std::move(ps));
  ready_ = std::make_unique<ReadyLoop>(raft_.get(), store_, static_cast<ReadyHost*>(this), persisted);
  const raft::ConfState& conf = raft_->conf();
  if (conf.voters.size() == 1 && conf.voters[0] == config_.id) raft_->campaign();
  return Status::Ok();
}

// ---------------- inputs ----------------

void Member::Step(const raft::Message& m) {
  last_heard_[m.from] = host_->Now();
  (void)raft_->step(m);
}

void Member::Tick() {
  raft_->tick();
  if (raft_->role() == raft::Role::kLeader) {
    PlacePendingVms();
    if (config_.voter_controller) RunVoterController();
    if (config_.liveness_ttl_ms > 0) RunLiveness();
  }
  ExpireWaiters();
  ForgetRemovedPeers();
}

Result<raft::Index> Member::Propose(std::string data, ApplyCallback done, ProposeOptions o) {
  if (o.term != 0 && (raft_->role() != raft::Role::kLeader || raft_->term() != o.term)) {
    return Status::FailedPrecondition("node " + std::to_string(config_.id) + " does not lead in term " +
                                      std::to_string(o.term));
  }
  auto idx = raft_->propose(std::move(data));
  if (!idx.ok()) return idx.status();
  if (done) proposals_[*idx] = Waiter{raft_->term(), std::move(done), o.deferred, o.deadline, std::move(o.cmd)};
  return *idx;
}

Result<raft::Index> Member::ProposeConfChange(const raft::ConfChange& cc, ApplyCallback done) {
  auto idx = raft_->propose_conf_change(cc);
  if (!idx.ok()) return idx.status();
  if (done) proposals_[*idx] = Waiter{raft_->term(), std::move(done), false, Deadline::max(), nullptr};
  return *idx;
}

Status Member::ReadIndex(ReadCallback done) {
  std::string ctx = "r/" + std::to_string(config_.id) + "/" + std::to_string(++read_seq_);
  if (!raft_->read_index(ctx).ok()) {
    return Status::Aborted("no leader is known to confirm a linearizable read");
  }
  reads_[std::move(ctx)] = ReadWaiter{0, std::move(done)};
  return Status::Ok();
}

Status Member::Drain() {
  if (Status s = ready_->Drain(); !s.ok()) return s;
  // A new VM is placed as soon as its create is applied, not at the next
  // tick (one placement entry in flight at a time).
  if (placement_dirty_ && raft_->role() == raft::Role::kLeader) {
    PlacePendingVms();
    return ready_->Drain();
  }
  return Status::Ok();
}

void Member::FailAll(const Status& s) {
  FailHeartbeats(s);
  for (auto& [idx, w] : proposals_) Complete(w, s);
  proposals_.clear();
  auto reads = std::exchange(reads_, {});
  for (auto& [ctx, w] : reads) w.done(s, 0);
}

// ---------------- the Ready handling's callbacks ----------------

void Member::OnPersisted(const raft::Ready& rd) {
  for (const raft::Entry& e : rd.entries) NoteConfEntry(e, false);
  host_->OnPersisted(rd);
}

void Member::OnSoftState(const raft::SoftState& ss) {
  if (ss.role != raft::Role::kLeader) {
    // A ReadIndex request may be lost with the old leader: fail fast so
    // the reader tries again rather than waiting for its deadline.
    auto reads = std::exchange(reads_, {});
    for (auto& [ctx, w] : reads) w.done(Status::Aborted("leadership changed while the read was confirmed"), 0);
    FailHeartbeats(Status::Unavailable("not the leader any more: send the heartbeat to the new one"));
    removing_.clear();
  } else {
    OnBecameLeader();
  }
  host_->OnSoftState(ss);
}

Status Member::ApplySnapshot(const raft::Snapshot& snapshot) {
  if (snapshot.meta.index <= applied_) return Status::Ok();
  {
    std::unique_lock lk(state_mu_);
    if (Status s = state_.RestoreSnapshot(snapshot.data); !s.ok()) return s;
  }
  applied_ = snapshot.meta.index;
  snapshot_index_ = applied_;
  records_ = state_.vm_count() + state_.node_count();
  placement_dirty_ = true;
  SyncPeersFromState();
  if (!host_->OnSnapshotRestored(snapshot)) return Status::Aborted("the host stopped the snapshot");
  return Status::Ok();
}

void Member::Apply(const std::vector<raft::Entry>& committed) {
  {
    std::unique_lock lk(state_mu_);
    for (const raft::Entry& e : committed) {
      if (!ApplyEntry(e)) break;
    }
    records_ = state_.vm_count() + state_.node_count();
  }
  if (vms_changed_) {
    vms_changed_ = false;
    host_->OnVmsChanged();
  }
}

// REQUIRES: state_mu_ held exclusively.
bool Member::ApplyEntry(const raft::Entry& e) {
  if (!host_->BeforeApply(e)) return false;
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
      if (cmd.has_register_node() || cmd.has_remove_node()) SyncPeersFromState();
    }
  } else if (e.type == raft::EntryType::kConfChange) {
    NoteConfEntry(e, true);
    placement_dirty_ = true;
  }
  applied_ = e.index;
  host_->OnApplied(e, result);
  if (it != proposals_.end()) {
    Complete(it->second, awaited ? Result<state::ApplyResult>(std::move(result))
                                 : Result<state::ApplyResult>(OverwrittenStatus()));
    proposals_.erase(it);
  }
  // Waiters below this index were overwritten by another leader's entries.
  while (!proposals_.empty() && proposals_.begin()->first < e.index) {
    Complete(proposals_.begin()->second, OverwrittenStatus());
    proposals_.erase(proposals_.begin());
  }
  return true;
}

void Member::Complete(Waiter& w, Result<state::ApplyResult> r) {
  if (!w.done) return;
  if (w.deferred) {
    completed_.push_back([done = std::move(w.done), r = std::move(r)]() mutable { done(std::move(r)); });
  } else {
    std::exchange(w.done, nullptr)(std::move(r));
  }
}

void Member::OnReadStates(std::vector<raft::ReadState>& read_states) {
  for (raft::ReadState& rs : read_states) {
    auto it = reads_.find(rs.context);
    if (it != reads_.end() && it->second.index == 0) it->second.index = rs.index;
  }
}

Status Member::OnAdvanced() {
  ServeReads();
  return MaybeSnapshot();
}

void Member::ServeReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.index != 0 && it->second.index <= applied_) {
      ReadWaiter w = std::move(it->second);
      it = reads_.erase(it);
      w.done(Status::Ok(), w.index);
    } else {
      ++it;
    }
  }
}

// Waiters with a deadline have nobody waiting on a clock: fail theirs once
// it passed (blocked callers time out by themselves).
void Member::ExpireWaiters() {
  const auto now = host_->Now();
  for (auto it = proposals_.begin(); it != proposals_.end();) {
    if (it->second.deadline <= now) {
      Complete(it->second, Status::Unavailable(
                               "write not committed before the deadline (no quorum?); it may or may not be applied"));
      it = proposals_.erase(it);
    } else {
      ++it;
    }
  }
}

Status Member::MaybeSnapshot() {
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
    if (!host_->OnCompacted(meta)) return Status::Aborted("the host stopped the snapshot");
    return Status::Ok();
  }
  raft::Snapshot snap{*meta, std::move(data)};
  if (Status s = store_->Compact(snap); !s.ok()) return s;
  snapshot_index_ = meta->index;
  spdlog::debug("snapshot at index {} ({} bytes); log compacted", snap.meta.index, snap.data.size());
  if (!host_->OnCompacted(meta)) return Status::Aborted("the host stopped the snapshot");
  return Status::Ok();
}

// ---------------- peers ----------------

void Member::NoteConfEntry(const raft::Entry& e, bool applied) {
  if (e.type != raft::EntryType::kConfChange) return;
  auto cc = raft::DecodeConfChangeEntry(e.data);
  if (!cc.ok()) return;
  const raft::ConfChange& ch = cc->change;
  if (ch.type == raft::ConfChangeType::kAddLearner && !ch.context.empty()) host_->SetPeer(ch.node, ch.context);
  if (applied && ch.type == raft::ConfChangeType::kRemove) {
    spdlog::info("node {} left the cluster", ch.node);
    // Not at once: the append that tells it about its removal may still be
    // queued for it (the removal commits without its vote).
    if (ch.node != config_.id) {
      forget_peers_[ch.node] = host_->Now() + std::chrono::milliseconds(config_.tick_ms * config_.election_ticks);
    }
  }
}

void Member::ForgetRemovedPeers() {
  const auto now = host_->Now();
  for (auto it = forget_peers_.begin(); it != forget_peers_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    if (!raft_->conf().IsMember(it->first)) host_->ForgetPeer(it->first);
    it = forget_peers_.erase(it);
  }
}

// The pass is the only writer of state_, so it reads it without the lock
// (and may call this while holding it, as ApplyEntry does).
void Member::SyncPeersFromState() {
  for (const auto& [id, n] : state_.nodes()) {
    if (!n.address().empty()) host_->SetPeer(id, n.address());
  }
}

void Member::ProposeInternal(const v1::Command& cmd) {
  auto idx = raft_->propose(state::EncodeCommand(cmd));
  if (!idx.ok()) spdlog::warn("internal proposal refused: {}", idx.status().ToString());
}

}  // namespace blixard::node
