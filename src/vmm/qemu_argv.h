// The qemu command line for a VM: a pure function of its inputs, so the
// exact command can be unit-tested and shown to a user.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/hypervisor.h"

namespace blixard::vmm {

struct QemuArgvInput {
  std::string qemu_binary = "qemu-system-x86_64";
  VmConfig config;          // kernel/initrd already resolved (not empty)
  std::string runtime_dir;  // console.log, qmp.sock, qemu.pid go here
  Accel accel = Accel::kTcg;  // REQUIRES: kKvm or kTcg (resolve kAuto first)
  uint64_t tsc_khz = 0;       // host TSC in kHz; 0 = leave tsc_early_khz out
};

// The kernel arguments Blixard always passes, before the user's cmdline:
// serial console, no reboot on panic (qemu exits instead, -no-reboot),
// and the host TSC so a loaded host cannot hang the guest's calibration.
std::string BaseKernelCmdline(uint64_t tsc_khz);

// REQUIRES: ValidateVmConfig(input.config).ok()
std::vector<std::string> BuildQemuArgv(const QemuArgvInput& input);

// For logs and error messages: argv joined with spaces, arguments that
// contain spaces or quotes single-quoted.
std::string ShellJoin(const std::vector<std::string>& argv);

}  // namespace blixard::vmm
