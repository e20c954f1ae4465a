#include "control/placement.h"

#include <map>

namespace blixard::control {

std::vector<state::Placement> PlacePending(const state::ClusterState& st, size_t max_batch) {
  std::vector<state::Placement> out;
  std::map<uint64_t, size_t> load;  // ready node -> VMs on it (including this batch)
  for (const auto& [id, n] : st.nodes()) {
    if (n.health() == v1::NODE_HEALTH_READY) load[id] = st.VmCountOnNode(id);
  }
  if (load.empty()) return out;
  for (const v1::Vm* vm : st.VmsOnNode(0)) {
    if (out.size() >= max_batch) break;
    if (vm->desired_state() != v1::DESIRED_STATE_RUNNING) continue;
    auto best = load.begin();
    for (auto it = load.begin(); it != load.end(); ++it) {
      if (it->second < best->second) best = it;
    }
    out.push_back({vm->spec().name(), best->first, vm->generation()});
    ++best->second;
  }
  return out;
}

}  // namespace blixard::control
