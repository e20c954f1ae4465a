// The VM backend of a node, server or worker alike, chosen by --backend:
// the hypervisor that runs its VMs and the host network of bridge VMs.
#pragma once

#include <memory>

#include "daemon/options.h"

namespace blixard::vmm {
class Hypervisor;
class HostNetwork;
}  // namespace blixard::vmm

namespace blixard::daemon {

// The --backend's hypervisor, and the host network of bridge VMs (real, or
// pretend for the fake backend).
std::unique_ptr<vmm::Hypervisor> MakeHypervisor(const DaemonOptions& o);
std::unique_ptr<vmm::HostNetwork> MakeHostNetwork(const DaemonOptions& o);

}  // namespace blixard::daemon
