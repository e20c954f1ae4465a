#include "control/drain.h"

#include "scheduler/scheduler.h"

namespace blixard::control {

void DrainController::Prune(const state::ClusterState& st) {
  for (auto it = moving_.begin(); it != moving_.end();) {
    const v1::Vm* vm = st.FindVm(it->first);
    // Done once the new node has reported on it (or it changed otherwise).
    const bool done = vm == nullptr || vm->node_id() != it->second.to ||
                      vm->status().phase() != v1::VM_PHASE_PENDING ||
                      vm->desired_state() != v1::DESIRED_STATE_RUNNING;
    it = done ? moving_.erase(it) : std::next(it);
  }
}

DrainPlan DrainController::Plan(const state::ClusterState& st, int64_t now_ms) {
  Prune(st);
  std::map<uint64_t, size_t> in_flight;
  for (const auto& [name, m] : moving_) ++in_flight[m.from];
  DrainPlan plan;
  for (const auto& [id, node] : st.nodes()) {
    if (!node.draining()) continue;
    const bool overdue = node.drain_deadline_unix_ms() != 0 && now_ms >= node.drain_deadline_unix_ms();
    std::vector<const v1::Vm*> unmarked;
    for (const v1::Vm* vm : st.VmsOnNode(id)) {
      if (!scheduler::HoldsCapacity(*vm)) {
        plan.unplace.push_back({vm->spec().name(), 0, vm->generation()});
      } else if (vm->moving_off_node() != id) {
        unmarked.push_back(vm);
      } else if (vm->stopped_for_move()) {
        plan.place.push_back(vm);
        ++in_flight[id];
      } else {
        ++in_flight[id];
      }
    }
    // A DOWN node cannot stop anything: the liveness path moves its VMs.
    if (node.health() == v1::NODE_HEALTH_DOWN) continue;
    const size_t budget = moves_per_node_ > in_flight[id] ? moves_per_node_ - in_flight[id] : 0;
    size_t offered = 0;
    for (const v1::Vm* vm : unmarked) {
      if (overdue || offered < budget) {
        plan.start.push_back(vm);
        plan.overdue.push_back(overdue);
        ++offered;
      } else if (offered > 0) {
        plan.spare.push_back(vm);
      } else {
        break;
      }
    }
  }
  return plan;
}

void DrainController::Started(const std::vector<state::Placement>& placements,
                              const state::ClusterState& st) {
  for (const state::Placement& p : placements) {
    const v1::Vm* vm = st.FindVm(p.name);
    if (vm == nullptr || p.node_id == 0 || vm->node_id() == 0) continue;
    moving_[p.name] = Move{vm->node_id(), p.node_id};
  }
}

bool DrainDone(const state::ClusterState& st, uint64_t id) {
  if (st.FindNode(id) == nullptr) return false;
  return ProgressOf(st, id).left == 0;
}

DrainProgress ProgressOf(const state::ClusterState& st, uint64_t id) {
  DrainProgress p;
  for (const v1::Vm* vm : st.VmsOnNode(id)) {
    if (!scheduler::HoldsCapacity(*vm)) continue;
    ++p.left;
    if (vm->moving_off_node() == id) ++p.moving;
  }
  return p;
}

}  // namespace blixard::control
