#include "control/drain.h"

#include <gtest/gtest.h>

#include "control/placement.h"
#include "scheduler/test_cluster.h"

namespace blixard::control {
namespace {

using scheduler::testing::TestCluster;

class DrainTest : public ::testing::Test {
 protected:
  // One controller pass, applied as the node applies it.
  PlacementStep Pass(int64_t now_ms) {
    PlacementStep s = ctl_.Step(c_.st, now_ms);
    c_.Place(s.placements);
    return s;
  }
  // The new node's agent starts a VM that was moved there.
  void Report(const std::string& name) {
    c_.Apply(state::MakeReportVmStatus(name, c_.Vm(name).node_id(), v1::VM_PHASE_RUNNING, "", 5));
  }
  TestCluster c_;
  PlacementController ctl_{PlacementController::Options{10000, 1000, /*drain_moves_per_node=*/2}};
};

TEST_F(DrainTest, MovesVmsAwayAFewAtATime) {
  c_.AddNode(1, 8, 8192);
  for (int i = 0; i < 5; ++i) c_.AddVm("v" + std::to_string(i));
  Pass(0);
  for (int i = 0; i < 5; ++i) Report("v" + std::to_string(i));
  EXPECT_EQ(c_.st.VmCountOnNode(1), 5u);
  c_.AddNode(2, 8, 8192);
  c_.Apply(state::MakeSetNodeDrain(1, true, 0, 10));

  EXPECT_EQ(Pass(10).placements.size(), 2u);
  EXPECT_EQ(c_.st.VmCountOnNode(2), 2u);
  EXPECT_EQ(ctl_.drain().in_flight(), 2u);
  // Nothing more until the moved VMs run on their new node.
  EXPECT_TRUE(Pass(20).placements.empty());
  Report("v0");
  EXPECT_EQ(Pass(30).placements.size(), 1u);
  for (int round = 0; round < 5 && !DrainDone(c_.st, 1); ++round) {
    for (const v1::Vm* vm : c_.st.VmsOnNode(2)) {
      if (vm->status().phase() == v1::VM_PHASE_PENDING) Report(vm->spec().name());
    }
    Pass(40 + round);
  }
  EXPECT_TRUE(DrainDone(c_.st, 1));
  EXPECT_EQ(c_.st.VmCountOnNode(2), 5u);
}

TEST_F(DrainTest, NoNewPlacementsOnADrainingNodeAndUndrainReopensIt) {
  c_.AddNode(1, 8, 8192);
  c_.Apply(state::MakeSetNodeDrain(1, true, 0, 10));
  c_.AddVm("a");
  PlacementStep s = Pass(10);
  EXPECT_TRUE(s.placements.empty());
  ASSERT_EQ(s.reasons.size(), 1u);
  EXPECT_EQ(s.reasons[0].reason, "no node can take it (1 draining)");
  c_.Place({});
  c_.Apply(state::MakeSetPendingReasons({s.reasons[0]}, 11));
  EXPECT_EQ(c_.Vm("a").status().message(), "no node can take it (1 draining)");
  EXPECT_TRUE(Pass(12).reasons.empty());  // already recorded: not proposed again
  c_.Apply(state::MakeSetNodeDrain(1, false, 0, 13));
  EXPECT_EQ(Pass(14).placements.size(), 1u);
  EXPECT_EQ(c_.Vm("a").node_id(), 1u);
}

TEST_F(DrainTest, WaitsForRoomUntilTheDeadlineThenUnplacesTheRest) {
  c_.AddNode(1, 4, 8192);
  for (int i = 0; i < 4; ++i) c_.AddVm("v" + std::to_string(i));
  Pass(0);
  for (int i = 0; i < 4; ++i) Report("v" + std::to_string(i));
  c_.AddNode(2, 1, 8192);  // room for one
  c_.Apply(state::MakeSetNodeDrain(1, true, /*deadline=*/1000, 10));
  EXPECT_EQ(Pass(10).placements.size(), 1u);
  Report(c_.st.VmsOnNode(2).front()->spec().name());
  EXPECT_TRUE(Pass(500).placements.empty());  // no room: the others wait on node 1
  EXPECT_EQ(c_.st.VmCountOnNode(1), 3u);
  EXPECT_EQ(Pass(1000).placements.size(), 3u);  // deadline: they leave anyway
  EXPECT_TRUE(DrainDone(c_.st, 1));
  EXPECT_EQ(c_.st.VmCountOnNode(0), 3u);
  EXPECT_EQ(c_.Vm("v3").status().phase(), v1::VM_PHASE_PENDING);
}

TEST_F(DrainTest, StoppedVmsLeaveAtOnce) {
  c_.AddNode(1, 4, 8192);
  c_.AddVm("a");
  Pass(0);
  c_.Apply(state::MakeStopVm("a", 1));
  c_.Apply(state::MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "", 2));
  c_.Apply(state::MakeSetNodeDrain(1, true, 0, 3));
  EXPECT_EQ(Pass(4).placements.size(), 1u);
  EXPECT_EQ(c_.Vm("a").node_id(), 0u);
  EXPECT_TRUE(DrainDone(c_.st, 1));
}

TEST_F(DrainTest, LeaderChangeForgetsMovesButNeverOvercommits) {
  c_.AddNode(1, 8, 8192);
  for (int i = 0; i < 4; ++i) c_.AddVm("v" + std::to_string(i));
  Pass(0);
  c_.AddNode(2, 2, 8192);
  c_.Apply(state::MakeSetNodeDrain(1, true, 0, 10));
  Pass(10);
  ctl_ = PlacementController(PlacementController::Options{10000, 1000, 2});  // new leader
  Pass(11);
  EXPECT_EQ(c_.st.VmCountOnNode(2), 2u);  // node 2 holds 2 vCPUs: no more
  EXPECT_EQ(c_.st.VmCountOnNode(1), 2u);
}

}  // namespace
}  // namespace blixard::control
