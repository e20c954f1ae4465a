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
#include <memory>
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
  // The same without a copy: the set is shared, never changed.
  void Remember(uint64_t node_id, uint64_t version, std::shared_ptr<const AssignmentSet> set);
  // The set sent to `node_id` at `version`, if still kept.
  std::optional<AssignmentSet> At(uint64_t node_id, uint64_t version) const;
  void Forget(uint64_t node_id) { by_node_.erase(node_id); }

 private:
  size_t per_node_;
  std::unordered_map<uint64_t, std::deque<std::pair<uint64_t, std::shared_ptr<const AssignmentSet>>>>
      by_node_;
};

// The pacing of a server's stream to one worker (the daemon's
// api::AssignmentStreams and the simulator's servers): an empty update at
// most this often while the applied index moves (AssignmentFeed::Next's
// progress), and how long a stream waits for its server to reach the
// version the worker resumes from before it ends with UNAVAILABLE (the
// worker tries another server).
inline constexpr int64_t kAssignmentProgressEveryMs = 100;
inline constexpr int64_t kAssignmentCatchUpWaitMs = 10'000;

// A server's side of one worker's stream: what to send next. The caller
// (api::WorkerServiceImpl) decides when to ask: on each apply, when a write
// completes, and on a timer for progress.
class AssignmentFeed {
 public:
  // `held`: the set the worker says it holds at `from_version` (it asked to
  // resume from there), if this server still knows it; else the first
  // update is a full set.
  AssignmentFeed(uint64_t node_id, uint64_t from_version, std::optional<AssignmentSet> held);

  // The update to send now, or nothing:
  //   - the first call: a full set (or a diff from the held set), always;
  //   - then a diff when the node's set changed (read from `st` only when
  //     st.AssignmentsChangedAt(node) is newer than the last read: an
  //     unchanged node's set is not read at all);
  //   - else, when `progress_due` and `applied` moved since the last update
  //     sent, an empty diff that moves the version and applied index on (so
  //     a fenced worker learns that it caught up).
  // `applied`: the Raft applied index, read before `st` (the set is at
  // least that new). Each update returned counts as sent.
  std::optional<v1::AssignmentUpdate> Next(const ClusterState& st, uint64_t applied, bool progress_due);

  uint64_t node_id() const { return node_id_; }
  // The set and version of the last update returned.
  const AssignmentSet& sent() const { return *sent_; }
  std::shared_ptr<const AssignmentSet> shared_sent() const { return sent_; }
  uint64_t sent_version() const { return sent_version_; }
  // The applied index of the last update returned (0 before the first).
  uint64_t sent_applied() const { return sent_applied_; }
  // How many times Next read the node's set from the state.
  uint64_t set_reads() const { return set_reads_; }

 private:
  uint64_t node_id_;
  bool first_ = true;
  bool has_sent_;          // sent_ is what the worker holds
  std::shared_ptr<const AssignmentSet> sent_;
  uint64_t sent_version_;  // the version the worker holds
  uint64_t sent_applied_ = 0;
  uint64_t read_at_ = 0;   // the set in st equalled sent_ at this state version
  uint64_t set_reads_ = 0;
};

}  // namespace blixard::state
