#include "agent/console_watch.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace blixard::agent {
namespace {

// Counts wake-ups; waits for the next one with a deadline.
class Wakes {
 public:
  void Wake() {
    {
      std::lock_guard lk(mu_);
      ++count_;
    }
    cv_.notify_all();
  }
  bool WaitBeyond(int seen) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return count_ > seen; });
  }
  int count() {
    std::lock_guard lk(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

class ConsoleWatchTest : public ::testing::Test {
 protected:
  ConsoleWatchTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "console-watch-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~ConsoleWatchTest() override { std::filesystem::remove_all(dir_); }
  std::string File(const std::string& name, const std::string& text = "") {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::app) << text;
    return path;
  }
  std::string dir_;
  Wakes wakes_;
};

TEST_F(ConsoleWatchTest, WakesWhenAWatchedFileGrows) {
  ConsoleWatch watch([this] { wakes_.Wake(); });
  const std::string console = File("console.log");
  ASSERT_TRUE(watch.Watch("vm-1", console));
  EXPECT_TRUE(watch.Watching("vm-1"));
  const int before = wakes_.count();
  File("console.log", "BLIXARD-GUEST-READY\n");
  EXPECT_TRUE(wakes_.WaitBeyond(before));
}

TEST_F(ConsoleWatchTest, AMissingFileIsNotWatched) {
  ConsoleWatch watch([this] { wakes_.Wake(); });
  EXPECT_FALSE(watch.Watch("vm-1", dir_ + "/nothing-here"));
  EXPECT_FALSE(watch.Watch("vm-2", ""));
  EXPECT_FALSE(watch.Watching("vm-1"));
}

TEST_F(ConsoleWatchTest, UnwatchingOneKeyLeavesTheOthersWatched) {
  ConsoleWatch watch([this] { wakes_.Wake(); });
  const std::string a = File("a.log"), b = File("b.log");
  ASSERT_TRUE(watch.Watch("a", a));
  ASSERT_TRUE(watch.Watch("b", b));
  watch.Unwatch("a");
  EXPECT_FALSE(watch.Watching("a"));
  EXPECT_TRUE(watch.Watching("b"));
  const int before = wakes_.count();
  File("b.log", "y\n");
  EXPECT_TRUE(wakes_.WaitBeyond(before));
}

TEST_F(ConsoleWatchTest, TwoKeysOnOneFileKeepTheWatchUntilBothLeave) {
  ConsoleWatch watch([this] { wakes_.Wake(); });
  const std::string f = File("shared.log");
  ASSERT_TRUE(watch.Watch("a", f));
  ASSERT_TRUE(watch.Watch("b", f));
  watch.Unwatch("a");
  const int before = wakes_.count();
  File("shared.log", "z\n");
  EXPECT_TRUE(wakes_.WaitBeyond(before));
}

}  // namespace
}  // namespace blixard::agent
