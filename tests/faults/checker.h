// Checks a fault run's history (history.h):
// - linearizability of each VM register: is there one order of the
//   operations on a key, consistent with real time (an op that completed
//   before another was invoked comes first), in which every ok op returns
//   what it returned? Wing & Gong's search with Lowe's memoization of
//   (linearized set, model state); unknown ops complete "never", so they may
//   take effect at any point after their invoke, or not at all;
// - the final state: every acknowledged create is there and no acknowledged
//   delete is, unless a later (or unknown) op on the same name explains it.
// Pure C++: no I/O, no clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "faults/history.h"

namespace blixard::faults {

// The model state of one VM register.
struct RegisterState {
  bool exists = false;
  std::string value;
  bool operator==(const RegisterState&) const = default;
};

enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kUndecided };

struct KeyResult {
  Verdict verdict = Verdict::kLinearizable;
  uint64_t steps = 0;           // search steps taken
  // kNotLinearizable: a smallest sub-history found that still cannot be
  // linearized (reads and writes nobody read were dropped one by one while
  // it stayed so), in invoke order.
  std::vector<Op> witness;
};

// Ops of one key (any order; pending and fail ops are ignored). `initial`:
// the state before the first op. A search longer than `max_steps` gives up
// with kUndecided.
KeyResult CheckKey(const std::vector<Op>& ops, RegisterState initial = {},
                   uint64_t max_steps = 20'000'000);

struct CheckReport {
  size_t keys = 0;
  size_t ops = 0;                 // ok + unknown ops checked
  size_t violations = 0;          // keys that are not linearizable
  size_t undecided = 0;           // keys whose search gave up
  size_t lost_writes = 0;         // acknowledged creates missing / deletes back
  std::vector<std::string> messages;  // one per finding, with the witness
};

// Checks every key of `ops` and the final state (`final_state`: name ->
// register value of every VM that exists at the end). `t0_us` is the time
// origin for printing.
CheckReport CheckHistory(const std::vector<Op>& ops,
                         const std::map<std::string, std::string>& final_state, int64_t t0_us = 0);

// The final-state rule alone: messages for every acknowledged create that is
// missing and every acknowledged delete whose VM is back, where no op
// invoked after it (or unknown) could explain the difference.
std::vector<std::string> CheckFinalState(const std::vector<Op>& ops,
                                         const std::map<std::string, std::string>& final_state);

}  // namespace blixard::faults
