// Members crash, restart and come back: nothing acknowledged is lost, and
// the cluster keeps (or regains) a leader and its members.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

std::vector<uint64_t> Others(TestCluster& c, uint64_t except) {
  std::vector<uint64_t> out;
  for (uint64_t id : c.RunningIds()) {
    if (id != except) out.push_back(id);
  }
  return out;
}

std::set<std::string> WriteMany(TestCluster& c, uint64_t via, const std::string& prefix, int n) {
  std::set<std::string> names;
  for (int i = 0; i < n; ++i) {
    std::string name = prefix + "-" + std::to_string(i);
    grpc::Status s = c.CreateVm(via, name, seconds(20));
    EXPECT_TRUE(s.ok()) << name << ": " << s.error_message();
    names.insert(name);
  }
  return names;
}

// id -> (address, role)
std::map<uint64_t, std::pair<std::string, int>> Members(const v1::GetClusterStatusResponse& st) {
  std::map<uint64_t, std::pair<std::string, int>> out;
  for (const auto& m : st.members()) out[m.id()] = {m.address(), m.role()};
  return out;
}

TEST(Cluster, KillNineOfTheLeaderWhileWritesRun) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t old_leader = c.WaitForLeader();
  ASSERT_NE(old_leader, 0u);

  BackgroundWriter writer(c, Others(c, old_leader), "w");
  ASSERT_TRUE(writer.WaitForAcked(20, seconds(30))) << writer.last_error();
  c.Kill9(old_leader);
  const size_t acked_at_kill = writer.acked();

  uint64_t new_leader = c.WaitForLeader(seconds(30));
  ASSERT_NE(new_leader, 0u);
  EXPECT_NE(new_leader, old_leader);
  // Writes resume through the survivors.
  ASSERT_TRUE(writer.WaitForAcked(acked_at_kill + 20, seconds(30))) << writer.last_error();
  writer.Stop();

  const std::set<std::string> acked = writer.Acked();
  for (uint64_t id : c.RunningIds()) EXPECT_TRUE(c.WaitForVms(id, acked)) << "node " << id;
  // The old leader comes back as a follower and gets every acknowledged write.
  ASSERT_TRUE(c.Restart(old_leader));
  EXPECT_TRUE(c.WaitForVms(old_leader, acked));
  EXPECT_TRUE(c.WaitForMembers({.voters = 3}));
}

TEST(Cluster, RestartedMemberCatchesUp) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = Others(c, leader).front();

  EXPECT_EQ(c.Stop(follower), 0) << c.Log(follower);
  auto names = WriteMany(c, leader, "while-down", 30);
  auto leader_st = c.Status(leader, /*stale=*/false);
  ASSERT_TRUE(leader_st);

  ASSERT_TRUE(c.Restart(follower));
  EXPECT_TRUE(c.WaitForVms(follower, names));
  // The status is published once per loop pass, after the state it
  // describes: a read may see the VMs a moment before the applied index.
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto st = c.Status(follower, /*stale=*/true);
        return st && st->applied_index() >= leader_st->commit_index();
      },
      seconds(30)));
  EXPECT_TRUE(c.WaitForMembers({.voters = 3}));
}

TEST(Cluster, WholeClusterRestartKeepsStateAndMembers) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  auto names = WriteMany(c, leader, "before", 10);
  auto before = c.Status(leader, /*stale=*/false);
  ASSERT_TRUE(before);

  c.StopAll();
  // All start together: none can be ready before a quorum is back.
  for (uint64_t id : c.Ids()) ASSERT_TRUE(c.Restart(id, /*wait=*/false));
  for (uint64_t id : c.Ids()) ASSERT_TRUE(c.WaitReady(id)) << "node " << id;
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));

  for (uint64_t id : c.Ids()) {
    auto st = c.Status(id, /*stale=*/false);
    ASSERT_TRUE(st) << "node " << id;
    EXPECT_EQ(st->cluster_id(), before->cluster_id());
    EXPECT_EQ(Members(*st), Members(*before)) << "node " << id;
    auto have = c.VmNames(id, /*stale=*/false);
    ASSERT_TRUE(have) << "node " << id;
    EXPECT_EQ(*have, names) << "node " << id;
  }
  grpc::Status s = c.CreateVm(c.WaitForLeader(), "after", seconds(20));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace blixard::testing
