// The cluster settings (SetClusterSetting / GetClusterSettings, `blixard
// cluster set|settings`): the one table of their names, defaults, allowed
// values and help. Validation, the API's defaults and the CLI all read it,
// so a new setting is added here and nowhere else.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace blixard::state {

// "scheduler.strategy": binpack | spread, how the scheduler scores nodes
// (a VM's own strategy overrides it).
inline constexpr std::string_view kSettingSchedulerStrategy = "scheduler.strategy";
// "scheduler.paused": true | false; while true the leader places nothing,
// so VMs wait PENDING and drains wait (for maintenance, and to measure
// placement apart from creation).
inline constexpr std::string_view kSettingSchedulerPaused = "scheduler.paused";

struct ClusterSettingInfo {
  std::string_view key;
  std::string_view default_value;  // what an unset (or emptied) setting means
  std::string_view values;         // the allowed values, "a|b"
  std::string_view help;           // one line, for the CLI
};

// Every setting, in the order the CLI lists them.
std::span<const ClusterSettingInfo> ClusterSettings();
// The setting named `key`, or nullptr.
const ClusterSettingInfo* FindClusterSetting(std::string_view key);

// OK when `key` names a setting and `value` is one of its values, or empty
// (which restores the default); else kInvalidArgument saying what to use.
Status ValidateClusterSetting(std::string_view key, std::string_view value);

// "scheduler.strategy binpack|spread, scheduler.paused true|false".
std::string ClusterSettingsSummary();

}  // namespace blixard::state
