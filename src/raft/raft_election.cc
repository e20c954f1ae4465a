// Terms, roles and elections: §5.1-5.2 of the Raft paper, pre-vote (thesis
// §9.6), check-quorum and the leader lease on votes (thesis §6.2, §4.2.3).
#include <algorithm>

#include "raft/raft_impl.h"

namespace blixard::raft {

void Raft::Impl::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_timeout_ = cfg_.election_tick + static_cast<int>(rng_.next() % static_cast<uint64_t>(cfg_.election_tick));
  lead_transferee_ = kNoNode;
  votes_.clear();
  prs_.clear();
  read_queue_.clear();
  pending_reads_.clear();
}

void Raft::Impl::become_follower(Term term, NodeId leader) {
  reset(term);
  leader_ = leader;
  role_ = Role::kFollower;
}

void Raft::Impl::become_pre_candidate() {
  // Thesis §9.6: a pre-candidate changes neither its term nor its vote.
  const Term t = term_;
  reset(t);
  role_ = Role::kPreCandidate;
}

void Raft::Impl::become_candidate() {
  reset(term_ + 1);
  vote_ = id();
  role_ = Role::kCandidate;
}

void Raft::Impl::become_leader() {
  reset(term_);
  leader_ = id();
  role_ = Role::kLeader;
  sync_progress();
  for (auto& [peer, pr] : prs_) {
    pr.next = log_.last_index() + 1;
    pr.match = peer == id() ? log_.last_index() : 0;
  }
  prs_.at(id()).become_replicate();  // we trivially hold our own log
  // §5.4.2 / thesis §6.4: an empty entry of the new term lets the leader
  // commit (and learn the commit index) without waiting for a proposal.
  leader_append(Entry{term_, log_.last_index() + 1, EntryType::kNormal, {}});
  bcast_append();
}

void Raft::Impl::campaign(CampaignKind kind) {
  if (!promotable() || role_ == Role::kLeader) return;  // learners and non-members never campaign
  MessageType type;
  Term t;
  if (kind == CampaignKind::kPreElection) {
    become_pre_candidate();
    type = MessageType::kPreVote;
    t = term_ + 1;  // the term we would campaign at; ours is unchanged
  } else {
    become_candidate();
    type = MessageType::kVote;
    t = term_;
  }
  votes_[id()] = true;
  if (votes_.size() >= quorum()) {  // single voter
    if (kind == CampaignKind::kPreElection) {
      campaign(CampaignKind::kElection);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId v : conf_.voters) {
    if (v == id()) continue;
    Message m;
    m.type = type;
    m.to = v;
    m.term = t;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    if (kind == CampaignKind::kTransfer) m.context = kCampaignTransfer;
    send(std::move(m));
  }
}

bool Raft::Impl::quorum_active() const {
  size_t active = 0;
  for (NodeId v : conf_.voters) {
    auto it = prs_.find(v);
    if (v == id() || (it != prs_.end() && it->second.recent_active)) ++active;
  }
  return active >= quorum();
}

void Raft::Impl::tick() {
  if (role_ != Role::kLeader) {
    ++election_elapsed_;
    if (promotable() && election_elapsed_ >= randomized_timeout_) {
      election_elapsed_ = 0;
      campaign(cfg_.pre_vote ? CampaignKind::kPreElection : CampaignKind::kElection);
    }
    return;
  }
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_tick) {
    election_elapsed_ = 0;
    // Thesis §6.2: step down without contact with a quorum for a timeout.
    if (cfg_.check_quorum && !quorum_active()) {
      become_follower(term_, kNoNode);
      return;
    }
    for (auto& [peer, pr] : prs_) pr.recent_active = peer == id();
    lead_transferee_ = kNoNode;  // a transfer that did not finish is abandoned
  }
  for (auto& [peer, pr] : prs_) {
    // A snapshot that got no answer for two election timeouts was lost.
    if (pr.state == Progress::State::kSnapshot && ++pr.snapshot_ticks >= 2 * cfg_.election_tick) {
      pr.become_probe();
    }
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_tick) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat(read_queue_.empty() ? std::string() : read_queue_.back().context);
  }
}

Status Raft::Impl::step(const Message& m) {
  if (m.to != id()) return Status::InvalidArgument("message addressed to another node");
  if (m.from == id() || m.from == kNoNode) return Status::InvalidArgument("message from self or no node");
  if (m.type == MessageType::kReadIndex) {  // forwarded request: no term rules
    if (role_ == Role::kLeader) leader_read_index(m.from, m.context);
    return Status::Ok();
  }
  const bool vote_req = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  if (m.term > term_) {
    if (vote_req) {
      // Leader lease (thesis §4.2.3): while we hear from a leader, ignore
      // campaigns, unless the leader itself asked for one (kTimeoutNow).
      const bool forced = m.type == MessageType::kVote && m.context == kCampaignTransfer;
      const bool in_lease = cfg_.check_quorum && leader_ != kNoNode && election_elapsed_ < cfg_.election_tick;
      if (!forced && in_lease) return Status::Ok();
    }
    if (m.type == MessageType::kPreVote || (m.type == MessageType::kPreVoteResp && !m.reject)) {
      // Pre-votes never change terms: a granted pre-vote carries the term
      // the candidate would use; ours moves only once it really campaigns.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot) {
      become_follower(m.term, m.from);
    } else {
      // Figure 2: only hearing from a leader or granting a vote restarts the
      // election timer; a vote request we may refuse (stale log) must not,
      // or candidates with stale logs could keep up-to-date nodes from ever
      // timing out (a liveness issue without pre-vote).
      const int elapsed = election_elapsed_;
      become_follower(m.term, kNoNode);
      if (m.type == MessageType::kVote) election_elapsed_ = elapsed;
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat)) {
      // A stale leader (e.g. healed from a partition) learns our term and
      // steps down; otherwise with pre-vote we could be stuck at a higher term.
      Message r;
      r.type = MessageType::kAppendResp;
      r.to = m.from;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResp;
      r.to = m.from;
      r.term = term_;
      r.reject = true;
      send(std::move(r));
    }
    return Status::Ok();
  }
  if (vote_req) {
    handle_vote_request(m);
    return Status::Ok();
  }
  switch (role_) {
    case Role::kLeader: step_leader(m); break;
    case Role::kCandidate:
    case Role::kPreCandidate: step_candidate(m); break;
    case Role::kFollower: step_follower(m); break;
  }
  return Status::Ok();
}

void Raft::Impl::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  // §5.2: one vote per term (a repeated request from our choice is granted
  // again); a pre-vote for a future term binds nothing.
  const bool can_vote = vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && m.term > term_);
  Message r;
  r.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  r.to = m.from;
  if (can_vote && log_.is_up_to_date(m.index, m.log_term)) {  // §5.4.1
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.term = term_;
    r.reject = true;
  }
  send(std::move(r));
}

void Raft::Impl::step_leader(const Message& m) {
  switch (m.type) {
    case MessageType::kAppendResp: handle_append_resp(m); break;
    case MessageType::kHeartbeatResp: handle_heartbeat_resp(m); break;
    default: break;  // stale votes, kTimeoutNow to a leader, ...
  }
}

void Raft::Impl::step_candidate(const Message& m) {
  const MessageType want = role_ == Role::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kAppend:
      become_follower(m.term, m.from);  // §5.2: a leader of our term exists
      handle_append(m);
      return;
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      return;
    case MessageType::kSnapshot:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      return;
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{m.index, m.context});
      return;
    default: break;
  }
  if (m.type != want) return;
  votes_.emplace(m.from, !m.reject);
  size_t granted = 0, rejected = 0;
  for (NodeId v : conf_.voters) {
    auto it = votes_.find(v);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected) += 1;
  }
  if (granted >= quorum()) {
    if (role_ == Role::kPreCandidate) {
      campaign(CampaignKind::kElection);
    } else {
      become_leader();
    }
  } else if (rejected > conf_.voters.size() - quorum()) {
    become_follower(term_, kNoNode);  // lost: wait for a leader or time out again
  }
}

void Raft::Impl::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::kTimeoutNow:
      // Thesis §3.10: campaign at once, skipping pre-vote; voters will not
      // apply the lease rule to this campaign.
      if (promotable()) campaign(CampaignKind::kTransfer);
      break;
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{m.index, m.context});
      break;
    default: break;
  }
}

void Raft::Impl::send(Message m) {
  if (m.to == id()) return;  // messages to self never leave the core
  m.from = id();
  const bool vote_msg = m.type == MessageType::kVote || m.type == MessageType::kPreVote ||
                        m.type == MessageType::kVoteResp || m.type == MessageType::kPreVoteResp;
  if (!vote_msg) m.term = term_;  // vote messages carry the term the caller chose
  uint64_t bytes = 0;
  for (const Entry& e : m.entries) bytes += e.data.size();
  auto tail =
      std::find_if(tails_.begin(), tails_.end(), [&](const Tail& t) { return t.to == m.to; });
  if (tail == tails_.end()) {
    tails_.push_back(Tail{m.to, msgs_.size(), bytes});
  } else if (merge_into_tail(*tail, m, bytes)) {
    return;
  } else {
    *tail = Tail{m.to, msgs_.size(), bytes};
  }
  msgs_.push_back(std::move(m));
}

// A leader proposes and learns of commits one at a time, and a follower
// acknowledges each append it steps; sent as is, every write would cost a
// message per peer each way plus one per commit advance. Within one Ready,
// messages to a peer are folded instead, so a loop pass sends each peer at
// most one append (one slot of its in-flight window) and a follower answers
// a pass's appends once:
// - an append whose entries start right after the last queued append's
//   (same term, prev index/term = that append's last entry) extends it,
//   up to max_size_per_msg of entry data, and carries the newer commit;
// - an accepting append response replaces the last queued accepting one
//   (same term), keeping the higher index.
// Only the last message queued to the peer is extended, so the peer still
// receives its messages in the order they were sent.
bool Raft::Impl::merge_into_tail(Tail& tail, Message& m, uint64_t bytes) {
  if (m.type != MessageType::kAppend && m.type != MessageType::kAppendResp) return false;
  Message& last = msgs_[tail.pos];
  if (last.type != m.type || last.term != m.term) return false;
  if (m.type == MessageType::kAppendResp) {
    if (last.reject || m.reject) return false;
    last.index = std::max(last.index, m.index);
    return true;
  }
  const Index last_index = last.index + last.entries.size();
  const Term last_term = last.entries.empty() ? last.log_term : last.entries.back().term;
  if (m.index != last_index || m.log_term != last_term) return false;
  if (!last.entries.empty() && !m.entries.empty() && tail.bytes + bytes > cfg_.max_size_per_msg) {
    return false;
  }
  if (!m.entries.empty()) {
    if (auto pr = prs_.find(m.to); pr != prs_.end()) {
      pr->second.inflights.fold_into_last(last_index);
    }
  }
  for (Entry& e : m.entries) last.entries.push_back(std::move(e));
  last.commit = std::max(last.commit, m.commit);
  tail.bytes += bytes;
  return true;
}

}  // namespace blixard::raft

