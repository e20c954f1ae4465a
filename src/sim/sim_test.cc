// Whole-cluster simulation: determinism, seed sweeps under every fault kind,
// and deliberately broken nodes that the checks must catch.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

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

TEST(SimConfig, ParsesFaultLists) {
  EXPECT_EQ(*ParseFaults("all"), static_cast<uint32_t>(kFaultAll));
  EXPECT_EQ(*ParseFaults("none"), 0u);
  EXPECT_EQ(*ParseFaults("crash,partition"), static_cast<uint32_t>(kFaultCrash | kFaultPartition));
  EXPECT_FALSE(ParseFaults("crash,meteor").ok());
  EXPECT_EQ(FaultsToString(kFaultCrash | kFaultDisk), "crash,disk");
  EXPECT_EQ(*ParseFaults(FaultsToString(kFaultNet | kFaultTransfer)), static_cast<uint32_t>(kFaultNet | kFaultTransfer));
}

// Sweeps: each TEST is its own ctest entry so `ctest -j` spreads them.
// 1,200 seeds in all, ~1 minute of CPU in a RelWithDebInfo build.
void Sweep(uint64_t first, uint64_t count, int nodes, Time seconds, uint32_t faults = kFaultAll) {
  for (uint64_t s = first; s < first + count; ++s) {
    SimConfig c = Config(s, nodes, seconds);
    c.faults = faults;
    const SimResult r = RunSimulation(c);
    ASSERT_TRUE(r.ok) << r.failure;
  }
}

constexpr Time kSweepSeconds = 60;

TEST(SimSweep, ThreeNodes0) { Sweep(1000, 100, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes1) { Sweep(1100, 100, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes2) { Sweep(1200, 100, 3, kSweepSeconds); }
TEST(SimSweep, ThreeNodes3) { Sweep(1300, 100, 3, kSweepSeconds); }
TEST(SimSweep, FiveNodes0) { Sweep(2000, 100, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes1) { Sweep(2100, 100, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes2) { Sweep(2200, 100, 5, kSweepSeconds); }
TEST(SimSweep, FiveNodes3) { Sweep(2300, 100, 5, kSweepSeconds); }
TEST(SimSweep, SevenNodes0) { Sweep(3000, 50, 7, kSweepSeconds); }
TEST(SimSweep, SevenNodes1) { Sweep(3050, 50, 7, kSweepSeconds); }
// One family of faults at a time, so each is exercised without the others
// masking it.
TEST(SimSweep, PartitionsAndLossOnly) { Sweep(4000, 100, 5, kSweepSeconds, kFaultPartition | kFaultNet); }
TEST(SimSweep, CrashesPausesAndDiskOnly) { Sweep(5000, 100, 5, kSweepSeconds, kFaultCrash | kFaultPause | kFaultDisk); }
TEST(SimSweep, MembershipAndTransferOnly) {
  Sweep(6000, 100, 3, kSweepSeconds, kFaultMembership | kFaultTransfer | kFaultCrash);
}

// The VM workload: agents on fake hypervisors, heartbeats, fencing, the
// leader's liveness, rescheduling and placement, under host crashes,
// partitions, loss and leadership transfers; no VM may ever run on two
// nodes at once (checked on every start), and the cluster must converge.
void VmSweep(uint64_t first, uint64_t count, int nodes) {
  uint64_t starts = 0;
  for (uint64_t s = first; s < first + count; ++s) {
    SimConfig c = Config(s, nodes, kSweepSeconds);
    c.vms = true;
    const SimResult r = RunSimulation(c);
    ASSERT_TRUE(r.ok) << r.failure;
    starts += r.vm_starts;
  }
  EXPECT_GT(starts, count * 10) << "VMs hardly ran: the workload tests nothing";
}

TEST(SimVms, NoVmOnTwoNodesThreeNodes0) { VmSweep(7000, 50, 3); }
TEST(SimVms, NoVmOnTwoNodesThreeNodes1) { VmSweep(7050, 50, 3); }
TEST(SimVms, NoVmOnTwoNodesFiveNodes) { VmSweep(7100, 50, 5); }

// Workers (src/sim/workers.h): 3 servers and many non-Raft hosts that
// register, heartbeat through a server, watch their assignments as a stream
// and run VMs, under worker crashes, cuts between workers and servers and
// drains of workers, besides the server faults. Every VM check covers them.
SimResult RunWithWorkers(uint64_t seed, int nodes, int workers, Time seconds) {
  SimConfig c = Config(seed, nodes, seconds);
  c.workers = workers;
  return RunSimulation(c);
}

void WorkerSweep(uint64_t first, uint64_t count, int nodes, int workers) {
  uint64_t on_workers = 0;
  for (uint64_t s = first; s < first + count; ++s) {
    const SimResult r = RunWithWorkers(s, nodes, workers, 30);
    ASSERT_TRUE(r.ok) << r.failure;
    on_workers += r.worker_vm_starts;
  }
  EXPECT_GT(on_workers, count * 20) << "the workers hardly ran VMs: the workload tests nothing";
}

// 220 seeds, ~35 s of CPU in a RelWithDebInfo build (a 100-worker seed
// takes ~0.6 s); many more offline with blixard-sim --workers.
TEST(SimWorkers, AHundredWorkersUnderEveryFault0) { WorkerSweep(8000, 10, 3, 100); }
TEST(SimWorkers, AHundredWorkersUnderEveryFault1) { WorkerSweep(8010, 10, 3, 100); }
TEST(SimWorkers, TenWorkersThreeServers0) { WorkerSweep(8100, 80, 3, 10); }
TEST(SimWorkers, TenWorkersThreeServers1) { WorkerSweep(8180, 80, 3, 10); }
TEST(SimWorkers, TwentyWorkersFiveServers) { WorkerSweep(8300, 40, 5, 20); }

TEST(SimWorkers, SameSeedSameDigest) {
  const SimResult a = RunWithWorkers(4, 3, 30, 20);
  const SimResult b = RunWithWorkers(4, 3, 30, 20);
  ASSERT_TRUE(a.ok) << a.failure;
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.events, b.events);
  EXPECT_GT(a.worker_vm_starts, 0u);
  EXPECT_NE(a.digest, RunWithWorkers(5, 3, 30, 20).digest);
}

TEST(SimWorkers, WithoutFaultsEveryWorkerRunsVms) {
  SimConfig c = Config(9, 3, 20);
  c.faults = 0;
  c.workers = 10;
  const SimResult r = RunSimulation(c);
  ASSERT_TRUE(r.ok) << r.failure;
  EXPECT_GT(r.worker_vm_starts, 50u);
  EXPECT_EQ(r.writes_unknown, 0u);
}

// Seed 73 (30 s): a VM stopped before its node reported on its placement
// gave its room away while the node's agent started it; the node went over
// capacity (ClusterStateTest.AStoppedVmKeepsItsRoomUntilItsNodeReportsOnTheStop).
TEST(SimVms, AVmStoppedBeforeItsNodeReportedKeepsItsRoom) {
  SimConfig c = Config(73, 3, 30);
  c.vms = true;
  const SimResult r = RunSimulation(c);
  EXPECT_TRUE(r.ok) << r.failure;
}

// The checks bite: deliberately broken nodes are caught within a few seeds,
// by the check that guards what they break.
int FailingSeeds(InjectedBug bug, uint32_t faults, const std::vector<std::string>& checks, uint64_t seeds,
                 int nodes = 3) {
  int caught = 0;
  for (uint64_t s = 1; s <= seeds; ++s) {
    SimConfig c = Config(s, nodes, 20);
    c.faults = faults;
    c.bug = bug;
    const SimResult r = RunSimulation(c);
    if (!r.ok) {
      EXPECT_NE(std::find(checks.begin(), checks.end(), r.check), checks.end()) << r.failure;
      EXPECT_NE(r.failure.find("replay: blixard-sim --seed " + std::to_string(s)), std::string::npos);
      EXPECT_NE(r.failure.find("last events:"), std::string::npos);
      ++caught;
    }
  }
  return caught;
}

constexpr uint32_t kBiteFaults = kFaultPartition | kFaultCrash | kFaultPause | kFaultNet;

TEST(SimChecksBite, AForwarderThatGivesUpAtOnceIsCaught) {
  // Leader crashes and cut-off leaders fail a forward now and then; a
  // member that gives up then, instead of waiting for the next leader
  // within the write's deadline, breaks the promise the check guards.
  EXPECT_GE(FailingSeeds(InjectedBug::kForwardGivesUp, kFaultCrash | kFaultPartition, {"writes ride out failover"},
                         10),
            5);
}

// Writes reach members at random, so most are forwarded; with crashes and
// partitions some must be tried again (and each such write is still
// applied once: the history and durability checks run on every seed).
TEST(SimRouting, WritesToFollowersAreForwardedAndRideOutLeaderCrashes) {
  uint64_t forwarded = 0, retried = 0, ok = 0;
  for (uint64_t s = 1; s <= 10; ++s) {
    SimConfig c = Config(s, 3, 20);
    c.faults = kFaultCrash | kFaultPartition;
    const SimResult r = RunSimulation(c);
    ASSERT_TRUE(r.ok) << r.failure;
    forwarded += r.writes_forwarded;
    retried += r.writes_retried;
    ok += r.writes_ok;
  }
  EXPECT_GT(forwarded, ok / 4);
  EXPECT_GT(retried, 10u);
}

TEST(SimChecksBite, AckBeforeCommitIsCaught) {
  EXPECT_GE(FailingSeeds(InjectedBug::kAckOnPropose, kBiteFaults, {"linearizability"}, 20), 5);
}

TEST(SimChecksBite, ReadsWithoutReadIndexAreCaught) {
  // Stale only when the node read from lags: rarer, so more seeds and nodes.
  EXPECT_GE(FailingSeeds(InjectedBug::kLocalRead, kBiteFaults, {"linearizability"}, 30, 5), 3);
}

TEST(SimChecksBite, LostDurableEntriesBreakRaftSafetyAndAreCaught) {
  // A disk that loses acknowledged writes on crash breaks Raft's assumptions;
  // the Raft safety checks (not only the client history) must see it.
  EXPECT_GE(FailingSeeds(InjectedBug::kLyingDisk, kFaultCrash | kFaultNet,
                         {"leader completeness", "state machine safety", "log matching", "election safety",
                          "linearizability", "liveness"},
                         30),
            5);
  int raft_level = 0;
  for (uint64_t s = 1; s <= 30; ++s) {
    SimConfig c = Config(s, 3, 20);
    c.faults = kFaultCrash | kFaultNet;
    c.bug = InjectedBug::kLyingDisk;
    const SimResult r = RunSimulation(c);
    raft_level += r.check == "leader completeness" || r.check == "state machine safety" || r.check == "log matching";
  }
  EXPECT_GT(raft_level, 0);
}

// The VM workload with an injected bug over seeds 1..`seeds` (30 s each):
// the checks that failed, one per failing seed, each failure well formed.
std::vector<std::string> VmChecksFailed(InjectedBug bug, uint64_t seeds, uint32_t faults = kFaultAll) {
  std::vector<std::string> failed;
  for (uint64_t s = 1; s <= seeds; ++s) {
    SimConfig c = Config(s, 3, 30);
    c.vms = true;
    c.faults = faults;
    c.bug = bug;
    const SimResult r = RunSimulation(c);
    if (r.ok) continue;
    EXPECT_NE(r.failure.find("--vms"), std::string::npos) << r.failure;
    failed.push_back(r.check);
  }
  return failed;
}

TEST(SimChecksBite, ANodeThatDoesNotFenceRunsAVmTwiceAndIsCaught) {
  const auto failed = VmChecksFailed(InjectedBug::kNoFence, 60, kFaultPartition | kFaultNet);
  EXPECT_GE(failed.size(), 3u);
  for (const std::string& check : failed) EXPECT_EQ(check, "vm on two nodes");
}

// Seeds 1..`seeds` of `base` (its seed replaced): how many failed, each
// failure by `check` with `flags` in its replay line.
int CaughtBy(SimConfig base, uint64_t seeds, const std::string& check, const std::string& flags) {
  int caught = 0;
  for (uint64_t s = 1; s <= seeds; ++s) {
    base.seed = s;
    const SimResult r = RunSimulation(base);
    if (r.ok) continue;
    EXPECT_EQ(r.check, check) << r.failure;
    EXPECT_NE(r.failure.find(flags), std::string::npos) << r.failure;
    ++caught;
  }
  return caught;
}

TEST(SimChecksBite, AWorkerThatDoesNotFenceRunsAVmTwiceAndIsCaught) {
  SimConfig c = Config(1, 3, 30);
  c.workers = 10;
  c.faults = kFaultPartition | kFaultNet;
  c.bug = InjectedBug::kWorkerNoFence;
  EXPECT_GE(CaughtBy(c, 10, "vm on two nodes", "--workers 10 --inject-bug worker-no-fence"), 3);
}

TEST(SimChecksBite, AVoterControllerThatNeverPromotesIsCaught) {
  SimConfig c = Config(1, 5, 20);
  c.max_voters = 3;
  c.faults = kFaultCrash | kFaultNet;
  c.bug = InjectedBug::kNoVoterPromotion;
  EXPECT_GE(CaughtBy(c, 20, "voters kept", "--max-voters 3 --inject-bug no-voter-promotion"), 3);
}

// The voter controller (control/voters.h) on 5 nodes with 3 voters and 2
// standbys: crashes longer than its replace-after time demote the lost
// voter and promote a standby; once quiet, 3 voters again.
void VoterSweep(uint64_t first, uint64_t count, int nodes, int max_voters) {
  for (uint64_t s = first; s < first + count; ++s) {
    SimConfig c = Config(s, nodes, kSweepSeconds);
    c.max_voters = max_voters;
    const SimResult r = RunSimulation(c);
    ASSERT_TRUE(r.ok) << r.failure;
  }
}

TEST(SimVoters, ThreeVotersOfFive) { VoterSweep(9000, 60, 5, 3); }
TEST(SimVoters, FiveVotersOfSeven) { VoterSweep(9100, 30, 7, 5); }


TEST(SimChecksBite, AnOvercommittingSchedulerIsCaught) {
  const auto failed = VmChecksFailed(InjectedBug::kNoCapacityRefusal, 10);
  EXPECT_GE(failed.size(), 3u);
  for (const std::string& check : failed) EXPECT_EQ(check, "node over capacity");
}

TEST(SimChecksBite, ASchedulerBlindToAntiAffinityIsCaught) {
  const auto failed = VmChecksFailed(InjectedBug::kNoAntiAffinity, 10);
  EXPECT_GE(failed.size(), 3u);
  for (const std::string& check : failed) EXPECT_EQ(check, "anti-affinity");
}

TEST(SimChecksBite, ALeaderThatNeverMovesVmsOffADrainingNodeIsCaught) {
  const auto failed = VmChecksFailed(InjectedBug::kNoDrainMoves, 20);
  // The room kept for moves that never start can also hold back a pending VM.
  for (const std::string& check : failed) EXPECT_TRUE(check == "drains finish" || check == "placement") << check;
  EXPECT_GE(std::count(failed.begin(), failed.end(), "drains finish"), 2);
}

}  // namespace
}  // namespace blixard::sim
