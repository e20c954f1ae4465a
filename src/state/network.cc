#include "state/network.h"

#include <set>
#include <utility>

#include "blixard/v1/state.pb.h"

namespace blixard::state {
namespace {

Status Invalid(std::string_view vm, std::string what) {
  return Status::InvalidArgument(std::string(vm) + " " + what);
}

}  // namespace

Result<uint32_t> ParseIpv4(std::string_view text) {
  uint32_t ip = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t start = i;
    uint32_t part = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 3) {
      part = part * 10 + static_cast<uint32_t>(text[i] - '0');
      ++i;
    }
    const size_t len = i - start;
    if (len == 0 || part > 255 || (len > 1 && text[start] == '0')) break;
    ip = ip << 8 | part;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') break;
      ++i;
    }
  }
  if (parts != 4 || i != text.size()) {
    return Status::InvalidArgument("\"" + std::string(text.substr(0, 64)) +
                                   "\" is not an IPv4 address: use a.b.c.d");
  }
  return ip;
}

std::string FormatIpv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

std::string Subnet::ToString() const { return FormatIpv4(network) + "/" + std::to_string(prefix); }

Result<Subnet> ParseSubnet(std::string_view cidr) {
  const std::string shown = "subnet \"" + std::string(cidr.substr(0, 64)) + "\"";
  const size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) {
    return Status::InvalidArgument(shown + " has no prefix length: use a.b.c.d/N, e.g. " +
                                   kDefaultVmSubnet);
  }
  auto ip = ParseIpv4(cidr.substr(0, slash));
  if (!ip.ok()) return Status::InvalidArgument(shown + ": " + ip.status().message());
  std::string_view len = cidr.substr(slash + 1);
  int prefix = 0;
  bool ok = !len.empty() && len.size() <= 2;
  for (char c : len) {
    ok = ok && c >= '0' && c <= '9';
    prefix = prefix * 10 + (c - '0');
  }
  if (!ok || prefix < kMinSubnetPrefix || prefix > kMaxSubnetPrefix) {
    return Status::InvalidArgument(shown + " prefix length must be " +
                                   std::to_string(kMinSubnetPrefix) + "-" +
                                   std::to_string(kMaxSubnetPrefix));
  }
  Subnet s{*ip, prefix};
  if ((*ip & ~s.Mask()) != 0) {
    return Status::InvalidArgument(shown + " has host bits set: use " +
                                   FormatIpv4(*ip & s.Mask()) + "/" + std::to_string(prefix));
  }
  return s;
}

bool UsesUserNetwork(const v1::VmSpec& spec) {
  return spec.network() == v1::NETWORK_MODE_USER || spec.network() == v1::NETWORK_MODE_UNSPECIFIED;
}

bool UsesBridgeNetwork(const v1::VmSpec& spec) { return spec.network() == v1::NETWORK_MODE_BRIDGE; }

int PublishProtocol(const v1::PortPublish& p) {
  return p.protocol() == v1::PORT_PROTOCOL_UDP ? v1::PORT_PROTOCOL_UDP : v1::PORT_PROTOCOL_TCP;
}

std::string PublishKeyText(const v1::PortPublish& p) {
  return std::string(PublishProtocol(p) == v1::PORT_PROTOCOL_UDP ? "udp/" : "tcp/") +
         std::to_string(p.host_port());
}

Status ValidateVmNetwork(const v1::VmSpec& spec, std::string_view vm) {
  if (!v1::NetworkMode_IsValid(spec.network())) {
    return Invalid(vm, "network mode " + std::to_string(spec.network()) +
                           " is invalid: use none, user or bridge");
  }
  if (!spec.publish().empty() && !UsesUserNetwork(spec)) {
    return Invalid(vm, "publishes ports but its network is not user: --publish needs --network user "
                       "(a bridge VM is reached at its own address)");
  }
  if (static_cast<size_t>(spec.publish_size()) > kMaxPublishedPorts) {
    return Invalid(vm, "publishes " + std::to_string(spec.publish_size()) +
                           " ports: use at most " + std::to_string(kMaxPublishedPorts));
  }
  std::set<std::pair<int, uint32_t>> seen;
  for (const v1::PortPublish& p : spec.publish()) {
    if (p.host_port() < 1 || p.host_port() > 65535 || p.guest_port() < 1 || p.guest_port() > 65535) {
      return Invalid(vm, "publish " + std::to_string(p.host_port()) + ":" +
                             std::to_string(p.guest_port()) + " is invalid: ports are 1-65535");
    }
    if (!v1::PortProtocol_IsValid(p.protocol())) {
      return Invalid(vm, "publish protocol " + std::to_string(p.protocol()) +
                             " is invalid: use tcp or udp");
    }
    if (!p.host_ip().empty()) {
      if (auto ip = ParseIpv4(p.host_ip()); !ip.ok()) {
        return Invalid(vm, "publish host address: " + ip.status().message());
      }
    }
    if (!seen.insert({PublishProtocol(p), p.host_port()}).second) {
      return Invalid(vm, "publishes host port " + PublishKeyText(p) +
                             " twice: give each host port once");
    }
  }
  if (spec.ready_port() > 65535) {
    return Invalid(vm, "ready port " + std::to_string(spec.ready_port()) +
                           " is invalid: use 1-65535 (0 = console readiness)");
  }
  if (spec.ready_port() != 0) {
    if (spec.network() == v1::NETWORK_MODE_NONE) {
      return Invalid(vm, "has a ready port but no network: use --network user or bridge");
    }
    if (UsesUserNetwork(spec)) {
      bool published = false;
      for (const v1::PortPublish& p : spec.publish()) {
        published = published || (PublishProtocol(p) == v1::PORT_PROTOCOL_TCP &&
                                  p.guest_port() == spec.ready_port());
      }
      if (!published) {
        const std::string port = std::to_string(spec.ready_port());
        return Invalid(vm, "ready port " + port +
                               " is not published: user networking reaches a guest port only "
                               "through --publish HOST:" + port);
      }
    }
  }
  return Status::Ok();
}

}  // namespace blixard::state
