// The limits and argument rules of a VM that both the API (state/
// validation.h, at create) and the VM layer (vmm/vm_config.h, at start)
// enforce: one home, so that a VM accepted at create does not then fail at
// every start. Header-only, no dependencies.
#pragma once

#include <cstdint>
#include <string_view>

namespace blixard::vm_limits {

// QEMU 7.2's microvm machine starts with up to 255 vCPUs (xAPIC ids; more
// needs X2APIC and an in-kernel irqchip).
inline constexpr uint32_t kMinVcpus = 1;
inline constexpr uint32_t kMaxVcpus = 255;
inline constexpr uint64_t kMinMemoryMib = 16;

// qemu's -append takes the command line as one argument that Blixard
// quotes with '"' (and a newline would end it), so neither may appear.
inline bool CmdlineIsSafe(std::string_view cmdline) {
  return cmdline.find('\n') == std::string_view::npos && cmdline.find('"') == std::string_view::npos;
}
inline constexpr std::string_view kCmdlineRule = "may not contain newlines or '\"'";

// A disk path is a value of qemu's -drive file=..., where ',' separates
// options (qemu would read the rest of the path as an option).
inline bool DiskPathIsSafe(std::string_view path) {
  return !path.empty() && path.find(',') == std::string_view::npos;
}
inline constexpr std::string_view kDiskPathRule = "must not be empty or contain ','";

}  // namespace blixard::vm_limits
