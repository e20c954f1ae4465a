#include "vmm/hypervisor.h"

#include "vmm/fake_hypervisor.h"

namespace blixard::vmm {

const char* VmStateName(VmInfo::State state) {
  switch (state) {
    case VmInfo::State::kStarting: return "starting";
    case VmInfo::State::kRunning: return "running";
    case VmInfo::State::kPaused: return "paused";
    case VmInfo::State::kStopped: return "stopped";
    case VmInfo::State::kFailed: return "failed";
  }
  return "unknown";
}

const char* AccelName(Accel accel) {
  switch (accel) {
    case Accel::kAuto: return "auto";
    case Accel::kKvm: return "kvm";
    case Accel::kTcg: return "tcg";
  }
  return "auto";
}

std::unique_ptr<Hypervisor> NewFakeHypervisor() { return std::make_unique<FakeHypervisor>(); }

}  // namespace blixard::vmm
