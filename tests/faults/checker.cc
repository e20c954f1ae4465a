#include "faults/checker.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace blixard::faults {
namespace {

// Applies `op` to `s`. Ok ops must return what they returned; unknown ones
// take whatever effect the model gives them. false: impossible from `s`.
bool Step(const Op& op, RegisterState& s) {
  const bool known = op.outcome == Outcome::kOk;
  switch (op.type) {
    case OpType::kCreate:
      if (known && op.found == s.exists) return false;
      if (!s.exists) s = {true, ""};
      return true;
    case OpType::kDelete:
      if (known && op.found != s.exists) return false;
      if (s.exists) s = {};
      return true;
    case OpType::kWrite:
      if (known && op.found != s.exists) return false;
      if (s.exists) s.value = op.value;
      return true;
    case OpType::kRead:
      if (!known) return true;
      if (op.found != s.exists) return false;
      return !s.exists || s.value == op.value;
  }
  return false;
}

// Call and return events of the ops as a doubly linked list (Lowe's
// "lifting": a linearized op's two events leave the list, and come back on
// backtracking).
struct Event {
  bool call = false;
  size_t op = 0;
  int64_t time = 0;
  int prev = -1, next = -1;
  int match = -1;  // the other event of the same op
};

class Search {
 public:
  Search(const std::vector<Op>& ops, RegisterState initial, uint64_t max_steps)
      : ops_(ops), initial_(std::move(initial)), max_steps_(max_steps) {}

  Verdict Run(uint64_t* steps) {
    BuildList();
    std::vector<uint64_t> linearized((ops_.size() + 63) / 64, 0);
    std::unordered_set<std::string> seen;
    struct Frame {
      int call;
      RegisterState before;
    };
    std::vector<Frame> stack;
    RegisterState state = initial_;
    int e = events_[kHead].next;
    uint64_t n = 0;
    while (events_[kHead].next != -1) {
      if (++n > max_steps_) {
        *steps = n;
        return Verdict::kUndecided;
      }
      if (e == -1) {  // only calls were left to try and none fitted
        if (stack.empty()) break;
        e = Backtrack(stack.back().call, linearized);
        state = stack.back().before;
        stack.pop_back();
        continue;
      }
      const Event& ev = events_[e];
      if (ev.call) {
        RegisterState next = state;
        if (Step(ops_[ev.op], next)) {
          linearized[ev.op / 64] |= uint64_t{1} << (ev.op % 64);
          std::string key = CacheKey(linearized, next);
          if (seen.insert(std::move(key)).second) {
            stack.push_back({e, state});
            state = std::move(next);
            Lift(e);
            e = events_[kHead].next;
            continue;
          }
          linearized[ev.op / 64] &= ~(uint64_t{1} << (ev.op % 64));
        }
        e = ev.next;
      } else {
        // The return of an op not yet linearized: it must come before this
        // point, so some choice before was wrong.
        if (stack.empty()) break;
        e = Backtrack(stack.back().call, linearized);
        state = stack.back().before;
        stack.pop_back();
      }
    }
    *steps = n;
    return events_[kHead].next == -1 ? Verdict::kLinearizable : Verdict::kNotLinearizable;
  }

 private:
  static constexpr int kHead = 0;

  void BuildList() {
    std::vector<Event> evs;
    for (size_t i = 0; i < ops_.size(); ++i) {
      evs.push_back({true, i, ops_[i].invoke_us});
      evs.push_back({false, i, ops_[i].complete_us});
    }
    // By time; at equal times calls first (the ops count as concurrent:
    // the permissive reading, so a tie never makes a false alarm).
    std::stable_sort(evs.begin(), evs.end(), [](const Event& a, const Event& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.call && !b.call;
    });
    events_.assign(1, Event{});
    std::vector<int> call_of(ops_.size(), -1), ret_of(ops_.size(), -1);
    for (Event& ev : evs) {
      const int idx = static_cast<int>(events_.size());
      (ev.call ? call_of : ret_of)[ev.op] = idx;
      events_.push_back(ev);
    }
    for (size_t i = 0; i < ops_.size(); ++i) {
      events_[call_of[i]].match = ret_of[i];
      events_[ret_of[i]].match = call_of[i];
    }
    for (int i = 0; i < static_cast<int>(events_.size()); ++i) {
      events_[i].prev = i - 1;
      events_[i].next = i + 1 < static_cast<int>(events_.size()) ? i + 1 : -1;
    }
  }

  void Unlink(int i) {
    Event& ev = events_[i];
    events_[ev.prev].next = ev.next;
    if (ev.next != -1) events_[ev.next].prev = ev.prev;
  }
  void Relink(int i) {
    Event& ev = events_[i];
    events_[ev.prev].next = i;
    if (ev.next != -1) events_[ev.next].prev = i;
  }
  // Removes a call and its return from the list.
  void Lift(int call) {
    Unlink(call);
    Unlink(events_[call].match);
  }
  // Undoes Lift(call) (lifts are undone in reverse order, so the
  // neighbours are as they were) and returns where to continue: the event
  // after the call.
  int Backtrack(int call, std::vector<uint64_t>& linearized) {
    Relink(events_[call].match);
    Relink(call);
    const size_t op = events_[call].op;
    linearized[op / 64] &= ~(uint64_t{1} << (op % 64));
    return events_[call].next;
  }

  static std::string CacheKey(const std::vector<uint64_t>& bits, const RegisterState& s) {
    std::string key(reinterpret_cast<const char*>(bits.data()), bits.size() * 8);
    key.push_back(s.exists ? '1' : '0');
    key += s.value;
    return key;
  }

  const std::vector<Op>& ops_;
  const RegisterState initial_;
  const uint64_t max_steps_;
  std::vector<Event> events_;  // [0] is the head sentinel
};

std::vector<Op> Relevant(const std::vector<Op>& ops) {
  std::set<std::string> read;  // values some ok read returned
  for (const Op& op : ops) {
    if (op.type == OpType::kRead && op.outcome == Outcome::kOk && op.found) read.insert(op.value);
  }
  std::vector<Op> out;
  for (const Op& op : ops) {
    if (op.outcome == Outcome::kOk) out.push_back(op);
    // An unknown read has no effect and told nothing. An unknown write whose
    // value nobody read may as well take effect after everything else (it
    // completes "never"), where nobody sees it: dropping it decides the same.
    if (op.outcome == Outcome::kUnknown && op.type == OpType::kWrite && !read.count(op.value)) {
      continue;
    }
    if (op.outcome == Outcome::kUnknown && op.type != OpType::kRead) {
      Op u = op;
      u.complete_us = kNever;
      out.push_back(std::move(u));
    }
  }
  return out;
}

Verdict Decide(const std::vector<Op>& ops, const RegisterState& initial, uint64_t max_steps,
               uint64_t* steps) {
  return Search(ops, initial, max_steps).Run(steps);
}

// Whether dropping ops[i] keeps every non-linearizable verdict sound: a
// read never changes the state, and a write whose value no remaining read
// returned changes nothing anyone saw.
bool Droppable(const std::vector<Op>& ops, size_t i) {
  const Op& op = ops[i];
  if (op.type == OpType::kRead) return true;
  if (op.type != OpType::kWrite) return false;
  for (const Op& other : ops) {
    if (other.type == OpType::kRead && other.outcome == Outcome::kOk && other.found &&
        other.value == op.value) {
      return false;
    }
  }
  return true;
}

}  // namespace

KeyResult CheckKey(const std::vector<Op>& all, RegisterState initial, uint64_t max_steps) {
  KeyResult r;
  std::vector<Op> ops = Relevant(all);
  r.verdict = Decide(ops, initial, max_steps, &r.steps);
  if (r.verdict != Verdict::kNotLinearizable) return r;
  // Shrink: drop what can be dropped soundly while it stays non-linearizable.
  for (size_t i = ops.size(); i-- > 0;) {
    if (!Droppable(ops, i)) continue;
    std::vector<Op> fewer = ops;
    fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(i));
    uint64_t steps = 0;
    if (Decide(fewer, initial, max_steps, &steps) == Verdict::kNotLinearizable) ops = std::move(fewer);
  }
  std::sort(ops.begin(), ops.end(),
            [](const Op& a, const Op& b) { return a.invoke_us < b.invoke_us; });
  r.witness = std::move(ops);
  return r;
}

std::vector<std::string> CheckFinalState(const std::vector<Op>& ops,
                                         const std::map<std::string, std::string>& final_state) {
  std::map<std::string, std::vector<const Op*>> by_key;
  for (const Op& op : ops) {
    if (op.type != OpType::kRead) by_key[op.key].push_back(&op);
  }
  std::vector<std::string> out;
  for (const auto& [key, kops] : by_key) {
    const bool exists = final_state.count(key) > 0;
    for (const Op* op : kops) {
      const bool acked_create = op->type == OpType::kCreate && op->outcome == Outcome::kOk && op->found;
      const bool acked_delete = op->type == OpType::kDelete && op->outcome == Outcome::kOk && op->found;
      if (!acked_create && !acked_delete) continue;
      if (acked_create == exists) continue;
      // Explained by a create/delete that may have come after it.
      bool explained = false;
      for (const Op* later : kops) {
        if (later == op || later->type == OpType::kWrite) continue;
        if (later->outcome != Outcome::kOk && later->outcome != Outcome::kUnknown) continue;
        if (later->outcome == Outcome::kOk && !later->found) continue;  // had no effect
        if (later->type == (acked_create ? OpType::kCreate : OpType::kDelete)) continue;
        if (later->complete_us > op->invoke_us) explained = true;  // not surely before it
      }
      if (explained) continue;
      out.push_back(std::string(acked_create ? "lost acknowledged create: " : "deleted VM is back: ") +
                    FormatOp(*op));
    }
  }
  return out;
}

CheckReport CheckHistory(const std::vector<Op>& ops,
                         const std::map<std::string, std::string>& final_state, int64_t t0_us) {
  CheckReport report;
  std::map<std::string, std::vector<Op>> by_key;
  for (const Op& op : ops) {
    if (op.outcome == Outcome::kOk || op.outcome == Outcome::kUnknown) {
      by_key[op.key].push_back(op);
      ++report.ops;
    }
  }
  report.keys = by_key.size();
  for (const auto& [key, kops] : by_key) {
    KeyResult r = CheckKey(kops);
    if (r.verdict == Verdict::kUndecided) {
      ++report.undecided;
      report.messages.push_back("key " + key + ": search gave up after " + std::to_string(r.steps) +
                                " steps (" + std::to_string(kops.size()) + " ops)");
    } else if (r.verdict == Verdict::kNotLinearizable) {
      ++report.violations;
      std::string m = "key " + key + " is not linearizable; smallest history found (" +
                      std::to_string(r.witness.size()) + " of " + std::to_string(kops.size()) +
                      " ops):\n";
      for (const Op& op : r.witness) m += "  " + FormatOp(op, t0_us) + "\n";
      report.messages.push_back(std::move(m));
    }
  }
  for (std::string& m : CheckFinalState(ops, final_state)) {
    ++report.lost_writes;
    report.messages.push_back(std::move(m));
  }
  return report;
}

}  // namespace blixard::faults
