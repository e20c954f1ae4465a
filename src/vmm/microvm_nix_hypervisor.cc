// The microvm.nix backend (see NewMicrovmNixHypervisor in hypervisor.h and
// microvm_flake.h for the flake it writes).
#include <memory>

#include "vmm/hypervisor.h"
#include "vmm/microvm_flake.h"
#include "vmm/runner.h"

namespace blixard::vmm {
namespace {

class MicrovmNixRunner : public Runner {
 public:
  explicit MicrovmNixRunner(MicrovmNixOptions options) : options_(std::move(options)) {
    if (options_.hypervisor.empty()) options_.hypervisor = kDefaultMicrovmHypervisor;
    if (options_.nixpkgs.empty()) options_.nixpkgs = kDefaultNixpkgsFlake;
    if (options_.microvm.empty()) options_.microvm = kDefaultMicrovmFlake;
  }

  std::string BackendName() const override { return "microvm-nix"; }
  std::string PidFile() const override { return "runner.pid"; }
  // nix execs the runner script, which execs the hypervisor: one pid.
  bool ShellWritesPid() const override { return true; }
  bool StdoutIsConsole() const override { return true; }
  std::string LogFile() const override { return "runner.log"; }
  std::string QmpSocket(const std::string& dir, const VmConfig& config) const override {
    return MicrovmHypervisorFor(config, options_.hypervisor) == "qemu" ? dir + "/control.sock" : "";
  }
  bool StartWaitsForQmp() const override { return false; }
  // nix's argv names path:<dir>#default; the hypervisor's names
  // <dir>/control.sock.
  bool CmdlineIsOurs(const std::string& cmdline, const std::string& dir) const override {
    return CmdlineMentionsPath(cmdline, dir);
  }
  // microvm.nix's qemu has no ACPI (-no-acpi, acpi=off): like microvm.nix's
  // own shutdown command, press Ctrl-Alt-Del; the guest reboots and
  // -no-reboot turns that into an exit.
  Status PowerButton(QmpClient& qmp, QmpClient::Duration timeout) override {
    nlohmann::json events = nlohmann::json::array();
    for (const char* key : {"ctrl", "alt", "delete"}) {
      events.push_back({{"type", "key"},
                        {"data", {{"down", true}, {"key", {{"type", "qcode"}, {"data", key}}}}}});
    }
    return qmp.Execute("input-send-event", {{"events", events}}, timeout).status();
  }

  Result<Launch> Prepare(const VmConfig& config, const std::string& dir) override {
    const std::string hypervisor = MicrovmHypervisorFor(config, options_.hypervisor);
    if (Status s = ValidateForMicrovm(config, hypervisor); !s.ok()) return s;
    for (const auto& d : config.disks) {
      if (Status s = CheckReadable("disk", d, ""); !s.ok()) return s;
    }
    const std::string nix = FindInPath(options_.nix_binary);
    if (nix.empty()) {
      return Status::FailedPrecondition(options_.nix_binary +
                                        " not found: the microvm-nix backend needs Nix with flakes on the node");
    }
    MicrovmFlakeInput in;
    in.config = config;
    in.hypervisor = hypervisor;
    in.runtime_dir = dir;
    in.nixpkgs = options_.nixpkgs;
    in.microvm = options_.microvm;
    if (!WriteFileAtomic(dir + "/flake.nix", BuildMicrovmFlake(in))) {
      return Status::Internal("cannot write " + dir + "/flake.nix");
    }
    Launch launch;
    launch.resolved = config;
    launch.argv = {nix, "--extra-experimental-features", "nix-command flakes", "run", "path:" + dir + "#default"};
    return launch;
  }

 private:
  MicrovmNixOptions options_;
};

}  // namespace

std::unique_ptr<Hypervisor> NewMicrovmNixHypervisor(MicrovmNixOptions options) {
  ProcessHypervisorOptions p;
  p.runtime_root = options.runtime_root;
  p.start_timeout = options.start_timeout;
  p.qmp_timeout = options.qmp_timeout;
  return NewProcessHypervisor(std::move(p), std::make_unique<MicrovmNixRunner>(std::move(options)));
}

}  // namespace blixard::vmm
