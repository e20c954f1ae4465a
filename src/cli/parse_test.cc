#include "cli/parse.h"

#include <gtest/gtest.h>

namespace blixard::cli {
namespace {

TEST(ParseLabel, SplitsAtTheFirstEquals) {
  auto kv = ParseLabel("env=prod=eu");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "env");
  EXPECT_EQ(kv->second, "prod=eu");
}

TEST(ParseLabel, AllowsAnEmptyValue) {
  auto kv = ParseLabel("tier=");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "tier");
  EXPECT_EQ(kv->second, "");
}

TEST(ParseLabel, RejectsMissingEqualsAndEmptyKey) {
  auto no_eq = ParseLabel("prod");
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_eq.status().message().find("key=value"), std::string::npos);
  auto empty_key = ParseLabel("=prod");
  ASSERT_FALSE(empty_key.ok());
  EXPECT_NE(empty_key.status().message().find("empty key"), std::string::npos);
}

TEST(ParseRestartPolicy, AcceptsTheThreePoliciesInAnyCase) {
  EXPECT_EQ(*ParseRestartPolicy("never"), v1::RESTART_POLICY_NEVER);
  EXPECT_EQ(*ParseRestartPolicy("on-failure"), v1::RESTART_POLICY_ON_FAILURE);
  EXPECT_EQ(*ParseRestartPolicy("on_failure"), v1::RESTART_POLICY_ON_FAILURE);
  EXPECT_EQ(*ParseRestartPolicy("Always"), v1::RESTART_POLICY_ALWAYS);
}

TEST(ParseRestartPolicy, RejectsOthersNamingTheChoices) {
  auto r = ParseRestartPolicy("sometimes");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("never, on-failure, always"), std::string::npos);
  EXPECT_FALSE(ParseRestartPolicy("").ok());
}

TEST(ParseDurationSeconds, AcceptsUnitsAndSums) {
  EXPECT_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_EQ(*ParseDurationSeconds("5m"), 300);
  EXPECT_EQ(*ParseDurationSeconds("2h"), 7200);
  EXPECT_EQ(*ParseDurationSeconds("1d"), 86400);
  EXPECT_EQ(*ParseDurationSeconds("1h30m"), 5400);
  EXPECT_EQ(*ParseDurationSeconds("0"), 0);
}

TEST(ParseDurationSeconds, RejectsGarbage) {
  for (const char* bad : {"", "m", "-5m", "5x", "1h30", "5 m", "99999999999999999999d"}) {
    EXPECT_FALSE(ParseDurationSeconds(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace blixard::cli
