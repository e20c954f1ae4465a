// Log replication (§5.3): batching, flow control, fast backtracking,
// heartbeats carrying commit, snapshots (§7).
#include <gtest/gtest.h>

#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::Network;

TEST(RaftReplication, ProposalsCommitOnEveryNode) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.Propose("v" + std::to_string(i)).ok());
  net.Stabilize();
  net.TickAll(2);
  for (NodeId id : net.ids()) {
    EXPECT_EQ(net.raft(id).commit_index(), 11u) << id;
    EXPECT_EQ(net.node(id).app.payloads.size(), 10u) << id;
  }
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftReplication, FollowerRefusesProposal) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  auto r = net.raft(2).propose("x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace blixard::raft
