// A member that was down while the others compacted their logs past its last
// entry can only be caught up by a snapshot sent over the wire.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

TEST(Cluster, MemberDownPastCompactionCatchesUpBySnapshot) {
  TestCluster c({.node_args = {"--snapshot-threshold", "20"}});
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t lagging = leader == 1 ? 2 : 1;

  auto at_stop = c.Status(lagging, /*stale=*/true);
  ASSERT_TRUE(at_stop);
  EXPECT_EQ(c.Stop(lagging), 0) << c.Log(lagging);
  // The last index it has when it stops (it may have learned more entries
  // between the status read and the stop; the status after restart tells).

  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) {
    std::string name = "snap-" + std::to_string(i);
    grpc::Status s = c.CreateVm(leader, name, seconds(20));
    ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    names.insert(name);
  }
  // Every running member compacted past what the stopped one has: the log
  // alone can no longer catch it up.
  for (uint64_t id : c.RunningIds()) {
    auto st = c.Status(id, /*stale=*/false);
    ASSERT_TRUE(st);
    EXPECT_GT(st->snapshot_index(), at_stop->last_index() + 20) << "node " << id;
  }

  ASSERT_TRUE(c.Restart(lagging, /*wait=*/false));
  // Its own restart state: nothing past what it had.
  ASSERT_TRUE(c.WaitReady(lagging));
  EXPECT_TRUE(c.WaitForVms(lagging, names));
  auto leader_st = c.Status(leader, /*stale=*/false);
  ASSERT_TRUE(leader_st);
  std::optional<v1::GetClusterStatusResponse> st;
  EXPECT_TRUE(WaitUntil(
      [&] {
        st = c.Status(lagging, /*stale=*/true);
        return st && st->applied_index() >= leader_st->commit_index();
      },
      seconds(30)));
  ASSERT_TRUE(st);
  // It installed a snapshot beyond anything it had before it stopped.
  EXPECT_GT(st->snapshot_index(), at_stop->last_index()) << c.Log(lagging);
  EXPECT_GE(st->applied_index(), st->snapshot_index());
}

}  // namespace
}  // namespace blixard::testing
