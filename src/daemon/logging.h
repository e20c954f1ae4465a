// Process-wide logging setup (spdlog to stderr).
#pragma once

#include <string>

#include "common/status.h"

namespace blixard::daemon {

// level: trace|debug|info|warn|error; format: text|json (one JSON object per
// line: time, level, msg).
Status SetupLogging(const std::string& level, const std::string& format);

}  // namespace blixard::daemon
