#include "vmm/microvm_flake.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace blixard::vmm {
namespace {

std::vector<std::string> SplitSpaces(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string word;
  while (in >> word) out.push_back(word);
  return out;
}

std::string NixList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) out += " " + NixString(item);
  return out + (items.empty() ? "]" : " ]");
}

std::string Indent(int n) { return std::string(static_cast<size_t>(n), ' '); }

}  // namespace

const std::vector<std::string>& MicrovmHypervisors() {
  static const std::vector<std::string> kNames = {"qemu",    "cloud-hypervisor", "firecracker", "crosvm",
                                                  "kvmtool", "stratovirt",       "alioth"};
  return kNames;
}

bool IsMicrovmHypervisor(const std::string& name) {
  const auto& known = MicrovmHypervisors();
  return std::find(known.begin(), known.end(), name) != known.end();
}

std::string MicrovmHypervisorList() {
  std::string names;
  for (const auto& n : MicrovmHypervisors()) names += (names.empty() ? "" : ", ") + n;
  return names;
}

std::string MicrovmHypervisorFor(const VmConfig& config, const std::string& node_default) {
  auto it = config.labels.find(kMicrovmHypervisorLabel);
  return it == config.labels.end() || it->second.empty() ? node_default : it->second;
}

Status ValidateForMicrovm(const VmConfig& c, const std::string& hypervisor) {
  if (!IsMicrovmHypervisor(hypervisor)) {
    return Status::InvalidArgument("VM " + c.name + ": hypervisor '" + hypervisor +
                                   "' is not one microvm.nix knows: use " + MicrovmHypervisorList());
  }
  if (!c.kernel.empty() || !c.initrd.empty()) {
    return Status::InvalidArgument("VM " + c.name +
                                   ": the microvm-nix backend boots the NixOS system its flake builds; "
                                   "leave --kernel and --initrd out");
  }
  if (c.net.mode == NetworkConfig::Mode::kUser && hypervisor != "qemu" && hypervisor != "kvmtool") {
    return Status::InvalidArgument("VM " + c.name + ": user networking needs hypervisor qemu or kvmtool, not " +
                                   hypervisor + " (use a tap network)");
  }
  if (!c.net.publish.empty() && hypervisor != "qemu") {
    return Status::InvalidArgument("VM " + c.name + ": published ports need hypervisor qemu, not " + hypervisor);
  }
  for (const auto& share : c.shares) {
    if (share.source.empty() || share.source[0] != '/' || share.mount_point.empty() || share.mount_point[0] != '/') {
      return Status::InvalidArgument("VM " + c.name + ": share '" + share.source + "' -> '" + share.mount_point +
                                     "' needs absolute paths on both sides");
    }
  }
  return Status::Ok();
}

std::string NixString(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '$':
        // "${" starts an interpolation; "$$" and a lone "$" are literal.
        out += (i + 1 < s.size() && s[i + 1] == '{') ? "\\$" : "$";
        break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string DerivedMac(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[18];
  std::snprintf(buf, sizeof(buf), "02:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>(h & 0xff),
                static_cast<unsigned>((h >> 8) & 0xff), static_cast<unsigned>((h >> 16) & 0xff),
                static_cast<unsigned>((h >> 24) & 0xff), static_cast<unsigned>((h >> 32) & 0xff));
  return buf;
}

std::string BuildMicrovmFlake(const MicrovmFlakeInput& in) {
  const VmConfig& c = in.config;
  const std::string name = NixString(c.name);
  std::ostringstream o;
  o << "# Written by Blixard for VM " << c.name << "; rewritten at every start.\n"
    << "{\n"
    << "  description = " << NixString("Blixard microVM " + c.name) << ";\n"
    << "  inputs.nixpkgs.url = " << NixString(in.nixpkgs) << ";\n"
    << "  inputs.microvm.url = " << NixString(in.microvm) << ";\n"
    << "  inputs.microvm.inputs.nixpkgs.follows = \"nixpkgs\";\n"
    << "\n"
    << "  outputs = { self, nixpkgs, microvm }: {\n"
    << "    nixosConfigurations." << name << " = nixpkgs.lib.nixosSystem {\n"
    << "      system = " << NixString(in.system) << ";\n"
    << "      modules = [\n"
    << "        microvm.nixosModules.microvm\n"
    << "        {\n"
    << "          networking.hostName = " << name << ";\n"
    << "          system.stateVersion = \"24.05\";\n"
    << "          boot.kernelParams = " << NixList(SplitSpaces(c.cmdline)) << ";\n"
    << "          systemd.services.blixard-ready = {\n"
    << "            wantedBy = [ \"multi-user.target\" ];\n"
    << "            after = [ \"multi-user.target\" ];\n"
    << "            serviceConfig.Type = \"oneshot\";\n"
    << "            script = " << NixString("echo " + in.ready_line + " > /dev/console") << ";\n"
    << "          };\n"
    << "          microvm = {\n"
    << "            hypervisor = " << NixString(in.hypervisor) << ";\n"
    << "            vcpu = " << c.vcpus << ";\n"
    << "            mem = " << c.memory_mib << ";\n"
    << "            socket = " << NixString(in.runtime_dir + "/control.sock") << ";\n";

  const int item = 14;
  o << "            volumes = [";
  for (const auto& disk : c.disks) {
    o << "\n" << Indent(item) << "{ image = " << NixString(disk)
      << "; mountPoint = null; autoCreate = false; size = 0; }";
  }
  o << (c.disks.empty() ? "];\n" : "\n            ];\n");

  o << "            shares = [";
  for (const auto& share : c.shares) {
    o << "\n" << Indent(item) << "{ proto = \"9p\"; tag = " << NixString(share.tag)
      << "; source = " << NixString(share.source) << "; mountPoint = " << NixString(share.mount_point) << "; }";
  }
  o << (c.shares.empty() ? "];\n" : "\n            ];\n");

  const NetworkConfig& n = c.net;
  const std::string mac = NixString(n.mac.empty() ? DerivedMac(c.name) : n.mac);
  o << "            interfaces = [";
  if (n.mode == NetworkConfig::Mode::kUser) {
    o << "\n" << Indent(item) << "{ type = \"user\"; id = \"net0\"; mac = " << mac << "; }\n            ]";
  } else if (n.mode == NetworkConfig::Mode::kTap) {
    o << "\n" << Indent(item) << "{ type = \"tap\"; id = " << NixString(n.tap) << "; mac = " << mac
      << "; }\n            ]";
  } else {
    o << "]";
  }
  o << ";\n";

  o << "            forwardPorts = [";
  for (const auto& p : n.publish) {
    o << "\n" << Indent(item) << "{ from = \"host\"; proto = "
      << (p.protocol == PortForward::Protocol::kUdp ? "\"udp\"" : "\"tcp\"")
      << "; host.address = " << NixString(p.host_address) << "; host.port = " << p.host_port
      << "; guest.port = " << p.guest_port << "; }";
  }
  o << (n.publish.empty() ? "];\n" : "\n            ];\n");

  o << "          };\n"
    << "        }\n"
    << "      ];\n"
    << "    };\n"
    << "    packages." << NixString(in.system) << ".default =\n"
    << "      self.nixosConfigurations." << name << ".config.microvm.declaredRunner;\n"
    << "  };\n"
    << "}\n";
  return o.str();
}

}  // namespace blixard::vmm
