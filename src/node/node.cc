#include "node/node.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>

#include "raft/raft.h"

namespace blixard::node {
namespace {

using ApplyPromise = std::promise<Result<state::ApplyResult>>;

struct ProposalWaiter {
  raft::Term term = 0;
  std::shared_ptr<ApplyPromise> promise;
};

struct ReadWaiter {
  raft::Index index = 0;  // 0 until the ReadState arrives
  std::shared_ptr<std::promise<Status>> promise;
};

std::string RoleString(raft::Role r) {
  switch (r) {
    case raft::Role::kLeader: return "leader";
    case raft::Role::kCandidate: return "candidate";
    case raft::Role::kPreCandidate: return "pre-candidate";
    case raft::Role::kFollower: return "follower";
  }
  return "unknown";
}

}  // namespace

class Node::Impl {
 public:
  Impl(NodeConfig config, std::unique_ptr<storage::LogStore> store)
      : config_(std::move(config)), store_(std::move(store)) {}

  ~Impl() { Stop(); }

  Status Init() {
    auto id_meta = store_->GetMeta("node_id");
    if (!id_meta.ok()) return id_meta.status();
    const std::string my_id = std::to_string(config_.id);
    if (id_meta->has_value() && **id_meta != my_id) {
      return Status::FailedPrecondition("data dir belongs to node " + **id_meta +
                                        "; start with --id " + **id_meta +
                                        " or use another --data-dir");
    }
    auto loaded = store_->Load();
    if (!loaded.ok()) return loaded.status();
    raft::PersistentState ps = std::move(loaded).value();
    const bool fresh = ps.snapshot->meta.index == 0 && ps.snapshot->meta.conf.voters.empty() &&
                       ps.snapshot->meta.conf.learners.empty() && ps.entries.empty() &&
                       ps.hard_state == raft::HardState{};
    if (fresh && config_.bootstrap) {
      auto snap = std::make_shared<raft::Snapshot>();
      snap->meta.conf.voters = {config_.id};
      if (Status s = store_->Save(std::nullopt, {}, snap); !s.ok()) return s;
      if (Status s = store_->PutMeta("cluster_id", NewClusterId()); !s.ok()) return s;
      ps.snapshot = snap;
      spdlog::info("bootstrapped a new one-member cluster");
    }
    if (!id_meta->has_value()) {
      if (Status s = store_->PutMeta("node_id", my_id); !s.ok()) return s;
    }
    auto cid = store_->GetMeta("cluster_id");
    if (!cid.ok()) return cid.status();
    bootstrap_cluster_id_ = cid->value_or("");

    if (!ps.snapshot->data.empty()) {
      if (Status s = state_.RestoreSnapshot(ps.snapshot->data); !s.ok()) return s;
    }
    snapshot_index_ = ps.snapshot->meta.index;
    applied_ = snapshot_index_;

    raft::Config rc;
    rc.id = config_.id;
    rc.election_tick = config_.election_ticks;
    rc.heartbeat_tick = 1;
    rc.seed = config_.id * 0x9E3779B97F4A7C15ull ^
              static_cast<uint64_t>(Clock::now().time_since_epoch().count());
    raft_ = std::make_unique<raft::Raft>(rc, std::move(ps));
    const raft::ConfState& conf = raft_->conf();
    if (conf.voters.size() == 1 && conf.voters[0] == config_.id) raft_->campaign();
    PublishStatus();
    thread_ = std::thread([this] { Loop(); });
    return Status::Ok();
  }

  void Stop() {
    {
      std::lock_guard lk(mu_);
      if (stopping_) {
        if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
        return;
      }
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  Result<state::ApplyResult> Propose(v1::Command cmd, Deadline deadline) {
    std::string data;
    if (!cmd.SerializeToString(&data)) return Status::Internal("cannot encode command");
    auto promise = std::make_shared<ApplyPromise>();
    auto future = promise->get_future();
    if (!Post([this, data = std::move(data), promise]() mutable {
          auto idx = raft_->propose(std::move(data));
          if (!idx.ok()) {
            promise->set_value(NotLeaderStatus(idx.status()));
            return;
          }
          proposals_[*idx] = ProposalWaiter{raft_->term(), promise};
        })) {
      return Status::Unavailable("node is shutting down");
    }
    if (future.wait_until(deadline) != std::future_status::ready) {
      return Status::DeadlineExceeded(
          "write not committed before the deadline (no quorum?); it may still be applied");
    }
    try {
      return future.get();
    } catch (const std::future_error&) {  // task dropped at shutdown
      return Status::Unavailable("node is shutting down; the write may or may not be applied");
    }
  }

  Status ReadBarrier(Deadline deadline) {
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    if (!Post([this, promise] {
          std::string ctx = std::to_string(++read_seq_);
          Status s = raft_->read_index(ctx);
          if (!s.ok()) {
            promise->set_value(NotLeaderStatus(s));
            return;
          }
          reads_[ctx] = ReadWaiter{0, promise};
        })) {
      return Status::Unavailable("node is shutting down");
    }
    if (future.wait_until(deadline) != std::future_status::ready) {
      return Status::DeadlineExceeded("linearizable read not confirmed before the deadline "
                                      "(no quorum?); retry, or read with --stale");
    }
    try {
      return future.get();
    } catch (const std::future_error&) {  // task dropped at shutdown
      return Status::Unavailable("node is shutting down");
    }
  }

  void Read(const std::function<void(const state::ClusterState&)>& fn) const {
    std::shared_lock lk(state_mu_);
    fn(state_);
  }

  NodeStatus GetStatus() const {
    std::lock_guard lk(status_mu_);
    return status_;
  }

  uint64_t id() const { return config_.id; }

 private:
  using Task = std::function<void()>;

  // Enqueues a task for the loop; false when stopping.
  bool Post(Task t) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return false;
      tasks_.push_back(std::move(t));
    }
    cv_.notify_one();
    return true;
  }

  Status NotLeaderStatus(const Status& s) const {
    raft::NodeId leader = raft_->leader();
    std::string msg = s.message();
    if (leader == raft::kNoNode) msg += " (no leader elected yet; retry shortly)";
    else msg += " (leader is node " + std::to_string(leader) + ")";
    return Status::Unavailable(msg);
  }

  void Loop() {
    const auto tick = std::chrono::milliseconds(config_.tick_ms);
    auto next_tick = Clock::now() + tick;
    while (true) {
      std::deque<Task> tasks;
      {
        std::unique_lock lk(mu_);
        cv_.wait_until(lk, next_tick, [&] { return stopping_ || !tasks_.empty(); });
        if (stopping_) break;
        tasks.swap(tasks_);
      }
      for (auto& t : tasks) t();
      if (Clock::now() >= next_tick) {
        raft_->tick();
        next_tick += tick;
        if (next_tick < Clock::now()) next_tick = Clock::now() + tick;  // fell behind
      }
      while (raft_->has_ready()) {
        if (!HandleReady()) {
          FailAll(Status::Unavailable("node stopped after a storage failure"));
          return;
        }
      }
      PublishStatus();
    }
    FailAll(Status::Unavailable("node is shutting down; the write may or may not be applied"));
  }

  // Returns false on a fatal storage error.
  bool HandleReady() {
    raft::Ready rd = raft_->ready();
    if (rd.soft_state) OnSoftState(*rd.soft_state);
    if (rd.MustSync()) {
      Status s = store_->Save(rd.hard_state, rd.entries, rd.snapshot);
      if (!s.ok()) return Fatal(s);
    }
    // Peer transport arrives with multi-node clusters; a one-member cluster
    // has no one to send to.
    if (rd.snapshot && rd.snapshot->meta.index > applied_) {
      std::unique_lock lk(state_mu_);
      Status s = state_.RestoreSnapshot(rd.snapshot->data);
      if (!s.ok()) return Fatal(s);
      applied_ = rd.snapshot->meta.index;
      snapshot_index_ = applied_;
    }
    if (!rd.committed_entries.empty()) {
      std::unique_lock lk(state_mu_);
      for (const raft::Entry& e : rd.committed_entries) ApplyEntry(e);
    }
    for (raft::ReadState& rs : rd.read_states) {
      auto it = reads_.find(rs.context);
      if (it != reads_.end()) it->second.index = rs.index;
    }
    raft_->advance(rd);
    ServeReads();
    return MaybeSnapshot();
  }

  void ApplyEntry(const raft::Entry& e) {
    state::ApplyResult result;
    if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
      v1::Command cmd;
      if (!cmd.ParseFromString(e.data)) {
        result.status = Status::Corruption("entry " + std::to_string(e.index) + " is not a command");
      } else {
        result = state_.Apply(cmd, e.index);
      }
    }
    applied_ = e.index;
    auto it = proposals_.find(e.index);
    if (it != proposals_.end()) {
      if (it->second.term == e.term) {
        it->second.promise->set_value(std::move(result));
      } else {
        it->second.promise->set_value(Status::Unavailable(
            "leadership changed before the write committed; it was not applied"));
      }
      proposals_.erase(it);
    }
    // Waiters for indexes below this one were overwritten by another leader.
    while (!proposals_.empty() && proposals_.begin()->first < e.index) {
      proposals_.begin()->second.promise->set_value(
          Status::Unavailable("leadership changed before the write committed; it was not applied"));
      proposals_.erase(proposals_.begin());
    }
  }

  void ServeReads() {
    for (auto it = reads_.begin(); it != reads_.end();) {
      if (it->second.index != 0 && it->second.index <= applied_) {
        it->second.promise->set_value(Status::Ok());
        it = reads_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void OnSoftState(const raft::SoftState& ss) {
    spdlog::info("raft: node {} is {} (term {}, leader {})", config_.id, RoleString(ss.role),
                 raft_->term(), ss.leader);
    if (ss.role != raft::Role::kLeader) {
      // A ReadIndex request may be lost with the old leader: fail fast so
      // the client retries rather than waiting for its deadline.
      for (auto& [ctx, w] : reads_) {
        w.promise->set_value(Status::Unavailable("leadership changed during a read; retry"));
      }
      reads_.clear();
      return;
    }
    // The node that bootstrapped the cluster records its id and itself in
    // the replicated state; both commands are idempotent.
    bool need_init = false, need_register = false;
    {
      std::shared_lock lk(state_mu_);
      need_init = state_.cluster_id().empty() && !bootstrap_cluster_id_.empty();
      need_register = true;
      for (const auto& n : state_.ListNodes()) {
        if (n.id() == config_.id && n.address() == config_.address) need_register = false;
      }
    }
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
    if (need_init) {
      v1::Command cmd;
      cmd.set_now_unix_ms(now_ms);
      cmd.mutable_init_cluster()->set_cluster_id(bootstrap_cluster_id_);
      ProposeInternal(cmd);
    }
    if (need_register) {
      v1::Command cmd;
      cmd.set_now_unix_ms(now_ms);
      v1::Node* n = cmd.mutable_register_node()->mutable_node();
      n->set_id(config_.id);
      n->set_address(config_.address);
      n->set_role(v1::NODE_ROLE_VOTER);
      n->set_health(v1::NODE_HEALTH_READY);
      n->set_registered_at_unix_ms(now_ms);
      ProposeInternal(cmd);
    }
  }

  void ProposeInternal(const v1::Command& cmd) {
    std::string data;
    cmd.SerializeToString(&data);
    auto idx = raft_->propose(std::move(data));
    if (!idx.ok()) spdlog::warn("internal proposal refused: {}", idx.status().ToString());
  }

  bool MaybeSnapshot() {
    if (config_.snapshot_threshold == 0 || applied_ < snapshot_index_ + config_.snapshot_threshold) {
      return true;
    }
    std::string data;
    {
      std::shared_lock lk(state_mu_);
      data = state_.EncodeSnapshot();
    }
    auto meta = raft_->compact(applied_, data);
    if (!meta.ok()) {
      spdlog::warn("snapshot at {} skipped: {}", applied_, meta.status().ToString());
      return true;
    }
    raft::Snapshot snap{*meta, std::move(data)};
    if (Status s = store_->Compact(snap); !s.ok()) return Fatal(s);
    snapshot_index_ = meta->index;
    spdlog::debug("snapshot at index {} ({} bytes); log compacted", snap.meta.index, snap.data.size());
    return true;
  }

  bool Fatal(const Status& s) {
    spdlog::critical("storage failure, stopping the node: {}", s.ToString());
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    if (config_.on_fatal) config_.on_fatal(s);
    return false;
  }

  void FailAll(const Status& s) {
    for (auto& [idx, w] : proposals_) w.promise->set_value(s);
    proposals_.clear();
    for (auto& [ctx, w] : reads_) w.promise->set_value(s);
    reads_.clear();
    std::lock_guard lk(mu_);
    tasks_.clear();  // their promises break: waiters see future_error and report shutdown
  }

  void PublishStatus() {
    NodeStatus st;
    st.node_id = config_.id;
    st.term = raft_->term();
    st.leader_id = raft_->leader();
    st.role = RoleString(raft_->role());
    st.commit_index = raft_->commit_index();
    st.applied_index = applied_;
    st.snapshot_index = snapshot_index_;
    st.last_index = raft_->last_index();
    {
      std::shared_lock lk(state_mu_);
      st.cluster_id = state_.cluster_id();
    }
    if (st.cluster_id.empty()) st.cluster_id = bootstrap_cluster_id_;
    std::map<uint64_t, uint64_t> match;
    for (const auto& p : raft_->progress()) match[p.id] = p.match;
    const raft::ConfState& conf = raft_->conf();
    for (auto v : conf.voters) st.members.push_back({v, "voter", match.count(v) ? match[v] : 0});
    for (auto l : conf.learners) st.members.push_back({l, "learner", match.count(l) ? match[l] : 0});
    std::lock_guard lk(status_mu_);
    status_ = std::move(st);
  }

  static std::string NewClusterId() {
    std::random_device rd;
    return fmt::format("{:08x}{:08x}{:08x}{:08x}", rd(), rd(), rd(), rd());
  }

  NodeConfig config_;
  std::unique_ptr<storage::LogStore> store_;
  std::unique_ptr<raft::Raft> raft_;  // loop thread only (after Init)
  std::string bootstrap_cluster_id_;

  mutable std::shared_mutex state_mu_;
  state::ClusterState state_;  // written by the loop under state_mu_

  // Loop-thread-only bookkeeping.
  raft::Index applied_ = 0;
  raft::Index snapshot_index_ = 0;
  std::map<raft::Index, ProposalWaiter> proposals_;
  std::map<std::string, ReadWaiter> reads_;
  uint64_t read_seq_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::thread thread_;

  mutable std::mutex status_mu_;
  NodeStatus status_;
};

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() = default;

Result<std::unique_ptr<Node>> Node::Start(NodeConfig config,
                                          std::unique_ptr<storage::LogStore> store) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(store));
  if (Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

void Node::Stop() { impl_->Stop(); }
Result<state::ApplyResult> Node::Propose(v1::Command cmd, Deadline d) {
  return impl_->Propose(std::move(cmd), d);
}
Status Node::ReadBarrier(Deadline d) { return impl_->ReadBarrier(d); }
void Node::Read(const std::function<void(const state::ClusterState&)>& fn) const { impl_->Read(fn); }
NodeStatus Node::GetStatus() const { return impl_->GetStatus(); }
uint64_t Node::id() const { return impl_->id(); }

}  // namespace blixard::node
