#include "faults/checker.h"

#include <gtest/gtest.h>

#include <random>

namespace blixard::faults {
namespace {

// A small DSL: ops on key "k" with times in ms.
class H {
 public:
  H& Create(int64_t a, int64_t b, Outcome o = Outcome::kOk, bool found = true) {
    return Add(OpType::kCreate, "", a, b, o, found);
  }
  H& Delete(int64_t a, int64_t b, Outcome o = Outcome::kOk, bool found = true) {
    return Add(OpType::kDelete, "", a, b, o, found);
  }
  H& Write(const std::string& v, int64_t a, int64_t b, Outcome o = Outcome::kOk, bool found = true) {
    return Add(OpType::kWrite, v, a, b, o, found);
  }
  H& Read(const std::string& v, int64_t a, int64_t b) { return Add(OpType::kRead, v, a, b, Outcome::kOk, true); }
  H& ReadMissing(int64_t a, int64_t b) { return Add(OpType::kRead, "", a, b, Outcome::kOk, false); }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  H& Add(OpType t, const std::string& v, int64_t a, int64_t b, Outcome o, bool found) {
    Op op;
    op.id = ops_.size();
    op.key = "k";
    op.type = t;
    op.value = v;
    op.found = found;
    op.outcome = o;
    op.invoke_us = a * 1000;
    op.complete_us = o == Outcome::kUnknown ? kNever : b * 1000;
    ops_.push_back(op);
    return *this;
  }
  std::vector<Op> ops_;
};

const RegisterState kEmpty{true, ""};

Verdict Check(const H& h, RegisterState initial = kEmpty) { return CheckKey(h.ops(), initial).verdict; }

TEST(Checker, SequentialWritesAndReadsAreLinearizable) {
  EXPECT_EQ(Check(H().Write("a", 0, 1).Read("a", 2, 3).Write("b", 4, 5).Read("b", 6, 7)),
            Verdict::kLinearizable);
}

TEST(Checker, AReadConcurrentWithAWriteMaySeeEitherValue) {
  EXPECT_EQ(Check(H().Write("a", 0, 1).Write("b", 2, 10).Read("a", 3, 4)), Verdict::kLinearizable);
  EXPECT_EQ(Check(H().Write("a", 0, 1).Write("b", 2, 10).Read("b", 3, 4)), Verdict::kLinearizable);
}

TEST(Checker, AStaleReadIsNotLinearizableAndTheWitnessShowsWhy) {
  KeyResult r = CheckKey(H().Write("a", 0, 1).Write("b", 2, 3).Read("b", 4, 5).Read("a", 6, 7).ops(),
                         kEmpty);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  // The read of b is not needed to show it: write a, write b, read a.
  ASSERT_EQ(r.witness.size(), 3u);
  EXPECT_EQ(r.witness[0].value, "a");
  EXPECT_EQ(r.witness[1].value, "b");
  EXPECT_EQ(r.witness[2].type, OpType::kRead);
  EXPECT_EQ(r.witness[2].value, "a");
}

TEST(Checker, ReadsThatGoBackInTimeAreNotLinearizable) {
  // Two writes overlap both reads; the first read sees b, a later one a:
  // then a must come after b, but the read of b ended before.
  EXPECT_EQ(Check(H().Write("a", 0, 100).Write("b", 0, 100).Read("b", 10, 20).Read("a", 30, 40).Read("b", 50, 60)),
            Verdict::kNotLinearizable);
  EXPECT_EQ(Check(H().Write("a", 0, 100).Write("b", 0, 100).Read("a", 10, 20).Read("b", 30, 40)),
            Verdict::kLinearizable);
}

TEST(Checker, AValueNobodyWroteIsNotLinearizable) {
  EXPECT_EQ(Check(H().Write("a", 0, 1).Read("z", 2, 3)), Verdict::kNotLinearizable);
}

TEST(Checker, AnUnknownWriteMayTakeEffectLateOrNever) {
  EXPECT_EQ(Check(H().Write("a", 0, 1).Write("b", 2, 0, Outcome::kUnknown).Read("a", 10, 11).Read("b", 20, 21)),
            Verdict::kLinearizable);
  EXPECT_EQ(Check(H().Write("a", 0, 1).Write("b", 2, 0, Outcome::kUnknown).Read("a", 10, 11)),
            Verdict::kLinearizable);
  // But not before it was invoked.
  EXPECT_EQ(Check(H().Write("a", 0, 1).Read("b", 2, 3).Write("b", 5, 0, Outcome::kUnknown)),
            Verdict::kNotLinearizable);
}

TEST(Checker, FailedOpsAreIgnored) {
  EXPECT_EQ(Check(H().Write("a", 0, 1).Write("b", 2, 3, Outcome::kFail).Read("a", 4, 5)),
            Verdict::kLinearizable);
}

TEST(Checker, CreateAndDeleteFollowTheModel) {
  RegisterState absent;
  EXPECT_EQ(Check(H().Create(0, 1).Write("a", 2, 3).Delete(4, 5).ReadMissing(6, 7).Create(8, 9).Read("", 10, 11),
                  absent),
            Verdict::kLinearizable);
  // A read that finds the VM after its delete was acknowledged.
  EXPECT_EQ(Check(H().Create(0, 1).Delete(2, 3).Read("", 4, 5), absent), Verdict::kNotLinearizable);
  // A write told NOT_FOUND while the VM existed.
  EXPECT_EQ(Check(H().Create(0, 1).Write("a", 2, 3, Outcome::kOk, false), absent), Verdict::kNotLinearizable);
  // Two creates both acknowledged as created, with no delete between.
  EXPECT_EQ(Check(H().Create(0, 1).Create(2, 3), absent), Verdict::kNotLinearizable);
  EXPECT_EQ(Check(H().Create(0, 1).Create(2, 3, Outcome::kOk, false), absent), Verdict::kLinearizable);
}

TEST(Checker, TinyStepBudgetIsUndecided) {
  H h;
  for (int i = 0; i < 20; ++i) h.Write("v" + std::to_string(i), 0, 100);
  h.Read("v3", 200, 201);
  EXPECT_EQ(CheckKey(h.ops(), kEmpty, 5).verdict, Verdict::kUndecided);
}

// Histories made from a sequential run: each op takes effect at a random
// point inside its interval, so the history is linearizable by
// construction. Changing what one read returned to a value written strictly
// later must be caught.
TEST(Checker, GeneratedLinearizableHistoriesPassAndCorruptedOnesFail) {
  std::mt19937_64 rng(7);
  int caught = 0, corrupted = 0;
  for (int round = 0; round < 300; ++round) {
    const int clients = 4, per_client = 12;
    struct Planned {
      int64_t at;  // linearization point
      Op op;
    };
    std::vector<Planned> plan;
    std::vector<int64_t> busy_until(clients, 0);
    for (int c = 0; c < clients; ++c) {
      for (int k = 0; k < per_client; ++k) {
        Op op;
        op.client = c;
        op.key = "k";
        op.invoke_us = busy_until[c] + static_cast<int64_t>(rng() % 50);
        op.complete_us = op.invoke_us + 1 + static_cast<int64_t>(rng() % 200);
        busy_until[c] = op.complete_us + 1;
        const int64_t at = op.invoke_us + static_cast<int64_t>(rng() % (op.complete_us - op.invoke_us));
        if (rng() % 2) {
          op.type = OpType::kWrite;
          op.value = "c" + std::to_string(c) + "-" + std::to_string(k);
        } else {
          op.type = OpType::kRead;
        }
        op.outcome = rng() % 10 == 0 && op.type == OpType::kWrite ? Outcome::kUnknown : Outcome::kOk;
        plan.push_back({at, op});
      }
    }
    std::sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) { return a.at < b.at; });
    RegisterState s = kEmpty;
    std::vector<Op> ops;
    for (Planned& p : plan) {
      if (p.op.type == OpType::kWrite) s.value = p.op.value;
      if (p.op.type == OpType::kRead) p.op.value = s.value;
      if (p.op.outcome == Outcome::kUnknown) p.op.complete_us = kNever;
      p.op.id = ops.size();
      ops.push_back(p.op);
    }
    KeyResult ok = CheckKey(ops, kEmpty);
    ASSERT_EQ(ok.verdict, Verdict::kLinearizable) << "round " << round;
    // Corrupt one read: make it return a value whose write was invoked only
    // after the read completed.
    for (size_t i = 0; i < ops.size(); ++i) {
      if (ops[i].type != OpType::kRead) continue;
      for (const Op& w : ops) {
        if (w.type == OpType::kWrite && w.invoke_us > ops[i].complete_us) {
          std::vector<Op> bad = ops;
          bad[i].value = w.value;
          ++corrupted;
          KeyResult r = CheckKey(bad, kEmpty);
          if (r.verdict == Verdict::kNotLinearizable) ++caught;
          EXPECT_FALSE(r.witness.empty());
          break;
        }
      }
      break;
    }
  }
  EXPECT_GT(corrupted, 100);
  EXPECT_EQ(caught, corrupted);
}

TEST(FinalState, AcknowledgedCreatesMustBeThereAndAcknowledgedDeletesGone) {
  H h;
  h.Create(0, 1);  // acknowledged
  std::vector<Op> ops = h.ops();
  EXPECT_EQ(CheckFinalState(ops, {}).size(), 1u);
  EXPECT_TRUE(CheckFinalState(ops, {{"k", ""}}).empty());
  // An unknown create may go either way.
  std::vector<Op> unknown = H().Create(0, 0, Outcome::kUnknown).ops();
  EXPECT_TRUE(CheckFinalState(unknown, {}).empty());
  EXPECT_TRUE(CheckFinalState(unknown, {{"k", ""}}).empty());
  // An acknowledged delete must stay deleted...
  std::vector<Op> deleted = H().Create(0, 1).Delete(2, 3).ops();
  EXPECT_TRUE(CheckFinalState(deleted, {}).empty());
  EXPECT_EQ(CheckFinalState(deleted, {{"k", ""}}).size(), 1u);
  // ...unless a create that may have come after it explains it.
  std::vector<Op> recreated = H().Create(0, 1).Delete(2, 3).Create(4, 0, Outcome::kUnknown).ops();
  EXPECT_TRUE(CheckFinalState(recreated, {{"k", ""}}).empty());
  // A delete that failed with NOT_FOUND explains nothing.
  std::vector<Op> notfound = H().Create(0, 1).Delete(2, 3, Outcome::kOk, false).ops();
  EXPECT_EQ(CheckFinalState(notfound, {}).size(), 1u);
}

TEST(CheckHistory, CountsViolationsAndLostWritesAndPrintsTheWitness) {
  std::vector<Op> ops = H().Create(0, 1).Write("a", 2, 3).Write("b", 4, 5).Read("a", 6, 7).ops();
  CheckReport r = CheckHistory(ops, {{"k", "b"}});
  EXPECT_EQ(r.keys, 1u);
  EXPECT_EQ(r.violations, 1u);
  EXPECT_EQ(r.lost_writes, 0u);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_NE(r.messages[0].find("not linearizable"), std::string::npos);
  EXPECT_NE(r.messages[0].find("read k ok -> \"a\""), std::string::npos) << r.messages[0];
  CheckReport lost = CheckHistory(H().Create(0, 1).ops(), {});
  EXPECT_EQ(lost.lost_writes, 1u);
  EXPECT_EQ(lost.violations, 0u);
}

}  // namespace
}  // namespace blixard::faults
