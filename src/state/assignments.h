// The assignment stream of a worker (proto WorkerService.WatchAssignments):
// the VMs placed on one node, sent as a full set and then as diffs between
// versions. Pure: no I/O, no clock, no threads.
//
// A version is the cluster state's applied_index() the set was read at, so
// one version names one set on every server (the state at an index is the
// same everywhere). Diffs chain: a diff carries the version it applies on
// (base_version), and a view refuses one that does not start where it is,
// so a worker never holds a set that no state ever had.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "blixard/v1/internal.pb.h"
#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "state/cluster_state.h"

namespace blixard::state {

// VM records by name.
using AssignmentSet = std::map<std::string, v1::Vm>;

// The VMs placed on `node_id` in `st`.
AssignmentSet AssignmentsOf(const ClusterState& st, uint64_t node_id);

// Everything in `set`, at `version`.
v1::AssignmentUpdate FullAssignments(const AssignmentSet& set, uint64_t version);

// What turns `before` (at base_version) into `after` (at version): records
// added or changed in any field (status included), and names gone.
v1::AssignmentUpdate DiffAssignments(const AssignmentSet& before, uint64_t base_version,
                                     const AssignmentSet& after, uint64_t version);

// An update with no VM added, changed or removed (it may still move the
// version on).
bool EmptyDiff(const v1::AssignmentUpdate& u);

// The worker's copy of its set.
class AssignmentView {
 public:
  // Applies a full set (at a version not older than the held one) or a diff
  // whose base_version is the held version. Anything else is refused with
  // kFailedPrecondition and changes nothing (the caller reconnects and asks
  // again from version()).
  Status Apply(const v1::AssignmentUpdate& u);

  bool has_set() const { return has_set_; }
  uint64_t version() const { return version_; }
  // The highest applied_index of the updates taken: the set is at least
  // this new in Raft log terms (see the fence rule, control/liveness.h).
  uint64_t applied_index() const { return applied_index_; }
  const AssignmentSet& set() const { return set_; }

 private:
  bool has_set_ = false;
  uint64_t version_ = 0;
  uint64_t applied_index_ = 0;
  AssignmentSet set_;
};

// A server's memory of the sets it sent recently, so a worker that
// reconnects can be sent a diff instead of its whole set. Keeps the newest
// `per_node` versions of each node.
class AssignmentHistory {
 public:
  explicit AssignmentHistory(size_t per_node = 4) : per_node_(per_node) {}
  void Remember(uint64_t node_id, uint64_t version, const AssignmentSet& set);
  // The set sent to `node_id` at `version`, if still kept.
  std::optional<AssignmentSet> At(uint64_t node_id, uint64_t version) const;
  void Forget(uint64_t node_id) { by_node_.erase(node_id); }

 private:
  size_t per_node_;
  std::unordered_map<uint64_t, std::deque<std::pair<uint64_t, AssignmentSet>>> by_node_;
};

}  // namespace blixard::state
