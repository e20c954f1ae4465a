#include "vmm/qemu_argv.h"

namespace blixard::vmm {

std::string BaseKernelCmdline(uint64_t tsc_khz) {
  std::string s = "console=ttyS0 quiet panic=-1 reboot=t";
  if (tsc_khz > 0) s += " tsc_early_khz=" + std::to_string(tsc_khz);
  return s;
}

std::vector<std::string> BuildQemuArgv(const QemuArgvInput& in) {
  const VmConfig& c = in.config;
  const std::string& dir = in.runtime_dir;
  std::vector<std::string> a = {
      in.qemu_binary,
      "-M", "microvm",
      "-accel", in.accel == Accel::kKvm ? "kvm" : "tcg",
      "-m", std::to_string(c.memory_mib) + "M",
      "-smp", std::to_string(c.vcpus),
      "-nodefaults",
      "-no-user-config",
      "-display", "none",
      "-serial", "file:" + dir + "/console.log",
      "-qmp", "unix:" + dir + "/qmp.sock,server=on,wait=off",
      "-pidfile", dir + "/qemu.pid",
      "-kernel", c.kernel,
  };
  if (in.accel == Accel::kKvm) {
    a.insert(a.end(), {"-cpu", "host"});
  }
  if (!c.initrd.empty()) a.insert(a.end(), {"-initrd", c.initrd});
  a.push_back("-no-reboot");
  std::string cmdline = BaseKernelCmdline(in.tsc_khz);
  if (!c.cmdline.empty()) cmdline += " " + c.cmdline;
  a.insert(a.end(), {"-append", cmdline});

  for (size_t i = 0; i < c.disks.size(); ++i) {
    std::string id = "disk" + std::to_string(i);
    a.insert(a.end(), {"-drive", "id=" + id + ",file=" + c.disks[i] + ",format=raw,if=none"});
    a.insert(a.end(), {"-device", "virtio-blk-device,drive=" + id});
  }

  const NetworkConfig& n = c.net;
  if (n.mode != NetworkConfig::Mode::kNone) {
    std::string netdev;
    if (n.mode == NetworkConfig::Mode::kUser) {
      netdev = "user,id=net0";
      for (const auto& p : n.publish) {
        netdev += ",hostfwd=";
        netdev += p.protocol == PortForward::Protocol::kUdp ? "udp:" : "tcp:";
        netdev += p.host_address + ":" + std::to_string(p.host_port) + "-:" + std::to_string(p.guest_port);
      }
    } else {
      netdev = "tap,id=net0,ifname=" + n.tap + ",script=no,downscript=no";
    }
    std::string device = "virtio-net-device,netdev=net0";
    if (!n.mac.empty()) device += ",mac=" + n.mac;
    a.insert(a.end(), {"-netdev", netdev, "-device", device});
  }
  return a;
}

std::string ShellJoin(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += arg;
      continue;
    }
    out += '\'';
    for (char ch : arg) {
      if (ch == '\'') {
        out += "'\\''";
      } else {
        out += ch;
      }
    }
    out += '\'';
  }
  return out;
}

}  // namespace blixard::vmm
