// Member: the leader's side of liveness (control/liveness.h holds the
// rules and why they keep a VM from running on two nodes at once). The
// leader records heartbeats and acknowledges them after a ReadIndex round,
// and on its ticks proposes the health changes and the moves off DOWN
// nodes, one batch in flight at a time. Everything runs in the pass, so a
// heartbeat recorded after a decision is acknowledged with a last index
// that covers the decision's entries.
#include <spdlog/spdlog.h>

#include <chrono>

#include "node/member.h"
#include "state/commands.h"

namespace blixard::node {

int64_t Member::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(host_->Now().time_since_epoch()).count();
}

Status Member::Heartbeat(uint64_t node_id, HeartbeatCallback done) {
  if (config_.liveness_ttl_ms <= 0) return Status::FailedPrecondition("this member runs no liveness");
  if (raft_->role() != raft::Role::kLeader) {
    return Status::FailedPrecondition("node " + std::to_string(config_.id) + " is not the leader");
  }
  liveness_.Heard(node_id, NowMs());
  hb_waiting_.push_back(std::move(done));
  if (hb_round_.empty()) StartHeartbeatRound();  // else: the next round
  return Status::Ok();
}

void Member::StartHeartbeatRound() {
  const uint64_t term = raft_->term();
  hb_round_ = std::exchange(hb_waiting_, {});
  Status s = ReadIndex([this, term](Status s, raft::Index) { EndHeartbeatRound(std::move(s), term); });
  if (!s.ok()) EndHeartbeatRound(Status::Unavailable(s.message()), term);
}

void Member::EndHeartbeatRound(Status s, uint64_t term) {
  auto round = std::exchange(hb_round_, {});
  const bool leads = raft_->role() == raft::Role::kLeader && raft_->term() == term;
  if (s.ok() && !leads) s = Status::Unavailable("the leadership changed while the heartbeat was confirmed");
  if (!s.ok() && s.code() != StatusCode::kUnavailable) s = Status::Unavailable(s.message());
  for (auto& done : round) {
    if (s.ok()) {
      done(HeartbeatAck{term, raft_->last_index()});
    } else {
      done(s);
    }
  }
  if (hb_waiting_.empty()) return;
  if (leads) {
    StartHeartbeatRound();
  } else {
    FailHeartbeats(Status::Unavailable("not the leader any more: send the heartbeat to the new one"));
  }
}

void Member::FailHeartbeats(const Status& s) {
  auto waiting = std::exchange(hb_waiting_, {});
  for (auto& done : waiting) done(s);
}

void Member::RunLiveness() {
  const auto now = host_->Now();
  if (now < liveness_next_) return;
  liveness_next_ = now + std::chrono::milliseconds(config_.liveness_tick_ms);
  // One batch in flight, decided on a state that holds everything an
  // earlier leader left in the log.
  if (liveness_index_ > applied_ || term_start_index_ > applied_) return;
  const int64_t now_ms = NowMs();
  const auto changes = liveness_.Step(state_, now_ms);
  const auto moves = control::RescheduleFromDownNodes(
      state_, [&](uint64_t id) { return liveness_.Silent(id, now_ms); }, liveness_.config().max_batch);
  const int64_t wall = host_->WallMs();
  std::vector<v1::Command> cmds;
  if (!changes.empty()) {
    for (const auto& c : changes) {
      spdlog::warn("liveness: node {} is {}", c.node_id,
                   c.health == v1::NODE_HEALTH_DOWN ? "down (silent past its TTL)" : "back");
    }
    cmds.push_back(state::MakeSetNodesHealth(changes, wall));
  }
  if (!moves.unplace.empty()) {
    spdlog::info("liveness: moving {} VMs off down nodes", moves.unplace.size());
    cmds.push_back(state::MakePlaceVms(moves.unplace, wall));
  }
  for (const auto& f : moves.fail) {
    cmds.push_back(state::MakeReportVmStatus(f.name, f.node_id, v1::VM_PHASE_FAILED, f.message, wall));
  }
  for (const v1::Command& c : cmds) {
    auto idx = raft_->propose(state::EncodeCommand(c));
    if (!idx.ok()) return;
    liveness_index_ = *idx;
  }
}

}  // namespace blixard::node
