// The README's tour, through the real CLI.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

TEST(Cli, TourCreateListRestartStillThere) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  CommandResult c = d.Cli({"vm", "create", "web-1"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  CommandResult c2 = d.Cli({"vm", "create", "--name", "db-1", "--vcpus", "2", "--memory", "512",
                            "--label", "tier=db"});
  ASSERT_EQ(c2.exit_code, 0) << c2.err;
  CommandResult l = d.Cli({"vm", "list"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  EXPECT_NE(l.out.find("NAME"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("web-1"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("db-1"), std::string::npos) << l.out;

  ASSERT_EQ(d.Stop(), 0);
  ASSERT_TRUE(d.Start());
  CommandResult j = d.Cli({"vm", "list", "-o", "json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  std::string text = doc.dump();
  EXPECT_NE(text.find("web-1"), std::string::npos) << text;
  EXPECT_NE(text.find("db-1"), std::string::npos) << text;
}

TEST(Cli, ServerErrorsExitOneWithTheMessage) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  ASSERT_EQ(d.Cli({"vm", "create", "dup"}).exit_code, 0);
  CommandResult r = d.Cli({"vm", "create", "dup"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ALREADY_EXISTS"), std::string::npos) << r.err;
  CommandResult bad = d.Cli({"vm", "create", "Bad_Name"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("INVALID_ARGUMENT"), std::string::npos) << bad.err;
  CommandResult missing = d.Cli({"vm", "get", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("NOT_FOUND"), std::string::npos) << missing.err;
}

TEST(Cli, VmLabelSetsOneLabelAndKeepsTheOthers) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  ASSERT_EQ(d.Cli({"vm", "create", "web-1", "--stopped", "--label", "tier=web"}).exit_code, 0);
  CommandResult l = d.Cli({"vm", "label", "web-1", "owner=ops"});
  ASSERT_EQ(l.exit_code, 0) << l.err;
  CommandResult j = d.Cli({"vm", "get", "web-1", "-o", "json"});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto labels = nlohmann::json::parse(j.out)["spec"]["labels"];
  EXPECT_EQ(labels["owner"], "ops") << j.out;
  EXPECT_EQ(labels["tier"], "web") << j.out;
  EXPECT_EQ(d.Cli({"vm", "label", "nope", "a=b"}).exit_code, 1);
  EXPECT_EQ(d.Cli({"vm", "label", "web-1", "no-equals-sign"}).exit_code, 2);
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(RunCommand({BlixardBin(), "vm", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunCommand({BlixardBin(), "vm", "create", "x", "--vcpus", "many"}).exit_code, 2);
  EXPECT_EQ(RunCommand({BlixardBin(), "--no-such-flag"}).exit_code, 2);
}

TEST(Cli, NoDaemonExitsOneAndNamesTheAddress) {
  TempDir dir;
  std::string addr = "unix:" + dir.path() + "/nobody.sock";
  CommandResult r = RunCommand({BlixardBin(), "vm", "list", "--addr", addr, "--timeout", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(addr), std::string::npos) << r.err;
}

TEST(Cli, AddrFromEnvironment) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  CommandResult r = RunCommand({BlixardBin(), "vm", "list"}, {"BLIXARD_ADDR=" + d.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Cli, ClusterStatusShowsLeaderAndIndexes) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  CommandResult r = d.Cli({"cluster", "status", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::string text = j.dump();
  EXPECT_NE(text.find("leader"), std::string::npos) << text;
  EXPECT_NE(text.find("commit"), std::string::npos) << text;
}

}  // namespace
}  // namespace blixard::testing
