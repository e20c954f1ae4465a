// Per-peer replication progress kept by the leader (etcd raft's tracker,
// thesis §3.5 / §10.2): the state machine
//   Probe:     one AppendEntries in flight at a time until a match is found;
//   Replicate: stream optimistically, at most max_inflight_msgs unacked;
//   Snapshot:  a snapshot is on its way; nothing else is sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "raft/types.h"

namespace blixard::raft {

// Bounded window of the last index of each unacknowledged kAppend.
class Inflights {
 public:
  explicit Inflights(size_t cap = 256) : cap_(cap) {}
  bool full() const { return q_.size() >= cap_; }
  size_t count() const { return q_.size(); }
  // REQUIRES: !full(); indices increase.
  void add(Index last) { q_.push_back(last); }
  // Acknowledges every message whose last index is <= `i`.
  void free_le(Index i) { while (!q_.empty() && q_.front() <= i) q_.pop_front(); }
  void free_first_one() { if (!q_.empty()) q_.pop_front(); }
  // The append ending at `folded` was extended to end at the last index
  // added (one message now): it takes one slot, not two.
  void fold_into_last(Index folded) {
    if (q_.size() >= 2 && q_[q_.size() - 2] == folded) q_.erase(q_.end() - 2);
  }
  void reset() { q_.clear(); }
  const std::deque<Index>& items() const { return q_; }

 private:
  std::deque<Index> q_;
  size_t cap_;
};

struct Progress {
  enum class State : uint8_t { kProbe, kReplicate, kSnapshot };

  explicit Progress(size_t max_inflight = 256) : inflights(max_inflight) {}

  Index match = 0;
  Index next = 1;
  State state = State::kProbe;
  bool probe_sent = false;       // Probe: an append is outstanding
  Index pending_snapshot = 0;    // Snapshot: index of the snapshot sent
  int snapshot_ticks = 0;        // Snapshot: ticks since it was sent
  bool recent_active = false;    // heard from within the current election timeout
  bool learner = false;
  Inflights inflights;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);
  // An acknowledgement up to `n`: returns true if it raised match.
  bool maybe_update(Index n);
  // A rejection of the append whose prev index was `rejected`; `probe` is
  // where the leader wants to probe next (fast backtracking). Returns false
  // for a stale rejection.
  bool maybe_decr_to(Index rejected, Index probe);
  // True when nothing more should be sent now (flow control).
  bool is_paused() const;
};

}  // namespace blixard::raft
