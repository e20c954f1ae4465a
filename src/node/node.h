// One cluster member's control plane: the Raft core, its durable store and
// the cluster state machine, driven by one loop pass at a time.
//
// A pass owns the core and the store: it drains an inbound task queue
// (proposals, reads, peer messages), ticks when due, and handles each
// Ready in the order the core requires: persist (one store write, fsync)
// -> send -> apply -> complete waiters -> advance. Passes run on the
// node's loop thread, which also ticks on a timer; a peer message or an
// asynchronous write that finds no pass running and nothing queued runs
// its pass on the thread that brought it (gRPC's), saving two thread
// hand-offs on the write path. Other callers enqueue tasks and wait on
// futures with a deadline.
//
// Writes (Propose, AddMember, RemoveMember, TransferLeader) may be called on
// any member: a member that is not the leader forwards them to the leader
// (InternalService.Forward, one hop) and relays the answer. While no leader
// is known they wait for one until the deadline.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "blixard/v1/internal.pb.h"
#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "node/member.h"
#include "raft/types.h"
#include "state/cluster_state.h"
#include "storage/log_store.h"

namespace blixard::transport {
class Transport;
}

namespace blixard::node {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct NodeConfig {
  uint64_t id = 1;
  std::string address;               // advertised API address of this node
  // Applied entries between snapshots. 0 (the default): the larger of
  // kDefaultSnapshotEntries and the number of records (VMs and nodes) in the
  // state, so that encoding the whole state costs O(1) per write on average
  // however large the state grows (and a snapshot, which stalls the loop
  // for as long as the encoding takes, comes rarely when it is large).
  uint64_t snapshot_threshold = 0;
  int tick_ms = 100;
  int election_ticks = 10;
  // Members to ask to join through when the store is fresh; empty: a fresh
  // store bootstraps a new one-member cluster.
  std::vector<std::string> join;
  // The id of the cluster this node makes when it bootstraps one (its
  // certificates already name it); empty: a random one.
  std::string bootstrap_cluster_id;
  size_t max_voters = 3;             // learners beyond this stay learners (2 standbys first)
  int voter_replace_after_ms = 30000;  // a voter silent this long is replaced by a standby
  std::string vm_subnet;             // bridge VM subnet proposed at bootstrap; empty = default
  transport::Transport* transport = nullptr;  // not owned; may be null (one-member cluster)
  // The leader's liveness (Member::Heartbeat, control/liveness.h): a node
  // silent this long is DOWN. 0: no liveness (no node sends heartbeats).
  int64_t liveness_ttl_ms = 0;
  std::function<void(const Status&)> on_fatal;  // storage failure: the process must stop
  // Called by the loop pass (on the loop thread or on the gRPC thread that
  // runs it, see above) after applying commands that change what VMs
  // should run on this node (create, delete, desired state, placement of a
  // VM placed here or taken away); not for status reports, nor for VMs of
  // other nodes. Must not block (the agent's Poke).
  std::function<void()> on_vms_changed;
};

struct MemberStatus {
  uint64_t id = 0;
  std::string address;
  std::string role;               // voter | standby | learner
  uint64_t match_index = 0;       // leader's view (0 when unknown)
  int64_t last_contact_ms = -1;   // ms since this node last heard from it (-1 never; 0 self)
};

struct NodeStatus {
  uint64_t node_id = 0;
  std::string cluster_id;
  uint64_t term = 0;
  uint64_t leader_id = 0;
  std::string role;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t snapshot_index = 0;
  uint64_t last_index = 0;
  bool removed = false;           // this node was removed from the cluster
  std::vector<MemberStatus> members;
};

struct JoinResult {
  std::string cluster_id;
  std::vector<MemberStatus> members;
};

// A new random cluster id (32 hex digits).
std::string NewClusterId();

class Node {
 public:
  // Loads the store. A fresh store bootstraps a one-member cluster, or, when
  // config.join is set, asks a member to add this node (retrying until
  // `join_deadline`) and starts as a learner. Fails with a message a person
  // can act on (unreachable member, id in use, other cluster, corrupt store).
  static Result<std::unique_ptr<Node>> Start(NodeConfig config,
                                             std::unique_ptr<storage::LogStore> store,
                                             Deadline join_deadline);
  ~Node();  // Stop()s

  // Stops the loop after the current step; pending waiters fail with
  // kUnavailable. Nothing half-written: every store write is atomic.
  void Stop();

  // Raft messages from a peer (PeerService), stepped in order.
  void Receive(std::vector<raft::Message> batch);

  // Proposes `cmd` and waits until it is applied, returning the state
  // machine's answer. kUnavailable when no leader commits it before the
  // deadline (no quorum) — the write may or may not have been applied.
  Result<state::ApplyResult> Propose(v1::Command cmd, Deadline deadline);

  // Propose without blocking the caller: `done` runs exactly once with what
  // Propose would return. On the leader it runs after the entry applies (or
  // about a tick after the deadline), on the node's reply thread or in the
  // loop pass (a lone answer, or a pass run on a gRPC thread), so it must be
  // quick and must not call back into the node; otherwise (a follower
  // forwarding, no leader yet) on a helper thread. It also runs, with
  // kUnavailable, when the node stops first, and always before Stop()
  // returns.
  using ApplyCallback = std::function<void(Result<state::ApplyResult>)>;
  void ProposeAsync(v1::Command cmd, Deadline deadline, ApplyCallback done);
  // The leader's side of a node's heartbeat (Member::Heartbeat): records
  // it and returns the acknowledgement once a ReadIndex round begun after
  // the call confirmed the leadership. kFailedPrecondition when this node
  // does not lead (or runs no liveness: NodeConfig::liveness_ttl_ms);
  // kUnavailable when the leadership ends or the deadline passes first.
  Result<Member::HeartbeatAck> Heartbeat(uint64_t node_id, Deadline deadline);

  // Membership changes, applied one at a time.
  Result<JoinResult> AddMember(uint64_t id, const std::string& address, Deadline deadline);
  // Demotes (if a voter) then removes `id`. Removing the leader hands
  // leadership to another voter first.
  Status RemoveMember(uint64_t id, Deadline deadline);
  // Returns once `to` leads.
  Status TransferLeader(uint64_t to, Deadline deadline);

  // The leader side of a forwarded write: performs it locally, never
  // forwarding again.
  v1::ForwardResponse HandleForward(const v1::ForwardRequest& req, Deadline deadline);

  // Linearizable read barrier (ReadIndex): returns once this node's state
  // reflects every write acknowledged before the call.
  Status ReadBarrier(Deadline deadline);

  // Runs `fn` on a consistent view of the applied state (shared lock; keep
  // it short).
  void Read(const std::function<void(const state::ClusterState&)>& fn) const;

  NodeStatus GetStatus() const;

  // Calls `fn(applied_index)` in each loop pass (whichever thread runs it) that
  // applied entries (or restored a snapshot), once GetStatus() and Read()
  // show them, so a watcher wakes on apply instead of polling. `fn` must be
  // quick and must not block or call into the node. Returns an id for
  // RemoveApplyListener.
  uint64_t AddApplyListener(std::function<void(uint64_t applied_index)> fn);
  // Once it returns, the listener is not running and never runs again.
  void RemoveApplyListener(uint64_t id);
  uint64_t id() const;
  std::string cluster_id() const;

  class Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blixard::node
