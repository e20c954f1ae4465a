// What the server daemon (daemon.cc) and the worker daemon (worker.cc)
// share: option checks and the VM backend.
#pragma once

#include <memory>

#include "common/status.h"
#include "node/daemon.h"

namespace blixard::vmm {
class Hypervisor;
class HostNetwork;
}  // namespace blixard::vmm

namespace blixard::node {

// kInvalidArgument naming the flag to change.
Status ValidateOptions(const DaemonOptions& o);
// The --backend's hypervisor, and the host network of bridge VMs (real, or
// pretend for the fake backend).
std::unique_ptr<vmm::Hypervisor> MakeHypervisor(const DaemonOptions& o);
std::unique_ptr<vmm::HostNetwork> MakeHostNetwork(const DaemonOptions& o);

}  // namespace blixard::node
