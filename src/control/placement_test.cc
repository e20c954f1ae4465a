#include "control/placement.h"

#include <gtest/gtest.h>

#include "state/validation.h"

namespace blixard::control {
namespace {

class PlacementTest : public ::testing::Test {
 protected:
  void Apply(const v1::Command& cmd) {
    auto r = st_.Apply(cmd, ++index_);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }
  void AddNode(uint64_t id, v1::NodeHealth health = v1::NODE_HEALTH_READY) {
    v1::Node n;
    n.set_id(id);
    n.set_address("127.0.0.1:" + std::to_string(7000 + id));
    n.set_role(v1::NODE_ROLE_VOTER);
    n.set_health(health);
    n.mutable_capacity()->set_vcpus(16);
    n.mutable_capacity()->set_memory_mib(16384);
    Apply(state::MakeRegisterNode(n, 1));
  }
  void AddVm(const std::string& name, bool start = true) {
    v1::VmSpec spec;
    spec.set_name(name);
    spec.set_vcpus(1);
    spec.set_memory_mib(128);
    Apply(state::MakeCreateVm(spec, start, 1));
  }
  state::ClusterState st_;
  uint64_t index_ = 0;
};

TEST_F(PlacementTest, NothingToPlaceWithoutReadyNodes) {
  AddVm("a");
  EXPECT_TRUE(PlacePending(st_, 10).empty());
  AddNode(1, v1::NODE_HEALTH_DOWN);
  EXPECT_TRUE(PlacePending(st_, 10).empty());
}

TEST_F(PlacementTest, APausedSchedulerPlacesNothingUntilResumed) {
  AddNode(1);
  AddVm("a");
  Apply(state::MakeSetClusterSetting(state::kSettingSchedulerPaused, "true", 1));
  PlacementController pc;
  PlacementStep paused = pc.Step(st_, 1);
  EXPECT_TRUE(paused.placements.empty());
  EXPECT_TRUE(paused.reasons.empty());
  EXPECT_FALSE(paused.scheduled);
  Apply(state::MakeSetClusterSetting(state::kSettingSchedulerPaused, "false", 1));
  PlacementStep resumed = pc.Step(st_, 1);
  ASSERT_EQ(resumed.placements.size(), 1u);
  EXPECT_EQ(resumed.placements[0].node_id, 1u);
  EXPECT_TRUE(resumed.scheduled);
  Apply(state::MakePlaceVms(resumed.placements, 1));
  EXPECT_FALSE(pc.Step(st_, 1).scheduled) << "nothing waits: the pass costs nothing to repeat";
}

TEST_F(PlacementTest, SpreadsAcrossReadyNodesByVmCount) {
  AddNode(1);
  AddNode(2);
  for (const char* n : {"a", "b", "c", "d"}) AddVm(n);
  auto p = PlacePending(st_, 10);
  ASSERT_EQ(p.size(), 4u);
  std::map<uint64_t, int> per_node;
  for (const auto& x : p) per_node[x.node_id]++;
  EXPECT_EQ(per_node[1], 2);
  EXPECT_EQ(per_node[2], 2);
  for (const auto& x : p) EXPECT_EQ(x.expected_generation, 1u);
}

TEST_F(PlacementTest, StoppedVmsWaitAndBatchIsBounded) {
  AddNode(1);
  AddVm("stopped", /*start=*/false);
  for (int i = 0; i < 5; ++i) AddVm("v" + std::to_string(i));
  auto p = PlacePending(st_, 3);
  ASSERT_EQ(p.size(), 3u);
  for (const auto& x : p) EXPECT_NE(x.name, "stopped");
}

TEST_F(PlacementTest, PlacementsApplyAndAreNotRepeated) {
  AddNode(1);
  AddVm("a");
  auto p = PlacePending(st_, 10);
  Apply(state::MakePlaceVms(p, 2));
  EXPECT_EQ(st_.FindVm("a")->node_id(), 1u);
  EXPECT_TRUE(PlacePending(st_, 10).empty());
}

}  // namespace
}  // namespace blixard::control
