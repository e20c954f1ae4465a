// Helpers shared by the files that implement ClusterState
// (cluster_state*.cc); not part of its interface.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "state/validation.h"

namespace blixard::state::internal {

inline std::string VmNotFound(std::string_view name) { return "vm " + Quote(name) + " not found"; }

inline std::string NodeNotFound(uint64_t id) { return "node " + std::to_string(id) + " not found"; }

inline bool IsSettableDesiredState(v1::DesiredState s) {
  return s == v1::DESIRED_STATE_RUNNING || s == v1::DESIRED_STATE_STOPPED;
}

// `vm`: the VM's name, for the message.
inline Status CheckDesiredState(int value, std::string_view vm) {
  if (IsSettableDesiredState(static_cast<v1::DesiredState>(value))) return Status::Ok();
  return Status::InvalidArgument("vm " + Quote(vm) + " desired state " + std::to_string(value) +
                                 " is invalid: use RUNNING or STOPPED");
}

}  // namespace blixard::state::internal
