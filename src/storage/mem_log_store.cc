#include "storage/mem_log_store.h"

#include <deque>

#include "storage/log_plan.h"

namespace blixard::storage {

struct MemLogStore::Data {
  raft::HardState hard_state;
  std::shared_ptr<const raft::Snapshot> snapshot = std::make_shared<const raft::Snapshot>();
  std::deque<raft::Entry> log;  // indexes snapshot->meta.index + 1, + 2, …
  std::map<std::string, std::string> meta;
  std::function<Status()> fault_hook;
  uint64_t sync_count = 0;

  LogBounds Bounds() const {
    return {snapshot->meta.index, snapshot->meta.term, snapshot->meta.index + log.size()};
  }
  TermLookup Lookup() const {
    return [this](raft::Index i) -> Result<raft::Term> {
      return log[i - snapshot->meta.index - 1].term;
    };
  }
  // Drops entries <= index (index within the log).
  void DropThrough(raft::Index index) {
    raft::Index first = snapshot->meta.index + 1;
    if (index >= first) log.erase(log.begin(), log.begin() + static_cast<ptrdiff_t>(index - first + 1));
  }
  Status Fault() const { return fault_hook ? fault_hook() : Status::Ok(); }
};

MemLogStore::MemLogStore() : d_(std::make_unique<Data>()) {}
MemLogStore::~MemLogStore() = default;

Result<raft::PersistentState> MemLogStore::Load() {
  raft::PersistentState ps;
  ps.hard_state = d_->hard_state;
  ps.snapshot = d_->snapshot;
  ps.entries.assign(d_->log.begin(), d_->log.end());
  return ps;
}

Status MemLogStore::Save(const std::optional<raft::HardState>& hard_state,
                         const std::vector<raft::Entry>& entries,
                         const std::shared_ptr<const raft::Snapshot>& snapshot) {
  if (!hard_state && entries.empty() && snapshot == nullptr) return Status::Ok();
  Result<SavePlan> plan =
      PlanSave(d_->Bounds(), d_->Lookup(), entries, snapshot ? &snapshot->meta : nullptr);
  if (!plan.ok()) return plan.status();
  if (Status s = d_->Fault(); !s.ok()) return s;

  if (plan->install_snapshot) {
    if (plan->drop_whole_log) {
      d_->log.clear();
    } else {
      d_->DropThrough(plan->drop_through);
    }
    // A copy: the durable state must not change when the caller later
    // changes an object it still holds.
    d_->snapshot = std::make_shared<const raft::Snapshot>(*snapshot);
  }
  if (plan->truncate_from > 0) {
    d_->log.resize(plan->truncate_from - d_->snapshot->meta.index - 1);
  }
  for (size_t k = plan->first_new; k < entries.size(); ++k) d_->log.push_back(entries[k]);
  if (hard_state) d_->hard_state = *hard_state;
  ++d_->sync_count;
  return Status::Ok();
}

Status MemLogStore::Compact(const raft::Snapshot& snapshot) {
  if (Status s = CheckCompact(d_->Bounds(), d_->Lookup(), snapshot.meta); !s.ok()) return s;
  if (Status s = d_->Fault(); !s.ok()) return s;
  d_->DropThrough(snapshot.meta.index);
  d_->snapshot = std::make_shared<const raft::Snapshot>(snapshot);
  ++d_->sync_count;
  return Status::Ok();
}

Result<std::optional<std::string>> MemLogStore::GetMeta(const std::string& key) {
  if (Status s = CheckMetaKey(key); !s.ok()) return s;
  auto it = d_->meta.find(key);
  if (it == d_->meta.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemLogStore::PutMeta(const std::string& key, const std::string& value) {
  if (Status s = CheckMetaKey(key); !s.ok()) return s;
  if (Status s = d_->Fault(); !s.ok()) return s;
  d_->meta[key] = value;
  ++d_->sync_count;
  return Status::Ok();
}

void MemLogStore::SetFaultHook(std::function<Status()> hook) { d_->fault_hook = std::move(hook); }

uint64_t MemLogStore::sync_count() const { return d_->sync_count; }

}  // namespace blixard::storage
