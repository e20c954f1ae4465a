#include "sim/history.h"

#include <algorithm>
#include <string>

namespace blixard::sim {
namespace {

std::string Describe(const Op& op) {
  return "op #" + std::to_string(op.id) + " (client " + std::to_string(op.client) + ", " + op.what + ", invoked t=" +
         std::to_string(op.invoke) + "ms, completed t=" + std::to_string(op.complete) +
         "ms, index=" + std::to_string(op.index) + ")";
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPending: return "pending";
    case Outcome::kOk: return "ok";
    case Outcome::kFail: return "fail";
    case Outcome::kUnknown: return "unknown";
  }
  return "?";
}

size_t History::Count(OpKind kind, Outcome outcome) const {
  size_t n = 0;
  for (const auto& op : ops_) n += (op.kind == kind && op.outcome == outcome);
  return n;
}

Status CheckHistory(const History& history, const std::map<Index, LogRecord>& committed) {
  std::vector<const Op*> acked_writes;
  std::vector<const Op*> reads;
  for (const auto& op : history.ops()) {
    if (op.outcome != Outcome::kOk) continue;
    if (op.kind == OpKind::kWrite) {
      auto it = committed.find(op.index);
      if (it == committed.end()) {
        return Status::Internal("durability: acknowledged write not committed: " + Describe(op));
      }
      if (it->second.hash != op.hash) {
        return Status::Internal("durability: acknowledged write's index holds another entry: " + Describe(op));
      }
      acked_writes.push_back(&op);
    } else {
      if (op.served < op.index) {
        return Status::Internal("read served below its read index (served at " + std::to_string(op.served) +
                                "): " + Describe(op));
      }
      if (op.must_find && !op.found) {
        return Status::Internal("stale read: a VM whose create was acknowledged is missing: " + Describe(op));
      }
      reads.push_back(&op);
    }
  }
  // Sweep ops by time: for each op, the highest index of writes acknowledged
  // strictly before it was invoked.
  std::vector<const Op*> by_complete = acked_writes;
  std::sort(by_complete.begin(), by_complete.end(),
            [](const Op* a, const Op* b) { return a->complete != b->complete ? a->complete < b->complete : a->id < b->id; });
  std::vector<const Op*> later = acked_writes;
  later.insert(later.end(), reads.begin(), reads.end());
  std::sort(later.begin(), later.end(),
            [](const Op* a, const Op* b) { return a->invoke != b->invoke ? a->invoke < b->invoke : a->id < b->id; });
  size_t k = 0;
  const Op* max_before = nullptr;
  for (const Op* op : later) {
    while (k < by_complete.size() && by_complete[k]->complete < op->invoke) {
      if (max_before == nullptr || by_complete[k]->index > max_before->index) max_before = by_complete[k];
      ++k;
    }
    if (max_before == nullptr) continue;
    if (op->kind == OpKind::kWrite && op->index <= max_before->index) {
      return Status::Internal("real-time order: " + Describe(*op) + " was committed at or below " +
                              Describe(*max_before) + ", which was acknowledged before it was invoked");
    }
    if (op->kind == OpKind::kRead && op->index < max_before->index) {
      return Status::Internal("stale read: " + Describe(*op) + " does not cover " + Describe(*max_before) +
                              ", acknowledged before the read was invoked");
    }
  }
  return Status::Ok();
}

Status HistoryChecker::OnComplete(const Op& op, const std::map<Index, LogRecord>& committed) {
  if (op.outcome != Outcome::kOk) return Status::Ok();
  // Highest index acknowledged strictly before the op was invoked.
  auto it = std::lower_bound(acked_.begin(), acked_.end(), op.invoke,
                             [](const std::pair<Time, Index>& a, Time t) { return a.first < t; });
  const Index before = it == acked_.begin() ? 0 : std::prev(it)->second;
  if (op.kind == OpKind::kWrite) {
    auto c = committed.find(op.index);
    if (c != committed.end() && c->second.hash != op.hash) {
      return Status::Internal("durability: acknowledged write's index holds another entry: " + Describe(op));
    }
    if (op.index <= before) {
      return Status::Internal("real-time order: " + Describe(op) + " was committed at or below index " +
                              std::to_string(before) + ", acknowledged before it was invoked");
    }
    const Index high = std::max(op.index, acked_.empty() ? 0 : acked_.back().second);
    acked_.emplace_back(op.complete, high);
    return Status::Ok();
  }
  if (op.served < op.index) {
    return Status::Internal("read served below its read index (served at " + std::to_string(op.served) +
                            "): " + Describe(op));
  }
  if (op.must_find && !op.found) {
    return Status::Internal("stale read: a VM whose create was acknowledged is missing: " + Describe(op));
  }
  if (op.index < before) {
    return Status::Internal("stale read: " + Describe(op) + " does not cover index " + std::to_string(before) +
                            ", acknowledged before the read was invoked");
  }
  return Status::Ok();
}

}  // namespace blixard::sim
