// What clients saw: every operation with its invoke and completion times
// (virtual), and the checks that tie it to what Raft committed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/event_queue.h"
#include "sim/safety.h"

namespace blixard::sim {

enum class OpKind : uint8_t { kWrite, kRead };
enum class Outcome : uint8_t {
  kPending,  // no answer yet
  kOk,       // acknowledged: committed (write) or served (read)
  kFail,     // definitely did not take effect
  kUnknown,  // timed out: may or may not have taken effect
};
const char* OutcomeName(Outcome o);

struct Op {
  uint64_t client = 0;
  uint64_t id = 0;  // unique in the history
  OpKind kind = OpKind::kWrite;
  std::string what;  // for people: "create vm-3-7", "read vm-1-2"
  Time invoke = 0;
  Time complete = -1;
  Outcome outcome = Outcome::kPending;
  // Write: the log index it was committed at and the hash of the entry.
  // Read: the read index the leader confirmed, and the applied index the
  // node served it at (>= index).
  Index index = 0;
  uint64_t hash = 0;
  Index served = 0;
  // Read of a VM the client knows exists (its create was acknowledged and no
  // delete was issued): the read must find it.
  bool must_find = false;
  bool found = false;
};

class History {
 public:
  // Returns the op's position, stable for the run.
  size_t Invoke(Op op) {
    ops_.push_back(std::move(op));
    return ops_.size() - 1;
  }
  Op& at(size_t i) { return ops_[i]; }
  const std::vector<Op>& ops() const { return ops_; }
  size_t Count(OpKind kind, Outcome outcome) const;

 private:
  std::vector<Op> ops_;
};

// Checks a finished history against the committed log (index -> entry, as
// recorded by SafetyChecker):
// - durability: every acknowledged write is committed, at the index it was
//   acknowledged with, with its own data;
// - real-time order: a write acknowledged before another was invoked has a
//   smaller index;
// - linearizable reads: a read's index covers every write acknowledged
//   before the read was invoked, and the node served it at or after it;
// - a read of a VM known to exist finds it.
Status CheckHistory(const History& history, const std::map<Index, LogRecord>& committed);

// The same checks op by op, as operations complete, so that a failure is
// reported next to the events that caused it. An acknowledged write not yet
// in `committed` is left to CheckHistory at the end.
class HistoryChecker {
 public:
  // REQUIRES: ops are reported in non-decreasing completion time.
  Status OnComplete(const Op& op, const std::map<Index, LogRecord>& committed);

 private:
  // (completion time, highest index of the writes acknowledged until then)
  std::vector<std::pair<Time, Index>> acked_;
};

}  // namespace blixard::sim
