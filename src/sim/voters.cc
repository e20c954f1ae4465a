// SimConfig::max_voters: the daemon's voter controller (control/voters.h)
// run by the simulated leader on its ticks, from the leader's own view
// (when it last heard each peer, since when it leads), and the check that
// it keeps the configured number of voters.
#include <algorithm>
#include <string>

#include "control/voters.h"
#include "sim/world.h"

namespace blixard::sim::detail {

namespace {
// Shorter than the daemon's 30 s default so that the nemesis's crashes
// (up to 4 s) outlast it now and then.
constexpr Time kReplaceAfterMs = 2'000;
}  // namespace

void World::RunVoterController(SimNode& l) {
  control::VoterView v;
  v.self = l.id;
  v.conf = l.raft->conf();
  v.commit = l.raft->commit_index();
  for (const auto& p : l.raft->progress()) v.match[p.id] = p.match;
  for (const auto& [id, at] : l.last_heard) v.silent_ms[id] = events_.now() - at;
  v.leader_for_ms = events_.now() - l.leader_since;
  v.election_ms = kTickMs * raft_template_.election_tick;
  v.replace_after_ms = kReplaceAfterMs;
  v.max_voters = static_cast<size_t>(cfg_.max_voters);
  auto change = control::NextVoterChange(v);
  if (!change) return;
  if (cfg_.bug == InjectedBug::kNoVoterPromotion && change->type == raft::ConfChangeType::kPromote) return;
  raft::ConfChange cc{change->type, change->node, ""};
  auto r = l.raft->propose_conf_change(cc);
  Trace(Ev::kConfPropose, l.id, static_cast<uint64_t>(cc.type), cc.node, r.ok());
}

// Once the cluster is quiet (every member up), the leader holds
// min(max_voters, members) voters.
std::string World::VotersWaitingOn(SimNode& l) {
  const raft::ConfState& conf = l.raft->conf();
  const size_t members = conf.voters.size() + conf.learners.size();
  const size_t want = std::min(members, static_cast<size_t>(cfg_.max_voters));
  if (conf.voters.size() == want) return "";
  return std::to_string(conf.voters.size()) + " voters of " + std::to_string(members) + " members, want " +
         std::to_string(want);
}

}  // namespace blixard::sim::detail
