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

Result<v1::NetworkMode> ParseNetworkMode(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "none") return v1::NETWORK_MODE_NONE;
  if (lower == "user") return v1::NETWORK_MODE_USER;
  if (lower == "bridge") return v1::NETWORK_MODE_BRIDGE;
  return Status::InvalidArgument("network \"" + std::string(text) + "\" is not one of none, user, bridge");
}

Result<v1::PortPublish> ParsePublish(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("publish \"" + std::string(text) + "\" " + why +
                                   ": use [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80");
  };
  v1::PortPublish p;
  std::string_view rest = text;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string proto;
    for (char c : rest.substr(slash + 1)) proto += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (proto == "tcp") {
      p.set_protocol(v1::PORT_PROTOCOL_TCP);
    } else if (proto == "udp") {
      p.set_protocol(v1::PORT_PROTOCOL_UDP);
    } else {
      return bad("has protocol \"" + proto + "\", not tcp or udp");
    }
    rest = rest.substr(0, slash);
  }
  auto port = [](std::string_view s) -> int64_t {
    if (s.empty() || s.size() > 5) return -1;
    int64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n >= 1 && n <= 65535 ? n : -1;
  };
  auto last = rest.rfind(':');
  if (last == std::string_view::npos) return bad("has no GUEST_PORT");
  auto first = rest.rfind(':', last == 0 ? std::string_view::npos : last - 1);
  std::string_view host_port = first == std::string_view::npos ? rest.substr(0, last)
                                                               : rest.substr(first + 1, last - first - 1);
  const int64_t host = port(host_port), guest = port(rest.substr(last + 1));
  if (host < 0 || guest < 0) return bad("has a port that is not 1-65535");
  if (first != std::string_view::npos) {
    std::string_view ip = rest.substr(0, first);
    if (ip.empty()) return bad("has an empty HOST_IP");
    p.set_host_ip(std::string(ip));  // checked by the server (IPv4)
  }
  p.set_host_port(static_cast<uint32_t>(host));
  p.set_guest_port(static_cast<uint32_t>(guest));
  return p;
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
