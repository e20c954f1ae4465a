// Leader-side drain controller: moves the VMs off nodes marked draining
// (`node drain`), a few at a time, and after the drain's deadline all that
// are left. Pure: driven by the applied state and a time passed in.
//
// A move is stop-then-start, so a VM never runs on two nodes at once:
//   1. mark (MoveVmsOff): the VM is moving off its node; the scheduler must
//      see room for it elsewhere first (unless the drain is overdue);
//   2. the agent on the draining node stops the VM, starts nothing marked,
//      and confirms (VmStoppedForMove, carrying the mark's log index);
//   3. only a confirmed VM is placed elsewhere (PlaceVms, which clears the
//      mark); if it fits nowhere by then it is unplaced and waits PENDING.
// If the draining node goes DOWN before it confirms, nothing here places
// the VM: the liveness path (control/liveness.h) moves it after the node
// has been silent a full TTL, hence fenced. The deadline only lifts the
// pacing (every VM is marked at once, whether or not it fits elsewhere
// now); it never skips step 2.
//
// In flight per draining node: the marked VMs plus the VMs this controller
// placed elsewhere that the new node has not yet reported on. The marks are
// replicated, so a new leader continues the moves; only the second part is
// this object's memory (a new leader starts with none).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::control {

struct DrainPlan {
  // VMs confirmed stopped for their move: place them elsewhere now (or
  // unplace them when they fit nowhere).
  std::vector<const v1::Vm*> place;
  // VMs whose move starts now, if the scheduler finds room for them;
  // overdue[i]: the drain's deadline has passed, so mark it anyway.
  std::vector<const v1::Vm*> start;
  std::vector<bool> overdue;
  // The other unmarked VMs of the draining nodes that have a `start` VM
  // within their pacing (not overdue), in order: a `start` VM that fits
  // nowhere hands its slot to the first of these of its node that fits, so
  // that VMs that fit nowhere do not hold the drain back.
  std::vector<const v1::Vm*> spare;
  // VMs that hold no capacity (stopped): unplaced at once, nothing runs.
  std::vector<state::Placement> unplace;
};

class DrainController {
 public:
  // At most `moves_per_node` moves off each draining node in flight.
  explicit DrainController(size_t moves_per_node = 4) : moves_per_node_(moves_per_node) {}

  // What to do now. REQUIRES: `st` is the applied state on the leader.
  DrainPlan Plan(const state::ClusterState& st, int64_t now_ms);
  // The placements proposed for Plan's `place` VMs: the moves whose new
  // node has not reported yet.
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

// Progress of the drain of node `id`: VMs still holding capacity there, and
// of those the ones marked as moving off.
struct DrainProgress {
  size_t left = 0;
  size_t moving = 0;
};
DrainProgress ProgressOf(const state::ClusterState& st, uint64_t id);

}  // namespace blixard::control
