#include "state/assignments.h"

#include <gtest/gtest.h>

#include "state/commands.h"

namespace blixard::state {
namespace {

v1::Vm MakeVm(const std::string& name, uint64_t node, uint64_t generation = 1,
              v1::VmPhase phase = v1::VM_PHASE_PENDING) {
  v1::Vm vm;
  vm.mutable_spec()->set_name(name);
  vm.set_node_id(node);
  vm.set_generation(generation);
  vm.mutable_status()->set_phase(phase);
  return vm;
}

AssignmentSet SetOf(std::initializer_list<v1::Vm> vms) {
  AssignmentSet s;
  for (const auto& vm : vms) s[vm.spec().name()] = vm;
  return s;
}

TEST(Assignments, DiffHasAddedChangedAndRemovedOnly) {
  const AssignmentSet before = SetOf({MakeVm("a", 7), MakeVm("b", 7), MakeVm("c", 7)});
  const AssignmentSet after =
      SetOf({MakeVm("a", 7), MakeVm("c", 7, 1, v1::VM_PHASE_RUNNING), MakeVm("d", 7)});
  const v1::AssignmentUpdate u = DiffAssignments(before, 10, after, 12);
  EXPECT_FALSE(u.full());
  EXPECT_EQ(u.base_version(), 10u);
  EXPECT_EQ(u.version(), 12u);
  ASSERT_EQ(u.vms_size(), 2);
  EXPECT_EQ(u.vms(0).spec().name(), "c");  // status changed
  EXPECT_EQ(u.vms(1).spec().name(), "d");  // added
  ASSERT_EQ(u.removed_size(), 1);
  EXPECT_EQ(u.removed(0), "b");
}

TEST(Assignments, DiffOfEqualSetsIsEmpty) {
  const AssignmentSet s = SetOf({MakeVm("a", 7), MakeVm("b", 7)});
  EXPECT_TRUE(EmptyDiff(DiffAssignments(s, 3, s, 9)));
  EXPECT_FALSE(EmptyDiff(FullAssignments(s, 9)));
}

TEST(Assignments, ViewFollowsAFullSetThenDiffs) {
  AssignmentView view;
  EXPECT_FALSE(view.has_set());
  const AssignmentSet s1 = SetOf({MakeVm("a", 7), MakeVm("b", 7)});
  auto full = FullAssignments(s1, 5);
  full.set_applied_index(8);
  ASSERT_TRUE(view.Apply(full).ok());
  EXPECT_EQ(view.version(), 5u);
  EXPECT_EQ(view.applied_index(), 8u);
  const AssignmentSet s2 = SetOf({MakeVm("b", 7, 2), MakeVm("e", 7)});
  auto diff = DiffAssignments(s1, 5, s2, 9);
  diff.set_applied_index(11);
  ASSERT_TRUE(view.Apply(diff).ok());
  EXPECT_EQ(view.version(), 9u);
  EXPECT_EQ(view.applied_index(), 11u);
  ASSERT_EQ(view.set().size(), 2u);
  EXPECT_EQ(view.set().at("b").generation(), 2u);
  EXPECT_TRUE(view.set().count("e"));
}

TEST(Assignments, ViewRefusesADiffFromAnotherVersionOrAnOlderSet) {
  AssignmentView view;
  const AssignmentSet s = SetOf({MakeVm("a", 7)});
  EXPECT_EQ(view.Apply(DiffAssignments({}, 0, s, 4)).code(), StatusCode::kFailedPrecondition)
      << "a diff needs a set to apply to";
  ASSERT_TRUE(view.Apply(FullAssignments(s, 6)).ok());
  EXPECT_EQ(view.Apply(DiffAssignments(s, 5, {}, 7)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.Apply(FullAssignments({}, 4)).code(), StatusCode::kFailedPrecondition)
      << "a set older than the held one would undo moves the worker has seen";
  EXPECT_EQ(view.version(), 6u);
  EXPECT_EQ(view.set().size(), 1u);
  // A newer full set replaces everything.
  ASSERT_TRUE(view.Apply(FullAssignments(SetOf({MakeVm("z", 7)}), 9)).ok());
  EXPECT_EQ(view.set().size(), 1u);
  EXPECT_TRUE(view.set().count("z"));
}

TEST(Assignments, ResumeFromAKnownVersionIsADiffThatRebuildsTheSet) {
  // The server remembers what it sent; a worker that reconnects with that
  // version gets only the changes, and ends with the server's current set.
  AssignmentHistory history(2);
  const AssignmentSet v3 = SetOf({MakeVm("a", 7), MakeVm("b", 7)});
  history.Remember(7, 3, v3);
  AssignmentView view;
  ASSERT_TRUE(view.Apply(FullAssignments(v3, 3)).ok());

  const AssignmentSet now = SetOf({MakeVm("b", 7), MakeVm("c", 7)});
  auto base = history.At(7, view.version());
  ASSERT_TRUE(base.has_value());
  ASSERT_TRUE(view.Apply(DiffAssignments(*base, 3, now, 8)).ok());
  EXPECT_EQ(view.set().size(), 2u);
  EXPECT_TRUE(view.set().count("c"));
  EXPECT_FALSE(view.set().count("a"));
}

TEST(Assignments, HistoryKeepsOnlyTheNewestVersionsPerNode) {
  AssignmentHistory history(2);
  history.Remember(1, 3, SetOf({MakeVm("a", 1)}));
  history.Remember(1, 5, SetOf({}));
  history.Remember(1, 8, SetOf({}));
  history.Remember(2, 3, SetOf({}));
  EXPECT_FALSE(history.At(1, 3).has_value()) << "too old: the worker gets a full set";
  EXPECT_TRUE(history.At(1, 5).has_value());
  EXPECT_TRUE(history.At(1, 8).has_value());
  EXPECT_TRUE(history.At(2, 3).has_value());
  EXPECT_FALSE(history.At(3, 3).has_value());
  history.Forget(1);
  EXPECT_FALSE(history.At(1, 8).has_value());
}

TEST(Assignments, AssignmentsOfReadsOneNodesVms) {
  ClusterState st;
  // Placement goes through the state machine: VMs placed on node 2 only.
  v1::Node n;
  for (uint64_t id : {1, 2}) {
    n.set_id(id);
    n.set_address("127.0.0.1:" + std::to_string(7000 + id));
    n.set_role(id == 2 ? v1::NODE_ROLE_WORKER : v1::NODE_ROLE_VOTER);
    n.set_health(v1::NODE_HEALTH_READY);
    ASSERT_TRUE(st.Apply(MakeRegisterNode(n, 1), st.applied_index() + 1).status.ok());
  }
  for (const char* name : {"x", "y"}) {
    v1::VmSpec spec;
    spec.set_name(name);
    spec.set_vcpus(1);
    spec.set_memory_mib(64);
    ASSERT_TRUE(st.Apply(MakeCreateVm(spec, true, 1), st.applied_index() + 1).status.ok());
  }
  ASSERT_TRUE(st.Apply(MakePlaceVms({Placement{"x", 2, 0}}, 2), st.applied_index() + 1).status.ok());
  const AssignmentSet on2 = AssignmentsOf(st, 2);
  ASSERT_EQ(on2.size(), 1u);
  EXPECT_TRUE(on2.count("x"));
  EXPECT_TRUE(AssignmentsOf(st, 1).empty());
}

// Two nodes (1 and 2) and VMs created unplaced, through the state machine.
class AssignmentFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::Node n;
    for (uint64_t id : {1, 2}) {
      n.set_id(id);
      n.set_address("127.0.0.1:" + std::to_string(7000 + id));
      n.set_role(v1::NODE_ROLE_WORKER);
      n.set_health(v1::NODE_HEALTH_READY);
      n.mutable_capacity()->set_vcpus(8);
      n.mutable_capacity()->set_memory_mib(8192);
      Run(MakeRegisterNode(n, 1));
    }
  }
  void Run(const v1::Command& cmd) { ASSERT_TRUE(st_.Apply(cmd, st_.applied_index() + 1).status.ok()); }
  void Place(const std::string& name, uint64_t node) {
    v1::VmSpec spec;
    spec.set_name(name);
    spec.set_vcpus(1);
    spec.set_memory_mib(64);
    Run(MakeCreateVm(spec, true, 1));
    Run(MakePlaceVms({Placement{name, node, 0}}, 2));
  }
  ClusterState st_;
};

TEST_F(AssignmentFeedTest, AChangeOnTheNodeIsADiffAndAnUnchangedNodesSetIsNotRead) {
  AssignmentFeed feed(1, 0, std::nullopt);
  AssignmentView view;
  auto first = feed.Next(st_, 5, false);
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(first->full());
  ASSERT_TRUE(view.Apply(*first).ok());
  EXPECT_EQ(feed.set_reads(), 1u);

  Place("elsewhere", 2);  // node 1's set is unchanged: nothing to send, nothing read
  EXPECT_FALSE(feed.Next(st_, 6, false).has_value());
  EXPECT_EQ(feed.set_reads(), 1u);

  Place("here", 1);
  auto diff = feed.Next(st_, 7, false);
  ASSERT_TRUE(diff.has_value());
  EXPECT_FALSE(diff->full());
  ASSERT_EQ(diff->vms_size(), 1);
  EXPECT_EQ(diff->vms(0).spec().name(), "here");
  EXPECT_EQ(diff->applied_index(), 7u);
  ASSERT_TRUE(view.Apply(*diff).ok());
  EXPECT_EQ(view.version(), st_.applied_index());
  EXPECT_EQ(feed.set_reads(), 2u);
  EXPECT_FALSE(feed.Next(st_, 7, true).has_value()) << "nothing changed, applied did not move";
  EXPECT_EQ(feed.set_reads(), 2u);

  Run(MakeReportVmStatus("here", 1, v1::VM_PHASE_RUNNING, "up", 3));  // a status change is a change
  auto status = feed.Next(st_, 8, false);
  ASSERT_TRUE(status.has_value());
  ASSERT_EQ(status->vms_size(), 1);
  EXPECT_EQ(status->vms(0).status().phase(), v1::VM_PHASE_RUNNING);
  ASSERT_TRUE(view.Apply(*status).ok());
}

TEST_F(AssignmentFeedTest, ProgressIsAnEmptyDiffOnlyWhenDueAndTheAppliedIndexMoved) {
  AssignmentFeed feed(1, 0, std::nullopt);
  AssignmentView view;
  ASSERT_TRUE(view.Apply(*feed.Next(st_, 5, false)).ok());
  Place("elsewhere", 2);
  EXPECT_FALSE(feed.Next(st_, 9, false).has_value()) << "not due";
  auto progress = feed.Next(st_, 9, true);
  ASSERT_TRUE(progress.has_value());
  EXPECT_TRUE(EmptyDiff(*progress));
  EXPECT_EQ(progress->applied_index(), 9u);
  ASSERT_TRUE(view.Apply(*progress).ok());
  EXPECT_EQ(view.applied_index(), 9u);
  EXPECT_EQ(view.version(), st_.applied_index());
  EXPECT_FALSE(feed.Next(st_, 9, true).has_value());
}

TEST_F(AssignmentFeedTest, AWorkerThatResumesFromAHeldVersionGetsADiffToTheCurrentSet) {
  Place("a", 1);
  Place("b", 1);
  AssignmentFeed old(1, 0, std::nullopt);
  AssignmentView view;
  ASSERT_TRUE(view.Apply(*old.Next(st_, 10, false)).ok());
  AssignmentHistory history;
  history.Remember(1, old.sent_version(), old.sent());

  Run(MakeDeleteVm("a", 3));
  Place("c", 1);
  // The worker reconnects (to this server) from the version it holds.
  AssignmentFeed resumed(1, view.version(), history.At(1, view.version()));
  auto u = resumed.Next(st_, 20, false);
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->full());
  EXPECT_EQ(u->base_version(), view.version());
  ASSERT_TRUE(view.Apply(*u).ok());
  EXPECT_EQ(view.set().size(), 2u);
  EXPECT_TRUE(view.set().count("b") && view.set().count("c"));

  AssignmentFeed unknown(1, view.version() - 1, std::nullopt);  // not remembered: a full set
  auto full = unknown.Next(st_, 20, false);
  ASSERT_TRUE(full.has_value());
  EXPECT_TRUE(full->full());
}

}  // namespace
}  // namespace blixard::state
