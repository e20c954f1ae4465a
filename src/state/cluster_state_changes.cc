// ClusterState::AssignmentsChangedAt: which nodes' VMs a command may change,
// so that a worker's assignment stream rereads a set only when it changed.
#include "state/cluster_state.h"

namespace blixard::state {

uint64_t ClusterState::AssignmentsChangedAt(uint64_t node_id) const {
  auto it = changed_at_.find(node_id);
  return std::max(all_changed_at_, it == changed_at_.end() ? 0 : it->second);
}

bool ClusterState::NodesTouchedBy(const v1::Command& cmd, bool by_name,
                                  const std::vector<std::string_view>& named,
                                  std::vector<uint64_t>& nodes) const {
  if (by_name) {
    for (std::string_view name : named) {
      if (const v1::Vm* vm = FindVm(name)) nodes.push_back(vm->node_id());
    }
    // Only unplaced VMs get a reason.
    if (cmd.op_case() == v1::Command::kSetPendingReasons) nodes.push_back(0);
    return true;
  }
  switch (cmd.op_case()) {
    case v1::Command::kRemoveNode:  // its VMs go back to the scheduler
      nodes.push_back(cmd.remove_node().id());
      nodes.push_back(0);
      return true;
    case v1::Command::kSetNodeDrain:  // an undrain cancels moves off the node
      nodes.push_back(cmd.set_node_drain().id());
      nodes.push_back(0);
      return true;
    default:
      return false;
  }
}

}  // namespace blixard::state
