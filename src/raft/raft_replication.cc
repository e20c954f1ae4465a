// Leader side of log replication (§5.3) with etcd-style flow control, and
// the commit rule (§5.4.2: only entries of the current term are committed by
// counting replicas; earlier ones are committed indirectly).
#include <algorithm>

#include "raft/conf_change.h"
#include "raft/raft_impl.h"

namespace blixard::raft {

bool Raft::Impl::maybe_send_append(NodeId to, bool send_if_empty) {
  auto it = prs_.find(to);
  if (it == prs_.end() || to == id()) return false;
  Progress& pr = it->second;
  if (pr.is_paused()) return false;
  const Index prev = pr.next - 1;
  const auto prev_term = log_.term(prev);
  if (!prev_term) {  // the entries it needs were compacted away
    send_snapshot(to, pr);
    return true;
  }
  std::vector<Entry> ents;
  if (pr.next <= log_.last_index()) ents = log_.slice(pr.next, log_.last_index() + 1, cfg_.max_size_per_msg);
  if (ents.empty() && !send_if_empty) return false;
  if (!ents.empty()) {
    const Index last = ents.back().index;
    if (pr.state == Progress::State::kReplicate) {
      pr.next = last + 1;  // optimistic: stream without waiting
      pr.inflights.add(last);
    }
  }
  if (pr.state == Progress::State::kProbe) pr.probe_sent = true;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.entries = std::move(ents);
  m.commit = log_.committed();
  send(std::move(m));
  return true;
}

void Raft::Impl::send_snapshot(NodeId to, Progress& pr) {
  Message m;
  m.type = MessageType::kSnapshot;
  m.to = to;
  m.snapshot = log_.snapshot();
  pr.become_snapshot(m.snapshot->meta.index);
  send(std::move(m));
}

void Raft::Impl::send_heartbeat(NodeId to, const std::string& ctx) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // Never ask a follower to commit past what it is known to hold.
  m.commit = std::min(prs_.at(to).match, log_.committed());
  m.context = ctx;
  send(std::move(m));
}

void Raft::Impl::bcast_append() {
  for (auto& [peer, pr] : prs_) {
    if (peer != id()) maybe_send_append(peer, true);
  }
}

void Raft::Impl::bcast_heartbeat(const std::string& ctx) {
  for (auto& [peer, pr] : prs_) {
    if (peer != id()) send_heartbeat(peer, ctx);
  }
}

bool Raft::Impl::maybe_commit() {
  std::vector<Index> matches;
  for (NodeId v : conf_.voters) {
    auto it = prs_.find(v);
    matches.push_back(it == prs_.end() ? 0 : it->second.match);
  }
  if (matches.empty()) return false;
  std::sort(matches.begin(), matches.end(), std::greater<Index>());
  const Index q = matches[quorum() - 1];  // held by a majority of voters
  // §5.4.2 (Figure 8): count replicas only for an entry of the current term.
  if (q <= log_.committed() || log_.term(q) != term_) return false;
  log_.commit_to(q);
  on_commit_advanced();
  return true;
}

void Raft::Impl::handle_append_resp(const Message& m) {
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.index > log_.last_index()) return;  // acks what we never sent: ignore
  if (m.reject) {
    // Fast backtracking: jump to the last index where our term is <= the
    // follower's term at its hint (etcd's findConflictByTerm on both sides).
    Index probe = m.reject_hint;
    if (m.reject_term > 0) probe = log_.find_conflict_by_term(m.reject_hint, m.reject_term).first;
    if (pr.maybe_decr_to(m.index, probe)) {
      if (pr.state == Progress::State::kReplicate) pr.become_probe();
      maybe_send_append(m.from, true);
    }
    return;
  }
  const bool was_paused = pr.is_paused();
  if (!pr.maybe_update(m.index) && !(pr.match == m.index && pr.state == Progress::State::kProbe)) return;
  switch (pr.state) {
    case Progress::State::kProbe: pr.become_replicate(); break;
    case Progress::State::kSnapshot:
      if (pr.match + 1 >= log_.first_index()) {
        pr.become_probe();
        pr.become_replicate();
      }
      break;
    case Progress::State::kReplicate: pr.inflights.free_le(m.index); break;
  }
  if (maybe_commit()) {
    // The commit may have made us step down or dropped this (removed) peer.
    if (role_ != Role::kLeader || !prs_.count(m.from)) return;
    bcast_append();
  } else if (was_paused) {
    maybe_send_append(m.from, true);
  }
  while (maybe_send_append(m.from, false)) {
  }
  if (m.from == lead_transferee_ && prs_.at(m.from).match == log_.last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = m.from;
    send(std::move(t));
  }
}

void Raft::Impl::handle_heartbeat_resp(const Message& m) {
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.probe_sent = false;
  // A full window with a live follower means acks were lost: free a slot.
  if (pr.state == Progress::State::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
  if (pr.match < log_.last_index()) maybe_send_append(m.from, true);
  if (!m.context.empty()) read_ack(m.from, m.context);
}

void Raft::Impl::leader_append(Entry e) {
  const Index old_last = log_.last_index();
  std::vector<Entry> ents;
  ents.push_back(std::move(e));
  log_.append(std::move(ents));
  auto self = prs_.find(id());
  if (self != prs_.end()) self->second.maybe_update(log_.last_index());
  update_conf_after_append(old_last, false);
  if (role_ == Role::kLeader) maybe_commit();  // a single voter commits at once
}

void Raft::Impl::sync_progress() {
  // Track every member (and ourselves). A removed node is still sent the
  // log until its removal commits, so it learns it was removed and stops
  // campaigning (thesis §4.2.2); it never counts for a quorum.
  const bool settled = conf_index_ <= log_.committed();
  for (auto it = prs_.begin(); it != prs_.end();) {
    if (it->first != id() && !conf_.IsMember(it->first) && settled) {
      it = prs_.erase(it);
    } else {
      ++it;
    }
  }
  auto track = [&](NodeId n) {
    auto [it, added] = prs_.try_emplace(n, cfg_.max_inflight_msgs);
    if (added) {
      it->second.next = std::max<Index>(log_.last_index(), 1);
      it->second.recent_active = n == id();
    }
    it->second.learner = !conf_.IsVoter(n);
  };
  track(id());
  for (NodeId n : conf_.voters) track(n);
  for (NodeId n : conf_.learners) track(n);
}

void Raft::Impl::update_conf_after_append(Index old_last, bool truncated) {
  bool changed = false;
  if (truncated) {
    // Thesis §4.1: a truncated conf entry no longer counts; fall back to the
    // previous one in the log, or the snapshot's.
    auto [conf, index] = log_.conf_at(log_.last_index());
    changed = conf != conf_ || index != conf_index_;
    conf_ = std::move(conf);
    conf_index_ = index;
  } else {
    for (Index i = std::max(old_last + 1, log_.first_index()); i <= log_.last_index(); ++i) {
      const Entry& e = log_.at(i);
      if (e.type != EntryType::kConfChange) continue;
      auto cc = DecodeConfChangeEntry(e.data);
      if (!cc.ok()) continue;  // undecodable: ignored on every node alike
      conf_ = std::move(cc->conf);
      conf_index_ = i;
      changed = true;
    }
  }
  if (changed && role_ == Role::kLeader) {
    sync_progress();
    maybe_commit();  // a smaller quorum may already hold more
  }
}

}  // namespace blixard::raft
