#include "vmm/vm_config.h"

#include <set>
#include <utility>

#include "common/vm_limits.h"

namespace blixard::vmm {
namespace {

const char* ModeName(NetworkConfig::Mode mode) {
  switch (mode) {
    case NetworkConfig::Mode::kNone: return "none";
    case NetworkConfig::Mode::kUser: return "user";
    case NetworkConfig::Mode::kTap: return "tap";
  }
  return "none";
}

}  // namespace

bool IsValidVmName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

Status ValidateVmConfig(const VmConfig& c) {
  if (!IsValidVmName(c.name)) {
    return Status::InvalidArgument("VM name '" + c.name +
                                   "' is not valid: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  if (c.vcpus < vm_limits::kMinVcpus || c.vcpus > vm_limits::kMaxVcpus) {
    return Status::InvalidArgument("VM " + c.name + ": vcpus must be " + std::to_string(vm_limits::kMinVcpus) + ".." +
                                   std::to_string(vm_limits::kMaxVcpus) + ", got " + std::to_string(c.vcpus));
  }
  if (c.memory_mib < kMinMemoryMib) {
    return Status::InvalidArgument("VM " + c.name + ": memory " + std::to_string(c.memory_mib) +
                                   " MiB is too small: use at least " +
                                   std::to_string(kMinMemoryMib) + " MiB");
  }
  if (!vm_limits::CmdlineIsSafe(c.cmdline)) {
    return Status::InvalidArgument("VM " + c.name + ": the kernel command line " + std::string(vm_limits::kCmdlineRule));
  }
  for (const auto& d : c.disks) {
    if (!vm_limits::DiskPathIsSafe(d)) {
      return Status::InvalidArgument("VM " + c.name + ": disk path '" + d + "' " + std::string(vm_limits::kDiskPathRule));
    }
  }
  std::set<std::string> tags;
  for (const auto& s : c.shares) {
    if (s.tag.empty() || !tags.insert(s.tag).second || s.tag.find_first_of(",\"\n") != std::string::npos ||
        s.source.find_first_of(",\"\n") != std::string::npos) {
      return Status::InvalidArgument("VM " + c.name + ": share " + s.source +
                                     " needs a unique tag and paths without ',', '\"' or newlines");
    }
  }
  const NetworkConfig& n = c.net;
  if (n.mode != NetworkConfig::Mode::kUser && !n.publish.empty()) {
    return Status::InvalidArgument("VM " + c.name + ": published ports need user networking");
  }
  if (n.mode == NetworkConfig::Mode::kTap && n.tap.empty()) {
    return Status::InvalidArgument("VM " + c.name + ": tap networking needs a tap device name");
  }
  std::set<std::pair<int, uint16_t>> host_ports;
  for (const auto& p : n.publish) {
    if (p.host_port == 0 || p.guest_port == 0) {
      return Status::InvalidArgument("VM " + c.name + ": published ports must be 1..65535");
    }
    if (!host_ports.insert({static_cast<int>(p.protocol), p.host_port}).second) {
      return Status::InvalidArgument("VM " + c.name + ": host port " + std::to_string(p.host_port) +
                                     " is published twice");
    }
  }
  return Status::Ok();
}

nlohmann::json VmConfigToJson(const VmConfig& c) {
  nlohmann::json publish = nlohmann::json::array();
  for (const auto& p : c.net.publish) {
    publish.push_back({{"protocol", p.protocol == PortForward::Protocol::kUdp ? "udp" : "tcp"},
                       {"host_address", p.host_address},
                       {"host_port", p.host_port},
                       {"guest_port", p.guest_port}});
  }
  nlohmann::json shares = nlohmann::json::array();
  for (const auto& s : c.shares) {
    shares.push_back({{"source", s.source}, {"tag", s.tag}, {"mount_point", s.mount_point}});
  }
  return {{"name", c.name},
          {"vcpus", c.vcpus},
          {"memory_mib", c.memory_mib},
          {"kernel", c.kernel},
          {"initrd", c.initrd},
          {"cmdline", c.cmdline},
          {"disks", c.disks},
          {"net", {{"mode", ModeName(c.net.mode)}, {"publish", publish}, {"tap", c.net.tap}, {"mac", c.net.mac}}},
          {"shares", shares},
          {"labels", c.labels},
          {"ready_pattern", c.ready_pattern}};
}

Result<VmConfig> VmConfigFromJson(const nlohmann::json& j) {
  try {
    VmConfig c;
    c.name = j.at("name").get<std::string>();
    c.vcpus = j.at("vcpus").get<uint32_t>();
    c.memory_mib = j.at("memory_mib").get<uint64_t>();
    c.kernel = j.value("kernel", "");
    c.initrd = j.value("initrd", "");
    c.cmdline = j.value("cmdline", "");
    c.disks = j.value("disks", std::vector<std::string>{});
    c.ready_pattern = j.value("ready_pattern", "");
    c.labels = j.value("labels", std::map<std::string, std::string>{});
    for (const auto& s : j.value("shares", nlohmann::json::array())) {
      c.shares.push_back({s.at("source").get<std::string>(), s.at("tag").get<std::string>(),
                          s.at("mount_point").get<std::string>()});
    }
    if (j.contains("net")) {
      const auto& n = j.at("net");
      std::string mode = n.value("mode", "none");
      if (mode == "user") {
        c.net.mode = NetworkConfig::Mode::kUser;
      } else if (mode == "tap") {
        c.net.mode = NetworkConfig::Mode::kTap;
      } else if (mode != "none") {
        return Status::Corruption("unknown network mode '" + mode + "'");
      }
      c.net.tap = n.value("tap", "");
      c.net.mac = n.value("mac", "");
      for (const auto& p : n.value("publish", nlohmann::json::array())) {
        PortForward f;
        f.protocol = p.value("protocol", "tcp") == "udp" ? PortForward::Protocol::kUdp : PortForward::Protocol::kTcp;
        f.host_address = p.value("host_address", "127.0.0.1");
        f.host_port = p.at("host_port").get<uint16_t>();
        f.guest_port = p.at("guest_port").get<uint16_t>();
        c.net.publish.push_back(f);
      }
    }
    return c;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("VM config: ") + e.what());
  }
}

}  // namespace blixard::vmm
