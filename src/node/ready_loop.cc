#include "node/ready_loop.h"

#include <optional>
#include <utility>

namespace blixard::node {

Status ReadyLoop::Drain() {
  while (raft_->has_ready()) {
    if (Status s = HandleOne(); !s.ok()) return s;
  }
  return Status::Ok();
}

void ReadyLoop::SendEarly(raft::Ready& rd) {
  if (raft_->role() != raft::Role::kLeader || rd.messages.empty()) return;
  if (rd.hard_state &&
      (rd.hard_state->term != persisted_.term || rd.hard_state->vote != persisted_.vote)) {
    return;
  }
  std::vector<raft::Message> early, later;
  for (raft::Message& m : rd.messages) {
    const bool replication = m.type == raft::MessageType::kAppend ||
                             m.type == raft::MessageType::kHeartbeat ||
                             m.type == raft::MessageType::kSnapshot;
    (replication ? early : later).push_back(std::move(m));
  }
  rd.messages = std::move(later);
  if (!early.empty()) host_->Send(std::move(early));
}

Status ReadyLoop::HandleOne() {
  const Status stopped = Status::Aborted("the host stopped the Ready handling");
  raft::Ready rd = raft_->ready();
  SendEarly(rd);
  if (!host_->Continue(ReadyHost::Stage::kSentEarly)) return stopped;
  if (rd.MustSync()) {
    const raft::HardState hs = raft_->hard_state();
    std::optional<raft::HardState> changed;
    if (hs != persisted_) changed = hs;
    if (Status s = store_->Save(changed, rd.entries, rd.snapshot); !s.ok()) return s;
    persisted_ = hs;
    host_->OnPersisted(rd);
  }
  if (!host_->Continue(ReadyHost::Stage::kPersisted)) return stopped;
  if (rd.soft_state) host_->OnSoftState(*rd.soft_state);
  if (!rd.messages.empty()) host_->Send(std::move(rd.messages));
  if (!host_->Continue(ReadyHost::Stage::kSent)) return stopped;
  if (rd.snapshot) {
    if (Status s = host_->ApplySnapshot(*rd.snapshot); !s.ok()) return s;
  }
  if (!rd.committed_entries.empty()) host_->Apply(rd.committed_entries);
  if (!rd.read_states.empty()) host_->OnReadStates(rd.read_states);
  if (!host_->Continue(ReadyHost::Stage::kApplied)) return stopped;
  raft_->advance(rd);
  return host_->OnAdvanced();
}

}  // namespace blixard::node
