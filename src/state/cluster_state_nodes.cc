// ClusterState: node records, placement, drains and liveness decisions
// (RegisterNode, RemoveNode, PlaceVms, UpdateNode, SetNodeDrain, MoveVmsOff,
// VmStoppedForMove, SetPendingReasons, SetNodesHealth). See cluster_state.h.
#include <map>
#include <set>
#include <string>

#include "state/cluster_state.h"
#include "state/cluster_state_internal.h"
#include "state/validation.h"

namespace blixard::state {

using internal::NodeNotFound;
using internal::VmNotFound;

Status ClusterState::ApplyRegisterNode(const v1::RegisterNode& op, int64_t now) {
  if (Status s = ValidateNode(op.node()); !s.ok()) return s;
  auto it = nodes_.lower_bound(op.node().id());
  if (it != nodes_.end() && it->first == op.node().id()) {
    // Re-registration keeps the first registration time and the drain (the
    // operator's, not the node's); a record without capacity (e.g. the
    // leader's registration of a joining member) keeps what the node itself
    // reported (UpdateNode).
    v1::Node next = op.node();
    const v1::Node& prev = it->second;
    next.set_registered_at_unix_ms(prev.registered_at_unix_ms());
    next.set_draining(prev.draining());
    next.set_drain_started_unix_ms(prev.drain_started_unix_ms());
    next.set_drain_deadline_unix_ms(prev.drain_deadline_unix_ms());
    if (!next.has_capacity() || (next.capacity().vcpus() == 0 && next.capacity().memory_mib() == 0)) {
      *next.mutable_capacity() = prev.capacity();
      *next.mutable_host_capacity() = prev.host_capacity();
      *next.mutable_reserved() = prev.reserved();
      next.set_cpu_overcommit_percent(prev.cpu_overcommit_percent());
      if (next.labels().empty()) *next.mutable_labels() = prev.labels();
      if (next.cert_expires_unix() == 0) next.set_cert_expires_unix(prev.cert_expires_unix());
    }
    it->second = std::move(next);
  } else {
    it = nodes_.emplace_hint(it, op.node().id(), op.node());
    it->second.set_registered_at_unix_ms(now);
  }
  return Status::Ok();
}

Status ClusterState::ApplyRemoveNode(const v1::RemoveNode& op, int64_t now) {
  if (op.id() == 0) return Status::InvalidArgument("node id 0 is invalid: use an id of 1 or more");
  auto it = nodes_.find(op.id());
  if (it == nodes_.end()) return Status::NotFound(NodeNotFound(op.id()));
  nodes_.erase(it);
  // VMs placed there go back to the scheduler; no placement may name a node
  // that is not registered.
  if (auto placed = by_node_.find(op.id()); placed != by_node_.end()) {
    const NameSet names = placed->second;  // MoveVm edits the index
    for (const std::string& name : names) {
      MoveVm(vms_.find(name)->second, 0, now, "node " + std::to_string(op.id()) + " was removed");
    }
  }
  return Status::Ok();
}

Status ClusterState::ApplyPlaceVms(const v1::PlaceVms& op, int64_t now) {
  if (op.placements().empty()) {
    return Status::InvalidArgument("place_vms has no placements: give at least one");
  }
  // Check everything first so a rejected batch changes nothing.
  std::vector<VmMap::iterator> targets;
  targets.reserve(op.placements_size());
  std::set<std::string_view> seen;
  for (const v1::VmPlacement& p : op.placements()) {
    if (Status s = ValidateVmName(p.name()); !s.ok()) return s;
    if (!seen.insert(p.name()).second) {
      return Status::InvalidArgument("vm " + Quote(p.name()) +
                                     " is placed twice in one batch: place each VM once");
    }
    auto it = vms_.find(p.name());
    if (it == vms_.end()) return Status::NotFound(VmNotFound(p.name()));
    if (p.node_id() != 0 && !nodes_.contains(p.node_id())) {
      return Status::NotFound(NodeNotFound(p.node_id()) + ": place vm " + Quote(p.name()) +
                              " on a registered node");
    }
    if (p.expected_generation() != 0 && p.expected_generation() != it->second.generation()) {
      return Status::FailedPrecondition("vm " + Quote(p.name()) + " is at generation " +
                                        std::to_string(it->second.generation()) + ", not " +
                                        std::to_string(p.expected_generation()) +
                                        ": it changed since it was scheduled");
    }
    targets.push_back(it);
  }
  if (Status s = skip_fit_check_ ? Status::Ok() : CheckPlacementsFit(op, targets); !s.ok()) return s;
  for (size_t i = 0; i < targets.size(); ++i) {
    const uint64_t node_id = op.placements(static_cast<int>(i)).node_id();
    v1::Vm& vm = targets[i]->second;
    if (vm.node_id() == node_id) continue;
    MoveVm(vm, node_id, now,
           node_id == 0 ? "waiting for placement" : "placed on node " + std::to_string(node_id));
  }
  return Status::Ok();
}

// A batch is decided on the leader's applied state, which may be behind the
// log (a new leader that has not applied its predecessor's last entries):
// no placement may take a node past the capacity it reported (nodes that
// reported none are not checked: the scheduler never picks them), nor give
// a node a second VM of an anti-affinity group that already holds capacity
// there. The scheduler decides by the same counts (UsageOn); these are the
// state machine's own guard, whatever the leader decided on.
Status ClusterState::CheckPlacementsFit(const v1::PlaceVms& op,
                                        const std::vector<VmMap::iterator>& targets) const {
  struct Load {
    uint64_t vcpus = 0, memory_mib = 0;
    std::map<std::string_view, uint32_t> groups;
  };
  std::map<uint64_t, Load> added;  // what the batch brings to each node
  std::map<uint64_t, Load> freed;  // what the VMs it moves away held there
  std::set<const v1::Vm*> leaving;  // a VM may be named twice
  for (size_t i = 0; i < targets.size(); ++i) {
    const uint64_t to = op.placements(static_cast<int>(i)).node_id();
    const v1::Vm& vm = targets[i]->second;
    if (vm.node_id() == to) continue;
    if (leaving.insert(&vm).second && vm.node_id() != 0 && HoldsCapacity(vm)) {
      Load& f = freed[vm.node_id()];
      f.vcpus += vm.spec().vcpus();
      f.memory_mib += vm.spec().memory_mib();
      if (!vm.spec().anti_affinity_group().empty()) ++f.groups[vm.spec().anti_affinity_group()];
    }
    if (to == 0 || vm.desired_state() != v1::DESIRED_STATE_RUNNING) continue;
    Load& a = added[to];
    a.vcpus += vm.spec().vcpus();
    a.memory_mib += vm.spec().memory_mib();
    if (!vm.spec().anti_affinity_group().empty()) ++a.groups[vm.spec().anti_affinity_group()];
  }
  for (const auto& [node_id, add] : added) {
    const NodeUsage& now_used = UsageOn(node_id);
    const Load& gone = freed[node_id];
    for (const auto& [group, n] : add.groups) {
      auto held = now_used.groups.find(group);
      auto left = gone.groups.find(group);
      const uint32_t stay = (held == now_used.groups.end() ? 0 : held->second) -
                            (left == gone.groups.end() ? 0 : left->second);
      if (stay + n > 1) {
        return Status::FailedPrecondition("node " + std::to_string(node_id) + " would hold " +
                                          std::to_string(stay + n) + " VMs of anti-affinity group " +
                                          Quote(std::string(group)) +
                                          ": the batch was scheduled on an older state");
      }
    }
    const v1::NodeCapacity& cap = nodes_.at(node_id).capacity();
    if (cap.vcpus() == 0 && cap.memory_mib() == 0) continue;
    const uint64_t used_vcpus = now_used.vcpus - gone.vcpus, used_memory_mib = now_used.memory_mib - gone.memory_mib;
    if (used_vcpus + add.vcpus > cap.vcpus() || used_memory_mib + add.memory_mib > cap.memory_mib()) {
      return Status::FailedPrecondition(
          "node " + std::to_string(node_id) + " has " + std::to_string(cap.vcpus()) + " vCPUs / " +
          std::to_string(cap.memory_mib()) + " MiB, " + std::to_string(used_vcpus) + " / " +
          std::to_string(used_memory_mib) + " in use; the batch adds " + std::to_string(add.vcpus) +
          " / " + std::to_string(add.memory_mib) + ": it was scheduled on an older state");
    }
  }
  return Status::Ok();
}

Status ClusterState::ApplyUpdateNode(const v1::UpdateNode& op) {
  auto it = nodes_.find(op.id());
  if (it == nodes_.end()) {
    return Status::NotFound(NodeNotFound(op.id()) + ": a node reports its capacity once registered");
  }
  v1::Node next = it->second;
  *next.mutable_capacity() = op.capacity();
  *next.mutable_host_capacity() = op.host_capacity();
  *next.mutable_reserved() = op.reserved();
  next.set_cpu_overcommit_percent(op.cpu_overcommit_percent());
  *next.mutable_labels() = op.labels();
  next.set_cert_expires_unix(op.cert_expires_unix());
  if (Status s = ValidateNode(next); !s.ok()) return s;
  it->second = std::move(next);
  return Status::Ok();
}

Status ClusterState::ApplySetNodeDrain(const v1::SetNodeDrain& op, int64_t now) {
  auto it = nodes_.find(op.id());
  if (it == nodes_.end()) return Status::NotFound(NodeNotFound(op.id()));
  if (op.deadline_unix_ms() < 0 || (!op.draining() && op.deadline_unix_ms() != 0)) {
    return Status::InvalidArgument("drain deadline " + std::to_string(op.deadline_unix_ms()) +
                                   " is invalid: give a unix time in ms (0 = none), and only when draining");
  }
  v1::Node& n = it->second;
  if (op.draining()) {
    // Draining again only moves the deadline; the drain keeps its start.
    if (!n.draining()) n.set_drain_started_unix_ms(now);
    n.set_draining(true);
    n.set_drain_deadline_unix_ms(op.deadline_unix_ms());
  } else {
    n.set_draining(false);
    n.set_drain_started_unix_ms(0);
    n.set_drain_deadline_unix_ms(0);
    CancelMovesOff(op.id(), now);
  }
  return Status::Ok();
}

void ClusterState::CancelMovesOff(uint64_t node_id, int64_t now) {
  auto placed = by_node_.find(node_id);
  if (placed == by_node_.end()) return;
  const NameSet names = placed->second;  // MoveVm edits the index
  for (const std::string& name : names) {
    v1::Vm& vm = vms_.find(name)->second;
    if (vm.moving_off_node() != node_id) continue;
    if (vm.stopped_for_move()) {
      MoveVm(vm, 0, now, "waiting for placement");
      continue;
    }
    vm.clear_moving_off_node();
    vm.clear_move_index();
    vm.mutable_status()->set_message("drain of node " + std::to_string(node_id) + " cancelled");
    vm.mutable_status()->set_updated_at_unix_ms(now);
  }
}

Status ClusterState::ApplyMoveVmsOff(const v1::MoveVmsOff& op, int64_t now, uint64_t index) {
  for (const v1::VmMoveOff& m : op.moves()) {
    if (Status s = ValidateVmName(m.name()); !s.ok()) return s;
  }
  for (const v1::VmMoveOff& m : op.moves()) {
    auto it = vms_.find(m.name());
    auto node = nodes_.find(m.node_id());
    if (it == vms_.end() || node == nodes_.end() || !node->second.draining()) continue;
    v1::Vm& vm = it->second;
    if (vm.node_id() != m.node_id() || vm.moving_off_node() != 0) continue;
    if (m.expected_generation() != 0 && m.expected_generation() != vm.generation()) continue;
    vm.set_moving_off_node(m.node_id());
    vm.set_move_index(index);
    vm.set_stopped_for_move(false);
    vm.mutable_status()->set_message(MovingOffMessage(m.node_id()));
    vm.mutable_status()->set_updated_at_unix_ms(now);
  }
  return Status::Ok();
}

Status ClusterState::ApplyVmStoppedForMove(const v1::VmStoppedForMove& op, int64_t now,
                                           ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  v1::Vm& vm = it->second;
  if (op.node_id() == 0 || vm.node_id() != op.node_id() || vm.moving_off_node() != op.node_id() ||
      vm.move_index() != op.move_index()) {
    return Status::FailedPrecondition("vm " + Quote(op.name()) + " is not moving off node " +
                                      std::to_string(op.node_id()) + " under move " +
                                      std::to_string(op.move_index()) +
                                      ": the move ended or was cancelled");
  }
  vm.set_stopped_for_move(true);
  v1::VmStatus* status = vm.mutable_status();
  status->set_phase(v1::VM_PHASE_STOPPED);
  // The node stopped it and starts nothing marked: it has seen this generation.
  status->set_observed_generation(vm.generation());
  status->set_running_since_unix_ms(0);
  status->set_message("stopped; " + MovingOffMessage(op.node_id()));
  status->set_updated_at_unix_ms(now);
  Answer(out, vm);
  return Status::Ok();
}

Status ClusterState::ApplySetPendingReasons(const v1::SetPendingReasons& op, int64_t now) {
  for (const v1::PendingReason& r : op.reasons()) {
    if (Status s = ValidateVmName(r.name()); !s.ok()) return s;
    if (r.reason().size() > kMaxStatusMessageLength) {
      return Status::InvalidArgument("pending reason for vm " + Quote(r.name()) + " is " +
                                     std::to_string(r.reason().size()) +
                                     " bytes long: use at most " +
                                     std::to_string(kMaxStatusMessageLength));
    }
  }
  for (const v1::PendingReason& r : op.reasons()) {
    auto it = vms_.find(r.name());
    if (it == vms_.end()) continue;
    v1::Vm& vm = it->second;
    if (vm.node_id() != 0 || vm.generation() != r.expected_generation()) continue;
    v1::VmStatus* status = vm.mutable_status();
    if (status->message() == r.reason()) continue;
    status->set_message(r.reason());
    status->set_updated_at_unix_ms(now);
  }
  return Status::Ok();
}

Status ClusterState::ApplySetNodesHealth(const v1::SetNodesHealth& op, int64_t now) {
  for (const v1::NodeHealthChange& c : op.changes()) {
    if (c.health() != v1::NODE_HEALTH_READY && c.health() != v1::NODE_HEALTH_DOWN) {
      return Status::InvalidArgument("node " + std::to_string(c.node_id()) + " health " +
                                     std::to_string(c.health()) +
                                     " is invalid here: liveness sets READY or DOWN");
    }
  }
  for (const v1::NodeHealthChange& c : op.changes()) {
    auto it = nodes_.find(c.node_id());
    if (it == nodes_.end() || it->second.health() == c.health()) continue;
    it->second.set_health(c.health());
    it->second.set_health_changed_unix_ms(now);
  }
  return Status::Ok();
}

}  // namespace blixard::state
