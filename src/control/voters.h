// The leader's voter/standby controller: keeps up to `max_voters` voters,
// with the next caught-up learners as standbys ready to take a lost
// voter's place.
//   - A learner that the leader heard from within two election timeouts and
//     whose log is within kCatchUpSlack entries of the commit index is
//     healthy: it may be promoted while there are fewer voters than
//     max_voters (Raft thesis §4.2.1: a new server votes only once caught
//     up, so it cannot stall commits).
//   - A voter the leader has not heard from for `replace_after_ms` (and the
//     leader has led at least that long, so silence is not just a fresh
//     leader's ignorance) is demoted when a healthy standby exists; the
//     standby is promoted by a later step. Quorum then survives further
//     failures instead of counting a dead voter.
// One change per step; the caller proposes it and applies one membership
// change at a time (single-server changes, §4.1).
// Pure: times are durations the caller measured; no clock, no I/O. The
// daemon's node and the simulator run this same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

#include "raft/types.h"

namespace blixard::control {

inline constexpr raft::Index kCatchUpSlack = 64;

struct VoterView {
  raft::NodeId self = raft::kNoNode;  // the leader
  raft::ConfState conf;
  raft::Index commit = 0;
  std::map<raft::NodeId, raft::Index> match;  // the leader's view of each peer's log
  // Milliseconds since the leader last heard from each peer; absent: never.
  std::map<raft::NodeId, int64_t> silent_ms;
  std::set<raft::NodeId> removing;  // being removed: never promoted
  int64_t leader_for_ms = 0;        // how long `self` has led
  int64_t election_ms = 1000;       // the election timeout
  int64_t replace_after_ms = 30000;
  size_t max_voters = 3;
};

struct VoterChange {
  raft::ConfChangeType type = raft::ConfChangeType::kPromote;  // kPromote or kDemote
  raft::NodeId node = raft::kNoNode;
  const char* why = "";  // for the log: "caught up: promoting learner"
};

// The next membership change, if any.
std::optional<VoterChange> NextVoterChange(const VoterView& v);

}  // namespace blixard::control
