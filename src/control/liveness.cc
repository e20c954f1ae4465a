#include "control/liveness.h"

#include <algorithm>

namespace blixard::control {

void LivenessTracker::BecomeLeader(int64_t now_ms) {
  leader_since_ms_ = now_ms;
  heard_.clear();
}

void LivenessTracker::Heard(uint64_t node_id, int64_t now_ms) {
  int64_t& t = heard_[node_id];
  t = std::max(t, now_ms);
}

int64_t LivenessTracker::LastHeard(uint64_t node_id) const {
  auto it = heard_.find(node_id);
  return it == heard_.end() ? leader_since_ms_ : std::max(it->second, leader_since_ms_);
}

bool LivenessTracker::Silent(uint64_t node_id, int64_t now_ms) const {
  return now_ms - LastHeard(node_id) >= config_.ttl_ms;
}

std::vector<state::HealthChange> LivenessTracker::Step(const state::ClusterState& st,
                                                       int64_t now_ms) const {
  std::vector<state::HealthChange> out;
  for (const auto& [id, node] : st.nodes()) {
    if (out.size() >= config_.max_batch) break;
    if (node.health() == v1::NODE_HEALTH_DOWN) {
      // Back only on a real heartbeat of this leadership, never on the grace
      // a new leader gives every node.
      auto it = heard_.find(id);
      if (it != heard_.end() && it->second >= leader_since_ms_ &&
          now_ms - it->second < config_.ttl_ms) {
        out.push_back({id, v1::NODE_HEALTH_READY});
      }
    } else if (Silent(id, now_ms)) {
      out.push_back({id, v1::NODE_HEALTH_DOWN});
    }
  }
  return out;
}

std::string NodeDownMessage(uint64_t node_id) {
  return "node " + std::to_string(node_id) + " down";
}

Reschedule RescheduleFromDownNodes(const state::ClusterState& st,
                                   const std::function<bool(uint64_t)>& silent,
                                   size_t max_batch) {
  Reschedule out;
  for (const auto& [id, node] : st.nodes()) {
    if (node.health() != v1::NODE_HEALTH_DOWN || !silent(id)) continue;
    const std::string down = NodeDownMessage(id);
    for (const v1::Vm* vm : st.VmsOnNode(id)) {
      const bool never = vm->spec().restart_policy() == v1::RESTART_POLICY_NEVER;
      if (never && vm->desired_state() == v1::DESIRED_STATE_RUNNING) {
        if (out.fail.size() < max_batch &&
            !(vm->status().phase() == v1::VM_PHASE_FAILED && vm->status().message() == down)) {
          out.fail.push_back({vm->spec().name(), id, down});
        }
      } else if (out.unplace.size() < max_batch) {
        out.unplace.push_back({vm->spec().name(), 0, vm->generation()});
      }
      if (out.unplace.size() >= max_batch && out.fail.size() >= max_batch) return out;
    }
  }
  return out;
}

FenceRule::FenceRule(FenceConfig config, int64_t start_ms, int64_t last_ack_send_ms)
    : config_(config), wait_deadline_ms_(start_ms + config.ttl_ms - config.margin_ms) {
  if (last_ack_send_ms >= 0) {
    wait_deadline_ms_ =
        std::min(wait_deadline_ms_, last_ack_send_ms + config.ttl_ms - config.margin_ms);
  }
}

void FenceRule::OnAck(int64_t sent_ms, uint64_t leader_last_index, int64_t now_ms) {
  if (mode_ != Mode::kFenced && now_ms >= deadline_ms()) lapsed_ = true;
  if (sent_ms < last_ack_send_ms_) return;
  last_ack_send_ms_ = sent_ms;
  ack_index_ = leader_last_index;
}

int64_t FenceRule::deadline_ms() const {
  const int64_t by_ack = last_ack_send_ms_ < 0
                             ? wait_deadline_ms_
                             : last_ack_send_ms_ + config_.ttl_ms - config_.margin_ms;
  return mode_ == Mode::kWaiting ? std::max(wait_deadline_ms_, by_ack) : by_ack;
}

FenceRule::Action FenceRule::Step(int64_t now_ms, uint64_t applied_index) {
  const bool fresh =
      last_ack_send_ms_ >= 0 && now_ms < last_ack_send_ms_ + config_.ttl_ms - config_.margin_ms;
  if (lapsed_) {
    lapsed_ = false;
    if (mode_ != Mode::kFenced) {
      mode_ = Mode::kFenced;
      return Action::kFence;
    }
  }
  switch (mode_) {
    case Mode::kOpen:
      if (fresh) return Action::kNone;
      mode_ = Mode::kFenced;
      return Action::kFence;
    case Mode::kWaiting:
      if (fresh && applied_index >= ack_index_) {
        mode_ = Mode::kOpen;
        return Action::kOpen;
      }
      if (!fresh && now_ms >= wait_deadline_ms_) {
        mode_ = Mode::kFenced;
        return Action::kFence;
      }
      return Action::kNone;
    case Mode::kFenced:
      if (fresh && applied_index >= ack_index_) {
        mode_ = Mode::kOpen;
        return Action::kOpen;
      }
      return Action::kNone;
  }
  return Action::kNone;
}

HeartbeatAction DecideHeartbeat(const HeartbeatSeen& seen) {
  if (seen.leads) return HeartbeatAction::kRecord;
  if (seen.passed_on || !seen.leader_known) return HeartbeatAction::kRefuse;
  if (seen.relays_in_flight >= kMaxHeartbeatRelays) return HeartbeatAction::kRefuseBusy;
  return HeartbeatAction::kPassOn;
}

FenceConfig FenceConfigForTtl(int64_t ttl_ms) { return FenceConfig{ttl_ms, std::max<int64_t>(ttl_ms / 5, 150)}; }

}  // namespace blixard::control
