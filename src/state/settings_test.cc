#include "state/settings.h"

#include <gtest/gtest.h>

#include <set>

namespace blixard::state {
namespace {

TEST(ClusterSettings, EachSettingsDefaultIsOneOfItsValuesAndKeysAreUnique) {
  std::set<std::string_view> keys;
  for (const auto& s : ClusterSettings()) {
    EXPECT_TRUE(keys.insert(s.key).second) << s.key;
    EXPECT_TRUE(ValidateClusterSetting(s.key, s.default_value).ok()) << s.key;
    EXPECT_TRUE(ValidateClusterSetting(s.key, "").ok()) << s.key << ": empty restores the default";
    EXPECT_FALSE(s.help.empty()) << s.key;
    EXPECT_EQ(FindClusterSetting(s.key), &s);
  }
  EXPECT_EQ(FindClusterSetting("scheduler.nope"), nullptr);
  EXPECT_EQ(FindClusterSetting(kSettingSchedulerStrategy)->default_value, "spread");
  EXPECT_EQ(FindClusterSetting(kSettingSchedulerPaused)->default_value, "false");
}

TEST(ClusterSettings, BadKeysAndValuesSayWhatToUse) {
  EXPECT_TRUE(ValidateClusterSetting(kSettingSchedulerStrategy, "binpack").ok());
  EXPECT_TRUE(ValidateClusterSetting(kSettingSchedulerPaused, "true").ok());
  Status s = ValidateClusterSetting(kSettingSchedulerStrategy, "random");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "scheduler.strategy \"random\" is invalid: use binpack or spread (or empty for the default, spread)");
  // A prefix or a joined pair of values is not a value.
  EXPECT_FALSE(ValidateClusterSetting(kSettingSchedulerStrategy, "bin").ok());
  EXPECT_FALSE(ValidateClusterSetting(kSettingSchedulerPaused, "true|false").ok());
  s = ValidateClusterSetting("scheduler.nope", "1");
  EXPECT_EQ(s.message(),
            "cluster setting \"scheduler.nope\" is unknown: the settings are scheduler.strategy and "
            "scheduler.paused");
  EXPECT_EQ(ClusterSettingsSummary(), "scheduler.strategy binpack|spread, scheduler.paused true|false");
}

}  // namespace
}  // namespace blixard::state
