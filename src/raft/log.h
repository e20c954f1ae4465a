// RaftLog: the in-memory log of one node — the snapshot it starts from plus
// every entry after it — and the bookkeeping that drives Ready:
//   stable:    entries below unstable_from_ have been handed to storage and
//              acknowledged by advance();
//   committed: known committed (§5.3), never decreases;
//   applying:  committed entries already handed out in a Ready;
//   applied:   acknowledged by advance().
// Invariants: snapshot.index <= applied <= applying <= committed <= last,
// indices contiguous from snapshot.index + 1, terms non-decreasing.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/status.h"
#include "raft/types.h"

namespace blixard::raft {

class RaftLog {
 public:
  // REQUIRES: `snapshot` non-null; `entries` contiguous after it.
  RaftLog(std::shared_ptr<const Snapshot> snapshot, std::vector<Entry> entries, Index committed);

  Index first_index() const { return snapshot_->meta.index + 1; }
  Index last_index() const { return snapshot_->meta.index + entries_.size(); }
  Term last_term() const;
  // Term of entry `i`; nullopt when `i` is compacted away or beyond the end.
  std::optional<Term> term(Index i) const;
  bool match_term(Index i, Term t) const;
  // §5.4.1: a candidate's log (last_index, last_term) is at least as up to date.
  bool is_up_to_date(Index last, Term last_term) const;
  // REQUIRES: first_index() <= i <= last_index().
  const Entry& at(Index i) const { return entries_[i - first_index()]; }
  // Entries in [lo, hi) limited to `max_bytes` of payload, but at least one.
  // REQUIRES: first_index() <= lo.
  std::vector<Entry> slice(Index lo, Index hi, uint64_t max_bytes) const;

  // Follower side of AppendEntries (§5.3): if the entry at `prev` has
  // `prev_term`, drops any conflicting suffix, appends what is new, and
  // returns the index of the last entry `ents` covers. nullopt on mismatch.
  // *truncated is set when stored entries were discarded.
  std::optional<Index> maybe_append(Index prev, Term prev_term, std::vector<Entry> ents, bool* truncated);
  // Leader side: appends after last_index(). REQUIRES: indices follow on.
  void append(std::vector<Entry> ents);
  // Fast backtracking (like etcd's findConflictByTerm): the largest index
  // <= `index` whose term is <= `term`, and that term (0 when unknown).
  std::pair<Index, Term> find_conflict_by_term(Index index, Term term) const;

  Index committed() const { return committed_; }
  // Raises the commit index; never lowers it. REQUIRES: i <= last_index().
  void commit_to(Index i);
  Index applied() const { return applied_; }

  // Ready support.
  std::vector<Entry> unstable_entries() const;
  bool has_unstable() const { return unstable_from_ <= last_index(); }
  std::vector<Entry> next_committed_entries() const;  // (applying, committed]
  bool has_next_committed() const { return committed_ > applying_; }
  void mark_applying(Index i) { if (i > applying_) applying_ = i; }
  void applied_to(Index i);
  void stable_to(Index i, Term t);
  const std::shared_ptr<const Snapshot>& unstable_snapshot() const { return unstable_snapshot_; }
  void stable_snapshot(const std::shared_ptr<const Snapshot>& s);
  Index unstable_from() const { return unstable_from_; }
  Index applying() const { return applying_; }

  const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
  // Replaces the whole log by `s` (a follower installing a leader's snapshot).
  // REQUIRES: s->meta.index > committed().
  void restore(std::shared_ptr<const Snapshot> s);
  // The application snapshotted its state at s->meta.index (<= applied):
  // drops the entries it covers.
  Status compact(std::shared_ptr<const Snapshot> s);

  // Configuration in force at index `i` (last conf entry at or before it, or
  // the snapshot's), and the index of that conf entry (0 if the snapshot's).
  // REQUIRES: i >= snapshot index.
  std::pair<ConfState, Index> conf_at(Index i) const;

  Status CheckInvariants() const;
  uint64_t Digest(uint64_t h) const;

 private:
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<Entry> entries_;
  std::shared_ptr<const Snapshot> unstable_snapshot_;
  Index unstable_from_;
  Index committed_;
  Index applying_;
  Index applied_;
};

// 64-bit mixing used by the state digests (splitmix64 finalizer).
uint64_t HashMix(uint64_t h, uint64_t v);
uint64_t HashBytes(uint64_t h, const std::string& s);

}  // namespace blixard::raft
