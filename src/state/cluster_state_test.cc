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

TEST_F(ClusterStateTest, EmptyStateIsConsistent) {
  EXPECT_EQ(state_.vm_count(), 0u);
  EXPECT_EQ(state_.applied_index(), 0u);
  EXPECT_EQ(state_.cluster_id(), "");
  EXPECT_TRUE(state_.CheckInvariants().ok());
  EXPECT_EQ(state_.FindVm("nope"), nullptr);
}

TEST_F(ClusterStateTest, CreateVmSetsInitialRecord) {
  ApplyResult r = state_.Apply(MakeCreateVm(Spec("web-1"), true, kNow), 7);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_TRUE(r.vm.has_value());
  const v1::Vm* vm = state_.FindVm("web-1");
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(vm->spec().vcpus(), 2u);
  EXPECT_EQ(vm->desired_state(), v1::DESIRED_STATE_RUNNING);
  EXPECT_EQ(vm->status().phase(), v1::VM_PHASE_PENDING);
  EXPECT_EQ(vm->node_id(), 0u);
  EXPECT_EQ(vm->generation(), 1u);
  EXPECT_EQ(vm->created_at_unix_ms(), kNow);
  EXPECT_EQ(vm->created_index(), 7u);
  EXPECT_EQ(state_.applied_index(), 7u);
  EXPECT_EQ(r.vm->ShortDebugString(), vm->ShortDebugString());
  EXPECT_TRUE(state_.CheckInvariants().ok());
}

// want_vm=false (nobody waits for the answer): same state change, no copy
// of the record in the result; errors are reported as usual.
TEST_F(ClusterStateTest, AVmRecordsWhoCreatedItAndWhoChangedItLast) {
  v1::Command create = MakeCreateVm(Spec("web-1"), true, kNow);
  create.set_actor("client alice (admin)");
  ApplyResult r = state_.Apply(create, 7);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.vm->created_by(), "client alice (admin)");
  v1::Command stop = MakeSetVmDesiredState("web-1", v1::DESIRED_STATE_STOPPED, kNow);
  stop.set_actor("client otto (operator)");
  r = state_.Apply(stop, 8);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.vm->updated_by(), "client otto (operator)");
  const v1::Vm* vm = state_.FindVm("web-1");
  EXPECT_EQ(vm->created_by(), "client alice (admin)");
  EXPECT_EQ(vm->updated_by(), "client otto (operator)");
  // The cluster's own commands (no actor) leave both as they are.
  ASSERT_TRUE(state_.Apply(MakeSetVmDesiredState("web-1", v1::DESIRED_STATE_RUNNING, kNow), 9).status.ok());
  EXPECT_EQ(state_.FindVm("web-1")->updated_by(), "client otto (operator)");
}

TEST_F(ClusterStateTest, ApplyWithoutWantingTheRecordChangesTheSame) {
  ApplyResult r = state_.Apply(MakeCreateVm(Spec("web-1"), true, kNow), 7, /*want_vm=*/false);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_FALSE(r.vm.has_value());
  ASSERT_NE(state_.FindVm("web-1"), nullptr);
  r = state_.Apply(MakeStopVm("web-1", kNow), 8, false);
  ASSERT_TRUE(r.status.ok());
  EXPECT_FALSE(r.vm.has_value());
  EXPECT_EQ(state_.FindVm("web-1")->desired_state(), v1::DESIRED_STATE_STOPPED);
  r = state_.Apply(MakeCreateVm(Spec("web-1"), true, kNow), 9, false);
  EXPECT_EQ(r.status.code(), StatusCode::kAlreadyExists);
  // The next Apply that wants the record gets it.
  r = state_.Apply(MakeStartVm("web-1", kNow), 10);
  ASSERT_TRUE(r.vm.has_value());
  EXPECT_EQ(r.vm->desired_state(), v1::DESIRED_STATE_RUNNING);
  EXPECT_TRUE(state_.CheckInvariants().ok());
}

TEST_F(ClusterStateTest, CreateVmUnspecifiedDesiredStateMeansRunning) {
  v1::Command cmd = MakeCreateVm(Spec("a"), true, kNow);
  cmd.mutable_create_vm()->set_desired_state(v1::DESIRED_STATE_UNSPECIFIED);
  ASSERT_TRUE(Run(cmd).status.ok());
  EXPECT_EQ(state_.FindVm("a")->desired_state(), v1::DESIRED_STATE_RUNNING);
}

TEST_F(ClusterStateTest, CreateVmStopped) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), false, kNow)).status.ok());
  EXPECT_EQ(state_.FindVm("a")->desired_state(), v1::DESIRED_STATE_STOPPED);
}

TEST_F(ClusterStateTest, CreateVmRejectsInvalidSpec) {
  v1::VmSpec spec = Spec("web-1");
  spec.set_vcpus(0);
  Status s = RunFailing(MakeCreateVm(spec, true, kNow), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("use 1-255"));
  EXPECT_EQ(state_.vm_count(), 0u);
  v1::Command cmd = MakeCreateVm(Spec("x"), true, kNow);
  cmd.mutable_create_vm()->set_desired_state(static_cast<v1::DesiredState>(7));
  EXPECT_THAT(RunFailing(cmd, StatusCode::kInvalidArgument).message(),
              HasSubstr("use RUNNING or STOPPED"));
}

TEST_F(ClusterStateTest, CreateVmDuplicateIsAlreadyExists) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("web-1"), true, kNow)).status.ok());
  v1::VmSpec other = Spec("web-1");
  other.set_vcpus(4);
  Status s = RunFailing(MakeCreateVm(other, true, kNow + 1), StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "vm \"web-1\" already exists");
  EXPECT_EQ(state_.FindVm("web-1")->spec().vcpus(), 2u);
}

TEST_F(ClusterStateTest, DeleteVm) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("web-1"), true, kNow)).status.ok());
  ApplyResult r = Run(MakeDeleteVm("web-1", kNow));
  ASSERT_TRUE(r.status.ok());
  ASSERT_TRUE(r.vm.has_value());
  EXPECT_EQ(r.vm->spec().name(), "web-1");
  EXPECT_EQ(state_.FindVm("web-1"), nullptr);
  EXPECT_EQ(state_.vm_count(), 0u);
}

TEST_F(ClusterStateTest, DeleteUnknownVmIsNotFound) {
  EXPECT_EQ(RunFailing(MakeDeleteVm("ghost", kNow), StatusCode::kNotFound).message(),
            "vm \"ghost\" not found");
  EXPECT_THAT(RunFailing(MakeDeleteVm("Bad_Name", kNow), StatusCode::kInvalidArgument).message(),
              HasSubstr("1-63"));
}

TEST_F(ClusterStateTest, UpdateVmLabelsSetsOneKeyAndKeepsTheGeneration) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ApplyResult r = Run(MakeUpdateVmLabels("a", "r", "v1", kNow));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.vm->spec().labels().at("r"), "v1");
  r = Run(MakeUpdateVmLabels("a", "r", "v2", kNow));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(state_.FindVm("a")->spec().labels().at("r"), "v2");
  EXPECT_EQ(state_.FindVm("a")->spec().labels().size(), Spec("a").labels().size() + 1);
  EXPECT_EQ(state_.FindVm("a")->generation(), 1u);
  RunFailing(MakeUpdateVmLabels("ghost", "r", "v", kNow), StatusCode::kNotFound);
  RunFailing(MakeUpdateVmLabels("a", "bad key", "v", kNow), StatusCode::kInvalidArgument);
  RunFailing(MakeUpdateVmLabels("a", "r", std::string(300, 'x'), kNow),
             StatusCode::kInvalidArgument);
}

TEST_F(ClusterStateTest, SetDesiredStateBumpsGenerationOnlyOnChange) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ApplyResult r = Run(MakeStopVm("a", kNow));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.vm->desired_state(), v1::DESIRED_STATE_STOPPED);
  EXPECT_EQ(r.vm->generation(), 2u);
  r = Run(MakeStopVm("a", kNow));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.vm->generation(), 2u);
  r = Run(MakeStartVm("a", kNow));
  EXPECT_EQ(state_.FindVm("a")->generation(), 3u);
  EXPECT_EQ(state_.FindVm("a")->desired_state(), v1::DESIRED_STATE_RUNNING);
}

TEST_F(ClusterStateTest, RestartBumpsGenerationOfARunningVm) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ApplyResult r = Run(MakeRestartVm("a", kNow));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.vm->desired_state(), v1::DESIRED_STATE_RUNNING);
  EXPECT_EQ(r.vm->generation(), 2u);
  ASSERT_TRUE(Run(MakeStopVm("a", kNow)).status.ok());
  r = Run(MakeRestartVm("a", kNow));  // a stopped VM: restart is a start
  EXPECT_EQ(r.vm->desired_state(), v1::DESIRED_STATE_RUNNING);
  EXPECT_EQ(r.vm->generation(), 4u);
}

TEST_F(ClusterStateTest, RunningSinceIsSetWhenTheVmComesUpAndClearedWhenItGoesDown) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  auto report = [&](v1::VmPhase phase, int64_t at) {
    ApplyResult r = Run(MakeReportVmStatus("a", 1, phase, "", at));
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    return r.vm->status().running_since_unix_ms();
  };
  EXPECT_EQ(report(v1::VM_PHASE_STARTING, kNow + 1), kNow + 1);
  EXPECT_EQ(report(v1::VM_PHASE_READY, kNow + 2), kNow + 1);
  EXPECT_EQ(report(v1::VM_PHASE_PAUSED, kNow + 3), kNow + 1);
  EXPECT_EQ(report(v1::VM_PHASE_STOPPING, kNow + 4), 0);
  EXPECT_EQ(report(v1::VM_PHASE_RUNNING, kNow + 5), kNow + 5);
  EXPECT_EQ(report(v1::VM_PHASE_FAILED, kNow + 6), 0);
}

TEST_F(ClusterStateTest, SetDesiredStateRejectsUnknownVmAndBadState) {
  RunFailing(MakeStopVm("ghost", kNow), StatusCode::kNotFound);
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakeSetVmDesiredState("a", v1::DESIRED_STATE_UNSPECIFIED, kNow),
                         StatusCode::kInvalidArgument)
                  .message(),
              HasSubstr("use RUNNING or STOPPED"));
}

TEST_F(ClusterStateTest, RegisterNodeUpsertsAndKeepsRegistrationTime) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(3), kNow)).status.ok());
  v1::Node changed = NodeRecord(3);
  changed.set_health(v1::NODE_HEALTH_DRAINING);
  ASSERT_TRUE(Run(MakeRegisterNode(changed, kNow + 100)).status.ok());
  ASSERT_NE(state_.FindNode(3), nullptr);
  EXPECT_EQ(state_.FindNode(3)->health(), v1::NODE_HEALTH_DRAINING);
  EXPECT_EQ(state_.FindNode(3)->registered_at_unix_ms(), kNow);
  EXPECT_EQ(state_.ListNodes().size(), 1u);
  RunFailing(MakeRegisterNode(NodeRecord(0), kNow), StatusCode::kInvalidArgument);
}

TEST_F(ClusterStateTest, RemoveNodeUnplacesItsVms) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeReportVmStatus("a", 1, v1::VM_PHASE_READY, "", kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRemoveNode(1, kNow)).status.ok());
  EXPECT_EQ(state_.FindNode(1), nullptr);
  const v1::Vm* vm = state_.FindVm("a");
  EXPECT_EQ(vm->node_id(), 0u);
  EXPECT_EQ(vm->status().phase(), v1::VM_PHASE_PENDING);
  EXPECT_EQ(vm->generation(), 3u);
  EXPECT_TRUE(state_.CheckInvariants().ok());
  EXPECT_EQ(RunFailing(MakeRemoveNode(1, kNow), StatusCode::kNotFound).message(),
            "node 1 not found");
}

TEST_F(ClusterStateTest, VmsOnNodeFollowsPlacement) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(2), kNow)).status.ok());
  for (const char* name : {"c", "a", "b", "d"}) {
    ASSERT_TRUE(Run(MakeCreateVm(Spec(name), true, kNow)).status.ok());
  }
  EXPECT_EQ(state_.VmCountOnNode(0), 4u);
  ASSERT_TRUE(Run(MakePlaceVms({{"c", 1, 0}, {"a", 1, 0}, {"b", 2, 0}}, kNow)).status.ok());
  std::vector<const v1::Vm*> on1 = state_.VmsOnNode(1);
  ASSERT_EQ(on1.size(), 2u);
  EXPECT_EQ(on1[0]->spec().name(), "a");
  EXPECT_EQ(on1[1]->spec().name(), "c");
  ASSERT_EQ(state_.VmsOnNode(0).size(), 1u);
  EXPECT_EQ(state_.VmsOnNode(0)[0]->spec().name(), "d");
  EXPECT_TRUE(state_.VmsOnNode(7).empty());

  ASSERT_TRUE(Run(MakeDeleteVm("a", kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRemoveNode(2, kNow)).status.ok());
  EXPECT_EQ(state_.VmCountOnNode(1), 1u);
  EXPECT_EQ(state_.VmCountOnNode(2), 0u);
  EXPECT_EQ(state_.VmCountOnNode(0), 2u);  // b and d
  EXPECT_TRUE(state_.CheckInvariants().ok());

  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  EXPECT_EQ(copy.VmCountOnNode(0), 2u);
  EXPECT_EQ(copy.VmCountOnNode(1), 1u);
  EXPECT_TRUE(copy.CheckInvariants().ok());
}

TEST_F(ClusterStateTest, AssignmentsChangedAtMovesOnlyForTheNodesWhoseVmsChanged) {
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(2), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("b"), true, kNow)).status.ok());
  EXPECT_EQ(state_.AssignmentsChangedAt(0), index_);
  EXPECT_EQ(state_.AssignmentsChangedAt(1), 0u);
  ASSERT_TRUE(Run(MakePlaceVms({{"a", 1, 0}}, kNow)).status.ok());
  const uint64_t placed_a = index_;
  EXPECT_EQ(state_.AssignmentsChangedAt(0), placed_a);
  EXPECT_EQ(state_.AssignmentsChangedAt(1), placed_a);
  EXPECT_EQ(state_.AssignmentsChangedAt(2), 0u);
  ASSERT_TRUE(Run(MakePlaceVms({{"b", 2, 0}}, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeReportVmStatus("b", 2, v1::VM_PHASE_RUNNING, "up", kNow)).status.ok());
  ASSERT_TRUE(Run(MakeSetNodesHealth({{1, v1::NODE_HEALTH_DOWN}}, kNow)).status.ok());
  EXPECT_EQ(state_.AssignmentsChangedAt(1), placed_a);  // node 1's VMs did not change
  EXPECT_EQ(state_.AssignmentsChangedAt(2), index_ - 1);
  RunFailing(MakeReportVmStatus("a", 2, v1::VM_PHASE_RUNNING, "up", kNow), StatusCode::kFailedPrecondition);
  EXPECT_EQ(state_.AssignmentsChangedAt(1), placed_a);
  ClusterState restored;
  ASSERT_TRUE(restored.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  EXPECT_EQ(restored.AssignmentsChangedAt(1), index_);  // unknown after a restore: as new as the state
}

TEST_F(ClusterStateTest, InitClusterAppliesOnce) {
  ASSERT_TRUE(Run(MakeInitCluster("c-1", kNow)).status.ok());
  EXPECT_EQ(state_.cluster_id(), "c-1");
  EXPECT_TRUE(Run(MakeInitCluster("c-1", kNow)).status.ok());
  RunFailing(MakeInitCluster("c-2", kNow), StatusCode::kFailedPrecondition);
  RunFailing(MakeInitCluster("", kNow), StatusCode::kInvalidArgument);
  EXPECT_EQ(state_.cluster_id(), "c-1");
}

TEST_F(ClusterStateTest, CommandWithoutOpIsInvalidArgument) {
  v1::Command empty;
  EXPECT_THAT(RunFailing(empty, StatusCode::kInvalidArgument).message(),
              HasSubstr("set one of create_vm"));
}

TEST_F(ClusterStateTest, StaleIndexIsRejectedAndChangesNothing) {
  ASSERT_TRUE(state_.Apply(MakeCreateVm(Spec("a"), true, kNow), 5).status.ok());
  ApplyResult r = state_.Apply(MakeDeleteVm("a", kNow), 5);
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(state_.FindVm("a"), nullptr);
  EXPECT_EQ(state_.applied_index(), 5u);
  EXPECT_TRUE(state_.Apply(MakeDeleteVm("a", kNow), 9).status.ok());  // gaps are fine
}

TEST_F(ClusterStateTest, ListVmsIsSortedByName) {
  for (const char* name : {"c", "a", "b"}) {
    ASSERT_TRUE(Run(MakeCreateVm(Spec(name), true, kNow)).status.ok());
  }
  std::vector<v1::Vm> vms = state_.ListVms();
  ASSERT_EQ(vms.size(), 3u);
  EXPECT_EQ(vms[0].spec().name(), "a");
  EXPECT_EQ(vms[1].spec().name(), "b");
  EXPECT_EQ(vms[2].spec().name(), "c");
}

TEST_F(ClusterStateTest, SnapshotRoundTrip) {
  ASSERT_TRUE(Run(MakeInitCluster("c-1", kNow)).status.ok());
  ASSERT_TRUE(Run(MakeRegisterNode(NodeRecord(1), kNow)).status.ok());
  for (const char* name : {"c", "a", "b"}) {
    ASSERT_TRUE(Run(MakeCreateVm(Spec(name), true, kNow)).status.ok());
  }
  ASSERT_TRUE(Run(MakePlaceVms({{"b", 1, 0}}, kNow)).status.ok());
  const std::string snap = state_.EncodeSnapshot();
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(snap).ok());
  EXPECT_TRUE(copy == state_);
  EXPECT_EQ(copy.Digest(), state_.Digest());
  EXPECT_EQ(copy.EncodeSnapshot(), snap);
  EXPECT_EQ(copy.applied_index(), state_.applied_index());
  EXPECT_EQ(copy.cluster_id(), "c-1");
  EXPECT_EQ(copy.vm_count(), 3u);
}

TEST_F(ClusterStateTest, RestoreReplacesWholeState) {
  ClusterState other;
  ASSERT_TRUE(other.Apply(MakeCreateVm(Spec("x"), true, kNow), 1).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("b"), true, kNow)).status.ok());
  ASSERT_TRUE(state_.RestoreSnapshot(other.EncodeSnapshot()).ok());
  EXPECT_TRUE(state_ == other);
  EXPECT_EQ(state_.FindVm("a"), nullptr);
  EXPECT_EQ(state_.applied_index(), 1u);
}

TEST_F(ClusterStateTest, RestoreRejectsCorruptSnapshots) {
  ASSERT_TRUE(Run(MakeCreateVm(Spec("a"), true, kNow)).status.ok());
  const std::string good = state_.EncodeSnapshot();
  const uint64_t digest = state_.Digest();

  EXPECT_EQ(state_.RestoreSnapshot("\xff\xff\xff garbage").code(), StatusCode::kDataLoss);
  EXPECT_EQ(state_.RestoreSnapshot("").code(), StatusCode::kDataLoss);  // version 0

  v1::ClusterStateSnapshot snap;
  ASSERT_TRUE(snap.ParseFromString(good));
  snap.set_format_version(2);
  EXPECT_EQ(state_.RestoreSnapshot(snap.SerializeAsString()).code(), StatusCode::kDataLoss);

  ASSERT_TRUE(snap.ParseFromString(good));
  *snap.add_vms() = snap.vms(0);  // duplicate
  EXPECT_EQ(state_.RestoreSnapshot(snap.SerializeAsString()).code(), StatusCode::kDataLoss);

  ASSERT_TRUE(snap.ParseFromString(good));
  snap.mutable_vms(0)->mutable_spec()->set_vcpus(0);
  Status s = state_.RestoreSnapshot(snap.SerializeAsString());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("vcpus 0"));

  ASSERT_TRUE(snap.ParseFromString(good));
  snap.mutable_vms(0)->set_node_id(42);  // unregistered node
  EXPECT_EQ(state_.RestoreSnapshot(snap.SerializeAsString()).code(), StatusCode::kDataLoss);

  EXPECT_EQ(state_.Digest(), digest);
  EXPECT_EQ(state_.EncodeSnapshot(), good);
}

TEST_F(ClusterStateTest, DigestIgnoresAppliedIndexButNotContent) {
  ClusterState a;
  ClusterState b;
  ASSERT_TRUE(a.Apply(MakeCreateVm(Spec("x"), true, kNow), 1).status.ok());
  ASSERT_TRUE(b.Apply(MakeCreateVm(Spec("x"), true, kNow), 1).status.ok());
  EXPECT_EQ(a.Digest(), b.Digest());
  EXPECT_TRUE(a == b);
  ASSERT_TRUE(b.Apply(MakeStopVm("x", kNow), 2).status.ok());
  EXPECT_NE(a.Digest(), b.Digest());
  EXPECT_FALSE(a == b);
}

TEST_F(ClusterStateTest, CommandEncodingRoundTrips) {
  v1::Command cmd = MakeCreateVm(Spec("a"), true, kNow);
  Result<v1::Command> decoded = DecodeCommand(EncodeCommand(cmd));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(EncodeCommand(*decoded), EncodeCommand(cmd));
  EXPECT_EQ(DecodeCommand("\xff\xff\xff").status().code(), StatusCode::kInvalidArgument);
}

TEST(ClusterStateScale, TenThousandVms) {
  ClusterState state;
  uint64_t index = 0;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(state.Apply(MakeCreateVm(Spec("vm-" + std::to_string(i)), true, kNow), ++index)
                    .status.ok());
  }
  EXPECT_EQ(state.vm_count(), 10000u);
  EXPECT_NE(state.FindVm("vm-9999"), nullptr);
  // One scheduler batch places them all; removing the node unplaces them all.
  v1::Node big = NodeRecord(1);
  big.mutable_capacity()->set_vcpus(100000);
  big.mutable_capacity()->set_memory_mib(uint64_t{1} << 30);
  ASSERT_TRUE(state.Apply(MakeRegisterNode(big, kNow), ++index).status.ok());
  std::vector<Placement> batch;
  for (int i = 0; i < 10000; ++i) batch.push_back({"vm-" + std::to_string(i), 1, 1});
  ASSERT_TRUE(state.Apply(MakePlaceVms(batch, kNow), ++index).status.ok());
  EXPECT_EQ(state.VmCountOnNode(1), 10000u);
  EXPECT_EQ(state.VmCountOnNode(0), 0u);
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(state.EncodeSnapshot()).ok());
  EXPECT_TRUE(copy == state);
  EXPECT_TRUE(copy.CheckInvariants().ok());
  ASSERT_TRUE(copy.Apply(MakeRemoveNode(1, kNow), ++index).status.ok());
  EXPECT_EQ(copy.VmCountOnNode(0), 10000u);
  EXPECT_EQ(copy.FindVm("vm-42")->generation(), 3u);
  EXPECT_TRUE(copy.CheckInvariants().ok());
}

// FindVm goes through a hash index over the records: a copy, and a state
// moved or assigned from another, look their own records up, never the
// source's (the index points into the map it was built for).
TEST(ClusterStateCopyTest, CopiesAndMovesFindTheirOwnRecords) {
  ClusterState a;
  ASSERT_TRUE(a.Apply(MakeCreateVm(Spec("x"), false, kNow), 1).status.ok());
  ClusterState b = a;
  ASSERT_TRUE(b.Apply(MakeSetVmDesiredState("x", v1::DESIRED_STATE_RUNNING, kNow), 2).status.ok());
  ASSERT_TRUE(a.Apply(MakeDeleteVm("x", kNow), 2).status.ok());
  EXPECT_EQ(a.FindVm("x"), nullptr);
  ASSERT_NE(b.FindVm("x"), nullptr);
  EXPECT_EQ(b.FindVm("x")->desired_state(), v1::DESIRED_STATE_RUNNING);

  ClusterState c;
  c = b;
  ClusterState d = std::move(b);
  ASSERT_TRUE(d.Apply(MakeDeleteVm("x", kNow), 3).status.ok());
  ASSERT_NE(c.FindVm("x"), nullptr);
  EXPECT_EQ(d.FindVm("x"), nullptr);
  ASSERT_TRUE(c.Apply(MakeCreateVm(Spec("y"), false, kNow), 3).status.ok());
  ClusterState e;
  e = std::move(c);
  EXPECT_NE(e.FindVm("x"), nullptr);
  EXPECT_NE(e.FindVm("y"), nullptr);
  EXPECT_TRUE(e.CheckInvariants().ok());
  EXPECT_TRUE(d.CheckInvariants().ok());
}

}  // namespace
}  // namespace blixard::state
