// Leader-side placement: each pass schedules the VMs that wait for a node
// (desired RUNNING, unplaced) and the drain's moves together, in one
// scheduler batch, so the placements of one pass never overcommit a node.
// Drain moves are stop-then-start (control/drain.h): a pass marks the VMs
// whose move starts (moves_off) and places only the VMs their node has
// confirmed stopped.
// Pure: reads the state, returns what to propose; no clock, no I/O.
//
// REQUIRES: the caller proposes a pass's placements and waits until they are
// applied (or fail) before the next pass, so every pass sees the capacity the
// previous one took.
#pragma once

#include <string>
#include <vector>

#include "control/drain.h"
#include "scheduler/scheduler.h"
#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::control {

struct PlacementStep {
  // Placements and unplacements (node 0), each with the VM's generation.
  std::vector<state::Placement> placements;
  // Drain moves that start now (MoveVmsOff).
  std::vector<state::MoveOff> moves_off;
  // Why VMs still wait, for those whose status message says otherwise.
  std::vector<state::PendingReason> reasons;
  // The pass had VMs to schedule (and so cost a scheduler set-up, O(VMs));
  // false when nothing waited.
  bool scheduled = false;
};

class PlacementController {
 public:
  struct Options {
    size_t max_pending_per_pass = 10000;  // pending VMs looked at per pass
    size_t max_reasons_per_pass = 1000;
    size_t drain_moves_per_node = 4;
  };
  PlacementController() : PlacementController(Options{}) {}
  explicit PlacementController(Options options)
      : options_(options), drain_(options.drain_moves_per_node) {}

  // One pass. `rules`: extra scheduler filters (not owned). Pending VMs are
  // looked at in name order from where the last pass stopped, so VMs that
  // fit nowhere do not starve the ones after them.
  PlacementStep Step(const state::ClusterState& st, int64_t now_ms,
                     const std::vector<scheduler::PlacementRule*>& rules = {});

  const DrainController& drain() const { return drain_; }
  // The last pass looked at only part of the pending VMs.
  bool cut_short() const { return !cursor_.empty(); }

 private:
  Options options_;
  DrainController drain_;
  std::string cursor_;  // last pending VM looked at when a pass was cut short
};

// The simple form (tests, tools): places up to `max_batch` pending VMs.
std::vector<state::Placement> PlacePending(const state::ClusterState& st, size_t max_batch);

}  // namespace blixard::control
