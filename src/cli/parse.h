// Parsing of command-line values that need more than CLI11's type checks.
// Pure functions: no I/O, no gRPC; errors are INVALID_ARGUMENT statuses whose
// message is shown to the user as is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "blixard/v1/state.pb.h"
#include "common/status.h"

namespace blixard::cli {

// "key=value" → {key, value}. The key must be non-empty; the value may be
// empty ("tier=") and may itself contain '='.
Result<std::pair<std::string, std::string>> ParseLabel(std::string_view text);

// "never" | "on-failure" | "always" (also "on_failure"), case-insensitive.
Result<v1::RestartPolicy> ParseRestartPolicy(std::string_view text);

// "none" | "user" | "bridge", case-insensitive.
Result<v1::NetworkMode> ParseNetworkMode(std::string_view text);

// --publish: "[HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]", ports 1-65535;
// no HOST_IP = 127.0.0.1 (left empty in the message), no protocol = tcp.
Result<v1::PortPublish> ParsePublish(std::string_view text);

// A duration in whole seconds: "90" or "90s", "5m", "2h", "1d"; also sums
// such as "1h30m". Must be >= 0.
Result<int64_t> ParseDurationSeconds(std::string_view text);

}  // namespace blixard::cli
