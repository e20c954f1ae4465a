#include "control/placement.h"

#include <map>
#include <string_view>

#include "state/validation.h"

namespace blixard::control {

PlacementStep PlacementController::Step(const state::ClusterState& st, int64_t now_ms,
                                        const std::vector<scheduler::PlacementRule*>& rules) {
  PlacementStep out;
  if (st.Setting(state::kSettingSchedulerPaused, "false") == "true") return out;
  DrainPlan drain = drain_.Plan(st, now_ms);
  out.placements = drain.unplace;

  // One batch: confirmed moves first, then moves to start, then pending VMs.
  std::vector<const v1::Vm*> vms = drain.place;
  vms.insert(vms.end(), drain.start.begin(), drain.start.end());
  std::map<std::string_view, bool> placing;   // confirmed move -> true
  std::map<std::string_view, bool> starting;  // move to start -> overdue
  for (const v1::Vm* vm : drain.place) placing[vm->spec().name()] = true;
  for (size_t i = 0; i < drain.start.size(); ++i) {
    starting[drain.start[i]->spec().name()] = drain.overdue[i];
  }
  std::vector<const v1::Vm*> pending =
      scheduler::PendingVms(st, options_.max_pending_per_pass, cursor_);
  cursor_ = pending.size() == options_.max_pending_per_pass ? pending.back()->spec().name()
                                                            : std::string();
  vms.insert(vms.end(), pending.begin(), pending.end());
  // Last, so that they take no room from the others.
  vms.insert(vms.end(), drain.spare.begin(), drain.spare.end());
  std::map<std::string_view, bool> spare;
  for (const v1::Vm* vm : drain.spare) spare[vm->spec().name()] = true;
  if (vms.empty()) return out;
  out.scheduled = true;

  scheduler::Options so;
  so.rules = rules;
  scheduler::Decision d = scheduler::Schedule(st, vms, so);

  std::vector<state::Placement> moved;
  std::map<std::string_view, uint64_t> spare_fits;  // spare VM that has room -> expected generation
  for (state::Placement& p : d.placements) {
    if (spare.contains(p.name)) {
      spare_fits[p.name] = p.expected_generation;
      continue;
    }
    if (starting.contains(p.name)) {
      // Room exists elsewhere: the move starts with the stop.
      const v1::Vm* vm = st.FindVm(p.name);
      out.moves_off.push_back({p.name, vm->node_id(), p.expected_generation});
      continue;
    }
    if (placing.contains(p.name)) moved.push_back(p);
    out.placements.push_back(std::move(p));
  }
  std::map<uint64_t, size_t> free_slots;  // draining node -> moves it may still start
  for (const scheduler::Unplaced& u : d.unplaced) {
    if (placing.contains(u.name)) {
      // Stopped for its move and fits nowhere now: it waits as a pending VM.
      out.placements.push_back({u.name, 0, u.generation});
    } else if (auto it = starting.find(u.name); it != starting.end() && it->second) {
      // Overdue: the move starts even though nothing has room yet.
      const v1::Vm* vm = st.FindVm(u.name);
      out.moves_off.push_back({u.name, vm->node_id(), u.generation});
    } else if (it != starting.end()) {
      ++free_slots[st.FindVm(u.name)->node_id()];  // fits nowhere: a spare of its node may go
    }
  }
  for (const v1::Vm* vm : drain.spare) {
    auto fits = spare_fits.find(vm->spec().name());
    if (fits == spare_fits.end() || free_slots[vm->node_id()] == 0) continue;
    --free_slots[vm->node_id()];
    out.moves_off.push_back({vm->spec().name(), vm->node_id(), fits->second});
  }
  drain_.Started(moved, st);
  for (scheduler::Unplaced& u : d.unplaced) {
    if (out.reasons.size() >= options_.max_reasons_per_pass) break;
    if (placing.contains(u.name) || starting.contains(u.name) || spare.contains(u.name)) continue;
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
