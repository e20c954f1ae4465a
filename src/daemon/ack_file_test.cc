#include "daemon/ack_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace blixard::daemon {
namespace {

class AckFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ack-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(AckFileTest, SavedRecordsLoadBackAndAMissingFileIsNoAck) {
  AckFile f(dir_ + "/liveness");
  EXPECT_LT(f.Load().sent_ms, 0);
  ASSERT_TRUE(f.Save({12345, true}).ok());
  EXPECT_EQ(f.Load().sent_ms, 12345);
  EXPECT_TRUE(f.Load().sole_voter);
  ASSERT_TRUE(f.Save({23456, false}).ok());
  EXPECT_EQ(f.Load().sent_ms, 23456);
  EXPECT_FALSE(f.Load().sole_voter);
}

TEST_F(AckFileTest, AnOlderDaemonsFileWithoutTheVoterFieldCountsAsNotSole) {
  { std::ofstream(dir_ + "/liveness") << "777\n"; }
  AckRecord r = AckFile(dir_ + "/liveness").Load();
  EXPECT_EQ(r.sent_ms, 777);
  EXPECT_FALSE(r.sole_voter);
}

TEST_F(AckFileTest, TheLockExcludesASecondHolderUntilReleased) {
  AckFile f(dir_ + "/liveness");
  {
    AckFile::Lock held = f.Locked(true);
    ASSERT_TRUE(held.held());
    AckFile::Lock second = f.Locked(false);  // a second open file description: excluded
    EXPECT_FALSE(second.held());
  }
  AckFile::Lock again = f.Locked(false);
  EXPECT_TRUE(again.held());
}

}  // namespace
}  // namespace blixard::daemon
