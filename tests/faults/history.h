// What the clients of a fault run saw: every operation on a VM record with
// its invoke and completion times, as in a Jepsen history.
//
// The model each VM name follows (a "VM register"): absent, or present with
// the value of one label (the register; "" until first written).
//   create   absent -> present ""      (found=false: ALREADY_EXISTS, no change)
//   delete   present -> absent          (found=false: NOT_FOUND, no change)
//   write v  present -> value v         (found=false: NOT_FOUND, no change)
//   read     returns found and value
// Outcomes: ok (the answer is known), fail (it certainly did not happen:
// dropped by the checkers), unknown (timed out or the connection broke: it
// may have happened at any time after its invoke, or never).
#pragma once

#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

namespace blixard::faults {

enum class OpType : uint8_t { kCreate, kDelete, kWrite, kRead };
enum class Outcome : uint8_t { kPending, kOk, kFail, kUnknown };
const char* OpTypeName(OpType t);
const char* OutcomeName(Outcome o);

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct Op {
  uint64_t id = 0;       // position in the history
  int client = 0;
  uint64_t node = 0;     // the member the client asked
  std::string key;       // VM name
  OpType type = OpType::kRead;
  std::string value;     // write: written; read (found): read
  bool found = true;     // see the model above
  Outcome outcome = Outcome::kPending;
  int64_t invoke_us = 0;
  int64_t complete_us = kNever;  // kNever while pending or unknown
  std::string error;     // gRPC status of a fail/unknown op
};

// One line for people: "#12 c3@n2 write vm-1=c3-7 ok [1200us .. 3400us]".
std::string FormatOp(const Op& op, int64_t t0_us = 0);

// Thread-safe recorder. Invoke() before the call, Complete() after it.
class History {
 public:
  // Returns the op's id.
  uint64_t Invoke(Op op);
  void Complete(uint64_t id, Outcome outcome, bool found = true, std::string value = {},
                std::string error = {});
  std::vector<Op> ops() const;  // a copy
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<Op> ops_;
};

// Microseconds on the steady clock (the history's time base).
int64_t NowUs();

}  // namespace blixard::faults
