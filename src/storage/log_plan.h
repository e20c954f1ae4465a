// The rules of Save() and Compact(), shared by every LogStore so they all
// agree on what a call does and which calls are refused. A plan is computed
// from the stored log's bounds before anything is written; the store then
// carries it out in one atomic write.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/types.h"

namespace blixard::storage {

// The stored log holds entries (snap_index, last_index]; last_index ==
// snap_index when it is empty.
struct LogBounds {
  raft::Index snap_index = 0;
  raft::Term snap_term = 0;
  raft::Index last_index = 0;
};

// Term of the stored entry at i. Called only for snap_index < i <= last_index.
// A store whose record is unreadable returns a kDataLoss status.
using TermLookup = std::function<Result<raft::Term>(raft::Index)>;

struct SavePlan {
  bool install_snapshot = false;
  // The snapshot does not match the stored log (no entry with its index and
  // term): the whole log goes, as in etcd's raft. When it does match, only
  // the covered prefix goes and the entries after it stay (Raft paper §7,
  // InstallSnapshot step 6), because this node may have acknowledged them.
  bool drop_whole_log = false;
  raft::Index drop_through = 0;  // delete entries <= this (0: none)
  raft::Index truncate_from = 0; // delete entries >= this before appending (0: none)
  size_t first_new = 0;          // entries[first_new..] are appended
};

// Refuses (nothing may be written):
// - a snapshot older than the stored one (kFailedPrecondition);
// - entries not contiguous, with index 0, or with a term lower than the
//   entry before them (kInvalidArgument);
// - entries leaving a gap after the stored log (kInvalidArgument).
// Entries at or below the (new) snapshot index are skipped: they are covered.
Result<SavePlan> PlanSave(const LogBounds& bounds, const TermLookup& term_at,
                          const std::vector<raft::Entry>& entries,
                          const raft::SnapshotMeta* snapshot);

// Checks Compact(meta): meta.index within [snap_index, last_index]
// (kFailedPrecondition otherwise) and meta.term equal to the stored term at
// meta.index (kInvalidArgument otherwise).
Status CheckCompact(const LogBounds& bounds, const TermLookup& term_at,
                    const raft::SnapshotMeta& meta);

// GetMeta/PutMeta keys: 1 to kMaxMetaKey bytes (kInvalidArgument otherwise).
inline constexpr size_t kMaxMetaKey = 256;  // LMDB keys are at most 511 bytes
Status CheckMetaKey(const std::string& key);

}  // namespace blixard::storage
