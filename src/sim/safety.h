// Raft's safety properties (Raft paper §5.2-§5.4, Figure 3), checked from
// the outside on what nodes persist, elect and apply. Pure bookkeeping: the
// simulator reports events, each call returns a non-ok Status (naming the
// property) the first time a property is violated.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "raft/types.h"

namespace blixard::sim {

using raft::Index;
using raft::NodeId;
using raft::Term;

// What one log position holds, by identity.
struct LogRecord {
  Term term = 0;
  uint64_t hash = 0;  // of (type, data)
  bool operator==(const LogRecord&) const = default;
};

uint64_t EntryHash(const raft::Entry& e);

// A node's durable log as the simulator saw it being saved: the snapshot
// boundary plus the entries after it. Mirrors the LogStore::Save/Compact
// contract; survives crashes (it models the disk).
class ShadowLog {
 public:
  Index snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  Index last_index() const { return snapshot_index_ + entries_.size(); }
  // Term at `i`: the snapshot's at its boundary, nullopt when compacted away
  // or beyond the end.
  std::optional<Term> term_at(Index i) const;
  // REQUIRES: snapshot_index() < i <= last_index().
  const LogRecord& at(Index i) const { return entries_[i - snapshot_index_ - 1]; }
  bool Contains(Index i, const LogRecord& r) const {
    return i > snapshot_index_ && i <= last_index() && at(i) == r;
  }

  // A snapshot (when set) replaces everything at or below its index, and
  // everything after it too unless the log holds an entry with the
  // snapshot's index and term; an entry at index i replaces i and
  // everything after it.
  void Save(const std::optional<std::pair<Index, Term>>& snapshot, const std::vector<raft::Entry>& entries);
  // Drops entries at or below `index` (the application's snapshot).
  void Compact(Index index, Term term);

 private:
  Index snapshot_index_ = 0;
  Term snapshot_term_ = 0;
  std::vector<LogRecord> entries_;
};

class SafetyChecker {
 public:
  // Election Safety: at most one leader per term.
  Status OnLeader(NodeId node, Term term, uint64_t now_ms);
  // Log Matching, entry by entry: an (index, term) pair names one entry
  // ever created (same data, same predecessor term), in every log it reaches.
  // `prev_term` is the term at index-1 in the saving node's log.
  Status OnPersist(NodeId node, Index index, const LogRecord& rec, Term prev_term);
  // Log Matching, whole logs: two logs agreeing at an index agree on every
  // earlier index both still hold.
  static Status CompareLogs(NodeId a, const ShadowLog& la, NodeId b, const ShadowLog& lb);
  // State Machine Safety: every node applies the same entry at an index.
  // Also records the entry as committed (only committed entries are
  // applied). `node_term` is the applying node's current term: the entry was
  // committed by a leader of that term or an earlier one, so every leader of
  // a later term must hold it (Leader Completeness); `leaders` are the
  // current leaders' logs, checked now.
  Status OnApply(NodeId node, Term node_term, Index index, const LogRecord& rec,
                 const std::vector<std::pair<Term, const ShadowLog*>>& leaders);
  // A snapshot installed at (index, term) must agree with what was
  // committed at that index.
  Status OnSnapshot(NodeId node, Index index, Term term);
  // Leader Completeness at election: a new leader's log holds every entry
  // known to be committed in an earlier term (above its snapshot, which
  // covers the rest).
  Status OnNewLeaderLog(NodeId node, Term term, const ShadowLog& log) const;
  // Applied state agrees: digest of the state machine right after `index`.
  Status OnStateDigest(NodeId node, Index index, uint64_t digest);

  const std::map<Index, LogRecord>& committed() const { return committed_; }
  Index max_committed() const { return committed_.empty() ? 0 : committed_.rbegin()->first; }
  const std::map<Term, NodeId>& leaders() const { return leaders_; }

 private:
  struct Created {
    uint64_t hash;
    Term prev_term;
  };
  std::map<Term, NodeId> leaders_;
  std::map<std::pair<Index, Term>, Created> created_;
  std::map<Index, LogRecord> committed_;
  std::map<Index, Term> commit_term_bound_;  // committed by a leader of this term or earlier
  std::map<Index, std::pair<NodeId, uint64_t>> digests_;
};

}  // namespace blixard::sim
