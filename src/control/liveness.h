// Node liveness, rescheduling of the VMs of dead nodes, and the fencing rule
// that keeps a VM from running on two nodes at once. Pure: times are values
// (milliseconds of a monotonic clock) passed in; no clock, no I/O, no threads.
// The daemon wires these in src/daemon/liveness.{h,cc}; the simulator in
// src/sim/.
//
// Why a VM never runs on two nodes at once
// ----------------------------------------
// Actors: a node N that runs VMs, and the leader L. Times are read on each
// actor's own monotonic clock; clocks are not synchronised, only their rates
// are bounded (drift rho, a few ppm on real hardware; the margin below
// covers far more).
//  1. N sends a heartbeat at s (N's clock, read before sending) to L.
//  2. L receives it at r (real time r >= s), records it (LivenessTracker::Heard)
//     and acknowledges only after a quorum confirmed L's leadership after r
//     (ReadIndex, which also needs an entry of L's term committed). So any
//     leader elected after the ack's confirmation was elected after r, and a
//     deposed leader cannot acknowledge at all. The ack carries L's last log
//     index at the time of the ack.
//  3. N fences at s_ack + TTL - margin, s_ack being the send time of the
//     newest acknowledged heartbeat (FenceRule): it kills every VM it runs and
//     starts none until it has a fresh ack again and has applied the state up
//     to that ack's index. margin >= the time a kill takes + rho * TTL.
//  4. A leader moves a VM off N only when (a) N is DOWN in the applied state
//     and (b) in the leader's own view, in its current term, N has been silent
//     for a full TTL: now >= max(r_last, leadership start) + TTL
//     (LivenessTracker::Silent). A new leader counts every node as heard when
//     it took over, so it waits a full TTL before marking anyone down or
//     moving anything.
// Then every ack N ever got is older than the move by at least TTL of real
// time minus drift: acks of this leader by (b) with r_last; acks of earlier
// leaders by step 2 (their r precedes this leader's election, hence its
// leadership start). So N had fenced (at s_ack + TTL - margin <= r + TTL -
// margin) and finished killing before the move was even proposed, and the
// VM can start elsewhere only after the move commits. A later ack (N comes
// back) carries an index at or past the move whenever the move can still
// commit (the move was proposed before the ack, or by an earlier leader
// whose entry the acknowledging leader holds), so N, which waits to apply up
// to that index, sees the VM gone and does not restart it; a move that the
// acknowledging leader does not hold can no longer commit.
// Workers (src/daemon/worker.h) follow the same rule; only where N reads its
// placements differs. A worker is not a Raft member: it learns the VMs placed
// on it from a stream that a server reads out of its applied state, and its
// "applied index" in step 3 is the stream's applied_index, the Raft applied
// index of the server at the time it read the set it sent (the set is at
// least that new). Steps 1-2 and 4 do not involve how N learns its
// placements, so the fencing deadline and "fenced before the move is
// proposed" hold unchanged (the leader's liveness tracks workers like any
// node). For re-opening: any server's applied state at index i is the state
// after the committed log prefix up to i, the same on every server, so a
// worker whose stream reached the ack's index holds a set at least as new as
// that prefix, exactly what a server that applied up to that index reads.
// A worker's view never goes back: a server serves no set older than the
// version the worker already holds, and the worker refuses an update that
// does not continue from its version (src/state/assignments.h), so a move
// it has seen is never undone by a reconnect to a server that lags.
// Drains move a VM off a live node without any of this: stop first, confirmed
// through the log, then place (control/drain.h); a draining node that goes
// down mid-move is covered by the argument above.
// A VM process outlives its daemon by design (qemu survives a daemon crash,
// for adoption), and a dead or stopped daemon cannot fence. The daemon keeps
// the send time of its newest acknowledged heartbeat in a file
// (daemon/ack_file.h), and a guard process per node (daemon/fence_guard.h)
// applies step 3 from it while the daemon cannot; a restarted daemon also
// kills adopted VMs when that ack is too old.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::control {

struct LivenessConfig {
  int64_t ttl_ms = 3000;     // a node silent this long is DOWN
  size_t max_batch = 1000;   // health changes per command
};

// The leader's view of which nodes are alive. O(1) per heartbeat; Step is
// O(nodes) and every change of one step goes into one command, so the time
// to notice a dead node does not grow with the number of nodes.
class LivenessTracker {
 public:
  explicit LivenessTracker(LivenessConfig config = {}) : config_(config) {}

  // This node became leader at `now_ms` (or is not the leader any more:
  // call it again when it next leads). Forgets what it heard before: every
  // node counts as heard at now_ms, so none is marked down or has its VMs
  // moved before a full TTL of this leadership has passed.
  void BecomeLeader(int64_t now_ms);
  // A heartbeat from `node_id` arrived at `now_ms`.
  void Heard(uint64_t node_id, int64_t now_ms);

  // The health changes to propose now: registered nodes not DOWN and silent
  // past the TTL become DOWN; DOWN nodes that heartbeated within the TTL in
  // this leadership become READY. At most max_batch, lowest ids first.
  std::vector<state::HealthChange> Step(const state::ClusterState& st, int64_t now_ms) const;

  // Silent for a full TTL in this leadership: the condition for moving a
  // node's VMs away (see the safety argument above).
  bool Silent(uint64_t node_id, int64_t now_ms) const;

  int64_t leader_since_ms() const { return leader_since_ms_; }
  const LivenessConfig& config() const { return config_; }

 private:
  int64_t LastHeard(uint64_t node_id) const;

  LivenessConfig config_;
  int64_t leader_since_ms_ = 0;
  std::unordered_map<uint64_t, int64_t> heard_;  // real heartbeats in this leadership
};

// What to do with the VMs of DOWN nodes.
struct Reschedule {
  // Unplace (node 0, generation-checked) so the placer puts them elsewhere:
  // restart policy ON_FAILURE/ALWAYS (or unspecified), and VMs that should
  // be stopped anyway.
  std::vector<state::Placement> unplace;
  // Restart policy NEVER and desired RUNNING: they stay where they are,
  // reported FAILED "node N down" (ReportVmStatus on behalf of that node).
  struct Failed {
    std::string name;
    uint64_t node_id = 0;
    std::string message;
  };
  std::vector<Failed> fail;
  bool empty() const { return unplace.empty() && fail.empty(); }
};

// The VMs on nodes that are DOWN in `st` and for which `silent(node_id)`
// holds (LivenessTracker::Silent), at most max_batch of each kind. VMs
// already reported failed for their node's death are not repeated.
Reschedule RescheduleFromDownNodes(const state::ClusterState& st,
                                   const std::function<bool(uint64_t)>& silent,
                                   size_t max_batch);

// The message a VM with restart policy NEVER carries when its node died.
std::string NodeDownMessage(uint64_t node_id);

struct FenceConfig {
  int64_t ttl_ms = 3000;
  // How much earlier than the leader's TTL the node fences: covers the time a
  // kill takes (SIGKILL and reaping, well under 100 ms) and clock-rate
  // drift, with plenty to spare. Must be > 0 and < ttl_ms.
  int64_t margin_ms = 600;
};

// The fence rule's timing for a node TTL: the daemon, the fence guard
// (daemon/fence_guard.h) and the simulator use it. The margin covers a kill
// (well under 100 ms), a 50 ms poll (the daemon's fence thread, the fence
// guard's loop) and clock-rate drift with room to spare.
FenceConfig FenceConfigForTtl(int64_t ttl_ms);

// The node side: when to kill every VM here (fence) and when to act again.
//
//   kWaiting  after start: no ack yet. VMs found running (adopted) are left
//             alone but nothing is started; at the deadline -> kFenced.
//   kOpen     a fresh ack and the state applied to its index: the agent acts.
//   kFenced   no fresh ack: every VM was killed; nothing starts.
// kOpen -> kFenced at last_ack_send + TTL - margin; kWaiting/kFenced ->
// kOpen once an ack is fresh (now < its send + TTL - margin) and the local
// state has applied up to its index.
class FenceRule {
 public:
  enum class Mode { kWaiting, kOpen, kFenced };
  enum class Action { kNone, kFence, kOpen };

  // `start_ms`: now. `last_ack_send_ms`: the send time of the newest
  // acknowledged heartbeat of an earlier run of this node on this host (same
  // monotonic clock), or a value < 0 if none: the waiting deadline is the
  // earlier of start_ms + TTL - margin and the one that ack implies.
  FenceRule(FenceConfig config, int64_t start_ms, int64_t last_ack_send_ms = -1);

  // An ack, received at `now_ms`, of the heartbeat sent at `sent_ms`,
  // carrying the leader's last log index. Acks may arrive out of order; the
  // newest send time counts. If the deadline passed before this ack arrived
  // (the process was stopped, or Step was not called in time), the next
  // Step fences anyway: a fresh ack does not undo a lapse.
  void OnAck(int64_t sent_ms, uint64_t leader_last_index, int64_t now_ms);

  // Moves the mode on; returns what the caller must do now (kFence: kill
  // every VM before anything else; kOpen: let the agent act again).
  Action Step(int64_t now_ms, uint64_t applied_index);

  Mode mode() const { return mode_; }
  // When the node fences unless a new ack arrives (kOpen, kWaiting).
  int64_t deadline_ms() const;
  int64_t last_ack_send_ms() const { return last_ack_send_ms_; }

 private:
  FenceConfig config_;
  Mode mode_ = Mode::kWaiting;
  int64_t wait_deadline_ms_;
  int64_t last_ack_send_ms_ = -1;
  uint64_t ack_index_ = 0;
  bool lapsed_ = false;  // the deadline passed unobserved: fence at the next Step
};

// What a server does with a node's heartbeat (the daemon's
// Liveness::HandleHeartbeat, the simulator's servers): the leader records
// and acknowledges it (kRecord); a member that knows the leader passes it
// on, once (a passed-on heartbeat is never passed on again), at most
// kMaxHeartbeatRelays at a time, each waiting at most
// HeartbeatRelayTimeoutMs(ttl) for the leader's answer (kPassOn); past the
// cap it answers as a member that knows no leader, so the sender tries
// another server (kRefuseBusy); otherwise it answers "not the leader" with
// the leader it knows, if any (kRefuse).
enum class HeartbeatAction { kRecord, kPassOn, kRefuse, kRefuseBusy };
inline constexpr int kMaxHeartbeatRelays = 16;
struct HeartbeatSeen {
  bool leads = false;         // this server leads
  bool leader_known = false;  // another member leads, at a known address
  bool passed_on = false;     // the heartbeat was passed on by another server
  int relays_in_flight = 0;   // heartbeats this server is passing on now
};
HeartbeatAction DecideHeartbeat(const HeartbeatSeen& seen);
// A node sends a heartbeat this often (one call at a time): three per TTL.
inline int64_t HeartbeatPeriodMs(int64_t ttl_ms) { return ttl_ms / 3 > 1 ? ttl_ms / 3 : 1; }
inline int64_t HeartbeatRelayTimeoutMs(int64_t ttl_ms) { return ttl_ms / 10 > 1 ? ttl_ms / 10 : 1; }

}  // namespace blixard::control
