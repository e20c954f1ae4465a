// ClusterState: placement batches and what they hold on nodes (capacity,
// anti-affinity, usage, the pending index) and the status reports of
// placed VMs.
#include "state/cluster_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "state/commands.h"
#include "state/testing/cluster_state_fixture.h"

namespace blixard::state {
namespace {

using ::testing::HasSubstr;
using testing::ClusterStateTest;
using testing::kNow;
using testing::NodeRecord;
using testing::Spec;

TEST_F(ClusterStateTest, PlaceVmsAndReportStatus) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(2), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("b"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 1}, {"b", 2, 0}}, kNow + 5)).status.ok());
  EXPECT_EQ(state_.FindVm("a")->node_id(), 1u);
  EXPECT_EQ(state_.FindVm("a")->generation(), 2u);
  EXPECT_EQ(state_.FindVm("b")->node_id(), 2u);

  ApplyResult r = Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_RUNNING, "booted", kNow + 9));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.vm->status().phase(), v1::VM_PHASE_RUNNING);
  EXPECT_EQ(r.vm->status().message(), "booted");
  EXPECT_EQ(r.vm->status().updated_at_unix_ms(), kNow + 9);
  EXPECT_EQ(r.vm->generation(), 2u);  // status reports do not bump it
}

// Found by the simulator (seeds 4, 14, 15, 27, 38, 82 and 91 of --vms with a
// capacity check): a batch decided on a leader's state that was behind its
// log put a node over the capacity it reported.
TEST_F(ClusterStateTest, APlacementBatchThatWouldOvercommitANodeIsRefusedWhole) {
  v1::Node n = NodeRecord(1);
  n.mutable_capacity()->set_vcpus(4);
  n.mutable_capacity()->set_memory_mib(4096);
  ASSERT_TRUE(Run(MakeRegisterNode(n, kNow)).status.ok());
  v1::VmSpec two = Spec("a");
  two.set_vcpus(2);
  ASSERT_TRUE(Run(MakeCreateVm(two, true, kNow)).status.ok());
  two.set_name("b");
  ASSERT_TRUE(Run(MakeCreateVm(two, true, kNow)).status.ok());
  two.set_name("c");
  ASSERT_TRUE(Run(MakeCreateVm(two, true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakePlaceVms({{"b", 1, 0}, {"c", 1, 0}}, kNow), StatusCode::kFailedPrecondition)
                  .message(),
              HasSubstr("scheduled on an older state"));
  EXPECT_EQ(state_.FindVm("b")->node_id(), 0u) << "nothing of a refused batch is applied";
  // Moving one away in the same batch makes room.
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 0, 0}, {"b", 1, 0}, {"c", 1, 0}}, kNow)).status.ok());
}

// The state machine's own guard against a batch decided on an older state
// (the simulator's seed 7036 of --vms showed a leader deciding on one): a
// node never gets a second VM of an anti-affinity group that holds
// capacity there, whatever the leader's scheduler saw.
TEST_F(ClusterStateTest, APlacementBatchThatWouldBreakAntiAffinityIsRefusedWhole) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(2), kNow)).status.ok());
  v1::VmSpec grouped = Spec("a");
  grouped.set_anti_affinity_group("db");
  ASSERT_TRUE(Run(MakeCreateVm(grouped, true, kNow)).status.ok());
  grouped.set_name("b");
  ASSERT_TRUE(Run(MakeCreateVm(grouped, true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("c"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakePlaceVms({{"c", 1, 0}, {"b", 1, 0}}, kNow), StatusCode::kFailedPrecondition)
                  .message(),
              HasSubstr("would hold 2 VMs of anti-affinity group \"db\""));
  EXPECT_EQ(state_.FindVm("c")->node_id(), 0u) << "nothing of a refused batch is applied";
  // Two of one group in one batch on one node: refused as well.
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 0, 0}}, kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakePlaceVms({{"a", 2, 0}, {"b", 2, 0}}, kNow), StatusCode::kFailedPrecondition)
                  .message(),
              HasSubstr("anti-affinity"));
  // Moving one away in the same batch makes room; another node is fine.
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 2, 0}, {"b", 1, 0}, {"c", 1, 0}}, kNow)).status.ok());
  EXPECT_EQ(state_.FindVm("b")->node_id(), 1u);
  // A stopped VM holds nothing once its node reported the stop: its group's
  // place is free.
  ASSERT_TRUE(Run(MakeSetVmDesiredState("b", v1::DESIRED_STATE_STOPPED, kNow)).status.ok());
  const uint64_t gen = state_.FindVm("b")->generation();
  ASSERT_TRUE(Run(MakeReportVmStatus("b", 1, v1::VM_PHASE_STOPPED, "stopped", kNow, 1, gen)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
}

// Found by the simulator (seed 5 of --vms): a STOPPING report forwarded
// again after the STOPPED one took the status back (and the VM held its
// node's capacity again after its room was given away).
TEST_F(ClusterStateTest, AReportOlderThanOneAppliedIsIgnoredUntilTheVmIsPlacedAnew) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "stopped", kNow, 11)).status.ok());
  ApplyResult late = Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPING, "stopping", kNow, 10));
  ASSERT_TRUE(late.status.ok()) << "a late report is not an error";
  EXPECT_EQ(state_.FindVm("a")->status().phase(), v1::VM_PHASE_STOPPED);
  // Unordered reports (seq 0: the leader's own) always apply.
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_FAILED, "node 1 down", kNow)).status.ok());
  EXPECT_EQ(state_.FindVm("a")->status().phase(), v1::VM_PHASE_FAILED);
  // Placed anew, the node's agent numbers from wherever it is.
  const uint64_t gen = state_.FindVm("a")->generation();
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 0, gen}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, gen + 1}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_RUNNING, "booting", kNow, 5)).status.ok());
  EXPECT_EQ(state_.FindVm("a")->status().phase(), v1::VM_PHASE_RUNNING);
}

// Found by the simulator (seed 73 of --vms, capacity check): a VM placed on
// a node and stopped before the node reported on it gave its room back at
// once, but the node's agent, acting on a state where the VM was to run,
// started it; the node then held more than its capacity. Until the node
// reports on the generation that stopped it, the VM may be running there.
TEST_F(ClusterStateTest, AStoppedVmKeepsItsRoomUntilItsNodeReportsOnTheStop) {
  v1::Node n = NodeRecord(1);
  n.mutable_capacity()->set_vcpus(2);
  ASSERT_TRUE(Run(MakeRegisterNode(n, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("b"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  const uint64_t placed_gen = state_.FindVm("a")->generation();
  ASSERT_TRUE(Run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_STOPPED, kNow)).status.ok());
  EXPECT_TRUE(HoldsCapacity(*state_.FindVm("a"))) << "its node has not seen the stop";
  RunFailing(MakePlaceVms({{"b", 1, 0}}, kNow), StatusCode::kFailedPrecondition);
  // The agent's start, made on the placement, reported after the stop.
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STARTING, "starting", kNow, 1, placed_gen)).status.ok());
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "exited", kNow, 2, placed_gen)).status.ok());
  EXPECT_TRUE(HoldsCapacity(*state_.FindVm("a"))) << "a report made before the stop says nothing of it";
  RunFailing(MakePlaceVms({{"b", 1, 0}}, kNow), StatusCode::kFailedPrecondition);
  // The node reports on the stop: the room is free.
  const uint64_t stop_gen = state_.FindVm("a")->generation();
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "stopped", kNow, 3, stop_gen)).status.ok());
  EXPECT_FALSE(HoldsCapacity(*state_.FindVm("a")));
  ASSERT_TRUE(Run(MakePlaceVms({{"b", 1, 0}}, kNow)).status.ok());
}

// UsageOn is kept by Apply; after every step CheckInvariants also recounts
// it from the VMs.
TEST_F(ClusterStateTest, UsageOnFollowsPlacementsStopsReportsDeletesAndRemoval) {
  auto run = [&](const v1::Command& cmd) {
    ApplyResult r = Run(cmd);
    const Status inv = state_.CheckInvariants();
    EXPECT_TRUE(inv.ok()) << inv.ToString();
    return r;
  };
  ASSERT_TRUE(run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(run(MakeRegisterNode(NodeRecord(2), kNow)).status.ok());
  v1::VmSpec grouped = Spec("a");
  grouped.set_anti_affinity_group("g");
  ASSERT_TRUE(run(MakeCreateVm(grouped, true, kNow)).status.ok());
  ASSERT_TRUE(run(MakeCreateVm(Spec("b"), true, kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(1), NodeUsage{}) << "unplaced VMs hold nothing";
  ASSERT_TRUE(run(MakePlaceVms({{"a", 1, 0}, {"b", 1, 0}}, kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(1).vcpus, 4u);
  EXPECT_EQ(state_.UsageOn(1).memory_mib, 1024u);
  EXPECT_EQ(state_.UsageOn(1).groups.at("g"), 1u);
  // Stopped: still held until node 1 reports on the stop's generation.
  ASSERT_TRUE(run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_STOPPED, kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(1).vcpus, 4u);
  const uint64_t gen = state_.FindVm("a")->generation();
  ASSERT_TRUE(run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "stopped", kNow, 1, gen)).status.ok());
  EXPECT_EQ(state_.UsageOn(1).vcpus, 2u);
  EXPECT_TRUE(state_.UsageOn(1).groups.empty());
  // Moved by a placement batch, then deleted.
  ASSERT_TRUE(run(MakePlaceVms({{"b", 2, 0}}, kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(1), NodeUsage{});
  EXPECT_EQ(state_.UsageOn(2).vcpus, 2u);
  ASSERT_TRUE(run(MakeDeleteVm("b", kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(2), NodeUsage{});
  // A removed node's VMs go back to the scheduler and hold nothing.
  ASSERT_TRUE(run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_RUNNING, kNow)).status.ok());
  ASSERT_TRUE(run(MakePlaceVms({{"a", 2, 0}}, kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(2).groups.at("g"), 1u);
  ASSERT_TRUE(run(MakeRemoveNode(2, kNow)).status.ok());
  EXPECT_EQ(state_.UsageOn(2), NodeUsage{});
  // A restored copy counts the same.
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  EXPECT_EQ(copy.UsageOn(1), state_.UsageOn(1));
}

// The pending index (what a placement pass visits) holds exactly the
// unplaced VMs that should run, through creates, starts, stops,
// placements, deletes, node removal and a restore.
TEST_F(ClusterStateTest, PendingVmsAreTheUnplacedOnesThatShouldRun) {
  auto pending = [&](const ClusterState& st) {
    std::vector<std::string> out;
    st.ForEachPendingVm({}, {}, [&](const v1::Vm* vm) {
      out.push_back(vm->spec().name());
      return true;
    });
    EXPECT_EQ(out.size(), st.PendingVmCount());
    const Status inv = st.CheckInvariants();
    EXPECT_TRUE(inv.ok()) << inv.ToString();
    return out;
  };
  using Names = std::vector<std::string>;
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("b"), false, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("c"), true, kNow)).status.ok());
  EXPECT_EQ(pending(state_), (Names{"a", "c"})) << "a stopped VM waits for nothing";
  ASSERT_TRUE(Run(MakeSetVmDesiredState("b", v1::DESIRED_STATE_RUNNING, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeSetVmDesiredState("c", v1::DESIRED_STATE_STOPPED, kNow)).status.ok());
  EXPECT_EQ(pending(state_), (Names{"a", "b"}));
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeDeleteVm("b", kNow)).status.ok());
  EXPECT_EQ(pending(state_), Names{});
  ASSERT_TRUE(Run(MakeRemoveNode(1, kNow)).status.ok());
  EXPECT_EQ(pending(state_), Names{"a"}) << "a removed node's VMs wait again";
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  EXPECT_EQ(pending(copy), Names{"a"});
}

// The same race, as a VM on two nodes: started again before its node
// reported on the stop, the VM stays where it may still run (and is started
// there again) instead of going back to the scheduler.
TEST_F(ClusterStateTest, AVmStartedAgainBeforeItsNodeReportedOnTheStopStaysPlaced) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_STOPPED, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_RUNNING, kNow)).status.ok());
  EXPECT_EQ(state_.FindVm("a")->node_id(), 1u);
  // Once its node reported it stopped, a start goes through the scheduler.
  ASSERT_TRUE(Run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_STOPPED, kNow)).status.ok());
  const uint64_t gen = state_.FindVm("a")->generation();
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "stopped", kNow, 1, gen)).status.ok());
  ASSERT_TRUE(Run(MakeSetVmDesiredState("a", v1::DESIRED_STATE_RUNNING, kNow)).status.ok());
  EXPECT_EQ(state_.FindVm("a")->node_id(), 0u);
}

TEST_F(ClusterStateTest, ReportStatusFromWrongNodeIsFailedPrecondition) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakeReportVmStatus("a", 1, v1::VM_PHASE_RUNNING, "", kNow),
                         StatusCode::kFailedPrecondition)
                  .message(),
              HasSubstr("is not placed on any node"));
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakeReportVmStatus("a", 2, v1::VM_PHASE_RUNNING, "", kNow),
                         StatusCode::kFailedPrecondition)
                  .message(),
              HasSubstr("is placed on node 1, not node 2"));
  RunFailing(MakeReportVmStatus("ghost", 1, v1::VM_PHASE_RUNNING, "", kNow), StatusCode::kNotFound);
  RunFailing(MakeReportVmStatus("a", 1, v1::VM_PHASE_UNSPECIFIED, "", kNow),
             StatusCode::kInvalidArgument);
  RunFailing(MakeReportVmStatus("a", 1, v1::VM_PHASE_RUNNING, std::string(2000, 'm'), kNow),
             StatusCode::kInvalidArgument);
}

TEST_F(ClusterStateTest, PlaceVmsIsAllOrNothing) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("b"), true, kNow)).status.ok());
  RunFailing(MakePlaceVms({{"a", 1, 0}, {"ghost", 1, 0}}, kNow), StatusCode::kNotFound);
  RunFailing(MakePlaceVms({{"a", 1, 0}, {"b", 9, 0}}, kNow), StatusCode::kNotFound);
  RunFailing(MakePlaceVms({{"a", 1, 0}, {"b", 1, 5}}, kNow), StatusCode::kFailedPrecondition);
  RunFailing(MakePlaceVms({{"a", 1, 0}, {"a", 1, 0}}, kNow), StatusCode::kInvalidArgument);
  RunFailing(MakePlaceVms({}, kNow), StatusCode::kInvalidArgument);
  EXPECT_EQ(state_.FindVm("a")->node_id(), 0u);
}

}  // namespace
}  // namespace blixard::state
