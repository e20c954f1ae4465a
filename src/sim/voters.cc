// SimConfig::max_voters: the check that the daemon's voter controller
// (control/voters.h, run by each simulated member's leader on its ticks,
// node/member_controllers.cc) keeps the configured number of voters.
#include <algorithm>
#include <string>

#include "sim/world.h"

namespace blixard::sim::detail {

// Once the cluster is quiet (every member up), the leader holds
// min(max_voters, members) voters.
std::string World::VotersWaitingOn(SimNode& l) {
  const raft::ConfState& conf = l.raft().conf();
  const size_t members = conf.voters.size() + conf.learners.size();
  const size_t want = std::min(members, static_cast<size_t>(cfg_.max_voters));
  if (conf.voters.size() == want) return "";
  return std::to_string(conf.voters.size()) + " voters of " + std::to_string(members) + " members, want " +
         std::to_string(want);
}

}  // namespace blixard::sim::detail
