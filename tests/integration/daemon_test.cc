// The daemon as a process: start, serve, stop, refuse what it must refuse.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

TEST(Daemon, SigtermShutsDownCleanlyWithExitZero) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(d.Stop(SIGTERM), 0) << d.log();
  EXPECT_NE(d.log().find("stopped cleanly"), std::string::npos) << d.log();
}

TEST(Daemon, SigintShutsDownCleanlyWithExitZero) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(d.Stop(SIGINT), 0) << d.log();
}

TEST(Daemon, SecondDaemonOnSameDataDirIsRefused) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  std::vector<std::string> args = d.NodeArgs();
  // Same data dir, different socket.
  for (auto& a : args) {
    if (a == d.addr()) a = "unix:" + d.data_dir() + "-other.sock";
  }
  CommandResult r = RunCommand(args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is in use by another blixard process (pid " +
                       std::to_string(d.child()->pid())),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(d.child()->Running());
}

TEST(Daemon, BusyTcpPortIsRefused) {
  TestDaemon d({.tcp = true, .extra_args = {}, .backend = "fake"});
  ASSERT_TRUE(d.Start());
  TempDir other;
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "1", "--bind", d.addr(),
                                "--data-dir", other.path() + "/data"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot listen on " + d.addr()), std::string::npos) << r.err;
}

TEST(Daemon, BusyUnixSocketIsRefused) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  TempDir other;
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "1", "--bind", d.addr(),
                                "--data-dir", other.path() + "/data"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is in use by another server"), std::string::npos) << r.err;
  // The first daemon still answers on its socket.
  EXPECT_EQ(d.Cli({"vm", "list"}).exit_code, 0);
}

TEST(Daemon, DataDirRemembersItsNodeId) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  ASSERT_EQ(d.Stop(), 0);
  std::vector<std::string> args = d.NodeArgs();
  args[3] = "7";  // --id 7 on node 1's data dir
  CommandResult r = RunCommand(args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("data dir belongs to node 1"), std::string::npos) << r.err;
}

TEST(Daemon, JsonLogsAreOneObjectPerLine) {
  TestDaemon d({.extra_args = {"--log-format", "json"}});
  ASSERT_TRUE(d.Start());
  ASSERT_EQ(d.Stop(), 0);
  std::istringstream lines(d.log());
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(Daemon, BadFlagsExitWithUsageCode) {
  TempDir dir;
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "1", "--bind",
                                "unix:" + dir.path() + "/s", "--data-dir", dir.path() + "/d",
                                "--log-format", "xml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("xml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("json"), std::string::npos) << r.err;
}

TEST(Daemon, AnUnknownBackendIsRefusedNamingTheAllowedOnes) {
  TempDir dir;
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "1", "--bind",
                                "unix:" + dir.path() + "/s", "--data-dir", dir.path() + "/d",
                                "--backend", "vmware"});
  EXPECT_EQ(r.exit_code, 2);
  for (const char* word : {"vmware", "qemu", "microvm-nix", "fake"}) {
    EXPECT_NE(r.err.find(word), std::string::npos) << word << " in: " << r.err;
  }
}

TEST(Daemon, GarbageBytesOnTheApiPortDoNotCrashIt) {
  TestDaemon d({.tcp = true, .extra_args = {}, .backend = "fake"});
  ASSERT_TRUE(d.Start());
  int port = std::stoi(d.addr().substr(d.addr().find(':') + 1));
  for (int i = 0; i < 20; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    std::string junk(4096, static_cast<char>(i * 37));
    (void)!write(fd, junk.data(), junk.size());
    close(fd);
  }
  EXPECT_TRUE(d.child()->Running());
  EXPECT_EQ(d.Cli({"vm", "list"}).exit_code, 0);
}

}  // namespace
}  // namespace blixard::testing
