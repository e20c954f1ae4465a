#include "daemon/backend.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/wall_clock.h"
#include "vmm/fake_hypervisor.h"
#include "vmm/host_net.h"
#include "vmm/hypervisor.h"

namespace blixard::daemon {
namespace {

std::string DefaultGuestDir() {
  if (const char* d = getenv("BLIXARD_GUEST_DIR")) return d;
  const char* home = getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/blixard/guest";
}

}  // namespace

std::unique_ptr<vmm::Hypervisor> MakeHypervisor(const DaemonOptions& o) {
  if (o.backend == "fake") {
    vmm::FakeHypervisorOptions f;
    f.host = "node-" + std::to_string(o.id);
    f.now_ms = [] { return NowUnixMs(); };
    if (!o.fake_record.empty()) {
      auto out = std::make_shared<std::ofstream>(o.fake_record, std::ios::app);
      f.on_event = [out, host = f.host](int64_t at, const std::string& vm, const std::string& what) {
        *out << at << ' ' << host << ' ' << vm << ' ' << what << std::endl;  // one write per line
      };
    }
    return std::make_unique<vmm::FakeHypervisor>(std::move(f));
  }
  const std::string runtime_root = o.runtime_dir.empty() ? o.data_dir + "/vms" : o.runtime_dir;
  if (o.backend == "microvm-nix") {
    vmm::MicrovmNixOptions m;
    m.runtime_root = runtime_root;
    m.hypervisor = o.microvm_hypervisor;
    m.nixpkgs = o.microvm_nixpkgs;
    m.microvm = o.microvm_flake;
    return vmm::NewMicrovmNixHypervisor(m);
  }
  vmm::QemuOptions q;
  q.runtime_root = runtime_root;
  const std::string guest = o.guest_dir.empty() ? DefaultGuestDir() : o.guest_dir;
  q.default_kernel = guest + "/vmlinuz";
  q.default_initrd = guest + "/initrd.img";
  q.accel = o.accel == "kvm" ? vmm::Accel::kKvm : o.accel == "tcg" ? vmm::Accel::kTcg : vmm::Accel::kAuto;
  if (access(q.default_kernel.c_str(), R_OK) != 0) {
    spdlog::warn("default guest kernel {} is missing: VMs without --kernel will fail; "
                 "build it with scripts/guest-image {}", q.default_kernel, guest);
  }
  return vmm::NewQemuHypervisor(q);
}

std::unique_ptr<vmm::HostNetwork> MakeHostNetwork(const DaemonOptions& o) {
  // Bridge VMs: real bridge and taps for real VMs, pretend ones for fake VMs.
  if (o.backend == "fake") return std::make_unique<vmm::FakeHostNetwork>();
  return vmm::NewLinuxHostNetwork();
}

}  // namespace blixard::daemon
