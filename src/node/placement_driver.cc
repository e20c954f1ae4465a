// The leader's placement passes: when to run control::PlacementController
// (paced, batched, one pass in flight) and proposing what it decides.
#include <algorithm>

#include "common/wall_clock.h"
#include "control/placement.h"
#include "node/node_impl.h"
#include "state/commands.h"

namespace blixard::node {

void Node::Impl::PlacePendingVms() {
  // One pass at a time: the next one must see the capacity this one took.
  if (placement_index_ > applied_) return;
  const auto now = Clock::now();
  // A pass that scheduled VMs but placed nothing is repeated at most every
  // 100 ms (the scheduler's set-up reads every placed VM), and only when
  // something applied may have changed what fits (placement_dirty_), the
  // last pass stopped short, or a second passed (drain deadlines). A pass
  // that found nothing waiting cost little, so a VM created just after it
  // is placed at once.
  if (now < placement_next_) return;
  if (!placement_dirty_ && !placement_.cut_short() && now < placement_last_ + std::chrono::seconds(1)) {
    return;
  }
  placement_dirty_ = false;
  placement_last_ = now;
  placement_next_ = now + std::chrono::milliseconds(100);
  control::PlacementStep step;
  {
    std::shared_lock lk(state_mu_);
    step = placement_.Step(state_, NowUnixMs());
  }
  constexpr size_t kMaxPlacementsPerEntry = 10000;
  for (size_t i = 0; i < step.placements.size(); i += kMaxPlacementsPerEntry) {
    const size_t end = std::min(step.placements.size(), i + kMaxPlacementsPerEntry);
    std::vector<state::Placement> part(step.placements.begin() + i, step.placements.begin() + end);
    auto idx = raft_->propose(state::EncodeCommand(state::MakePlaceVms(part, NowUnixMs())));
    if (!idx.ok()) return;
    placement_index_ = *idx;
  }
  if (!step.moves_off.empty()) {
    auto idx = raft_->propose(state::EncodeCommand(state::MakeMoveVmsOff(step.moves_off, NowUnixMs())));
    if (!idx.ok()) return;
    placement_index_ = *idx;
  }
  if (!step.reasons.empty()) {
    auto idx = raft_->propose(state::EncodeCommand(state::MakeSetPendingReasons(step.reasons, NowUnixMs())));
    if (idx.ok()) placement_index_ = *idx;
  }
  // Placements change the state: look again as soon as they are applied.
  if (!step.scheduled || !step.placements.empty() || !step.moves_off.empty()) placement_next_ = now;
}

bool Node::Impl::MayNeedPlacement(const v1::Command& cmd) {
  // A VM created stopped waits unplaced until it is started (a separate
  // command); everything else may change what is placeable.
  return !(cmd.has_create_vm() && cmd.create_vm().desired_state() == v1::DESIRED_STATE_STOPPED);
}

}  // namespace blixard::node
