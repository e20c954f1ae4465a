// Durable home of one node's Raft state: log entries, hard state, the latest
// snapshot, and a few identity keys (node id, cluster id).
//
// Contract (all implementations):
// - Save() is atomic and durable: when it returns ok, everything it was given
//   survives a crash (LMDB: one write transaction, fsync); when the process
//   dies during Save(), none of it is visible after restart.
// - Load() returns exactly what the last successful calls left, or a
//   kDataLoss Status naming the file when something on disk is corrupt.
// - On any I/O error the caller must stop the node: the store's state is no
//   longer trusted (the lesson of PostgreSQL's fsync failures). The LMDB
//   store enforces it: after an I/O error every write returns
//   kFailedPrecondition until it is reopened. I/O errors are kInternal
//   ("I/O error: …"); corruption found on disk is kDataLoss.
// Thread safety: none; the node loop owns the store.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/types.h"

namespace blixard::storage {

class LogStore {
 public:
  virtual ~LogStore() = default;

  // What is durable now. A store never written returns an empty log with a
  // snapshot at index 0 (empty conf, empty data) and a zero hard state.
  virtual Result<raft::PersistentState> Load() = 0;

  // Persists one Ready's worth, in this order and atomically:
  // `snapshot` (when non-null: replaces the snapshot and drops every log entry
  // at or below its index; when the log has no entry with the snapshot's index
  // and term, the log disagrees with the leader's and ALL of it is dropped, as
  // etcd's raft does; when it has one, the entries after it stay, Raft paper
  // §7), then `entries` (an entry at index i replaces the stored entry i and
  // every entry after it; entries at or below the snapshot index are skipped),
  // then `hard_state` (when set).
  // Refused, with nothing written: a snapshot older than the stored one
  // (kFailedPrecondition); entries that are not contiguous, leave a gap after
  // the stored log, or have a term below the entry before them
  // (kInvalidArgument). The rules live in log_plan.h, shared by all stores.
  virtual Status Save(const std::optional<raft::HardState>& hard_state,
                      const std::vector<raft::Entry>& entries,
                      const std::shared_ptr<const raft::Snapshot>& snapshot) = 0;

  // The application took a snapshot of its state at snapshot.meta.index:
  // stores it (atomically replacing the previous one) and deletes log entries
  // at or below that index. REQUIRES: stored snapshot index <= meta.index <=
  // last stored index (else kFailedPrecondition) and meta.term is the stored
  // term at meta.index (else kInvalidArgument).
  virtual Status Compact(const raft::Snapshot& snapshot) = 0;

  // Small identity values (e.g. "node_id", "cluster_id"). Durable on return.
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status PutMeta(const std::string& key, const std::string& value) = 0;
};

// The on-disk store: LMDB environment in `dir`/raft.mdb, snapshot payloads as
// files `dir`/snapshots/snap-<index>-<term>.bin written atomically
// (write, fsync, rename, fsync dir) with a checksum verified at Load().
// Creates `dir` if missing.
Result<std::unique_ptr<LogStore>> OpenLmdbLogStore(const std::string& dir);

}  // namespace blixard::storage
