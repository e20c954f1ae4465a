#include "control/placement.h"

#include <map>
#include <string_view>

namespace blixard::control {

PlacementStep PlacementController::Step(const state::ClusterState& st, int64_t now_ms,
                                        const std::vector<scheduler::PlacementRule*>& rules) {
  PlacementStep out;
  DrainPlan drain = drain_.Plan(st, now_ms);
  out.placements = drain.unplace;

  std::vector<const v1::Vm*> vms = drain.move;
  const size_t moves = vms.size();
  std::vector<const v1::Vm*> pending =
      scheduler::PendingVms(st, options_.max_pending_per_pass, cursor_);
  cursor_ = pending.size() == options_.max_pending_per_pass ? pending.back()->spec().name()
                                                            : std::string();
  vms.insert(vms.end(), pending.begin(), pending.end());
  if (vms.empty()) return out;

  scheduler::Options so;
  so.rules = rules;
  scheduler::Decision d = scheduler::Schedule(st, vms, so);

  std::map<std::string_view, bool> moving;  // VM -> overdue
  for (size_t i = 0; i < moves; ++i) moving[vms[i]->spec().name()] = drain.overdue[i];
  std::vector<state::Placement> moved;
  for (state::Placement& p : d.placements) {
    if (moving.contains(p.name)) moved.push_back(p);
    out.placements.push_back(std::move(p));
  }
  for (const scheduler::Unplaced& u : d.unplaced) {
    // Overdue moves that fit nowhere leave the node anyway and wait.
    if (auto it = moving.find(u.name); it != moving.end() && it->second) {
      out.placements.push_back({u.name, 0, u.generation});
    }
  }
  drain_.Started(moved, st);
  for (scheduler::Unplaced& u : d.unplaced) {
    if (out.reasons.size() >= options_.max_reasons_per_pass) break;
    if (moving.contains(u.name)) continue;
    const v1::Vm* vm = st.FindVm(u.name);
    if (vm == nullptr || vm->status().message() == u.reason) continue;
    out.reasons.push_back({std::move(u.name), u.generation, std::move(u.reason)});
  }
  return out;
}

std::vector<state::Placement> PlacePending(const state::ClusterState& st, size_t max_batch) {
  return scheduler::Schedule(st, scheduler::PendingVms(st, max_batch)).placements;
}

}  // namespace blixard::control
