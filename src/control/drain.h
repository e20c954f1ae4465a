// Leader-side drain controller: moves the VMs off nodes marked draining
// (`node drain`), a few at a time, and after the drain's deadline all that
// are left. Pure: driven by the applied state and a time passed in; its only
// memory is the moves it started (a new leader starts with none, so at most
// one more round of moves is in flight after a leader change).
//
// A move is one PlaceVms entry that places the VM on another node (the
// scheduler's choice): the agent on the draining node stops the VM once it is
// no longer placed there, and the agent on the new node starts it. The two
// agents act independently, so the VM may run on both for up to one agent
// period while it moves.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::control {

struct DrainPlan {
  // VMs to schedule elsewhere, in order; overdue[i]: the drain's deadline has
  // passed, so if it fits nowhere it is unplaced (left PENDING) anyway.
  std::vector<const v1::Vm*> move;
  std::vector<bool> overdue;
  // VMs that hold no capacity (stopped): unplaced at once, nothing runs.
  std::vector<state::Placement> unplace;
};

class DrainController {
 public:
  // At most `moves_per_node` moves off each draining node in flight (placed
  // elsewhere, not yet reported by the new node).
  explicit DrainController(size_t moves_per_node = 4) : moves_per_node_(moves_per_node) {}

  // What to do now. REQUIRES: `st` is the applied state on the leader.
  DrainPlan Plan(const state::ClusterState& st, int64_t now_ms);
  // The placements proposed for Plan's VMs: the moves now in flight.
  void Started(const std::vector<state::Placement>& placements, const state::ClusterState& st);

  size_t in_flight() const { return moving_.size(); }

 private:
  struct Move {
    uint64_t from = 0;
    uint64_t to = 0;
  };
  void Prune(const state::ClusterState& st);

  size_t moves_per_node_;
  std::map<std::string, Move, std::less<>> moving_;
};

// Whether every VM has left node `id` (nothing holds capacity there): the
// drain is done. False for an unknown node.
bool DrainDone(const state::ClusterState& st, uint64_t id);

}  // namespace blixard::control
