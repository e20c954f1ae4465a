// The Raft core: a pure, deterministic state machine (no I/O, threads or
// clock), in the style of etcd raft / raft-rs.
//
// Thread safety: none; one owner drives it.
// Time: tick() advances logical time; the caller ticks on a timer.
// Randomness: election timeouts come from a PRNG seeded by Config::seed, so a
// simulator replays bit for bit.
//
// The log is held in memory from the last snapshot onwards (the application
// compacts by calling compact()); storage is write-behind via Ready.
//
// Bootstrap: a new cluster starts every initial voter from a PersistentState
// whose snapshot is at index 0 with conf.voters = the initial voters; a node
// that joins later starts with an empty conf (it never campaigns) and learns
// the configuration from the leader's log or snapshot. On restart the core
// re-delivers committed entries after the snapshot (applied = snapshot index).
//
// Test support: src/raft/testing/network.h (library blixard_raft_testing)
// runs N cores over an in-memory network with recorded disks and checks
// election safety, log matching and state machine safety.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/types.h"

namespace blixard::raft {

struct Config {
  NodeId id = kNoNode;
  int election_tick = 10;    // followers time out after [election_tick, 2*election_tick) ticks
  int heartbeat_tick = 1;    // leader heartbeats every heartbeat_tick ticks
  bool pre_vote = true;      // thesis §9.6
  bool check_quorum = true;  // thesis §6.2: leader steps down without a quorum for an election timeout
  uint64_t max_size_per_msg = 1 << 20;  // bytes of entries in one kAppend (at least one entry is sent)
  size_t max_inflight_msgs = 256;       // unacked kAppend messages per follower in replicate state
  uint64_t seed = 0;                    // PRNG seed for randomized election timeouts
};

// Replication progress of one peer, as seen by the leader.
struct PeerProgress {
  enum class State : uint8_t { kProbe, kReplicate, kSnapshot };
  NodeId id = kNoNode;
  bool voter = false;
  Index match = 0;
  Index next = 1;
  State state = State::kProbe;
  bool recent_active = false;
};

class Raft {
 public:
  Raft(const Config& config, PersistentState state);
  ~Raft();
  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  // Advances logical time by one tick.
  void tick();
  // Feeds a message from a peer. Messages for another node, or from a stale
  // term, are dropped. Never fails on bad input; returns a non-ok Status only
  // for diagnostics (e.g. a message addressed to another node).
  Status step(const Message& msg);

  // Appends `data` as a normal entry. Leader only: otherwise kUnavailable
  // ("not leader"; see leader()). Also refused while a leadership transfer is
  // in progress. Returns the entry's index; it is committed when it appears in
  // Ready::committed_entries with the same index and the current term.
  Result<Index> propose(std::string data);
  // One membership change at a time (thesis §4.1): it takes effect on every
  // node as soon as it is appended to that node's log. Refused with
  // kFailedPrecondition while a previous change is uncommitted, before the
  // leader has committed an entry of its term, when it would leave no voter,
  // or when it does not apply (promote a non-learner, add an existing member).
  // Removing the leader itself is refused: transfer leadership first.
  Result<Index> propose_conf_change(const ConfChange& change);
  // Asks for a linearizable read point. The answer is a ReadState with the
  // same context in a later Ready. On a follower the request is forwarded to
  // the leader. kUnavailable when no leader is known. A request may be lost
  // (leader change); callers time out.
  // REQUIRES: `context` unique per request (e.g. a request id): heartbeat
  // acknowledgements are matched to requests by it (thesis §6.4).
  Status read_index(std::string context);
  // Leader only: hands leadership to `to` (a voter) once it has caught up,
  // via kTimeoutNow. Proposals are refused until it completes or an election
  // timeout passes.
  Status transfer_leader(NodeId to);
  // Starts an election now (pre-vote first when enabled). Used at bootstrap
  // of a one-node cluster and by tests.
  void campaign();

  bool has_ready() const;
  Ready ready();
  // REQUIRES: `rd` is the last value returned by ready(), fully handled.
  void advance(const Ready& rd);

  // The application has a snapshot of its state machine at `index` (<= applied).
  // Discards log entries up to `index`; `data` is kept to send to followers
  // that fall behind. The caller has already persisted it.
  // Returns the snapshot metadata (term and membership as of `index`).
  Result<SnapshotMeta> compact(Index index, std::string data);

  // Introspection.
  NodeId id() const;
  NodeId leader() const;
  Term term() const;
  Role role() const;
  Index commit_index() const;
  Index applied_index() const;
  Index first_index() const;  // first entry still in the log (snapshot index + 1)
  Index last_index() const;
  const ConfState& conf() const;          // latest configuration in the log
  std::vector<PeerProgress> progress() const;  // leader only; empty otherwise
  HardState hard_state() const;

  // For model checkers and invariant checks.
  // A deep, independent copy of the whole core (snapshots are immutable and
  // shared). Stepping the copy never affects this one.
  std::unique_ptr<Raft> Clone() const;
  // Hash of all protocol state: hard state, role, leader, log (entries,
  // snapshot, stable/commit/applied marks), configuration, progress, votes,
  // timers, PRNG and pending reads. Equal states give equal digests on every
  // platform (no std::hash). Pending outbound messages are not included.
  uint64_t StateDigest() const;
  // The entries in [lo, hi) still in the log (clamped to what is held).
  std::vector<Entry> entries(Index lo, Index hi) const;
  // LogCabin-style self check: commit <= last, applied <= commit, log
  // contiguous after the snapshot, terms non-decreasing and <= current term,
  // role/leader/progress consistent, configuration well formed. Non-ok with
  // a description when violated (a bug in the core).
  Status CheckInvariants() const;
  // Randomized election timeout currently in force, in ticks (for tests).
  int randomized_election_timeout() const;

 private:
  class Impl;
  explicit Raft(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blixard::raft
