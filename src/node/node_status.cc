// Node::Impl: what the loop publishes for other threads (NodeStatus, peer
// addresses) and the apply listeners it calls.
#include "node/node_impl.h"
#include "transport/transport.h"

namespace blixard::node {
void Node::Impl::SetAddress(uint64_t id, const std::string& address) {
  if (address.empty()) return;
  {
    std::lock_guard lk(status_mu_);
    auto& a = addresses_[id];
    if (a == address) return;
    a = address;
  }
  if (config_.transport && id != config_.id) config_.transport->SetPeer(id, address);
}

void Node::Impl::PublishStatus() {
  const raft::Raft& raft = member_->raft();
  const raft::Index applied = member_->applied();
  NodeStatus st;
  st.node_id = config_.id;
  st.term = raft.term();
  st.leader_id = raft.leader();
  st.role = raft::RoleName(raft.role());
  st.commit_index = raft.commit_index();
  st.applied_index = applied;
  st.snapshot_index = member_->snapshot_index();
  st.last_index = raft.last_index();
  const bool is_member = raft.conf().IsMember(config_.id);
  if (is_member && !ever_member_) {
    ever_member_ = true;
    if (Status s = store_->PutMeta("member", "1"); !s.ok()) Fatal(s);
  }
  st.removed = ever_member_ && !is_member;
  st.cluster_id = cluster_id_;
  std::map<uint64_t, uint64_t> match;
  for (const auto& p : raft.progress()) match[p.id] = p.match;
  const raft::ConfState& conf = raft.conf();
  const auto now = Clock::now();
  auto member = [&](uint64_t id, std::string role) {
    MemberStatus m;
    m.id = id;
    m.role = std::move(role);
    m.match_index = id == config_.id ? st.last_index : (match.count(id) ? match[id] : 0);
    auto it = member_->last_heard().find(id);
    m.last_contact_ms =
        id == config_.id ? 0
        : it == member_->last_heard().end()
            ? -1
            : std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second).count();
    return m;
  };
  for (auto v : conf.voters) st.members.push_back(member(v, "voter"));
  int standbys = 0;
  for (auto l : conf.learners) st.members.push_back(member(l, standbys++ < 2 ? "standby" : "learner"));
  std::unique_lock lk(status_mu_);
  for (auto& m : st.members) {
    auto it = addresses_.find(m.id);
    if (it != addresses_.end()) m.address = it->second;
  }
  bool changed = st.leader_id != status_.leader_id || st.term != status_.term;
  status_ = std::move(st);
  if (changed) status_cv_.notify_all();
  lk.unlock();
  if (applied != notified_applied_) {
    notified_applied_ = applied;
    std::lock_guard ll(listeners_mu_);
    for (auto& [id, fn] : apply_listeners_) fn(applied);
  }
}

uint64_t Node::Impl::AddApplyListener(std::function<void(uint64_t)> fn) {
  std::lock_guard lk(listeners_mu_);
  apply_listeners_.emplace(++last_listener_, std::move(fn));
  return last_listener_;
}

void Node::Impl::RemoveApplyListener(uint64_t id) {
  std::lock_guard lk(listeners_mu_);
  apply_listeners_.erase(id);
}

}  // namespace blixard::node
