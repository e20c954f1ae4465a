// VM networking rules of the replicated state: validation of a spec's
// network fields, the cluster subnet bridge VMs get their addresses from,
// and IPv4 text <-> number. Pure functions, deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace blixard::v1 {
class VmSpec;
class PortPublish;
}  // namespace blixard::v1

namespace blixard::state {

inline constexpr char kDefaultVmSubnet[] = "10.77.0.0/16";
inline constexpr size_t kMaxPublishedPorts = 64;
inline constexpr int kMinSubnetPrefix = 8;
inline constexpr int kMaxSubnetPrefix = 30;

// An IPv4 subnet. The first host address is the gateway (the node bridge's
// address); VMs get the addresses after it, up to the last before broadcast.
struct Subnet {
  uint32_t network = 0;  // host byte order, host bits zero
  int prefix = 0;

  uint32_t gateway() const { return network + 1; }
  uint32_t first_vm() const { return network + 2; }
  uint32_t last_vm() const { return network + static_cast<uint32_t>(size()) - 2; }
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  bool Contains(uint32_t ip) const { return (ip & Mask()) == network; }
  uint32_t Mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  std::string ToString() const;
};

// "a.b.c.d" with each part 0-255, no leading zeros beyond "0".
Result<uint32_t> ParseIpv4(std::string_view text);
std::string FormatIpv4(uint32_t ip);
// "a.b.c.d/N" with N in kMinSubnetPrefix..kMaxSubnetPrefix and no host bits
// set. kInvalidArgument saying what to change.
Result<Subnet> ParseSubnet(std::string_view cidr);

// The network fields of a spec: mode enum; publish only with USER networking,
// ports 1-65535, protocol, host_ip an IPv4 address, no (protocol, host port)
// twice, at most kMaxPublishedPorts; ready_port 0-65535, not with NONE, and
// for USER published as a TCP guest port. `vm` names the VM in messages.
Status ValidateVmNetwork(const v1::VmSpec& spec, std::string_view vm);

// True for USER and UNSPECIFIED (the default).
bool UsesUserNetwork(const v1::VmSpec& spec);
bool UsesBridgeNetwork(const v1::VmSpec& spec);

// "tcp/8080" for messages; the protocol normalized (UNSPECIFIED = TCP).
int PublishProtocol(const v1::PortPublish& p);
std::string PublishKeyText(const v1::PortPublish& p);

}  // namespace blixard::state
