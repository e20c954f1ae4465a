// Client-facing operations on the leader: proposals, membership changes
// (thesis §4.1, one server at a time), leadership transfer (thesis §3.10)
// and ReadIndex (thesis §6.4).
#include "raft/conf_change.h"
#include "raft/raft_impl.h"

namespace blixard::raft {

bool Raft::Impl::committed_in_term() const { return log_.term(log_.committed()) == term_; }

Result<Index> Raft::Impl::propose(std::string data) {
  if (role_ != Role::kLeader) return Status::Unavailable("not leader");
  if (lead_transferee_ != kNoNode) return Status::Unavailable("leadership transfer in progress");
  const Index index = log_.last_index() + 1;
  leader_append(Entry{term_, index, EntryType::kNormal, std::move(data)});
  bcast_append();
  return index;
}

Result<Index> Raft::Impl::propose_conf_change(const ConfChange& cc) {
  if (role_ != Role::kLeader) return Status::Unavailable("not leader");
  if (lead_transferee_ != kNoNode) return Status::Unavailable("leadership transfer in progress");
  // Thesis §4.1 and its 2015 erratum: no change until an entry of this term
  // is committed, and only one uncommitted change at a time.
  if (!committed_in_term()) return Status::FailedPrecondition("leader has not committed an entry of its term yet");
  if (conf_index_ > log_.committed()) return Status::FailedPrecondition("a configuration change is still uncommitted");
  if (cc.node == id() && (cc.type == ConfChangeType::kRemove || cc.type == ConfChangeType::kDemote)) {
    return Status::FailedPrecondition("cannot remove or demote the leader; transfer leadership first");
  }
  auto next = ApplyConfChange(conf_, cc);
  if (!next.ok()) return next.status();
  const Index index = log_.last_index() + 1;
  Entry e{term_, index, EntryType::kConfChange, EncodeConfChangeEntry(ConfChangeEntry{cc, std::move(*next)})};
  leader_append(std::move(e));  // takes effect now, on append
  bcast_append();
  return index;
}

Status Raft::Impl::transfer_leader(NodeId to) {
  if (role_ != Role::kLeader) return Status::Unavailable("not leader");
  if (to == id()) return Status::Ok();
  if (!conf_.IsVoter(to)) return Status::FailedPrecondition("transfer target is not a voter");
  if (lead_transferee_ == to) return Status::Ok();
  lead_transferee_ = to;
  election_elapsed_ = 0;  // the transfer is abandoned after one election timeout
  Progress& pr = prs_.at(to);
  if (pr.match == log_.last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = to;
    send(std::move(t));
  } else {
    maybe_send_append(to, true);
  }
  return Status::Ok();
}

Status Raft::Impl::read_index(std::string ctx) {
  if (role_ == Role::kLeader) {
    leader_read_index(id(), std::move(ctx));
    return Status::Ok();
  }
  if (leader_ == kNoNode) return Status::Unavailable("no leader known");
  Message m;
  m.type = MessageType::kReadIndex;
  m.to = leader_;
  m.context = std::move(ctx);
  send(std::move(m));
  return Status::Ok();
}

void Raft::Impl::leader_read_index(NodeId from, std::string ctx) {
  if (conf_.voters.size() == 1 && conf_.IsVoter(id())) {
    respond_read(from, log_.committed(), std::move(ctx));  // we are the quorum
    return;
  }
  // Thesis §6.4 step 1: until an entry of our term commits we may not know
  // the latest commit index.
  if (!committed_in_term()) {
    pending_reads_.emplace_back(from, std::move(ctx));
    return;
  }
  for (const auto& r : read_queue_) {
    if (r.context == ctx) return;  // already waiting for this one
  }
  ReadRequest r;
  r.index = log_.committed();
  r.from = from;
  r.context = ctx;
  r.acks.insert(id());
  read_queue_.push_back(std::move(r));
  bcast_heartbeat(ctx);  // step 2: confirm we are still leader
}

void Raft::Impl::read_ack(NodeId from, const std::string& ctx) {
  size_t pos = 0;
  for (; pos < read_queue_.size(); ++pos) {
    if (read_queue_[pos].context == ctx) break;
  }
  if (pos == read_queue_.size()) return;
  ReadRequest& r = read_queue_[pos];
  if (conf_.IsVoter(from)) r.acks.insert(from);
  size_t votes = 0;
  for (NodeId v : conf_.voters) votes += r.acks.count(v);
  if (votes < quorum()) return;
  // Leadership confirmed after every earlier request was made: answer them all.
  for (size_t i = 0; i <= pos; ++i) {
    ReadRequest done = std::move(read_queue_.front());
    read_queue_.pop_front();
    respond_read(done.from, done.index, std::move(done.context));
  }
}

void Raft::Impl::respond_read(NodeId from, Index index, std::string ctx) {
  if (from == id()) {
    read_states_.push_back(ReadState{index, std::move(ctx)});
    return;
  }
  Message m;
  m.type = MessageType::kReadIndexResp;
  m.to = from;
  m.index = index;
  m.context = std::move(ctx);
  send(std::move(m));
}

void Raft::Impl::on_commit_advanced() {
  if (!pending_reads_.empty() && committed_in_term()) {
    auto waiting = std::move(pending_reads_);
    pending_reads_.clear();
    for (auto& [from, ctx] : waiting) leader_read_index(from, std::move(ctx));
  }
  if (conf_index_ <= log_.committed()) sync_progress();  // drop removed peers
  // Thesis §4.2.2: a leader no longer in the configuration steps down once
  // the change that removed it is committed.
  if (!conf_.IsVoter(id()) && conf_index_ <= log_.committed()) become_follower(term_, kNoNode);
}

}  // namespace blixard::raft
