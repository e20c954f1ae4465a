// ClusterState::UsageOn: per node, what the VMs that hold capacity there
// take, kept in step by Apply. A command that names its VMs is accounted
// VM by VM (what each held before it is taken away, what it holds after is
// added); one that may change VMs it does not name (RemoveNode, SetNodeDrain)
// has the nodes it touches recounted. CheckInvariants compares the result
// with a count from scratch.
#include <algorithm>

#include "state/cluster_state.h"

namespace blixard::state {

const NodeUsage& ClusterState::UsageOn(uint64_t node_id) const {
  static const NodeUsage kNone;
  auto it = usage_.find(node_id);
  return it == usage_.end() ? kNone : it->second;
}

bool ClusterState::VmsNamedBy(const v1::Command& cmd, std::vector<std::string_view>& names) const {
  names.clear();
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm:
      names.push_back(cmd.create_vm().spec().name());
      return true;
    case v1::Command::kDeleteVm:
      names.push_back(cmd.delete_vm().name());
      return true;
    case v1::Command::kSetVmDesiredState:
      names.push_back(cmd.set_vm_desired_state().name());
      return true;
    case v1::Command::kReportVmStatus:
      names.push_back(cmd.report_vm_status().name());
      return true;
    case v1::Command::kUpdateVmLabels:
      names.push_back(cmd.update_vm_labels().name());
      return true;
    case v1::Command::kVmStoppedForMove:
      names.push_back(cmd.vm_stopped_for_move().name());
      return true;
    case v1::Command::kPlaceVms:
      for (const auto& p : cmd.place_vms().placements()) names.push_back(p.name());
      break;
    case v1::Command::kMoveVmsOff:
      for (const auto& m : cmd.move_vms_off().moves()) names.push_back(m.name());
      break;
    case v1::Command::kSetPendingReasons:  // unplaced VMs only: they hold nothing
    case v1::Command::kRegisterNode:       // node records only
    case v1::Command::kUpdateNode:
    case v1::Command::kSetNodesHealth:
    case v1::Command::kSetClusterSetting:
    case v1::Command::kInitCluster:
    case v1::Command::kSetVmSubnet:
    case v1::Command::kCreateToken:        // tokens only
    case v1::Command::kRevokeToken:
    case v1::Command::kUseToken:
    case v1::Command::kRevokeCertificate:
      return true;
    default:
      return false;
  }
  // A batch may name a VM twice; each VM is accounted once.
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return true;
}

void ClusterState::Account(const v1::Vm& vm, int sign) {
  if (vm.node_id() == 0 || !HoldsCapacity(vm)) return;
  NodeUsage& u = usage_[vm.node_id()];
  const auto delta = static_cast<uint64_t>(static_cast<int64_t>(sign));  // wraps for -1
  u.vcpus += delta * vm.spec().vcpus();
  u.memory_mib += delta * vm.spec().memory_mib();
  const std::string& group = vm.spec().anti_affinity_group();
  if (!group.empty()) {
    auto it = u.groups.try_emplace(group, 0).first;
    it->second += static_cast<uint32_t>(sign);
    if (it->second == 0) u.groups.erase(it);
  }
  if (u == NodeUsage{}) usage_.erase(vm.node_id());
}

NodeUsage ClusterState::UsageByScan(uint64_t node_id) const {
  NodeUsage u;
  if (node_id == 0) return u;
  for (const v1::Vm* vm : VmsOnNode(node_id)) {
    if (!HoldsCapacity(*vm)) continue;
    u.vcpus += vm->spec().vcpus();
    u.memory_mib += vm->spec().memory_mib();
    if (!vm->spec().anti_affinity_group().empty()) ++u.groups[vm->spec().anti_affinity_group()];
  }
  return u;
}

void ClusterState::RecountUsage(uint64_t node_id) {
  NodeUsage u = UsageByScan(node_id);
  if (u == NodeUsage{}) {
    usage_.erase(node_id);
  } else {
    usage_[node_id] = std::move(u);
  }
}

Status ClusterState::CheckUsage() const {
  auto broken = [](uint64_t id, const NodeUsage& kept, const NodeUsage& counted) {
    return Status::Internal("invariant broken: node " + std::to_string(id) + " is kept as using " +
                            std::to_string(kept.vcpus) + " vCPUs / " + std::to_string(kept.memory_mib) +
                            " MiB in " + std::to_string(kept.groups.size()) + " groups, its VMs take " +
                            std::to_string(counted.vcpus) + " / " + std::to_string(counted.memory_mib) +
                            " in " + std::to_string(counted.groups.size()));
  };
  for (const auto& [id, names] : by_node_) {
    if (id == 0) continue;
    const NodeUsage counted = UsageByScan(id);
    if (UsageOn(id) != counted) return broken(id, UsageOn(id), counted);
  }
  for (const auto& [id, kept] : usage_) {
    if (!by_node_.contains(id) || id == 0) return broken(id, kept, NodeUsage{});
  }
  return Status::Ok();
}

}  // namespace blixard::state
