// Input validation for everything that enters the replicated state: VM specs,
// names, labels and node records. The API layer calls these to reject a bad
// request early; ClusterState::Apply calls them again, because a command in
// the log is the only thing every replica agrees on.
//
// Every rejection is kInvalidArgument with a message that says what was wrong
// and what is allowed, so it can go to the user unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/vm_limits.h"
#include "state/settings.h"  // the cluster settings and their validation

namespace google::protobuf {
template <typename K, typename V>
class Map;
}  // namespace google::protobuf

namespace blixard::v1 {
class Command;
class RevokedCertificate;
class Token;
class VmSpec;
class Node;
}  // namespace blixard::v1

namespace blixard::state {

// A user value quoted for an error message: non-printable bytes escaped,
// cut short after 64 bytes so a 1 MiB name does not become a 1 MiB message.
std::string Quote(std::string_view s);

inline constexpr size_t kMaxVmNameLength = 63;
inline constexpr uint32_t kMinVcpus = vm_limits::kMinVcpus;
inline constexpr uint32_t kMaxVcpus = vm_limits::kMaxVcpus;
inline constexpr uint64_t kMinMemoryMib = vm_limits::kMinMemoryMib;
inline constexpr uint64_t kMaxMemoryMib = 1048576;  // 1 TiB
inline constexpr size_t kMaxLabels = 64;
inline constexpr size_t kMaxLabelKeyLength = 63;
inline constexpr size_t kMaxLabelValueLength = 253;
inline constexpr size_t kMaxPathLength = 4096;  // kernel, initrd, each disk
inline constexpr size_t kMaxCmdlineLength = 4096;
inline constexpr size_t kMaxDisks = 16;
inline constexpr size_t kMaxNodeAddressLength = 255;
inline constexpr size_t kMaxClusterIdLength = 128;
inline constexpr size_t kMaxStatusMessageLength = 1024;

inline constexpr size_t kMaxConstraints = 16;
inline constexpr size_t kMaxGroupLength = 63;
inline constexpr uint32_t kMaxCpuOvercommitPercent = 10000;  // 100x

// A placement constraint on node labels: "key=value" (the node carries the
// label with that value) or "key!=value" (it does not; a node without the
// key passes). Keys and values follow the label rules.
struct Constraint {
  std::string key;
  std::string value;
  bool equal = true;  // = (true) or != (false)
  // "key=value" / "key!=value", as the user writes it.
  std::string ToString() const;
};
Result<Constraint> ParseConstraint(std::string_view text);

// The scheduler strategies a VM or the cluster may name.
inline constexpr std::string_view kStrategyBinpack = "binpack";
inline constexpr std::string_view kStrategySpread = "spread";
// "" (use the cluster setting), "binpack" or "spread".
Status ValidateStrategy(std::string_view strategy, std::string_view what);

// A DNS label: 1-63 chars of [a-z0-9-], not starting or ending with '-'.
Status ValidateVmName(std::string_view name);

// name, vcpus, memory_mib, kernel/initrd/cmdline/disk lengths, labels, the
// restart policy enum, the network fields (ValidateVmNetwork in
// state/network.h), constraints (at most 16, each ParseConstraint-able),
// the anti-affinity group (1-63 label-key characters, or empty) and the
// strategy (ValidateStrategy).
Status ValidateVmSpec(const v1::VmSpec& spec);

// What a new VM must meet beyond ValidateVmSpec, which also judges the
// records already in the log (so it cannot grow stricter without replicas
// drifting apart): checked where a create enters the cluster, by the API
// and by the leader for a forwarded create. Kernel, initrd and disk paths
// are absolute (a relative path means nothing on the node placement picks;
// existence can only be checked there, at start); the cmdline and the disk
// paths meet the VM layer's argument rules (common/vm_limits.h).
Status ValidateNewVmSpec(const v1::VmSpec& spec);

// A client's command as it enters the cluster: ValidateNewVmSpec for a
// create; the state machine judges the rest when it applies them.
Status ValidateNewCommand(const v1::Command& cmd);

// At most kMaxLabels entries; keys 1-63 chars of [a-zA-Z0-9._/-]; values at
// most 253 chars without control characters. `what` names the owner in
// messages, e.g. `vm "web-1"`.
Status ValidateLabels(const google::protobuf::Map<std::string, std::string>& labels,
                      std::string_view what);

// id != 0, address 1-255 printable chars without spaces, role and health
// valid enum values, labels, cpu_overcommit_percent <= 10000.
Status ValidateNode(const v1::Node& node);

// 1-128 printable ASCII chars.
Status ValidateClusterId(std::string_view id);

// A token record (state.proto): id 16 and secret_sha256 64 lowercase hex
// digits, a kind; a client token has a role (admin, operator, reader) and a
// name (ValidateTokenName); a join token has neither.
Status ValidateToken(const v1::Token& token);
// A revoked certificate's record: a serial of 1-40 lowercase hex digits
// (no leading zero), a subject of at most 200 printable characters.
Status ValidateRevokedCertificate(const v1::RevokedCertificate& r);
// Who holds a client token or certificate: 1-64 chars of [A-Za-z0-9._-].
Status ValidateTokenName(std::string_view name);

}  // namespace blixard::state
