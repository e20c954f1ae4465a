// Public API of the core, Ready/advance (the contract is in types.h), and
// the introspection used by tests and the simulator.
#include "raft/raft.h"

#include <algorithm>

#include "raft/raft_impl.h"

namespace blixard::raft {
namespace {

std::shared_ptr<const Snapshot> OrEmpty(std::shared_ptr<const Snapshot> s) {
  return s ? std::move(s) : std::make_shared<const Snapshot>();
}

}  // namespace

Raft::Impl::Impl(const Config& config, PersistentState state)
    : cfg_(config), log_(OrEmpty(state.snapshot), std::move(state.entries), state.hard_state.commit) {
  if (cfg_.election_tick < 1) cfg_.election_tick = 1;
  if (cfg_.heartbeat_tick < 1) cfg_.heartbeat_tick = 1;
  if (cfg_.max_inflight_msgs < 1) cfg_.max_inflight_msgs = 1;
  // Mix the node id in so nodes sharing a seed still time out differently.
  rng_.state = cfg_.seed ^ HashMix(0, cfg_.id);
  auto [conf, index] = log_.conf_at(log_.last_index());
  conf_ = std::move(conf);
  conf_index_ = index;
  become_follower(state.hard_state.term, kNoNode);
  vote_ = state.hard_state.vote;
  prev_hard_ = HardState{term_, vote_, log_.committed()};
  prev_soft_ = SoftState{leader_, role_};
}

bool Raft::Impl::has_ready() const {
  return SoftState{leader_, role_} != prev_soft_ || HardState{term_, vote_, log_.committed()} != prev_hard_ ||
         log_.unstable_snapshot() != nullptr || log_.has_unstable() || !msgs_.empty() ||
         log_.has_next_committed() || !read_states_.empty();
}

Ready Raft::Impl::ready() {
  Ready rd;
  SoftState ss{leader_, role_};
  if (ss != prev_soft_) rd.soft_state = prev_soft_ = ss;
  HardState hs{term_, vote_, log_.committed()};
  const bool term_or_vote = hs.term != prev_hard_.term || hs.vote != prev_hard_.vote;
  if (hs != prev_hard_) rd.hard_state = prev_hard_ = hs;
  rd.snapshot = log_.unstable_snapshot();
  rd.entries = log_.unstable_entries();
  rd.must_sync = term_or_vote || !rd.entries.empty() || rd.snapshot != nullptr;
  rd.messages = std::move(msgs_);
  msgs_.clear();
  tails_.clear();
  rd.committed_entries = log_.next_committed_entries();
  if (!rd.committed_entries.empty()) log_.mark_applying(rd.committed_entries.back().index);
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  return rd;
}

void Raft::Impl::advance(const Ready& rd) {
  if (rd.snapshot) {
    log_.stable_snapshot(rd.snapshot);
    log_.applied_to(std::min(rd.snapshot->meta.index, log_.committed()));
  }
  if (!rd.entries.empty()) log_.stable_to(rd.entries.back().index, rd.entries.back().term);
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
}

Result<SnapshotMeta> Raft::Impl::compact(Index index, std::string data) {
  if (index > log_.applied()) return Status::FailedPrecondition("compact: index above applied");
  if (index <= log_.snapshot()->meta.index) return Status::FailedPrecondition("compact: already compacted");
  auto snap = std::make_shared<Snapshot>();
  snap->meta.index = index;
  snap->meta.term = *log_.term(index);
  snap->meta.conf = log_.conf_at(index).first;
  snap->data = std::move(data);
  SnapshotMeta meta = snap->meta;
  Status s = log_.compact(std::move(snap));
  if (!s.ok()) return s;
  return meta;
}

Status Raft::Impl::CheckInvariants() const {
  if (Status s = log_.CheckInvariants(); !s.ok()) return s;
  if (log_.last_term() > term_) return Status::Internal("last log term above current term");
  auto sorted_unique = [](const std::vector<NodeId>& v) {
    return std::adjacent_find(v.begin(), v.end(), std::greater_equal<NodeId>()) == v.end();
  };
  if (!sorted_unique(conf_.voters) || !sorted_unique(conf_.learners)) return Status::Internal("conf not sorted");
  for (NodeId l : conf_.learners) {
    if (conf_.IsVoter(l)) return Status::Internal("conf: learner is also a voter");
  }
  if (conf_index_ > log_.last_index()) return Status::Internal("conf entry beyond the log");
  if ((role_ == Role::kLeader) != (leader_ == id())) return Status::Internal("leader id and role disagree");
  if (role_ == Role::kLeader) {
    if (vote_ != id()) return Status::Internal("leader did not vote for itself");
    auto self = prs_.find(id());
    if (self == prs_.end() || self->second.match != log_.last_index()) {
      return Status::Internal("leader's own progress is not its last index");
    }
    for (const auto& [peer, pr] : prs_) {
      if (pr.match > log_.last_index()) return Status::Internal("progress match beyond the log");
      if (pr.next <= pr.match && pr.state != Progress::State::kSnapshot) {
        return Status::Internal("progress next <= match");
      }
    }
  } else if (!prs_.empty()) {
    return Status::Internal("non-leader keeps progress");
  }
  if (role_ == Role::kCandidate && vote_ != id()) return Status::Internal("candidate did not vote for itself");
  return Status::Ok();
}

uint64_t Raft::Impl::Digest() const {
  uint64_t h = HashMix(0, cfg_.id);
  for (uint64_t v : {term_, vote_, leader_, static_cast<uint64_t>(role_), conf_index_,
                     static_cast<uint64_t>(election_elapsed_), static_cast<uint64_t>(heartbeat_elapsed_),
                     static_cast<uint64_t>(randomized_timeout_), lead_transferee_, rng_.state}) {
    h = HashMix(h, v);
  }
  h = log_.Digest(h);
  for (NodeId v : conf_.voters) h = HashMix(h, v);
  h = HashMix(h, 0xffff);
  for (NodeId l : conf_.learners) h = HashMix(h, l);
  for (const auto& [peer, pr] : prs_) {
    for (uint64_t v : {peer, pr.match, pr.next, static_cast<uint64_t>(pr.state), uint64_t{pr.probe_sent},
                       pr.pending_snapshot, static_cast<uint64_t>(pr.snapshot_ticks), uint64_t{pr.recent_active},
                       uint64_t{pr.learner}}) {
      h = HashMix(h, v);
    }
    for (Index i : pr.inflights.items()) h = HashMix(h, i);
  }
  for (const auto& [peer, granted] : votes_) h = HashMix(HashMix(h, peer), granted);
  for (const auto& r : read_queue_) {
    h = HashBytes(HashMix(HashMix(h, r.index), r.from), r.context);
    for (NodeId a : r.acks) h = HashMix(h, a);
  }
  for (const auto& [from, ctx] : pending_reads_) h = HashBytes(HashMix(h, from), ctx);
  return HashMix(h, HashMix(prev_hard_.term, prev_hard_.commit));
}

// ---- Raft: thin forwarding to Impl.

Raft::Raft(const Config& config, PersistentState state)
    : impl_(std::make_unique<Impl>(config, std::move(state))) {}
Raft::Raft(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Raft::~Raft() = default;

void Raft::tick() { impl_->tick(); }
Status Raft::step(const Message& msg) { return impl_->step(msg); }
Result<Index> Raft::propose(std::string data) { return impl_->propose(std::move(data)); }
Result<Index> Raft::propose_conf_change(const ConfChange& change) { return impl_->propose_conf_change(change); }
Status Raft::read_index(std::string context) { return impl_->read_index(std::move(context)); }
Status Raft::transfer_leader(NodeId to) { return impl_->transfer_leader(to); }
void Raft::campaign() {
  impl_->campaign(impl_->cfg_.pre_vote ? CampaignKind::kPreElection : CampaignKind::kElection);
}
bool Raft::has_ready() const { return impl_->has_ready(); }
Ready Raft::ready() { return impl_->ready(); }
void Raft::advance(const Ready& rd) { impl_->advance(rd); }
Result<SnapshotMeta> Raft::compact(Index index, std::string data) { return impl_->compact(index, std::move(data)); }

NodeId Raft::id() const { return impl_->id(); }
NodeId Raft::leader() const { return impl_->leader_; }
Term Raft::term() const { return impl_->term_; }
Role Raft::role() const { return impl_->role_; }
Index Raft::commit_index() const { return impl_->log_.committed(); }
Index Raft::applied_index() const { return impl_->log_.applied(); }
Index Raft::first_index() const { return impl_->log_.first_index(); }
Index Raft::last_index() const { return impl_->log_.last_index(); }
const ConfState& Raft::conf() const { return impl_->conf_; }
HardState Raft::hard_state() const { return HardState{impl_->term_, impl_->vote_, impl_->log_.committed()}; }
int Raft::randomized_election_timeout() const { return impl_->randomized_timeout_; }

std::vector<PeerProgress> Raft::progress() const {
  std::vector<PeerProgress> out;
  if (impl_->role_ != Role::kLeader) return out;
  for (const auto& [peer, pr] : impl_->prs_) {
    PeerProgress p;
    p.id = peer;
    p.voter = impl_->conf_.IsVoter(peer);
    p.match = pr.match;
    p.next = pr.next;
    p.state = static_cast<PeerProgress::State>(pr.state);
    p.recent_active = pr.recent_active;
    out.push_back(p);
  }
  return out;
}

std::unique_ptr<Raft> Raft::Clone() const { return std::unique_ptr<Raft>(new Raft(std::make_unique<Impl>(*impl_))); }
uint64_t Raft::StateDigest() const { return impl_->Digest(); }
Status Raft::CheckInvariants() const { return impl_->CheckInvariants(); }

std::vector<Entry> Raft::entries(Index lo, Index hi) const {
  const RaftLog& log = impl_->log_;
  lo = std::max(lo, log.first_index());
  hi = std::min(hi, log.last_index() + 1);
  std::vector<Entry> out;
  for (Index i = lo; i < hi; ++i) out.push_back(log.at(i));
  return out;
}

}  // namespace blixard::raft
