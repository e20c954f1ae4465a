// Joining can fail; it fails quickly and says why.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The output of a node process, both streams.
std::string Output(const CommandResult& r) { return r.out + r.err; }

std::string LastLine(const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

TEST(ClusterJoin, UnreachableAddressFailsQuicklyNamingIt) {
  TestCluster c;
  const std::string nobody = c.FreshAddr();  // nothing listens there
  const auto start = Clock::now();
  // A well-formed token: the node must fail to reach anyone, not to parse it.
  const std::string token = "blx2." + std::string(64, 'a') + "." + std::string(16, 'b') + "." + std::string(32, 'c');
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "2", "--bind", c.FreshAddr(),
                                "--data-dir", c.FreshDataDir(), "--join", nobody,
                                "--join-timeout", "2", "--token", token});
  const double took = SecondsSince(start);
  EXPECT_EQ(r.exit_code, 1) << Output(r);
  EXPECT_LT(took, 2.0 + 3.0) << Output(r);
  // The final error line names the address it could not reach.
  EXPECT_NE(LastLine(Output(r)).find(nobody), std::string::npos) << Output(r);
}

TEST(ClusterJoin, SameIdTwiceWithAnotherAddressIsRefused) {
  TestCluster c;
  ASSERT_TRUE(c.Start(2));
  const auto start = Clock::now();
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "2", "--bind", c.FreshAddr(),
                                "--data-dir", c.FreshDataDir(), "--join", c.Addr(1),
                                "--join-timeout", "10", "--token", c.JoinToken()});
  EXPECT_EQ(r.exit_code, 1) << Output(r);
  EXPECT_LT(SecondsSince(start), 5.0) << Output(r);
  EXPECT_NE(Output(r).find("ALREADY_EXISTS"), std::string::npos) << Output(r);
  EXPECT_NE(Output(r).find("node id 2 is already a member at " + c.Addr(2)), std::string::npos)
      << Output(r);
  // The member keeps its address.
  auto st = c.Status(1, /*stale=*/false);
  ASSERT_TRUE(st);
  bool found = false;
  for (const auto& m : st->members()) {
    if (m.id() == 2) {
      found = true;
      EXPECT_EQ(m.address(), c.Addr(2));
    }
  }
  EXPECT_TRUE(found);
}

TEST(ClusterJoin, ClusterWithoutQuorumFailsWithinTheJoinTimeout) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t survivor = 3;
  const std::string token = c.JoinToken();
  c.Kill9(1);
  c.Kill9(2);

  constexpr int kJoinTimeout = 3;
  const auto start = Clock::now();
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "4", "--bind", c.FreshAddr(),
                                "--data-dir", c.FreshDataDir(), "--join", c.Addr(survivor),
                                "--join-timeout", std::to_string(kJoinTimeout), "--token", token});
  const double took = SecondsSince(start);
  EXPECT_EQ(r.exit_code, 1) << Output(r);
  EXPECT_LT(took, kJoinTimeout + 3.0) << Output(r);
  // The final error line says why: the member answered, the cluster has no
  // quorum (not that the member it asked is unreachable).
  EXPECT_NE(LastLine(Output(r)).find("quorum"), std::string::npos) << Output(r);
}

}  // namespace
}  // namespace blixard::testing
