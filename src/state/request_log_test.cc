// The remembered requests: a retried write is applied once (RequestLog, and
// ClusterState::Apply's use of it).
#include "state/request_log.h"

#include <gtest/gtest.h>

#include "state/commands.h"
#include "state/testing/cluster_state_fixture.h"

namespace blixard::state {
namespace {

using testing::ClusterStateTest;
using testing::kNow;
using testing::Spec;

v1::Command WithRequestId(v1::Command cmd, uint64_t hi, uint64_t lo) {
  cmd.mutable_request_id()->set_hi(hi);
  cmd.mutable_request_id()->set_lo(lo);
  return cmd;
}

// A create retried with its request id after its answer was lost (the
// leader died before replying) is answered OK with its VM, as the first
// attempt was, and is not applied again; another client's create of the
// same name is still refused.
TEST_F(ClusterStateTest, RetriedWriteIsAnsweredAsTheFirstAttemptWas) {
  const v1::Command create = WithRequestId(MakeCreateVm(Spec("web-1"), true, kNow), 7, 1);
  ASSERT_TRUE(Run(create).status.ok());
  const std::string before = state_.EncodeSnapshot();
  ApplyResult again = Run(create);
  ASSERT_TRUE(again.status.ok()) << again.status.ToString();
  ASSERT_TRUE(again.vm.has_value());
  EXPECT_EQ(again.vm->spec().name(), "web-1");
  EXPECT_EQ(again.vm->created_index(), 1u);
  ClusterState expected;
  ASSERT_TRUE(expected.RestoreSnapshot(before).ok());
  EXPECT_EQ(expected.Digest(), state_.Digest());  // nothing changed
  RunFailing(WithRequestId(MakeCreateVm(Spec("web-1"), true, kNow), 8, 1), StatusCode::kAlreadyExists);
  // A delete retried after it applied succeeds without deleting a VM
  // created again since by someone else.
  const v1::Command del = WithRequestId(MakeDeleteVm("web-1", kNow), 7, 2);
  ASSERT_TRUE(Run(del).status.ok());
  ASSERT_TRUE(Run(MakeCreateVm(Spec("web-1"), true, kNow)).status.ok());
  EXPECT_TRUE(Run(del).status.ok());
  EXPECT_NE(state_.FindVm("web-1"), nullptr);
  EXPECT_TRUE(state_.CheckInvariants().ok());
}

// Only writes that succeeded are remembered: a failed one changed nothing,
// so its retry runs again and may succeed now.
TEST_F(ClusterStateTest, FailedWriteIsNotRemembered) {
  const v1::Command stop = WithRequestId(MakeStopVm("db-1", kNow), 3, 3);
  RunFailing(stop, StatusCode::kNotFound);
  ASSERT_TRUE(Run(MakeCreateVm(Spec("db-1"), true, kNow)).status.ok());
  ASSERT_TRUE(Run(stop).status.ok());
  EXPECT_EQ(state_.FindVm("db-1")->desired_state(), v1::DESIRED_STATE_STOPPED);
}

// The remembered requests travel in the snapshot, so a leader restored from
// one still answers a retry as the first attempt was; beyond the capacity
// the oldest are forgotten first.
TEST_F(ClusterStateTest, RememberedRequestsSurviveASnapshotAndAreBounded) {
  const v1::Command create = WithRequestId(MakeCreateVm(Spec("web-1"), true, kNow), 9, 0);
  ASSERT_TRUE(Run(create).status.ok());
  ClusterState restored;
  ASSERT_TRUE(restored.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  EXPECT_EQ(restored, state_);
  EXPECT_TRUE(restored.Apply(create, index_ + 1).status.ok());

  RequestLog log;
  for (uint64_t i = 0; i < RequestLog::kCapacity + 10; ++i) log.Add({1, i});
  EXPECT_EQ(log.size(), RequestLog::kCapacity);
  EXPECT_FALSE(log.Contains({1, 9}));
  EXPECT_TRUE(log.Contains({1, 10}));
  EXPECT_TRUE(log.Contains({1, RequestLog::kCapacity + 9}));
  v1::ClusterStateSnapshot snap;
  log.EncodeTo(snap);
  RequestLog back;
  ASSERT_TRUE(back.RestoreFrom(snap));
  EXPECT_EQ(back, log);
  *snap.add_applied_requests() = snap.applied_requests(0);  // a duplicate
  EXPECT_FALSE(back.RestoreFrom(snap));
}

}  // namespace
}  // namespace blixard::state
