#include "scheduler/scheduler.h"

#include <gtest/gtest.h>

#include "scheduler/test_cluster.h"

namespace blixard::scheduler {
namespace {

using testing::TestCluster;

Decision SchedulePending(const state::ClusterState& st, Options o = {}) {
  return Schedule(st, PendingVms(st, 1000000), o);
}

std::map<uint64_t, int> PerNode(const Decision& d) {
  std::map<uint64_t, int> out;
  for (const auto& p : d.placements) out[p.node_id]++;
  return out;
}

TEST(Scheduler, SpreadsAcrossNodesWithEqualFreeCapacity) {
  TestCluster c;
  c.AddNode(1, 8, 8192);
  c.AddNode(2, 8, 8192);
  for (int i = 0; i < 6; ++i) c.AddVm("v" + std::to_string(i));
  Decision d = SchedulePending(c.st);
  EXPECT_EQ(d.placements.size(), 6u);
  EXPECT_EQ(PerNode(d), (std::map<uint64_t, int>{{1, 3}, {2, 3}}));
  EXPECT_EQ(d.placements[0].node_id, 1u);  // ties: lowest id
}

TEST(Scheduler, BinpackFillsTheFullestNodeFirst) {
  TestCluster c;
  c.AddNode(1, 4, 4096);
  c.AddNode(2, 4, 4096);
  c.Apply(state::MakeSetClusterSetting("scheduler.strategy", "binpack", 1));
  for (int i = 0; i < 5; ++i) c.AddVm("v" + std::to_string(i));
  Decision d = SchedulePending(c.st);
  EXPECT_EQ(PerNode(d), (std::map<uint64_t, int>{{1, 4}, {2, 1}}));
}

TEST(Scheduler, PerVmStrategyOverridesTheClusterSetting) {
  TestCluster c;
  c.AddNode(1, 4, 4096);
  c.AddNode(2, 4, 4096);
  c.AddVm("a");
  c.Place(SchedulePending(c.st).placements);  // a on node 1
  v1::VmSpec b = c.Spec("b");
  b.set_strategy("binpack");
  c.AddVm(b);
  v1::VmSpec s = c.Spec("s");
  c.AddVm(s);
  Decision d = SchedulePending(c.st);
  ASSERT_EQ(d.placements.size(), 2u);
  EXPECT_EQ(d.placements[0].name, "b");
  EXPECT_EQ(d.placements[0].node_id, 1u);  // binpack: next to a
  EXPECT_EQ(d.placements[1].node_id, 2u);  // spread: the emptier node
}

TEST(Scheduler, SkipsNodesThatAreNotReadyDrainingOrWithoutCapacity) {
  TestCluster c;
  c.AddNode(1, 8, 8192, {}, v1::NODE_HEALTH_DOWN);
  c.AddNode(2, 8, 8192);
  c.Apply(state::MakeSetNodeDrain(2, true, 0, 1));
  c.AddNode(3, 0, 0);
  c.AddVm("a");
  Decision d = SchedulePending(c.st);
  EXPECT_TRUE(d.placements.empty());
  ASSERT_EQ(d.unplaced.size(), 1u);
  EXPECT_EQ(d.unplaced[0].reason,
            "no node can take it (1 not ready, 1 draining, 1 without a reported capacity)");
  c.AddNode(4, 2, 1024);
  d = SchedulePending(c.st);
  ASSERT_EQ(d.placements.size(), 1u);
  EXPECT_EQ(d.placements[0].node_id, 4u);
}

TEST(Scheduler, NeverOvercommitsAndSaysWhatIsMissing) {
  TestCluster c;
  c.AddNode(1, 2, 4096);
  c.AddNode(3, 2, 4096);
  c.AddVm("big", 4, 128);
  c.AddVm("a", 2, 128);
  c.AddVm("b", 2, 128);
  c.AddVm("c", 1, 128);
  Decision d = SchedulePending(c.st);
  EXPECT_EQ(d.placements.size(), 2u);  // a, b
  ASSERT_EQ(d.unplaced.size(), 2u);
  EXPECT_EQ(d.unplaced[0].name, "big");
  EXPECT_EQ(d.unplaced[0].reason,
            "needs 4 vCPUs; the largest on a ready node has 2 in all (node 1), so it waits for a "
            "larger node");
  EXPECT_EQ(d.unplaced[1].name, "c");
  EXPECT_EQ(d.unplaced[1].reason, "needs 1 vCPUs; the most free on a ready node is 0 (node 1)");
}

TEST(Scheduler, ExplainsMemoryShortage) {
  TestCluster c;
  c.AddNode(1, 8, 1024);
  c.AddNode(2, 8, 2048);
  c.AddVm("a", 1, 1536);
  c.Place(SchedulePending(c.st).placements);
  c.AddVm("b", 1, 1024);
  Decision d = SchedulePending(c.st);
  ASSERT_EQ(d.unplaced.size(), 0u);
  c.Place(d.placements);
  c.AddVm("c", 1, 1024);
  d = SchedulePending(c.st);
  ASSERT_EQ(d.unplaced.size(), 1u);
  EXPECT_EQ(d.unplaced[0].reason,
            "needs 1024 MiB of memory; the most free on a ready node is 512 MiB (node 2)");
}

TEST(Scheduler, ConstraintsSelectNodesByLabel) {
  TestCluster c;
  c.AddNode(1, 8, 8192, {{"zone", "a"}});
  c.AddNode(2, 8, 8192, {{"zone", "b"}, {"ssd", "yes"}});
  c.AddNode(3, 8, 8192);
  v1::VmSpec in_b = c.Spec("in-b");
  in_b.add_constraints("zone=b");
  c.AddVm(in_b);
  v1::VmSpec not_a = c.Spec("not-a");
  not_a.add_constraints("zone!=a");
  not_a.add_constraints("ssd!=yes");
  c.AddVm(not_a);
  v1::VmSpec in_c = c.Spec("in-c");
  in_c.add_constraints("zone=c");
  c.AddVm(in_c);
  Decision d = SchedulePending(c.st);
  std::map<std::string, uint64_t> where;
  for (const auto& p : d.placements) where[p.name] = p.node_id;
  EXPECT_EQ(where, (std::map<std::string, uint64_t>{{"in-b", 2}, {"not-a", 3}}));
  ASSERT_EQ(d.unplaced.size(), 1u);
  EXPECT_EQ(d.unplaced[0].reason, "no ready node matches its constraints (zone=c)");
}

TEST(Scheduler, AntiAffinityGroupPutsOneVmPerNode) {
  TestCluster c;
  c.AddNode(1, 8, 8192);
  c.AddNode(2, 8, 8192);
  c.Apply(state::MakeSetClusterSetting("scheduler.strategy", "binpack", 1));
  for (int i = 0; i < 3; ++i) {
    v1::VmSpec s = c.Spec("db-" + std::to_string(i));
    s.set_anti_affinity_group("db");
    c.AddVm(s);
  }
  Decision d = SchedulePending(c.st);
  EXPECT_EQ(PerNode(d), (std::map<uint64_t, int>{{1, 1}, {2, 1}}));
  ASSERT_EQ(d.unplaced.size(), 1u);
  EXPECT_EQ(d.unplaced[0].reason,
            "every ready node already has a VM of anti-affinity group \"db\" (2 nodes)");
}

TEST(Scheduler, StoppedVmsGiveTheirCapacityBack) {
  TestCluster c;
  c.AddNode(1, 1, 1024);
  c.AddVm("a");
  c.Place(SchedulePending(c.st).placements);
  c.AddVm("b");
  EXPECT_TRUE(SchedulePending(c.st).placements.empty());
  c.Apply(state::MakeStopVm("a", 3));
  // Still up on its node: it keeps its room until the node reports it stopped.
  c.Apply(state::MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPING, "", 3));
  EXPECT_TRUE(SchedulePending(c.st).placements.empty());
  // A report made before the stop (e.g. "exited" on the placement's
  // generation) says nothing of it: the node's agent may start it again.
  c.Apply(state::MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "", 3, 0, c.Vm("a").generation() - 1));
  EXPECT_TRUE(SchedulePending(c.st).placements.empty());
  c.Apply(state::MakeReportVmStatus("a", 1, v1::VM_PHASE_STOPPED, "", 3, 0, c.Vm("a").generation()));
  Decision d = SchedulePending(c.st);
  ASSERT_EQ(d.placements.size(), 1u);
  c.Place(d.placements);
  // Starting a again sends it through the scheduler: it waits, b has the room.
  c.Apply(state::MakeStartVm("a", 4));
  EXPECT_EQ(c.Vm("a").node_id(), 0u);
  EXPECT_TRUE(SchedulePending(c.st).placements.empty());
}

TEST(Scheduler, PendingVmsResumeAfterTheCursorAndWrap) {
  TestCluster c;
  for (const char* n : {"a", "b", "c", "d"}) c.AddVm(n);
  c.AddVm(c.Spec("e"), /*start=*/false);
  auto names = [](const std::vector<const v1::Vm*>& vms) {
    std::vector<std::string> out;
    for (auto* v : vms) out.push_back(v->spec().name());
    return out;
  };
  EXPECT_EQ(names(PendingVms(c.st, 2)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(PendingVms(c.st, 3, "b")), (std::vector<std::string>{"c", "d", "a"}));
  EXPECT_EQ(names(PendingVms(c.st, 10, "c")), (std::vector<std::string>{"d", "a", "b", "c"}));
}

TEST(Scheduler, ExtraRulesFilterNodes) {
  struct OddOnly : PlacementRule {
    std::string Rejects(const v1::Vm&, const v1::Node& n) const override {
      return n.id() % 2 ? "" : "node " + std::to_string(n.id()) + " is even";
    }
    void Placed(const v1::Vm&, const v1::Node&) override { ++placed; }
    std::string Key(const v1::Vm&) const override { return ""; }
    int placed = 0;
  } rule;
  TestCluster c;
  c.AddNode(1, 1, 1024);
  c.AddNode(2, 8, 8192);
  c.AddVm("a");
  c.AddVm("b");
  Options o;
  o.rules = {&rule};
  Decision d = SchedulePending(c.st, o);
  ASSERT_EQ(d.placements.size(), 1u);
  EXPECT_EQ(d.placements[0].node_id, 1u);
  EXPECT_EQ(rule.placed, 1);
  ASSERT_EQ(d.unplaced.size(), 1u);
  EXPECT_EQ(d.unplaced[0].reason, "needs 1 vCPUs; the most free on a ready node is 0 (node 1)");
}

}  // namespace
}  // namespace blixard::scheduler
