// One Raft member as a step machine: the core, its store, the cluster state
// machine, the waiters of proposals and ReadIndex reads, snapshots, and the
// leader's own work (its set-up proposals, placement passes, the voter
// controller). Written once for the daemon's node (node.h, which runs it in
// its loop pass on a thread) and the simulator's nodes (src/sim, which run
// it in events of virtual time).
//
// It has no threads, no clock and no network of its own: time, sending and
// what the process does around each step come from a MemberHost. Whoever
// owns it calls it one call at a time ("the pass"); only the state lock
// (state_mutex) is shared, with readers on other threads.
//
// Contract of a pass: feed inputs (Step, Tick, Propose, ProposeConfChange,
// ReadIndex), then call Drain(), which handles every Ready in the fixed
// order of ReadyLoop and runs the leader's placement pass when something
// applied may have made a VM placeable. Waiters complete inside Drain: a
// waiter's callback runs there, or, for a deferred one, is queued for the
// owner (TakeCompleted) to run outside the pass.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "control/liveness.h"
#include "control/placement.h"
#include "node/ready_loop.h"
#include "raft/raft.h"
#include "state/cluster_state.h"
#include "storage/log_store.h"

namespace blixard::node {

inline constexpr uint64_t kDefaultSnapshotEntries = 10000;

// What a member needs from the process that runs it.
class MemberHost {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~MemberHost() = default;

  virtual Clock::time_point Now() = 0;
  // The wall clock in ms, for timestamps inside commands.
  virtual int64_t WallMs() = 0;
  virtual void Send(std::vector<raft::Message> messages) = 0;
  // A peer's address became known (a conf entry, a node record), or a
  // removed peer should be forgotten (an election timeout after its
  // removal applied, so that it hears of it first).
  virtual void SetPeer(uint64_t id, const std::string& address) {}
  virtual void ForgetPeer(uint64_t id) {}
  // The Ready handling's stages, for a host that checks or crashes there.
  virtual void OnPersisted(const raft::Ready& rd) {}
  virtual bool Continue(ReadyHost::Stage stage) { return true; }
  // After the member's own handling of a new role or leader.
  virtual void OnSoftState(const raft::SoftState& ss) {}
  // Before entry `e` is applied: false stops the apply (the host failed a
  // check; it must then stop the Ready handling at Continue).
  virtual bool BeforeApply(const raft::Entry& e) { return true; }
  // After entry `e` was applied with `result` (a conf change's is empty).
  virtual void OnApplied(const raft::Entry& e, const state::ApplyResult& result) {}
  // After the state was replaced by `snapshot`'s.
  virtual bool OnSnapshotRestored(const raft::Snapshot& snapshot) { return true; }
  // A snapshot was taken (meta) or the core deferred it (the status).
  virtual bool OnCompacted(const Result<raft::SnapshotMeta>& meta) { return true; }
  // Commands changed what VMs should run on this node. Must not block.
  virtual void OnVmsChanged() {}
};

struct MemberConfig {
  uint64_t id = 1;
  int tick_ms = 100;
  int election_ticks = 10;
  raft::Config raft;  // id and election_tick are set from the above
  // Applied entries between snapshots; 0: the larger of
  // kDefaultSnapshotEntries and the number of records (VMs and nodes), so
  // that encoding the state costs O(1) per write on average.
  uint64_t snapshot_threshold = 0;
  // The voter/standby controller (control/voters.h), run by the leader on
  // its ticks: promotes standbys up to max_voters and replaces a voter
  // silent for voter_replace_after_ms.
  bool voter_controller = true;
  size_t max_voters = 3;
  int voter_replace_after_ms = 30000;
  // The record a leader registers for itself when the state has none or
  // another address (id and address at least).
  v1::Node self;
  // The cluster id a leader records when the state has none (bootstrap).
  std::string cluster_id;
  std::string vm_subnet;  // proposed with it; empty: the state's default
  // Liveness (control/liveness.h), run by the leader: the heartbeats of
  // nodes are recorded and acknowledged (Member::Heartbeat), and every
  // liveness_tick_ms silent nodes are marked DOWN, heard ones READY, and
  // the VMs of DOWN nodes silent for a TTL moved. 0: off, for a cluster
  // whose nodes send no heartbeats (tests of the node alone).
  int64_t liveness_ttl_ms = 0;
  int liveness_tick_ms = 100;
  // Tests of the simulator only: what the placement pass sees and does.
  std::function<void(state::ClusterState&)> placement_view_for_testing;
  bool skip_drain_moves_for_testing = false;
  bool skip_voter_promotion_for_testing = false;
};

class Member : private ReadyHost {
 public:
  using Clock = MemberHost::Clock;
  using Deadline = Clock::time_point;
  using ApplyCallback = std::function<void(Result<state::ApplyResult>)>;
  using ReadCallback = std::function<void(Status, raft::Index read_index)>;
  struct HeartbeatAck {
    uint64_t term = 0;          // the leader's
    raft::Index last_index = 0; // its last log index when it acknowledged
  };
  using HeartbeatCallback = std::function<void(Result<HeartbeatAck>)>;

  struct ProposeOptions {
    // Failed with UNAVAILABLE on the first tick past it (max: never).
    Deadline deadline = Deadline::max();
    // The callback is queued for TakeCompleted instead of run in the pass.
    bool deferred = false;
    // Propose only while leading in this term (0: any term).
    uint64_t term = 0;
    // The command `data` encodes, applied instead of decoding the entry.
    std::shared_ptr<const v1::Command> cmd;
  };

  // `store` and `host` are not owned and must outlive the member. `ps` is
  // what the store loaded.
  Member(MemberConfig config, storage::LogStore* store, MemberHost* host);
  ~Member();
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Restores the state from `ps`'s snapshot and starts the core (a sole
  // voter campaigns at once).
  Status Init(raft::PersistentState ps);

  // ---- inputs (the pass) ----
  void Step(const raft::Message& m);
  // The core's tick, then the leader's controllers, expired waiters and
  // peers to forget.
  void Tick();
  // Proposes `data`; `done` (may be empty) runs once: when the entry
  // applies (its ApplyResult), when another leader's entry overwrote it
  // (OverwrittenStatus), at the deadline, or at FailAll. An error
  // (not the leader, or not in `term`) is returned and `done` not called.
  Result<raft::Index> Propose(std::string data, ApplyCallback done, ProposeOptions options);
  Result<raft::Index> Propose(std::string data, ApplyCallback done) {
    return Propose(std::move(data), std::move(done), ProposeOptions{});
  }
  Result<raft::Index> ProposeConfChange(const raft::ConfChange& cc, ApplyCallback done);
  // A linearizable read: `done` runs with Ok once the leader confirmed its
  // leadership and this member applied up to the read index; with kAborted
  // when this member's leader changed meanwhile. An error (no leader known)
  // is returned and `done` not called.
  Status ReadIndex(ReadCallback done);
  // The leader's side of a node's heartbeat (control/liveness.h, steps 2
  // and 4): records that `node_id` was heard now, and runs `done` (in the
  // pass) once a ReadIndex round begun after this call confirmed the
  // leadership, with the term and the last log index at that moment, so
  // the ack covers every liveness decision proposed before the heartbeat
  // was recorded. Heartbeats share rounds: one in flight, the next one for
  // all that arrived meanwhile. `done` gets kUnavailable when the
  // leadership ends first or the member stops. FAILED_PRECONDITION (and
  // `done` is not called) when this member does not lead or runs no
  // liveness.
  Status Heartbeat(uint64_t node_id, HeartbeatCallback done);
  // Handles every Ready, then runs a placement pass if one is due. The
  // store's error (the member must stop), or kAborted when the host's
  // Continue stopped it (the member must then not be called again).
  Status Drain();
  // Completes every waiter with `s` (the member stops).
  void FailAll(const Status& s);
  // Deferred callbacks completed since the last call, in order.
  std::vector<std::function<void()>> TakeCompleted() { return std::exchange(completed_, {}); }
  // A member under removal is not promoted by the voter controller.
  void MarkRemoving(uint64_t id) { removing_.insert(id); }

  // ---- views (the pass) ----
  raft::Raft& raft() { return *raft_; }
  const raft::Raft& raft() const { return *raft_; }
  // The state machine: written only by the pass, under state_mutex().
  const state::ClusterState& state() const { return state_; }
  std::shared_mutex& state_mutex() const { return state_mu_; }
  raft::Index applied() const { return applied_; }
  raft::Index snapshot_index() const { return snapshot_index_; }
  const std::map<uint64_t, Clock::time_point>& last_heard() const { return last_heard_; }
  bool idle() const { return ready_->idle(); }
  // For tests of the simulator: the state machine, before Init.
  state::ClusterState& mutable_state_for_testing() { return state_; }

 private:
  struct Waiter {
    raft::Term term = 0;
    ApplyCallback done;
    bool deferred = false;
    Deadline deadline = Deadline::max();
    std::shared_ptr<const v1::Command> cmd;
  };
  struct ReadWaiter {
    raft::Index index = 0;  // 0 until the ReadState arrives
    ReadCallback done;
  };

  // ReadyHost: the member's part of each Ready (member.cc).
  void Send(std::vector<raft::Message> messages) override { host_->Send(std::move(messages)); }
  void OnPersisted(const raft::Ready& rd) override;
  void OnSoftState(const raft::SoftState& ss) override;
  Status ApplySnapshot(const raft::Snapshot& snapshot) override;
  void Apply(const std::vector<raft::Entry>& committed) override;
  void OnReadStates(std::vector<raft::ReadState>& read_states) override;
  Status OnAdvanced() override;
  bool Continue(Stage stage) override { return host_->Continue(stage); }

  bool ApplyEntry(const raft::Entry& e);  // false: the host stopped it
  void Complete(Waiter& w, Result<state::ApplyResult> r);
  void ServeReads();
  void ExpireWaiters();
  Status MaybeSnapshot();
  void NoteConfEntry(const raft::Entry& e, bool applied);
  void SyncPeersFromState();
  void ForgetRemovedPeers();
  void ProposeInternal(const v1::Command& cmd);

  // The leader's controllers (member_controllers.cc).
  void OnBecameLeader();
  void RunVoterController();
  void PlacePendingVms();
  static bool MayNeedPlacement(const v1::Command& cmd);
  // Liveness (member_liveness.cc).
  void RunLiveness();
  void StartHeartbeatRound();
  void EndHeartbeatRound(Status s, uint64_t term);
  void FailHeartbeats(const Status& s);
  int64_t NowMs();

  MemberConfig config_;
  storage::LogStore* store_;
  MemberHost* host_;
  std::unique_ptr<raft::Raft> raft_;
  std::unique_ptr<ReadyLoop> ready_;

  mutable std::shared_mutex state_mu_;
  state::ClusterState state_;
  raft::Index applied_ = 0;
  raft::Index snapshot_index_ = 0;
  uint64_t records_ = 0;  // VMs and nodes in state_ after the last apply
  std::map<raft::Index, Waiter> proposals_;
  std::vector<std::function<void()>> completed_;
  std::map<std::string, ReadWaiter> reads_;
  uint64_t read_seq_ = 0;
  std::map<uint64_t, Clock::time_point> last_heard_;
  Clock::time_point leader_since_{};
  std::set<uint64_t> removing_;
  std::map<uint64_t, Clock::time_point> forget_peers_;
  bool vms_changed_ = false;

  // Placement passes (member_controllers.cc).
  control::PlacementController placement_;  // reset on election
  raft::Index term_start_index_ = 0;        // leader: its term's first entry
  raft::Index placement_index_ = 0;         // last placement entry proposed
  bool placement_dirty_ = true;             // something applied may have made a VM placeable
  Clock::time_point placement_next_{};      // earliest next pass
  Clock::time_point placement_last_{};      // last pass

  // Liveness (member_liveness.cc); reset on election.
  control::LivenessTracker liveness_;
  raft::Index liveness_index_ = 0;          // last liveness entry proposed
  Clock::time_point liveness_next_{};       // next decision
  std::vector<HeartbeatCallback> hb_waiting_;  // for the next round
  std::vector<HeartbeatCallback> hb_round_;    // the round in flight; empty: none
};

// How a waiter learns that its entry was overwritten by another leader's,
// or that a read's leader changed: nothing was applied, it may be routed
// again. kAborted is used for nothing else.
Status OverwrittenStatus();
bool IsLeaderChange(const Status& s);

}  // namespace blixard::node
