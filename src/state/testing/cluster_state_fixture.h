// ClusterStateTest: a state and the next log index, with helpers that apply
// commands and check that a failing one changed nothing. Shared by the
// state machine's tests (cluster_state_test.cc, request_log_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "state/cluster_state.h"

namespace blixard::state::testing {

constexpr int64_t kNow = 1'700'000'000'000;

inline v1::VmSpec Spec(const std::string& name) {
  v1::VmSpec spec;
  spec.set_name(name);
  spec.set_vcpus(2);
  spec.set_memory_mib(512);
  (*spec.mutable_labels())["tier"] = "web";
  (*spec.mutable_labels())["app"] = "shop";
  return spec;
}

inline v1::Node NodeRecord(uint64_t id) {
  v1::Node node;
  node.set_id(id);
  node.set_address("127.0.0.1:" + std::to_string(7000 + id));
  node.set_role(v1::NODE_ROLE_VOTER);
  node.set_health(v1::NODE_HEALTH_READY);
  node.mutable_capacity()->set_vcpus(8);
  node.mutable_capacity()->set_memory_mib(16384);
  return node;
}

class ClusterStateTest : public ::testing::Test {
 protected:
  ApplyResult Run(const v1::Command& cmd) { return state_.Apply(cmd, ++index_); }
  // Applies `cmd`, which must fail with `code`, and checks it changed nothing.
  Status RunFailing(const v1::Command& cmd, StatusCode code) {
    const std::string before = state_.EncodeSnapshot();
    const uint64_t digest = state_.Digest();
    ApplyResult r = Run(cmd);
    EXPECT_EQ(r.status.code(), code) << r.status.ToString();
    EXPECT_FALSE(r.vm.has_value());
    EXPECT_EQ(state_.Digest(), digest);
    ClusterState restored;
    EXPECT_TRUE(restored.RestoreSnapshot(before).ok());
    EXPECT_EQ(restored.Digest(), state_.Digest());
    EXPECT_EQ(state_.applied_index(), index_);
    EXPECT_TRUE(state_.CheckInvariants().ok());
    return r.status;
  }

  ClusterState state_;
  uint64_t index_ = 0;
};

}  // namespace blixard::state::testing
