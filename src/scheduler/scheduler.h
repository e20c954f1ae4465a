// The scheduler: where VMs go. Pure: reads a ClusterState, returns
// placements and, for the VMs that fit nowhere, a reason a person can act on.
// No clock, no I/O, no threads; the same state and inputs give the same answer.
//
// For each VM, in the order given:
//   1. filters: the node's health is READY, it is not draining, it has
//      reported a capacity, the VM fits in what is free there (vCPUs, memory,
//      disk; counting every VM placed there that holds capacity, see
//      HoldsCapacity, and the placements made earlier in this batch), the
//      VM's constraints hold on the node's labels, no VM of the VM's
//      anti-affinity group is on the node, and every extra PlacementRule
//      admits it;
//   2. scoring, by the VM's strategy (its own, else the cluster setting
//      scheduler.strategy, else spread). A node's load is its dominant share:
//      max(used vCPUs / allocatable vCPUs, used memory / allocatable memory),
//      in fixed point. spread picks the admissible node with the lowest load,
//      binpack the one with the highest; ties go to the lowest node id.
// A placed VM's demand is added to its node before the next VM is looked at.
//
// Cost: nodes are kept in two ordered indexes by load, so a VM costs
// O(log N + k) where k is the number of better-scored nodes the filters turn
// away; a VM that fits nowhere costs O(N) once per distinct
// (shape, constraints, group) in a batch (later ones reuse the answer, since
// free room only shrinks within a batch). Setting up a call costs O(N + P)
// for P placed VMs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::scheduler {

enum class Strategy { kSpread, kBinpack };

// "binpack" / "spread"; anything else (including "") is `fallback`.
Strategy StrategyFromName(std::string_view name, Strategy fallback);
std::string_view StrategyName(Strategy s);
// The cluster's default: its scheduler.strategy setting, else spread.
Strategy ClusterStrategy(const state::ClusterState& st);

struct Resources {
  uint64_t vcpus = 0;
  uint64_t memory_mib = 0;
  uint64_t disk_mib = 0;
  bool Fits(const Resources& free) const {
    return vcpus <= free.vcpus && memory_mib <= free.memory_mib && disk_mib <= free.disk_mib;
  }
  Resources& operator+=(const Resources& o);
  Resources& operator-=(const Resources& o);  // saturates at 0
};

// What a VM takes from its node. Disks are host paths of existing images, so
// a VM asks no disk space of the node (disk_mib 0).
Resources Demand(const v1::VmSpec& spec);
// What the scheduler may hand out on a node (Node.capacity).
Resources Allocatable(const v1::Node& node);
// A VM placed on a node takes its demand from the node while it wants to run
// or may still run (a VM that is being stopped keeps its room until its node
// reports it stopped, on the generation that stopped it: state::HoldsCapacity).
// A stopped VM gives it back; starting it again goes through the scheduler
// (ClusterState unplaces it).
bool HoldsCapacity(const v1::Vm& vm);
// Sum of the demands of the VMs placed on `node_id` that hold capacity. O(1)
// (ClusterState::UsageOn).
Resources Used(const state::ClusterState& st, uint64_t node_id);

// An extra filter plugged into the scheduler (e.g. published host ports).
// REQUIRES: monotone within a batch: once Admits(vm, node) is false, it stays
// false after more Placed() calls; two VMs with the same Key() and spec
// shape are admitted by the same nodes.
class PlacementRule {
 public:
  virtual ~PlacementRule() = default;
  // Empty = admitted; otherwise why not ("port 80 is taken").
  virtual std::string Rejects(const v1::Vm& vm, const v1::Node& node) const = 0;
  // `vm` was placed on `node` in this batch.
  virtual void Placed(const v1::Vm& vm, const v1::Node& node) = 0;
  // What of the VM this rule looks at, for the batch's memo of VMs that fit
  // nowhere ("" = nothing).
  virtual std::string Key(const v1::Vm& vm) const = 0;
};

struct Options {
  // Strategy of VMs that name none; default: ClusterStrategy(state).
  std::optional<Strategy> default_strategy;
  // Nodes never chosen (e.g. the node being drained; it is already excluded
  // when it is marked draining).
  std::vector<uint64_t> exclude_nodes;
  // Extra filters, asked in order after the built-in ones. Not owned.
  std::vector<PlacementRule*> rules;
};

struct Unplaced {
  std::string name;
  uint64_t generation = 0;
  std::string reason;  // e.g. "needs 4 vCPUs; the most free on a ready node is 2 (node 3)"
};

struct Decision {
  std::vector<state::Placement> placements;  // with the VMs' generations
  std::vector<Unplaced> unplaced;
};

// Chooses a node for each VM in `vms` (pointers into `st`, in the order to
// place them; VMs already placed are moved: their current node's capacity is
// not counted for them). Deterministic.
Decision Schedule(const state::ClusterState& st, const std::vector<const v1::Vm*>& vms,
                  const Options& options = {});

// The VMs the scheduler should look at: unplaced, desired RUNNING, sorted
// by name, starting after `after` (wrapping around), at most `limit`.
std::vector<const v1::Vm*> PendingVms(const state::ClusterState& st, size_t limit,
                                      std::string_view after = {});

}  // namespace blixard::scheduler
