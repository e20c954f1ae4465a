// Forming clusters of real processes: every node joins through a member, the
// leader promotes learners up to --voters, the rest stand by.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

// Every running member answers with the same cluster id and the same members.
void ExpectOneClusterId(TestCluster& c) {
  std::string cluster_id;
  for (uint64_t id : c.RunningIds()) {
    auto st = c.Status(id, /*stale=*/true);
    ASSERT_TRUE(st) << "node " << id << " does not answer";
    EXPECT_FALSE(st->cluster_id().empty());
    if (cluster_id.empty()) cluster_id = st->cluster_id();
    EXPECT_EQ(st->cluster_id(), cluster_id) << "node " << id;
    EXPECT_EQ(st->node_id(), id);
  }
}

TEST(Cluster, ThreeNodeFormation) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  ExpectOneClusterId(c);

  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = leader == 1 ? 2 : 1;
  CommandResult w = c.Cli(follower, {"vm", "create", "web-1", "--stopped", "--timeout", "20"});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  // Linearizable reads on every member see the write at once.
  for (uint64_t id : c.Ids()) {
    CommandResult r = c.Cli(id, {"vm", "get", "web-1", "--timeout", "20"});
    EXPECT_EQ(r.exit_code, 0) << "node " << id << ": " << r.err;
    EXPECT_NE(r.out.find("web-1"), std::string::npos) << "node " << id << ": " << r.out;
  }
  // `cluster members`, asked of a follower (which just served the write),
  // marks the leader's row.
  CommandResult m = c.Cli(follower, {"cluster", "members"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const size_t row = m.out.find("\n" + std::to_string(leader) + " ");
  ASSERT_NE(row, std::string::npos) << m.out;
  const std::string line = m.out.substr(row + 1, m.out.find('\n', row + 1) - row - 1);
  EXPECT_NE(line.find("voter (leader)"), std::string::npos) << m.out;
  EXPECT_EQ(m.out.find("(leader)"), m.out.rfind("(leader)")) << "one leader: " << m.out;
}

TEST(Cluster, FiveNodeFormationWithFiveVoters) {
  TestCluster c({.node_args = {"--voters", "5"}});
  ASSERT_TRUE(c.Start(5));
  ASSERT_TRUE(c.WaitForMembers({.voters = 5}));
  ExpectOneClusterId(c);

  ASSERT_TRUE(c.CreateVm(4, "five-voters").ok());
  for (uint64_t id : c.Ids()) {
    auto names = c.VmNames(id, /*stale=*/false, seconds(20));
    ASSERT_TRUE(names) << "node " << id;
    EXPECT_TRUE(names->count("five-voters")) << "node " << id;
  }
}

TEST(Cluster, FiveNodeFormationWithDefaultVotersHasTwoStandbys) {
  TestCluster c;
  ASSERT_TRUE(c.Start(5));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3, .standbys = 2}));
  ExpectOneClusterId(c);

  // Standbys forward writes and serve linearizable reads like voters.
  auto st = c.Status(c.WaitForLeader(), /*stale=*/false);
  ASSERT_TRUE(st);
  std::vector<uint64_t> standbys;
  for (const auto& m : st->members()) {
    if (m.role() == v1::NODE_ROLE_STANDBY) standbys.push_back(m.id());
  }
  ASSERT_EQ(standbys.size(), 2u);
  ASSERT_TRUE(c.CreateVm(standbys[0], "via-standby").ok());
  for (uint64_t id : c.Ids()) {
    auto names = c.VmNames(id, /*stale=*/false, seconds(20));
    ASSERT_TRUE(names) << "node " << id;
    EXPECT_TRUE(names->count("via-standby")) << "node " << id;
  }
}

}  // namespace
}  // namespace blixard::testing
