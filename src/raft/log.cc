#include "raft/log.h"

#include <string>

#include "raft/conf_change.h"

namespace blixard::raft {

uint64_t HashMix(uint64_t h, uint64_t v) {
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t HashBytes(uint64_t h, const std::string& s) {
  uint64_t f = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) f = (f ^ c) * 1099511628211ULL;
  return HashMix(HashMix(h, s.size()), f);
}

RaftLog::RaftLog(std::shared_ptr<const Snapshot> snapshot, std::vector<Entry> entries, Index committed)
    : snapshot_(std::move(snapshot)), entries_(std::move(entries)) {
  const Index snap = snapshot_->meta.index;
  unstable_from_ = last_index() + 1;
  committed_ = std::max(snap, std::min(committed, last_index()));
  applying_ = snap;
  applied_ = snap;
}

Term RaftLog::last_term() const {
  return entries_.empty() ? snapshot_->meta.term : entries_.back().term;
}

std::optional<Term> RaftLog::term(Index i) const {
  if (i == snapshot_->meta.index) return snapshot_->meta.term;
  if (i < first_index() || i > last_index()) return std::nullopt;
  return at(i).term;
}

bool RaftLog::match_term(Index i, Term t) const {
  auto got = term(i);
  return got && *got == t;
}

bool RaftLog::is_up_to_date(Index last, Term lt) const {
  return lt > last_term() || (lt == last_term() && last >= last_index());
}

std::vector<Entry> RaftLog::slice(Index lo, Index hi, uint64_t max_bytes) const {
  std::vector<Entry> out;
  hi = std::min(hi, last_index() + 1);
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = at(i);
    bytes += e.data.size() + 24;  // payload plus a rough per-entry header
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

std::optional<Index> RaftLog::maybe_append(Index prev, Term prev_term, std::vector<Entry> ents,
                                           bool* truncated) {
  *truncated = false;
  if (!match_term(prev, prev_term)) return std::nullopt;
  const Index last_new = prev + ents.size();
  // Skip entries we already hold (same index and term: identical by the Log
  // Matching property, §5.3); entries at or below the snapshot are committed.
  size_t k = 0;
  for (; k < ents.size(); ++k) {
    const Index i = ents[k].index;
    if (i <= snapshot_->meta.index) continue;
    if (i > last_index()) break;
    if (at(i).term != ents[k].term) {
      // Conflict: a committed entry never conflicts (Leader Completeness).
      entries_.resize(i - first_index());
      unstable_from_ = std::min(unstable_from_, i);
      *truncated = true;
      break;
    }
  }
  for (; k < ents.size(); ++k) entries_.push_back(std::move(ents[k]));
  return last_new;
}

void RaftLog::append(std::vector<Entry> ents) {
  for (auto& e : ents) entries_.push_back(std::move(e));
}

std::pair<Index, Term> RaftLog::find_conflict_by_term(Index index, Term t) const {
  index = std::min(index, last_index());
  for (;;) {
    auto got = term(index);
    if (!got) return {index, 0};  // compacted: let the caller probe from here
    if (*got <= t) return {index, *got};
    --index;
  }
}

void RaftLog::commit_to(Index i) {
  if (i > committed_) committed_ = std::min(i, last_index());
}

void RaftLog::applied_to(Index i) {
  if (i > applied_) applied_ = i;
  if (applying_ < applied_) applying_ = applied_;
}

std::vector<Entry> RaftLog::unstable_entries() const {
  if (!has_unstable()) return {};
  return std::vector<Entry>(entries_.begin() + (unstable_from_ - first_index()), entries_.end());
}

std::vector<Entry> RaftLog::next_committed_entries() const {
  if (!has_next_committed()) return {};
  const Index lo = std::max(applying_ + 1, first_index());
  return std::vector<Entry>(entries_.begin() + (lo - first_index()),
                            entries_.begin() + (committed_ + 1 - first_index()));
}

void RaftLog::stable_to(Index i, Term t) {
  // Ignore a stale acknowledgement: the entry was since replaced.
  if (i >= unstable_from_ && match_term(i, t)) unstable_from_ = i + 1;
}

void RaftLog::stable_snapshot(const std::shared_ptr<const Snapshot>& s) {
  if (s && s == unstable_snapshot_) unstable_snapshot_.reset();
}

void RaftLog::restore(std::shared_ptr<const Snapshot> s) {
  snapshot_ = s;
  unstable_snapshot_ = s;
  entries_.clear();
  const Index i = s->meta.index;
  unstable_from_ = i + 1;
  committed_ = i;
  applying_ = i;  // the snapshot replaces every entry up to i
}

Status RaftLog::compact(std::shared_ptr<const Snapshot> s) {
  const Index i = s->meta.index;
  if (i <= snapshot_->meta.index) return Status::FailedPrecondition("compact: index not above current snapshot");
  if (i > applied_) return Status::FailedPrecondition("compact: index above applied");
  if (i >= unstable_from_) return Status::FailedPrecondition("compact: index not yet stable");
  entries_.erase(entries_.begin(), entries_.begin() + (i + 1 - first_index()));
  snapshot_ = std::move(s);
  return Status::Ok();
}

std::pair<ConfState, Index> RaftLog::conf_at(Index i) const {
  for (Index j = std::min(i, last_index()); j >= first_index(); --j) {
    const Entry& e = at(j);
    if (e.type != EntryType::kConfChange) continue;
    auto cc = DecodeConfChangeEntry(e.data);
    if (cc.ok()) return {cc->conf, j};
  }
  return {snapshot_->meta.conf, 0};
}

Status RaftLog::CheckInvariants() const {
  const Index snap = snapshot_->meta.index;
  // A leader's snapshot just restored (not yet handed out and acknowledged
  // by advance()) is ahead of applied until then.
  const Index applied_floor = unstable_snapshot_ ? 0 : snap;
  if (!(applied_floor <= applied_ && applied_ <= applying_ && applying_ <= committed_ && committed_ <= last_index())) {
    return Status::Internal("log: require snapshot <= applied <= applying <= committed <= last");
  }
  if (unstable_from_ < first_index() || unstable_from_ > last_index() + 1) {
    return Status::Internal("log: unstable_from out of range");
  }
  Term prev = snapshot_->meta.term;
  for (size_t k = 0; k < entries_.size(); ++k) {
    if (entries_[k].index != snap + 1 + k) return Status::Internal("log: indices not contiguous");
    if (entries_[k].term < prev) return Status::Internal("log: terms decrease");
    prev = entries_[k].term;
  }
  return Status::Ok();
}

uint64_t RaftLog::Digest(uint64_t h) const {
  h = HashMix(h, snapshot_->meta.index);
  h = HashMix(h, snapshot_->meta.term);
  for (const Entry& e : entries_) {
    h = HashMix(h, e.term);
    h = HashMix(h, static_cast<uint64_t>(e.type));
    h = HashBytes(h, e.data);
  }
  for (uint64_t v : {unstable_from_, committed_, applying_, applied_}) h = HashMix(h, v);
  return HashMix(h, unstable_snapshot_ ? 1 : 0);
}

}  // namespace blixard::raft
