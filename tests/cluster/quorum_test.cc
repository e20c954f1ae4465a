// Without a quorum a cluster refuses writes within the caller's deadline
// instead of hanging, and recovers once a quorum is back.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(Cluster, MinorityRefusesWritesWithinTheDeadline) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t survivor = leader == 1 ? 2 : 1;
  const uint64_t other = 6 - leader - survivor;

  // Alive but silent: connections stay open, nothing answers.
  c.Pause(leader);
  c.Pause(other);
  constexpr auto kDeadline = seconds(3);
  const auto start = Clock::now();
  grpc::Status s = c.CreateVm(survivor, "no-quorum", kDeadline);
  const double took = SecondsSince(start);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_LT(took, 3.0 + 1.0);

  // Once the others are back, writes go through again.
  c.Resume(leader);
  c.Resume(other);
  grpc::Status last;
  EXPECT_TRUE(WaitUntil(
      [&] {
        last = c.CreateVm(survivor, "quorum-back", seconds(5));
        return last.ok() || last.error_code() == grpc::StatusCode::ALREADY_EXISTS;
      },
      seconds(30)))
      << last.error_message();
}

TEST(Cluster, ClientDeadlineIsHonouredWithoutQuorum) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  for (uint64_t id : c.Ids()) {
    if (id != leader) c.Kill9(id);
  }

  const auto start = Clock::now();
  CommandResult r = c.Cli(leader, {"vm", "create", "late", "--stopped", "--timeout", "1"});
  const double took = SecondsSince(start);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("UNAVAILABLE"), std::string::npos) << r.err;
  // The node waited for a quorum until its own deadline: the client's less
  // the reserve for the answer (api/convert.h, 150 ms for a 1 s call).
  EXPECT_GE(took, 0.8) << r.err;
  EXPECT_LT(took, 2.5) << r.err;
}

}  // namespace
}  // namespace blixard::testing
