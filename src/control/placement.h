// Leader-side placement of VMs that want to run and have no node yet.
// Pure: reads the state, returns placements; no clock, no I/O.
//
// This is the first, simple policy (spread by VM count over ready nodes);
// the scheduler with capacity, constraints and scoring (src/scheduler/)
// replaces it.
#pragma once

#include <vector>

#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::control {

// Places up to `max_batch` unplaced VMs whose desired state is RUNNING on the
// ready node with the fewest VMs (ties: lowest id). Each placement carries
// the VM's generation, so a concurrent change makes the batch fail instead of
// placing a stale record. Empty when there is nothing to place or no ready node.
std::vector<state::Placement> PlacePending(const state::ClusterState& st, size_t max_batch);

}  // namespace blixard::control
