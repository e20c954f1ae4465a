#include "cli/parse.h"

#include <cctype>
#include <limits>

namespace blixard::cli {

Result<std::pair<std::string, std::string>> ParseLabel(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Status::InvalidArgument("label \"" + std::string(text) + "\" must look like key=value");
  }
  if (eq == 0) {
    return Status::InvalidArgument("label \"" + std::string(text) + "\" has an empty key");
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

Result<v1::RestartPolicy> ParseRestartPolicy(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "never") return v1::RESTART_POLICY_NEVER;
  if (lower == "on-failure" || lower == "on_failure") return v1::RESTART_POLICY_ON_FAILURE;
  if (lower == "always") return v1::RESTART_POLICY_ALWAYS;
  return Status::InvalidArgument("restart policy \"" + std::string(text) +
                                 "\" is not one of never, on-failure, always");
}

Result<int64_t> ParseDurationSeconds(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("duration \"" + std::string(text) +
                                   "\" must look like 90, 90s, 5m, 2h, 1d or 1h30m");
  };
  if (text.empty()) return bad();
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return bad();
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (n > std::numeric_limits<int64_t>::max() / 10 / 86400) return bad();
      n = n * 10 + (text[i] - '0');
      ++i;
    }
    int64_t unit = 1;
    if (i < text.size()) {
      switch (text[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return bad();
      }
      ++i;
    } else if (total != 0) {
      return bad();  // "1h30" is ambiguous
    }
    total += n * unit;
  }
  return total;
}

}  // namespace blixard::cli
