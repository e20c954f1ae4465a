// Member: what a leader does beyond Raft. Its set-up proposals when it
// takes over, the voter/standby controller (control/voters.h) on ticks and
// the placement passes of control::PlacementController (paced, batched,
// one pass in flight).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "control/voters.h"
#include "node/member.h"
#include "state/commands.h"

namespace blixard::node {

void Member::OnBecameLeader() {
  leader_since_ = host_->Now();
  // The core appended this term's first entry on election: once it is
  // applied, so is every entry an earlier leader may have left in the log.
  term_start_index_ = raft_->last_index();
  placement_dirty_ = true;
  placement_ = control::PlacementController();  // moves of an earlier term are not ours
  placement_index_ = 0;
  // Liveness starts afresh: every node counts as heard now, so none is
  // marked down or has its VMs moved before a full TTL of this leadership.
  liveness_.BecomeLeader(NowMs());
  liveness_index_ = 0;
  liveness_next_ = {};
  // The bootstrapping node records the cluster id, and every leader makes
  // sure it is registered with its address; both commands are idempotent.
  const int64_t wall = host_->WallMs();
  const bool need_init = state_.cluster_id().empty() && !config_.cluster_id.empty();
  const v1::Node* self = state_.FindNode(config_.id);
  const bool need_register = self == nullptr || self->address() != config_.self.address();
  if (need_init) ProposeInternal(state::MakeInitCluster(config_.cluster_id, wall));
  if (need_init && !config_.vm_subnet.empty()) ProposeInternal(state::MakeSetVmSubnet(config_.vm_subnet, wall));
  if (need_register) {
    v1::Node n = config_.self;
    n.set_id(config_.id);
    n.set_registered_at_unix_ms(wall);
    ProposeInternal(state::MakeRegisterNode(n, wall));
  }
}

void Member::RunVoterController() {
  const auto now = host_->Now();
  auto ms = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  control::VoterView view;
  view.self = config_.id;
  view.conf = raft_->conf();
  view.commit = raft_->commit_index();
  for (const auto& p : raft_->progress()) view.match[p.id] = p.match;
  for (const auto& [id, at] : last_heard_) view.silent_ms[id] = ms(now - at);
  view.removing = removing_;
  view.leader_for_ms = ms(now - leader_since_);
  view.election_ms = int64_t{config_.tick_ms} * config_.election_ticks;
  view.replace_after_ms = config_.voter_replace_after_ms;
  view.max_voters = config_.max_voters;
  auto change = control::NextVoterChange(view);
  if (change && change->type == raft::ConfChangeType::kPromote && config_.skip_voter_promotion_for_testing) return;
  if (change) {
    auto idx = ProposeConfChange(raft::ConfChange{change->type, change->node, ""}, nullptr);
    if (idx.ok()) spdlog::info("{} node {}", change->why, change->node);
  }
}

void Member::PlacePendingVms() {
  // One pass at a time: the next one must see the capacity this one took.
  // The first waits for everything an earlier leader left in the log (its
  // placements too): a pass decided on an applied state that lacks them
  // could put two VMs of one anti-affinity group on one node.
  if (placement_index_ > applied_ || term_start_index_ > applied_) return;
  const auto now = host_->Now();
  // A pass that scheduled VMs but placed nothing is repeated at most every
  // 100 ms (the scheduler's set-up reads every placed VM), and only when
  // something applied may have changed what fits (placement_dirty_), the
  // last pass stopped short, or a second passed (drain deadlines). A pass
  // that found nothing waiting cost little, so a VM created just after it
  // is placed at once.
  if (now < placement_next_) return;
  if (!placement_dirty_ && !placement_.cut_short() && now < placement_last_ + std::chrono::seconds(1)) return;
  placement_dirty_ = false;
  placement_last_ = now;
  placement_next_ = now + std::chrono::milliseconds(100);
  const int64_t wall = host_->WallMs();
  control::PlacementStep step;
  if (config_.placement_view_for_testing) {
    state::ClusterState view = state_;
    config_.placement_view_for_testing(view);
    step = placement_.Step(view, wall);
  } else {
    step = placement_.Step(state_, wall);
  }
  if (config_.skip_drain_moves_for_testing) step.moves_off.clear();
  constexpr size_t kMaxPlacementsPerEntry = 10000;
  for (size_t i = 0; i < step.placements.size(); i += kMaxPlacementsPerEntry) {
    const size_t end = std::min(step.placements.size(), i + kMaxPlacementsPerEntry);
    std::vector<state::Placement> part(step.placements.begin() + i, step.placements.begin() + end);
    auto idx = raft_->propose(state::EncodeCommand(state::MakePlaceVms(part, wall)));
    if (!idx.ok()) return;
    placement_index_ = *idx;
  }
  if (!step.moves_off.empty()) {
    auto idx = raft_->propose(state::EncodeCommand(state::MakeMoveVmsOff(step.moves_off, wall)));
    if (!idx.ok()) return;
    placement_index_ = *idx;
  }
  if (!step.reasons.empty()) {
    auto idx = raft_->propose(state::EncodeCommand(state::MakeSetPendingReasons(step.reasons, wall)));
    if (idx.ok()) placement_index_ = *idx;
  }
  // Placements change the state: look again as soon as they are applied.
  if (!step.scheduled || !step.placements.empty() || !step.moves_off.empty()) placement_next_ = now;
}

bool Member::MayNeedPlacement(const v1::Command& cmd) {
  // A VM created stopped waits unplaced until it is started (a separate
  // command); everything else may change what is placeable.
  return !(cmd.has_create_vm() && cmd.create_vm().desired_state() == v1::DESIRED_STATE_STOPPED);
}

}  // namespace blixard::node
