#include "state/settings.h"

#include <algorithm>
#include <array>

#include "state/validation.h"

namespace blixard::state {
namespace {

constexpr std::array kSettings = {
    ClusterSettingInfo{kSettingSchedulerStrategy, "spread", "binpack|spread",
                       "how the scheduler scores nodes; a VM's own strategy overrides it"},
    ClusterSettingInfo{kSettingSchedulerPaused, "false", "true|false",
                       "while true the leader places nothing (VMs wait PENDING, drains wait)"},
};

// "a|b|c" -> "a, b or c".
std::string Alternatives(std::string_view values) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t bar = values.find('|', start);
    const std::string_view v = values.substr(start, bar == std::string_view::npos ? bar : bar - start);
    if (!out.empty()) out += bar == std::string_view::npos ? " or " : ", ";
    out += v;
    if (bar == std::string_view::npos) return out;
    start = bar + 1;
  }
}

bool IsOneOf(std::string_view value, std::string_view values) {
  size_t start = 0;
  while (true) {
    const size_t bar = values.find('|', start);
    if (values.substr(start, bar == std::string_view::npos ? bar : bar - start) == value) return true;
    if (bar == std::string_view::npos) return false;
    start = bar + 1;
  }
}

}  // namespace

std::span<const ClusterSettingInfo> ClusterSettings() { return kSettings; }

const ClusterSettingInfo* FindClusterSetting(std::string_view key) {
  auto it = std::find_if(kSettings.begin(), kSettings.end(), [&](const auto& s) { return s.key == key; });
  return it == kSettings.end() ? nullptr : &*it;
}

Status ValidateClusterSetting(std::string_view key, std::string_view value) {
  const ClusterSettingInfo* s = FindClusterSetting(key);
  if (s == nullptr) {
    std::string names;
    for (const auto& k : kSettings) {
      if (!names.empty()) names += &k == &kSettings.back() ? " and " : ", ";
      names += k.key;
    }
    return Status::InvalidArgument("cluster setting " + Quote(key) + " is unknown: the settings are " + names);
  }
  if (value.empty() || IsOneOf(value, s->values)) return Status::Ok();
  return Status::InvalidArgument(std::string(key) + " " + Quote(value) + " is invalid: use " +
                                 Alternatives(s->values) + " (or empty for the default, " +
                                 std::string(s->default_value) + ")");
}

std::string ClusterSettingsSummary() {
  std::string out;
  for (const auto& s : kSettings) {
    if (!out.empty()) out += ", ";
    out += std::string(s.key) + " " + std::string(s.values);
  }
  return out;
}

}  // namespace blixard::state
