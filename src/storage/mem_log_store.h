// In-memory LogStore for the simulator and tests, with the same rules as the
// LMDB store (log_plan.h). Every successful write is "durable" at once, so a
// power loss is modelled by dropping the node that owns the store and
// calling Load() again. Save() copies what it is given and Load() returns a
// copy of the entries; the snapshot Load() returns is the store's own
// immutable copy, shared rather than copied again. A fault hook lets the
// simulator fail a write (as a failing fsync would) before anything becomes
// durable. Deterministic: no clock, no randomness, no I/O.
#pragma once

#include <functional>
#include <map>

#include "storage/log_store.h"

namespace blixard::storage {

class MemLogStore : public LogStore {
 public:
  MemLogStore();
  ~MemLogStore() override;

  Result<raft::PersistentState> Load() override;
  Status Save(const std::optional<raft::HardState>& hard_state,
              const std::vector<raft::Entry>& entries,
              const std::shared_ptr<const raft::Snapshot>& snapshot) override;
  Status Compact(const raft::Snapshot& snapshot) override;
  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Status PutMeta(const std::string& key, const std::string& value) override;

  // When set and returning non-ok, the next write fails with that status and
  // changes nothing.
  void SetFaultHook(std::function<Status()> hook);
  // Number of successful durable writes (each models one fsync).
  uint64_t sync_count() const;

 private:
  struct Data;
  std::unique_ptr<Data> d_;
};

}  // namespace blixard::storage
