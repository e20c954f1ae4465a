#include "storage/log_plan.h"

#include <string>

namespace blixard::storage {
namespace {

Result<raft::Term> TermAt(const LogBounds& b, const TermLookup& term_at, raft::Index i) {
  if (i == b.snap_index) return b.snap_term;
  return term_at(i);
}

Status CheckBatch(const std::vector<raft::Entry>& entries) {
  for (size_t k = 0; k < entries.size(); ++k) {
    const raft::Entry& e = entries[k];
    if (e.index == 0) return Status::InvalidArgument("entry with index 0");
    if (k == 0) continue;
    const raft::Entry& prev = entries[k - 1];
    if (e.index != prev.index + 1) {
      return Status::InvalidArgument("entries not contiguous: " + std::to_string(prev.index) +
                                     " then " + std::to_string(e.index));
    }
    if (e.term < prev.term) {
      return Status::InvalidArgument("entry " + std::to_string(e.index) + " has term " +
                                     std::to_string(e.term) + " below the term " +
                                     std::to_string(prev.term) + " before it");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<SavePlan> PlanSave(const LogBounds& bounds, const TermLookup& term_at,
                          const std::vector<raft::Entry>& entries,
                          const raft::SnapshotMeta* snapshot) {
  SavePlan plan;
  LogBounds b = bounds;
  if (snapshot != nullptr) {
    if (snapshot->index < b.snap_index) {
      return Status::FailedPrecondition("snapshot at index " + std::to_string(snapshot->index) +
                                        " is older than the stored snapshot at index " +
                                        std::to_string(b.snap_index));
    }
    bool match = false;
    if (snapshot->index <= b.last_index) {
      Result<raft::Term> t = TermAt(b, term_at, snapshot->index);
      if (!t.ok()) return t.status();
      match = *t == snapshot->term;
    }
    plan.install_snapshot = true;
    if (match) {
      if (snapshot->index > b.snap_index) plan.drop_through = snapshot->index;
    } else {
      plan.drop_whole_log = true;
      b.last_index = snapshot->index;
    }
    b.snap_index = snapshot->index;
    b.snap_term = snapshot->term;
  }

  if (Status s = CheckBatch(entries); !s.ok()) return s;
  size_t skip = 0;
  while (skip < entries.size() && entries[skip].index <= b.snap_index) ++skip;
  plan.first_new = skip;
  if (skip == entries.size()) return plan;

  const raft::Entry& first = entries[skip];
  if (first.index > b.last_index + 1) {
    return Status::InvalidArgument("entry " + std::to_string(first.index) +
                                   " leaves a gap after the last stored index " +
                                   std::to_string(b.last_index));
  }
  Result<raft::Term> prev_term = TermAt(b, term_at, first.index - 1);
  if (!prev_term.ok()) return prev_term.status();
  if (first.term < *prev_term) {
    return Status::InvalidArgument("entry " + std::to_string(first.index) + " has term " +
                                   std::to_string(first.term) + " below the stored term " +
                                   std::to_string(*prev_term) + " before it");
  }
  if (first.index <= b.last_index) plan.truncate_from = first.index;
  return plan;
}

Status CheckCompact(const LogBounds& b, const TermLookup& term_at, const raft::SnapshotMeta& meta) {
  if (meta.index < b.snap_index) {
    return Status::FailedPrecondition("compaction to index " + std::to_string(meta.index) +
                                      " is below the stored snapshot at index " +
                                      std::to_string(b.snap_index));
  }
  if (meta.index > b.last_index) {
    return Status::FailedPrecondition("compaction to index " + std::to_string(meta.index) +
                                      " is past the last stored index " +
                                      std::to_string(b.last_index));
  }
  Result<raft::Term> t = TermAt(b, term_at, meta.index);
  if (!t.ok()) return t.status();
  if (*t != meta.term) {
    return Status::InvalidArgument("snapshot term " + std::to_string(meta.term) + " at index " +
                                   std::to_string(meta.index) + " differs from the stored term " +
                                   std::to_string(*t));
  }
  return Status::Ok();
}

Status CheckMetaKey(const std::string& key) {
  if (key.empty() || key.size() > kMaxMetaKey) {
    return Status::InvalidArgument("meta key must be 1 to " + std::to_string(kMaxMetaKey) +
                                   " bytes, got " + std::to_string(key.size()));
  }
  return Status::Ok();
}

}  // namespace blixard::storage
