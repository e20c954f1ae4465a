// Growing and shrinking a running cluster: join under load, transfer of
// leadership, removal of a follower, the leader leaving.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

uint64_t AFollower(TestCluster& c, uint64_t leader) {
  for (uint64_t id : c.RunningIds()) {
    if (id != leader) return id;
  }
  return 0;
}

// A removed node says so: it no longer lists itself and refuses writes with
// FAILED_PRECONDITION.
void ExpectReportsRemoved(TestCluster& c, uint64_t id) {
  grpc::Status last;
  EXPECT_TRUE(WaitUntil(
      [&] {
        last = c.CreateVm(id, "after-removal-" + std::to_string(id), seconds(5));
        return last.error_code() == grpc::StatusCode::FAILED_PRECONDITION;
      },
      seconds(30)))
      << "last answer: code " << last.error_code() << ": " << last.error_message();
  EXPECT_NE(last.error_message().find("removed"), std::string::npos) << last.error_message();
  auto st = c.Status(id, /*stale=*/true);
  ASSERT_TRUE(st);
  for (const auto& m : st->members()) EXPECT_NE(m.id(), id) << "node " << id << " still lists itself";
  CommandResult cli = c.Cli(id, {"vm", "create", "cli-after-removal", "--stopped", "--timeout", "10"});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("FAILED_PRECONDITION"), std::string::npos) << cli.err;
}

TEST(Cluster, JoinWhileWritesRunLosesNoWrite) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));

  BackgroundWriter writer(c, {1, 2, 3}, "w");
  ASSERT_TRUE(writer.WaitForAcked(20, seconds(30))) << writer.last_error();
  ASSERT_TRUE(c.Add(4));
  ASSERT_TRUE(c.Add(5));
  const size_t acked_after_join = writer.acked();
  ASSERT_TRUE(writer.WaitForAcked(acked_after_join + 20, seconds(30))) << writer.last_error();
  writer.Stop();
  EXPECT_EQ(writer.failed(), 0u) << writer.last_error();

  ASSERT_TRUE(c.WaitForMembers({.voters = 3, .standbys = 2}));
  const std::set<std::string> acked = writer.Acked();
  for (uint64_t id : c.Ids()) EXPECT_TRUE(c.WaitForVms(id, acked)) << "node " << id;
}

TEST(Cluster, TransferLeader) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t target = AFollower(c, leader);
  auto before = c.Status(leader, /*stale=*/false);
  ASSERT_TRUE(before);

  // Asked through the third member: forwarded to the leader.
  uint64_t third = 6 - leader - target;
  CommandResult r =
      c.Cli(third, {"cluster", "transfer-leader", std::to_string(target), "--timeout", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("leader is now node " + std::to_string(target)), std::string::npos) << r.out;

  for (uint64_t id : c.Ids()) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          auto st = c.Status(id, /*stale=*/false);
          return st && st->leader_id() == target && st->term() > before->term();
        },
        seconds(20)))
        << "node " << id;
  }
  // The old leader forwards writes to the new one.
  grpc::Status s = c.CreateVm(leader, "after-transfer", seconds(20));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(Cluster, RemoveFollower) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t gone = AFollower(c, leader);

  CommandResult r = c.Cli(leader, {"cluster", "remove", std::to_string(gone), "--timeout", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("node " + std::to_string(gone) + " removed"), std::string::npos) << r.out;
  ASSERT_TRUE(c.WaitForMembers({.voters = 2}));
  ExpectReportsRemoved(c, gone);

  // The two that are left still take writes.
  grpc::Status s = c.CreateVm(leader, "after-remove", seconds(20));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(Cluster, LeaderLeavesAfterHandingOverLeadership) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);

  CommandResult r = c.Cli(leader, {"cluster", "leave", "--timeout", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(c.WaitForMembers({.voters = 2}));
  const uint64_t next = c.WaitForLeader();
  EXPECT_NE(next, 0u);
  EXPECT_NE(next, leader);
  // Leadership was handed over before the removal, not lost to a timeout.
  EXPECT_NE(c.Log(leader).find("transferring leadership"), std::string::npos);
  ExpectReportsRemoved(c, leader);

  grpc::Status s = c.CreateVm(next, "after-leave", seconds(20));
  EXPECT_TRUE(s.ok()) << s.error_message();
}

}  // namespace
}  // namespace blixard::testing
