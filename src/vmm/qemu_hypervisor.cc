// The qemu microvm backend: qemu-system-x86_64 -M microvm run directly (see
// qemu_argv.h for the command line), controlled over QMP at
// <runtime dir>/qmp.sock; qemu writes qemu.pid and console.log itself and
// its own messages go to qemu.log.
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "vmm/host.h"
#include "vmm/hypervisor.h"
#include "vmm/qemu_argv.h"
#include "vmm/runner.h"

namespace blixard::vmm {
namespace {

class QemuRunner : public Runner {
 public:
  explicit QemuRunner(QemuOptions options) : options_(std::move(options)) {}

  std::string BackendName() const override { return "qemu"; }
  std::string PidFile() const override { return "qemu.pid"; }
  bool ShellWritesPid() const override { return false; }
  bool StdoutIsConsole() const override { return false; }
  std::string LogFile() const override { return "qemu.log"; }
  std::string QmpSocket(const std::string& dir, const VmConfig&) const override { return dir + "/qmp.sock"; }
  bool StartWaitsForQmp() const override { return true; }
  bool CmdlineIsOurs(const std::string& cmdline, const std::string& dir) const override {
    return CmdlineMentionsPath(cmdline, dir + "/qmp.sock");
  }
  Status PowerButton(QmpClient& qmp, QmpClient::Duration timeout) override { return qmp.SystemPowerdown(timeout); }

  Result<Launch> Prepare(const VmConfig& given, const std::string& dir) override {
    if (!given.shares.empty()) {
      return Status::InvalidArgument("VM " + given.name + ": shared directories need a node with --backend microvm-nix");
    }
    Launch launch;
    VmConfig& config = launch.resolved;
    config = given;
    const std::string hint = " (build the default guest with scripts/guest-image)";
    if (config.kernel.empty()) config.kernel = options_.default_kernel;
    if (config.initrd.empty() && given.kernel.empty()) config.initrd = options_.default_initrd;
    if (config.kernel.empty()) {
      return Status::InvalidArgument("VM " + config.name + ": no kernel given and no default kernel" + hint);
    }
    Status s = CheckReadable("kernel", config.kernel, given.kernel.empty() ? hint : "");
    if (s.ok() && !config.initrd.empty()) s = CheckReadable("initrd", config.initrd, given.initrd.empty() ? hint : "");
    for (const auto& d : config.disks) {
      if (!s.ok()) break;
      s = CheckReadable("disk", d, "");
    }
    if (!s.ok()) return s;
    if (config.net.mode == NetworkConfig::Mode::kTap && !std::filesystem::exists("/sys/class/net/" + config.net.tap)) {
      return Status::InvalidArgument("tap device " + config.net.tap + " does not exist");
    }
    std::string qemu = FindInPath(options_.qemu_binary);
    if (qemu.empty()) return Status::FailedPrecondition(options_.qemu_binary + " not found (run scripts/setup)");

    QemuArgvInput in;
    in.qemu_binary = qemu;
    in.config = config;
    in.runtime_dir = dir;
    ResolveHost(in.accel, in.tsc_khz);
    launch.argv = BuildQemuArgv(in);
    return launch;
  }

 private:
  // Probed once, on the first start.
  void ResolveHost(Accel& accel, uint64_t& tsc_khz) {
    std::lock_guard lock(mu_);
    if (!accel_) {
      accel_ = ResolveAccel(options_.accel);
      tsc_khz_ = HostTscKhz();
    }
    accel = *accel_;
    tsc_khz = tsc_khz_;
  }

  QemuOptions options_;
  std::mutex mu_;
  std::optional<Accel> accel_;
  uint64_t tsc_khz_ = 0;
};

}  // namespace

std::unique_ptr<Hypervisor> NewQemuHypervisor(QemuOptions options) {
  ProcessHypervisorOptions p;
  p.runtime_root = options.runtime_root;
  p.start_timeout = options.start_timeout;
  p.qmp_timeout = options.qmp_timeout;
  p.qmp_wedged_after = options.qmp_wedged_after;
  return NewProcessHypervisor(std::move(p), std::make_unique<QemuRunner>(std::move(options)));
}

}  // namespace blixard::vmm
