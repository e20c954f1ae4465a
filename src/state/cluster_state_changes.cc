// ClusterState::AssignmentsChangedAt: which nodes' VMs a command may change,
// so that a worker's assignment stream rereads a set only when it changed.
#include "state/cluster_state.h"

namespace blixard::state {

uint64_t ClusterState::AssignmentsChangedAt(uint64_t node_id) const {
  auto it = changed_at_.find(node_id);
  return std::max(all_changed_at_, it == changed_at_.end() ? 0 : it->second);
}

bool ClusterState::NodesTouchedBy(const v1::Command& cmd, std::vector<uint64_t>& nodes) const {
  auto of = [&](std::string_view name) {
    if (const v1::Vm* vm = FindVm(name)) nodes.push_back(vm->node_id());
  };
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm:
      of(cmd.create_vm().spec().name());
      return true;
    case v1::Command::kDeleteVm:
      of(cmd.delete_vm().name());
      return true;
    case v1::Command::kSetVmDesiredState:
      of(cmd.set_vm_desired_state().name());
      return true;
    case v1::Command::kReportVmStatus:
      of(cmd.report_vm_status().name());
      return true;
    case v1::Command::kUpdateVmLabels:
      of(cmd.update_vm_labels().name());
      return true;
    case v1::Command::kVmStoppedForMove:
      of(cmd.vm_stopped_for_move().name());
      return true;
    case v1::Command::kPlaceVms:
      for (const auto& p : cmd.place_vms().placements()) of(p.name());
      return true;
    case v1::Command::kMoveVmsOff:
      for (const auto& m : cmd.move_vms_off().moves()) of(m.name());
      return true;
    case v1::Command::kSetPendingReasons:
      // Only unplaced VMs get a reason.
      nodes.push_back(0);
      return true;
    case v1::Command::kRemoveNode:  // its VMs go back to the scheduler
      nodes.push_back(cmd.remove_node().id());
      nodes.push_back(0);
      return true;
    case v1::Command::kSetNodeDrain:  // an undrain cancels moves off the node
      nodes.push_back(cmd.set_node_drain().id());
      nodes.push_back(0);
      return true;
    case v1::Command::kRegisterNode:  // node records only
    case v1::Command::kUpdateNode:
    case v1::Command::kSetNodesHealth:
    case v1::Command::kSetClusterSetting:
    case v1::Command::kInitCluster:
    case v1::Command::kSetVmSubnet:
      return true;
    default:
      return false;
  }
}

}  // namespace blixard::state
