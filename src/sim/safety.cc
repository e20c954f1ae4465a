#include "sim/safety.h"

#include <string>

#include "sim/prng.h"

namespace blixard::sim {
namespace {

std::string Str(uint64_t v) { return std::to_string(v); }

}  // namespace

uint64_t EntryHash(const raft::Entry& e) { return Hash64(e.data, static_cast<uint64_t>(e.type) + 1); }

std::optional<Term> ShadowLog::term_at(Index i) const {
  if (i == snapshot_index_) return snapshot_term_;
  if (i < snapshot_index_ || i > last_index()) return std::nullopt;
  return at(i).term;
}

void ShadowLog::Save(const std::optional<std::pair<Index, Term>>& snapshot, const std::vector<raft::Entry>& entries) {
  if (snapshot) {
    const auto [index, term] = *snapshot;
    // Entries after the snapshot survive only when the log holds the
    // snapshot's own last entry (LogStore::Save, as etcd's raft does).
    if (index >= last_index() || term_at(index) != term) {
      entries_.clear();
    } else {
      entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(index - snapshot_index_));
    }
    snapshot_index_ = index;
    snapshot_term_ = term;
  }
  if (entries.empty()) return;
  const Index first = entries.front().index;
  if (first <= snapshot_index_) {
    // Already covered by the snapshot: keep only what extends past it.
    for (const auto& e : entries) {
      if (e.index <= snapshot_index_) continue;
      if (e.index <= last_index()) entries_.resize(e.index - snapshot_index_ - 1);
      entries_.push_back({e.term, EntryHash(e)});
    }
    return;
  }
  if (first <= last_index()) entries_.resize(first - snapshot_index_ - 1);
  for (const auto& e : entries) entries_.push_back({e.term, EntryHash(e)});
}

void ShadowLog::Compact(Index index, Term term) {
  if (index <= snapshot_index_) return;
  if (index >= last_index()) {
    entries_.clear();
  } else {
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<ptrdiff_t>(index - snapshot_index_));
  }
  snapshot_index_ = index;
  snapshot_term_ = term;
}

Status SafetyChecker::OnLeader(NodeId node, Term term, uint64_t now_ms) {
  auto [it, inserted] = leaders_.emplace(term, node);
  if (!inserted && it->second != node) {
    return Status::Internal("election safety: two leaders in term " + Str(term) + ": node " + Str(it->second) +
                            " and node " + Str(node) + " (t=" + Str(now_ms) + "ms)");
  }
  return Status::Ok();
}

Status SafetyChecker::OnPersist(NodeId node, Index index, const LogRecord& rec, Term prev_term) {
  auto [it, inserted] = created_.emplace(std::make_pair(index, rec.term), Created{rec.hash, prev_term});
  if (inserted) return Status::Ok();
  if (it->second.hash != rec.hash) {
    return Status::Internal("log matching: node " + Str(node) + " saved a different entry at index " + Str(index) +
                            " term " + Str(rec.term) + " than another node");
  }
  if (it->second.prev_term != prev_term) {
    return Status::Internal("log matching: node " + Str(node) + " holds entry " + Str(index) + "@" + Str(rec.term) +
                            " after term " + Str(prev_term) + ", another log has it after term " +
                            Str(it->second.prev_term));
  }
  return Status::Ok();
}

Status SafetyChecker::CompareLogs(NodeId a, const ShadowLog& la, NodeId b, const ShadowLog& lb) {
  const Index lo = std::max(la.snapshot_index(), lb.snapshot_index()) + 1;
  const Index hi = std::min(la.last_index(), lb.last_index());
  // Find the highest index where the terms agree; everything both hold below
  // it must be identical.
  Index agree = 0;
  for (Index i = hi; i >= lo && i != 0; --i) {
    if (la.at(i).term == lb.at(i).term) {
      agree = i;
      break;
    }
  }
  for (Index i = lo; i <= agree; ++i) {
    if (!(la.at(i) == lb.at(i))) {
      return Status::Internal("log matching: nodes " + Str(a) + " and " + Str(b) + " agree at index " + Str(agree) +
                              " (term " + Str(la.at(agree).term) + ") but differ at index " + Str(i) + " (terms " +
                              Str(la.at(i).term) + " vs " + Str(lb.at(i).term) + ")");
    }
  }
  return Status::Ok();
}

Status SafetyChecker::OnApply(NodeId node, Term node_term, Index index, const LogRecord& rec,
                              const std::vector<std::pair<Term, const ShadowLog*>>& leaders) {
  auto [it, inserted] = committed_.emplace(index, rec);
  auto [bound, fresh] = commit_term_bound_.emplace(index, node_term);
  if (!fresh && node_term < bound->second) bound->second = node_term;
  if (!inserted) {
    if (!(it->second == rec)) {
      return Status::Internal("state machine safety: node " + Str(node) + " applied entry term " + Str(rec.term) +
                              " at index " + Str(index) + ", another node applied term " + Str(it->second.term) +
                              (it->second.term == rec.term ? " (same term, different data)" : ""));
    }
    return Status::Ok();
  }
  for (const auto& [term, log] : leaders) {
    if (term <= bound->second || index <= log->snapshot_index()) continue;
    if (!log->Contains(index, rec)) {
      return Status::Internal("leader completeness: entry " + Str(index) + "@" + Str(rec.term) +
                              " committed but missing from the log of the leader of term " + Str(term));
    }
  }
  return Status::Ok();
}

Status SafetyChecker::OnSnapshot(NodeId node, Index index, Term term) {
  if (index == 0) return Status::Ok();
  auto it = committed_.find(index);
  if (it != committed_.end() && it->second.term != term) {
    return Status::Internal("snapshot: node " + Str(node) + " installed a snapshot at index " + Str(index) + " term " +
                            Str(term) + " but the entry committed there has term " + Str(it->second.term));
  }
  return Status::Ok();
}

Status SafetyChecker::OnNewLeaderLog(NodeId node, Term term, const ShadowLog& log) const {
  for (auto it = committed_.upper_bound(log.snapshot_index()); it != committed_.end(); ++it) {
    if (commit_term_bound_.at(it->first) >= term) continue;
    if (!log.Contains(it->first, it->second)) {
      return Status::Internal("leader completeness: node " + Str(node) + " became leader of term " + Str(term) +
                              " without committed entry " + Str(it->first) + "@" + Str(it->second.term) +
                              " (its log ends at " + Str(log.last_index()) + ")");
    }
  }
  return Status::Ok();
}

Status SafetyChecker::OnStateDigest(NodeId node, Index index, uint64_t digest) {
  auto [it, inserted] = digests_.emplace(index, std::make_pair(node, digest));
  if (!inserted && it->second.second != digest) {
    return Status::Internal("state machine safety: node " + Str(node) + " and node " + Str(it->second.first) +
                            " have different state digests after applying index " + Str(index));
  }
  return Status::Ok();
}

}  // namespace blixard::sim
