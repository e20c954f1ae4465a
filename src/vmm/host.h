// What the host offers a hypervisor: a usable KVM, the TSC frequency.
// The parsers are pure (unit-tested on canned /proc/cpuinfo text); the
// Detect functions read the real host.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/hypervisor.h"

namespace blixard::vmm {

// "cpu MHz" of the first processor x 1000, rounded; 0 if absent.
uint64_t ParseCpuinfoTscKhz(const std::string& cpuinfo);
// True if the first "flags" line has vmx or svm (hardware virtualization).
bool CpuinfoHasVirtualization(const std::string& cpuinfo);

uint64_t HostTscKhz();  // from /proc/cpuinfo; 0 if unknown

// Whether KVM really works: /dev/kvm opens read-write, KVM_GET_API_VERSION
// is 12, KVM_CREATE_VM succeeds, and the CPU flags show vmx/svm. The last
// check is what rejects kvm_pvm (a /dev/kvm without hardware
// virtualization, on which an unmodified Debian kernel does not boot).
// `why` (optional) gets a one-line explanation.
bool KvmUsable(std::string* why = nullptr);

// kAuto -> kKvm if KvmUsable(), else kTcg. kKvm/kTcg are returned as is.
Accel ResolveAccel(Accel requested, std::string* why = nullptr);

}  // namespace blixard::vmm
