// Pure helpers around VmConfig: validation that needs no host access, and
// the JSON form kept in a VM's runtime dir (config.json).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "vmm/hypervisor.h"

namespace blixard::vmm {

// Checks what can be checked without the host: name, vcpus, memory, port
// numbers, duplicate published ports, network fields per mode. File
// existence and free host ports are the backend's job.
Status ValidateVmConfig(const VmConfig& config);

// True for names usable as a runtime dir: [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
bool IsValidVmName(const std::string& name);

nlohmann::json VmConfigToJson(const VmConfig& config);
Result<VmConfig> VmConfigFromJson(const nlohmann::json& j);

}  // namespace blixard::vmm
