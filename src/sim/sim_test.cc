// Whole-cluster simulation: determinism, seed sweeps under every fault kind,
// and deliberately broken nodes that the checks must catch.
#include <gtest/gtest.h>

#include <string>

#include "sim/simulator.h"

namespace blixard::sim {
namespace {

SimConfig Config(uint64_t seed, int nodes, Time seconds) {
  SimConfig c;
  c.seed = seed;
  c.nodes = nodes;
  c.duration_ms = seconds * 1000;
  c.faults = kFaultAll;
  return c;
}

TEST(SimDeterminism, SameSeedSameDigest) {
  for (uint64_t seed : {1, 2, 3}) {
    const SimResult a = RunSimulation(Config(seed, 5, 20));
    const SimResult b = RunSimulation(Config(seed, 5, 20));
    ASSERT_TRUE(a.ok) << a.failure;
    EXPECT_EQ(a.digest, b.digest) << "seed " << seed;
    EXPECT_EQ(a.events, b.events);
    EXPECT_EQ(a.committed, b.committed);
    EXPECT_GT(a.writes_ok, 0u);
  }
  EXPECT_NE(RunSimulation(Config(1, 3, 10)).digest, RunSimulation(Config(2, 3, 10)).digest);
}

TEST(SimDeterminism, NoFaultsCommitsAndAcksEverything) {
  SimConfig c = Config(9, 3, 20);
  c.faults = 0;
  const SimResult r = RunSimulation(c);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GT(r.writes_ok, 100u);
  EXPECT_EQ(r.writes_unknown, 0u);
  EXPECT_EQ(r.elections, 1u);
}

// Sweeps: each TEST is its own ctest entry so `ctest -j` spreads them.
void Sweep(uint64_t first, uint64_t count, int nodes, Time seconds) {
  for (uint64_t s = first; s < first + count; ++s) {
    const SimResult r = RunSimulation(Config(s, nodes, seconds));
    ASSERT_TRUE(r.ok) << r.failure;
  }
}

constexpr uint64_t kSeedsPerCase = 50;
constexpr Time kSweepSeconds = 30;

TEST(SimSweep, ThreeNodes0) { Sweep(1000, kSeedsPerCase, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes1) { Sweep(1050, kSeedsPerCase, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes2) { Sweep(1100, kSeedsPerCase, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes3) { Sweep(1150, kSeedsPerCase, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes4) { Sweep(1200, kSeedsPerCase, 3, kSweepSeconds); }
TEST(SimSweep, FiveNodes0) { Sweep(2000, kSeedsPerCase, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes1) { Sweep(2050, kSeedsPerCase, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes2) { Sweep(2100, kSeedsPerCase, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes3) { Sweep(2150, kSeedsPerCase, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes4) { Sweep(2200, kSeedsPerCase, 5, kSweepSeconds); }

// The checks bite: a node that acknowledges writes before they commit, or
// serves reads from local state, is caught within a few seeds.
int FailingSeeds(InjectedBug bug, const std::string& check, uint64_t seeds) {
  int caught = 0;
  for (uint64_t s = 1; s <= seeds; ++s) {
    SimConfig c = Config(s, 5, 20);
    c.faults = kFaultPartition | kFaultCrash | kFaultPause | kFaultNet;
    c.bug = bug;
    const SimResult r = RunSimulation(c);
    if (!r.ok) {
      EXPECT_EQ(r.check, check) << r.failure;
      EXPECT_NE(r.failure.find("replay: blixard-sim --seed"), std::string::npos);
      ++caught;
    }
  }
  return caught;
}

TEST(SimChecksBite, AckBeforeCommitIsCaught) {
  EXPECT_GT(FailingSeeds(InjectedBug::kAckOnPropose, "linearizability", 20), 0);
}

TEST(SimChecksBite, ReadsWithoutReadIndexAreCaught) {
  EXPECT_GT(FailingSeeds(InjectedBug::kLocalRead, "linearizability", 20), 0);
}

}  // namespace
}  // namespace blixard::sim
