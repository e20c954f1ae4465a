// Parsing and exit codes of the command line, without a server: the daemon
// runner is a fake that records its options; client commands aim at a unix
// socket nobody serves.
#include "cli/cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

namespace blixard::cli {
namespace {

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args) {
    args.insert(args.begin(), "blixard");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return cli::Run(static_cast<int>(argv.size()), argv.data(), [this](const daemon::DaemonOptions& o) {
      daemon_ = o;
      return 7;
    });
  }
  std::optional<daemon::DaemonOptions> daemon_;
};

TEST_F(CliTest, NodeFlagsFillDaemonOptionsAndReturnItsCode) {
  EXPECT_EQ(Run({"node", "--id", "2", "--bind", "127.0.0.1:7002", "--data-dir", "/tmp/d2", "--join",
                 "127.0.0.1:7001", "--join", "unix:/tmp/n3.sock", "--log-level", "debug", "--log-format",
                 "json", "--snapshot-threshold", "500", "--tick-ms", "20", "--election-ticks", "5",
                 "--max-message-bytes", "1048576"}),
            7);
  ASSERT_TRUE(daemon_.has_value());
  EXPECT_EQ(daemon_->id, 2u);
  EXPECT_EQ(daemon_->bind, "127.0.0.1:7002");
  EXPECT_EQ(daemon_->data_dir, "/tmp/d2");
  EXPECT_EQ(daemon_->join, (std::vector<std::string>{"127.0.0.1:7001", "unix:/tmp/n3.sock"}));
  EXPECT_EQ(daemon_->log_level, "debug");
  EXPECT_EQ(daemon_->log_format, "json");
  EXPECT_EQ(daemon_->snapshot_threshold, 500u);
  EXPECT_EQ(daemon_->tick_ms, 20);
  EXPECT_EQ(daemon_->election_ticks, 5);
  EXPECT_EQ(daemon_->max_message_bytes, 1048576u);
}

TEST_F(CliTest, NodeWithoutFlagsUsesDaemonDefaults) {
  EXPECT_EQ(Run({"node"}), 7);
  ASSERT_TRUE(daemon_.has_value());
  EXPECT_EQ(daemon_->bind, daemon::DaemonOptions().bind);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({}), 2);
  EXPECT_EQ(Run({"bogus"}), 2);
  EXPECT_EQ(Run({"vm"}), 2);
  EXPECT_EQ(Run({"vm", "frobnicate"}), 2);
  EXPECT_EQ(Run({"vm", "create"}), 2);                          // no name
  EXPECT_EQ(Run({"vm", "create", "a", "--name", "b"}), 2);      // two names
  EXPECT_EQ(Run({"vm", "create", "a", "--label", "novalue"}), 2);
  EXPECT_EQ(Run({"vm", "create", "a", "--restart", "sometimes"}), 2);
  EXPECT_EQ(Run({"vm", "create", "a", "--vcpus", "two"}), 2);
  EXPECT_EQ(Run({"vm", "get"}), 2);
  EXPECT_EQ(Run({"-o", "yaml", "vm", "list"}), 2);
  EXPECT_EQ(Run({"node", "drain", "1", "--deadline", "soon"}), 2);
  EXPECT_EQ(Run({"node", "--log-format", "xml"}), 2);
  EXPECT_EQ(Run({"cluster", "transfer-leader"}), 2);
  EXPECT_FALSE(daemon_.has_value());
}

TEST_F(CliTest, HelpExitsZero) {
  EXPECT_EQ(Run({"--help"}), 0);
  EXPECT_EQ(Run({"vm", "create", "--help"}), 0);
}

TEST_F(CliTest, NodeSubcommandDoesNotStartTheDaemon) {
  const std::string addr = "unix:/tmp/blixard-cli-test-nobody-" + std::to_string(::getpid()) + ".sock";
  EXPECT_EQ(Run({"--addr", addr, "--timeout", "2", "node", "list"}), 1);
  EXPECT_FALSE(daemon_.has_value());
}

TEST_F(CliTest, NoDaemonListeningExitsOne) {
  const std::string addr = "unix:/tmp/blixard-cli-test-nobody-" + std::to_string(::getpid()) + ".sock";
  ::testing::internal::CaptureStderr();
  int rc = Run({"--addr", addr, "--timeout", "2", "vm", "list"});
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("error: UNAVAILABLE"), std::string::npos) << err;
  EXPECT_NE(err.find(addr), std::string::npos) << err;
  EXPECT_NE(err.find("make run"), std::string::npos) << err;
}

TEST_F(CliTest, GlobalFlagsAlsoAfterTheSubcommand) {
  const std::string addr = "unix:/tmp/blixard-cli-test-nobody-" + std::to_string(::getpid()) + ".sock";
  EXPECT_EQ(Run({"vm", "list", "-o", "json", "--addr", addr, "--timeout", "2"}), 1);
}

// The version comes from the build's checkout (cmake/version.cmake), not
// from a number typed into the code: it names a commit of this history (HEAD
// when built from HEAD; an ancestor when commits came after the build).
TEST_F(CliTest, VersionNamesTheCommitItWasBuiltFrom) {
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(Run({"--version"}), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(out.rfind("blixard 0.1.0+", 0), 0u) << out;
  const std::string src = BLIXARD_SOURCE_DIR;
  if (!std::filesystem::exists(src + "/.git")) GTEST_SKIP() << "not a git checkout";
  if (std::system(("git -C '" + src + "' rev-parse HEAD >/dev/null 2>&1").c_str()) != 0) {
    GTEST_SKIP() << "git is not installed";
  }
  // "0.1.0+<describe>": <hash>, <tag>-<n>-g<hash>, each maybe "-dirty".
  std::string described = out.substr(std::string("blixard 0.1.0+").size());
  described = described.substr(0, described.find_first_of("\n"));
  if (described.size() > 6 && described.ends_with("-dirty")) described.resize(described.size() - 6);
  if (size_t g = described.rfind("-g"); g != std::string::npos) described = described.substr(g + 2);
  ASSERT_GE(described.size(), 7u) << out;
  ASSERT_EQ(described.find_first_not_of("0123456789abcdef"), std::string::npos) << out;
  EXPECT_EQ(std::system(("git -C '" + src + "' merge-base --is-ancestor " + described + " HEAD").c_str()), 0)
      << out << " does not name a commit of this checkout's history";
}

// The README's "CLI in brief" and the parser agree: every flag the README
// shows on a command is one that command takes, and every subcommand of
// vm, cluster and node is shown.
TEST_F(CliTest, TheReadmesCliInBriefMatchesTheParser) {
  std::ifstream in(std::string(BLIXARD_SOURCE_DIR) + "/README.md");
  ASSERT_TRUE(in) << "README.md not found";
  std::stringstream all;
  all << in.rdbuf();
  const std::string readme = all.str();
  const size_t start = readme.find("## CLI in brief\n\n```\n");
  ASSERT_NE(start, std::string::npos);
  const size_t body = readme.find('\n', readme.find("```", start)) + 1;
  const std::string block = readme.substr(body, readme.find("```", body) - body);

  // Lines starting with "blixard" begin a group; indented lines continue it.
  std::vector<std::string> groups;
  std::istringstream lines(block);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("blixard ", 0) == 0) groups.push_back(line.substr(8));
    else if (!groups.empty()) groups.back() += " " + line;
  }
  ASSERT_GE(groups.size(), 5u);  // node, vm create, vm ..., cluster ..., node ...
  auto help = [&](const std::vector<std::string>& path) {
    std::vector<std::string> args = path;
    args.push_back("--help");
    ::testing::internal::CaptureStdout();
    Run(args);
    return ::testing::internal::GetCapturedStdout();
  };
  std::map<std::string, std::set<std::string>> shown;  // "vm" -> {"create", "list", ...}
  const std::regex flag("--[a-z][a-z-]*");
  for (const std::string& g : groups) {
    const std::string top = g.substr(0, g.find(' '));
    // Alternatives: "list [--stale] | get NAME [--stale] | ..."
    std::string rest = g.substr(top.size());
    size_t from = 0;
    while (from <= rest.size()) {
      size_t bar = rest.find(" | ", from);
      const std::string alt = rest.substr(from, bar == std::string::npos ? std::string::npos : bar - from);
      from = bar == std::string::npos ? rest.size() + 1 : bar + 3;
      std::istringstream words(alt);
      std::string sub;
      words >> sub;
      std::vector<std::string> path = {top};
      if (!sub.empty() && sub[0] != '-' && sub[0] != '[') {
        path.push_back(sub);
        shown[top].insert(sub);
        // A nested subcommand ("cluster token create"): a lowercase word
        // that the command lists among its own subcommands.
        std::string next;
        if (std::istringstream(alt.substr(alt.find(sub) + sub.size())) >> next &&
            std::all_of(next.begin(), next.end(), [](char c) { return c >= 'a' && c <= 'z'; }) &&
            help(path).find("\n  " + next + " ") != std::string::npos) {
          path.push_back(next);
        }
      }
      const std::string text = help(path);
      for (std::sregex_iterator it(alt.begin(), alt.end(), flag), end; it != end; ++it) {
        EXPECT_NE(text.find(it->str()), std::string::npos)
            << "README shows `blixard " << path[0] << (path.size() > 1 ? " " + path[1] : "")
            << (path.size() > 2 ? " " + path[2] : "") << " " << it->str()
            << "`, which that command does not take";
      }
    }
  }
  for (const std::string top : {"vm", "cluster", "node", "token", "cert", "context"}) {
    const std::string text = help({top});
    const size_t subs = text.find("Subcommands:\n");
    ASSERT_NE(subs, std::string::npos) << top;
    std::istringstream list(text.substr(subs + 13));
    for (std::string line; std::getline(list, line) && !line.empty();) {
      std::istringstream words(line);
      std::string name;
      words >> name;
      EXPECT_TRUE(shown[top].contains(name)) << "README's CLI in brief leaves out `blixard " << top << " " << name << "`";
    }
  }
}

}  // namespace
}  // namespace blixard::cli
