#include "faults/history.h"

#include <chrono>

namespace blixard::faults {

const char* OpTypeName(OpType t) {
  switch (t) {
    case OpType::kCreate: return "create";
    case OpType::kDelete: return "delete";
    case OpType::kWrite: return "write";
    case OpType::kRead: return "read";
  }
  return "?";
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPending: return "pending";
    case Outcome::kOk: return "ok";
    case Outcome::kFail: return "fail";
    case Outcome::kUnknown: return "unknown";
  }
  return "?";
}

std::string FormatOp(const Op& op, int64_t t0_us) {
  std::string s = "#" + std::to_string(op.id) + " c" + std::to_string(op.client) + "@n" +
                  std::to_string(op.node) + " " + OpTypeName(op.type) + " " + op.key;
  if (op.type == OpType::kWrite) s += "=" + op.value;
  s += std::string(" ") + OutcomeName(op.outcome);
  if (op.outcome == Outcome::kOk) {
    if (op.type == OpType::kRead) {
      s += op.found ? " -> \"" + op.value + "\"" : " -> not found";
    } else if (!op.found) {
      s += op.type == OpType::kCreate ? " (already exists)" : " (not found)";
    }
  }
  s += " [" + std::to_string((op.invoke_us - t0_us) / 1000) + " ms .. ";
  s += op.complete_us == kNever ? std::string("?") : std::to_string((op.complete_us - t0_us) / 1000);
  s += " ms]";
  if (!op.error.empty() && op.outcome != Outcome::kOk) s += " " + op.error;
  return s;
}

uint64_t History::Invoke(Op op) {
  std::lock_guard lk(mu_);
  op.id = ops_.size();
  op.outcome = Outcome::kPending;
  op.complete_us = kNever;
  ops_.push_back(std::move(op));
  return ops_.size() - 1;
}

void History::Complete(uint64_t id, Outcome outcome, bool found, std::string value,
                       std::string error) {
  const int64_t now = NowUs();
  std::lock_guard lk(mu_);
  Op& op = ops_.at(id);
  op.outcome = outcome;
  op.complete_us = outcome == Outcome::kUnknown ? kNever : now;
  op.found = found;
  if (op.type == OpType::kRead) op.value = std::move(value);
  op.error = std::move(error);
}

std::vector<Op> History::ops() const {
  std::lock_guard lk(mu_);
  return ops_;
}

size_t History::size() const {
  std::lock_guard lk(mu_);
  return ops_.size();
}

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace blixard::faults
