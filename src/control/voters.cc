#include "control/voters.h"

#include <algorithm>

namespace blixard::control {

std::optional<VoterChange> NextVoterChange(const VoterView& v) {
  auto silent_for = [&](raft::NodeId id) -> std::optional<int64_t> {
    auto it = v.silent_ms.find(id);
    if (it == v.silent_ms.end()) return std::nullopt;
    return it->second;
  };
  auto healthy_learner = [&](raft::NodeId l) {
    auto silent = silent_for(l);
    auto m = v.match.find(l);
    const raft::Index match = m == v.match.end() ? 0 : m->second;
    return !v.removing.contains(l) && silent && *silent < 2 * v.election_ms &&
           match + kCatchUpSlack >= v.commit;
  };
  if (v.leader_for_ms > v.replace_after_ms &&
      std::any_of(v.conf.learners.begin(), v.conf.learners.end(), healthy_learner)) {
    for (raft::NodeId voter : v.conf.voters) {
      if (voter == v.self) continue;
      auto silent = silent_for(voter);
      if (!silent || *silent > v.replace_after_ms) {
        return VoterChange{raft::ConfChangeType::kDemote, voter, "replacing lost voter: demoting"};
      }
    }
  }
  if (v.conf.voters.size() < v.max_voters) {
    for (raft::NodeId l : v.conf.learners) {
      if (healthy_learner(l)) {
        return VoterChange{raft::ConfChangeType::kPromote, l, "caught up: promoting learner"};
      }
    }
  }
  return std::nullopt;
}

}  // namespace blixard::control
