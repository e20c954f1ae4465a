#include "state/validation.h"

#include <string>

#include "blixard/v1/state.pb.h"
#include "state/network.h"

namespace blixard::state {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsLabelKeyChar(char c) {
  return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '/' || c == '-';
}

bool IsPrintableAscii(char c) { return c >= 0x20 && c < 0x7f; }

bool HasControlChar(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

Status CheckLength(std::string_view value, size_t max, std::string_view what) {
  if (value.size() > max) {
    return Status::InvalidArgument(std::string(what) + " is " + std::to_string(value.size()) +
                                   " bytes long: use at most " + std::to_string(max));
  }
  return Status::Ok();
}

}  // namespace

std::string Quote(std::string_view s) {
  constexpr size_t kShown = 64;
  std::string out = "\"";
  for (char c : s.substr(0, kShown)) {
    if (IsPrintableAscii(c) && c != '"' && c != '\\') {
      out += c;
    } else {
      static const char kHex[] = "0123456789abcdef";
      auto u = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  if (s.size() > kShown) out += "...";
  out += '"';
  return out;
}


Status ValidateVmName(std::string_view name) {
  bool ok =
      !name.empty() && name.size() <= kMaxVmNameLength && name.front() != '-' && name.back() != '-';
  for (char c : name) ok = ok && (IsLowerAlnum(c) || c == '-');
  if (ok) return Status::Ok();
  return Status::InvalidArgument("vm name " + Quote(name) +
                                 " is invalid: use 1-63 lowercase letters, digits or '-', not "
                                 "starting or ending with '-'");
}

Status ValidateLabels(const google::protobuf::Map<std::string, std::string>& labels,
                      std::string_view what) {
  const std::string owner(what);
  if (labels.size() > kMaxLabels) {
    return Status::InvalidArgument(owner + " has " + std::to_string(labels.size()) +
                                   " labels: use at most " + std::to_string(kMaxLabels));
  }
  for (const auto& [key, value] : labels) {
    bool key_ok = !key.empty() && key.size() <= kMaxLabelKeyLength;
    for (char c : key) key_ok = key_ok && IsLabelKeyChar(c);
    if (!key_ok) {
      return Status::InvalidArgument(owner + " label key " + Quote(key) +
                                     " is invalid: use 1-63 letters, digits, '.', '_', '/' or '-'");
    }
    if (value.size() > kMaxLabelValueLength || HasControlChar(value)) {
      return Status::InvalidArgument(owner + " label " + Quote(key) + " value " + Quote(value) +
                                     " is invalid: use at most 253 characters and no control "
                                     "characters");
    }
  }
  return Status::Ok();
}

std::string Constraint::ToString() const { return key + (equal ? "=" : "!=") + value; }

Result<Constraint> ParseConstraint(std::string_view text) {
  Constraint c;
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return Status::InvalidArgument("constraint " + Quote(text) +
                                   " is invalid: use KEY=VALUE or KEY!=VALUE (a node label)");
  }
  size_t key_end = eq;
  if (text[eq - 1] == '!') {
    c.equal = false;
    key_end = eq - 1;
  }
  c.key = std::string(text.substr(0, key_end));
  c.value = std::string(text.substr(eq + 1));
  bool key_ok = !c.key.empty() && c.key.size() <= kMaxLabelKeyLength;
  for (char ch : c.key) key_ok = key_ok && IsLabelKeyChar(ch);
  if (!key_ok) {
    return Status::InvalidArgument("constraint " + Quote(text) + " key " + Quote(c.key) +
                                   " is invalid: use 1-63 letters, digits, '.', '_', '/' or '-'");
  }
  if (c.value.size() > kMaxLabelValueLength || HasControlChar(c.value)) {
    return Status::InvalidArgument("constraint " + Quote(text) +
                                   " value is invalid: use at most 253 characters and no control "
                                   "characters");
  }
  return c;
}

Status ValidateStrategy(std::string_view strategy, std::string_view what) {
  if (strategy.empty() || strategy == kStrategyBinpack || strategy == kStrategySpread) {
    return Status::Ok();
  }
  return Status::InvalidArgument(std::string(what) + " strategy " + Quote(strategy) +
                                 " is unknown: use binpack or spread");
}

Status ValidateNewVmSpec(const v1::VmSpec& spec) {
  if (Status s = ValidateVmSpec(spec); !s.ok()) return s;
  const std::string vm = "vm " + Quote(spec.name());
  auto absolute = [&](const std::string& what, const std::string& path) {
    if (path.empty() || path[0] == '/') return Status::Ok();
    return Status::InvalidArgument(vm + " " + what + " path " + Quote(path) +
                                   " is relative: use an absolute path on the node that runs the VM");
  };
  if (Status s = absolute("kernel", spec.kernel()); !s.ok()) return s;
  if (Status s = absolute("initrd", spec.initrd()); !s.ok()) return s;
  for (const std::string& disk : spec.disks()) {
    if (Status s = absolute("disk", disk); !s.ok()) return s;
    if (!vm_limits::DiskPathIsSafe(disk)) {
      return Status::InvalidArgument(vm + " disk path " + Quote(disk) + " " + std::string(vm_limits::kDiskPathRule) +
                                     " (qemu reads ',' as the start of an option): rename the file");
    }
  }
  if (!vm_limits::CmdlineIsSafe(spec.cmdline())) {
    return Status::InvalidArgument(vm + " kernel cmdline " + std::string(vm_limits::kCmdlineRule) +
                                   ": use single quotes or none");
  }
  return Status::Ok();
}

Status ValidateNewCommand(const v1::Command& cmd) {
  if (cmd.has_create_vm()) return ValidateNewVmSpec(cmd.create_vm().spec());
  return Status::Ok();
}

Status ValidateVmSpec(const v1::VmSpec& spec) {
  if (Status s = ValidateVmName(spec.name()); !s.ok()) return s;
  const std::string vm = "vm " + Quote(spec.name());
  if (spec.vcpus() < kMinVcpus || spec.vcpus() > kMaxVcpus) {
    return Status::InvalidArgument("vcpus " + std::to_string(spec.vcpus()) +
                                   " is out of range: use 1-255");
  }
  if (spec.memory_mib() < kMinMemoryMib || spec.memory_mib() > kMaxMemoryMib) {
    return Status::InvalidArgument("memory " + std::to_string(spec.memory_mib()) +
                                   " MiB is out of range: use 16-1048576 MiB (1 TiB)");
  }
  if (Status s = CheckLength(spec.kernel(), kMaxPathLength, vm + " kernel path"); !s.ok()) {
    return s;
  }
  if (Status s = CheckLength(spec.initrd(), kMaxPathLength, vm + " initrd path"); !s.ok()) {
    return s;
  }
  if (Status s = CheckLength(spec.cmdline(), kMaxCmdlineLength, vm + " kernel cmdline"); !s.ok()) {
    return s;
  }
  if (HasControlChar(spec.kernel()) || HasControlChar(spec.initrd()) ||
      HasControlChar(spec.cmdline())) {
    return Status::InvalidArgument(vm +
                                   " kernel, initrd or cmdline contains a control character: use "
                                   "printable characters only");
  }
  if (static_cast<size_t>(spec.disks_size()) > kMaxDisks) {
    return Status::InvalidArgument(vm + " has " + std::to_string(spec.disks_size()) +
                                   " disks: use at most " + std::to_string(kMaxDisks));
  }
  for (const std::string& disk : spec.disks()) {
    if (disk.empty() || disk.size() > kMaxPathLength || HasControlChar(disk)) {
      return Status::InvalidArgument(vm + " disk path " + Quote(disk) +
                                     " is invalid: use a host path of 1-4096 printable "
                                     "characters");
    }
  }
  if (Status s = ValidateLabels(spec.labels(), vm); !s.ok()) return s;
  if (!v1::RestartPolicy_IsValid(spec.restart_policy())) {
    return Status::InvalidArgument(vm + " restart policy " + std::to_string(spec.restart_policy()) +
                                   " is invalid: use NEVER, ON_FAILURE or ALWAYS");
  }
  if (Status s = ValidateVmNetwork(spec, vm); !s.ok()) return s;
  if (static_cast<size_t>(spec.constraints_size()) > kMaxConstraints) {
    return Status::InvalidArgument(vm + " has " + std::to_string(spec.constraints_size()) +
                                   " constraints: use at most " + std::to_string(kMaxConstraints));
  }
  for (const std::string& c : spec.constraints()) {
    if (auto parsed = ParseConstraint(c); !parsed.ok()) {
      return Status::InvalidArgument(vm + " " + parsed.status().message());
    }
  }
  const std::string& group = spec.anti_affinity_group();
  bool group_ok = group.size() <= kMaxGroupLength;
  for (char c : group) group_ok = group_ok && IsLabelKeyChar(c);
  if (!group_ok) {
    return Status::InvalidArgument(vm + " anti-affinity group " + Quote(group) +
                                   " is invalid: use 1-63 letters, digits, '.', '_', '/' or '-'");
  }
  return ValidateStrategy(spec.strategy(), vm);
}

Status ValidateNode(const v1::Node& node) {
  if (node.id() == 0) {
    return Status::InvalidArgument("node id 0 is invalid: use an id of 1 or more");
  }
  const std::string what = "node " + std::to_string(node.id());
  bool address_ok = !node.address().empty() && node.address().size() <= kMaxNodeAddressLength;
  for (char c : node.address()) address_ok = address_ok && IsPrintableAscii(c) && c != ' ';
  if (!address_ok) {
    return Status::InvalidArgument(what + " address " + Quote(node.address()) +
                                   " is invalid: use HOST:PORT or unix:/path, 1-255 printable "
                                   "characters without spaces");
  }
  if (!v1::NodeRole_IsValid(node.role())) {
    return Status::InvalidArgument(what + " role " + std::to_string(node.role()) +
                                   " is invalid: use VOTER, STANDBY, LEARNER or WORKER");
  }
  if (!v1::NodeHealth_IsValid(node.health())) {
    return Status::InvalidArgument(what + " health " + std::to_string(node.health()) +
                                   " is invalid: use READY, DOWN or DRAINING");
  }
  if (node.cpu_overcommit_percent() > kMaxCpuOvercommitPercent) {
    return Status::InvalidArgument(what + " cpu overcommit " +
                                   std::to_string(node.cpu_overcommit_percent()) +
                                   "% is out of range: use at most 10000% (100x)");
  }
  return ValidateLabels(node.labels(), what);
}

Status ValidateClusterId(std::string_view id) {
  bool ok = !id.empty() && id.size() <= kMaxClusterIdLength;
  for (char c : id) ok = ok && IsPrintableAscii(c);
  if (ok) return Status::Ok();
  return Status::InvalidArgument("cluster id " + Quote(id) +
                                 " is invalid: use 1-128 printable ASCII characters");
}

namespace {
bool IsLowerHex(std::string_view s, size_t digits) {
  if (s.size() != digits) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

Status ValidateRevokedCertificate(const v1::RevokedCertificate& r) {
  const std::string& s = r.serial();
  bool ok = !s.empty() && s.size() <= 40 && (s.size() == 1 || s[0] != '0');
  for (char c : s) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) return Status::InvalidArgument("certificate serial " + Quote(s) + " is not 1-40 lowercase hex digits");
  bool printable = r.subject().size() <= 200;
  for (char c : r.subject()) printable = printable && IsPrintableAscii(c);
  if (!printable) return Status::InvalidArgument("the subject of revoked certificate " + Quote(s) + " is not printable");
  return Status::Ok();
}

Status ValidateTokenName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '_' || c == '-');
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("name " + Quote(name) + " is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -");
}

Status ValidateToken(const v1::Token& t) {
  const std::string what = "token " + Quote(t.id());
  if (!IsLowerHex(t.id(), 16)) return Status::InvalidArgument(what + ": the id is not 16 lowercase hex digits");
  if (!IsLowerHex(t.secret_sha256(), 64)) {
    return Status::InvalidArgument(what + ": secret_sha256 is not 64 lowercase hex digits");
  }
  switch (t.kind()) {
    case v1::TOKEN_KIND_JOIN_SERVER:
    case v1::TOKEN_KIND_JOIN_WORKER:
      if (!t.role().empty() || !t.name().empty()) {
        return Status::InvalidArgument(what + ": a join token has no role and no name");
      }
      return Status::Ok();
    case v1::TOKEN_KIND_CLIENT:
      if (t.role() != "admin" && t.role() != "operator" && t.role() != "reader") {
        return Status::InvalidArgument(what + ": role " + Quote(t.role()) + " is unknown: use admin, operator or reader");
      }
      if (t.max_uses() != 0) return Status::InvalidArgument(what + ": a client token has no use limit");
      return ValidateTokenName(t.name());
    default:
      return Status::InvalidArgument(what + ": kind " + std::to_string(t.kind()) + " is not a token kind");
  }
}

}  // namespace blixard::state
