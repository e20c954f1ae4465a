#include "raft/conf_change.h"

#include <gtest/gtest.h>

namespace blixard::raft {
namespace {

TEST(RaftConfChange, EncodeDecodeRoundTrip) {
  ConfChangeEntry e{ConfChange{ConfChangeType::kPromote, 4, "10.0.0.4:7001"}, ConfState{{1, 2, 4}, {5}}};
  auto d = DecodeConfChangeEntry(EncodeConfChangeEntry(e));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, e);
}

TEST(RaftConfChange, DecodeRejectsCorruptData) {
  ConfChangeEntry e{ConfChange{ConfChangeType::kAddLearner, 4, "ctx"}, ConfState{{1}, {4}}};
  std::string s = EncodeConfChangeEntry(e);
  for (size_t n = 0; n < s.size(); ++n) {
    EXPECT_FALSE(DecodeConfChangeEntry(s.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(DecodeConfChangeEntry(s + "x").ok());
  std::string bad_version = s;
  bad_version[0] = 9;
  EXPECT_EQ(DecodeConfChangeEntry(bad_version).status().code(), StatusCode::kDataLoss);
}

TEST(RaftConfChange, ApplyRules) {
  ConfState c{{1, 2, 3}, {}};
  auto added = ApplyConfChange(c, {ConfChangeType::kAddLearner, 4, ""});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, (ConfState{{1, 2, 3}, {4}}));
  auto promoted = ApplyConfChange(*added, {ConfChangeType::kPromote, 4, ""});
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(*promoted, (ConfState{{1, 2, 3, 4}, {}}));
  auto demoted = ApplyConfChange(*promoted, {ConfChangeType::kDemote, 2, ""});
  ASSERT_TRUE(demoted.ok());
  EXPECT_EQ(*demoted, (ConfState{{1, 3, 4}, {2}}));
  auto removed = ApplyConfChange(*demoted, {ConfChangeType::kRemove, 2, ""});
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, (ConfState{{1, 3, 4}, {}}));
  EXPECT_FALSE(ApplyConfChange(c, {ConfChangeType::kAddLearner, 2, ""}).ok());
  EXPECT_FALSE(ApplyConfChange(c, {ConfChangeType::kPromote, 2, ""}).ok());
  EXPECT_FALSE(ApplyConfChange(c, {ConfChangeType::kDemote, 9, ""}).ok());
  EXPECT_FALSE(ApplyConfChange(c, {ConfChangeType::kRemove, 9, ""}).ok());
  EXPECT_FALSE(ApplyConfChange(ConfState{{1}, {}}, {ConfChangeType::kRemove, 1, ""}).ok());
  EXPECT_EQ(ApplyConfChange(c, {ConfChangeType::kAddLearner, 0, ""}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace blixard::raft
