// Node::Impl: private to src/node/. The threads, blocking waits and gRPC
// forwarding around one Member (member.h), which it runs in its loop pass.
// Split across node.cc (start-up, the loop, the member's host),
// proposals.cc (writes and reads), membership.cc (join, add, remove,
// transfer), forwarding.cc (routing to the leader) and node_status.cc
// (published status, apply listeners).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "node/member.h"
#include "node/node.h"
#include "node/peer_clients.h"
#include "node/ready_loop.h"
#include "node/reply_thread.h"
#include "node/route.h"
#include "raft/raft.h"

namespace blixard::node {

using ApplyPromise = std::promise<Result<state::ApplyResult>>;

// An asynchronous proposer's callback that runs exactly once: when it is
// destroyed uncalled (its task or waiter dropped at shutdown), it reports
// that the node stopped.
class ApplyOnce {
 public:
  explicit ApplyOnce(Node::ApplyCallback done) : done_(std::move(done)) {}
  ApplyOnce(const ApplyOnce&) = delete;
  ~ApplyOnce() {
    if (done_) done_(Status::Unavailable("node is shutting down; the write may or may not be applied"));
  }
  void operator()(Result<state::ApplyResult> r) {
    if (auto done = std::exchange(done_, nullptr)) done(std::move(r));
  }

 private:
  Node::ApplyCallback done_;
};

class Node::Impl : private MemberHost {
 public:
  Impl(NodeConfig config, std::unique_ptr<storage::LogStore> store);
  ~Impl();

  Status Init(Deadline join_deadline);
  void Stop();
  void Receive(std::vector<raft::Message> batch);

  Result<state::ApplyResult> Propose(v1::Command cmd, Deadline deadline);
  void ProposeAsync(v1::Command cmd, Deadline deadline, Node::ApplyCallback done);
  Result<Member::HeartbeatAck> Heartbeat(uint64_t node_id, Deadline deadline);
  Result<JoinResult> AddMember(uint64_t id, const std::string& address, Deadline deadline);
  Status RemoveMember(uint64_t id, Deadline deadline);
  Status TransferLeader(uint64_t to, Deadline deadline);
  v1::ForwardResponse HandleForward(const v1::ForwardRequest& req, Deadline deadline);
  Status ReadBarrier(Deadline deadline);

  void Read(const std::function<void(const state::ClusterState&)>& fn) const {
    std::shared_lock lk(member_->state_mutex());
    fn(member_->state());
  }
  NodeStatus GetStatus() const {
    std::lock_guard lk(status_mu_);
    return status_;
  }
  uint64_t id() const { return config_.id; }
  uint64_t AddApplyListener(std::function<void(uint64_t)> fn);
  void RemoveApplyListener(uint64_t id);
  std::string cluster_id() const {
    std::lock_guard lk(status_mu_);
    return status_.cluster_id;
  }

 private:
  using Task = std::function<void()>;

  // ---- any thread (node.cc) ----
  // Queues `t` for the loop thread. False (and `t` dropped) once stopping.
  bool Post(Task t);
  // Runs `t` in a loop pass on the calling thread when no pass is running
  // and nothing is queued (a lone peer message or client write then costs
  // no thread hand-off), else queues it like Post. The caller blocks for at
  // most a few passes (each may fsync): for gRPC callback threads, not for
  // callers that hold locks the loop takes.
  bool RunOrPost(Task t);
  // Runs `fn` in a pass and waits for the value it sets.
  template <typename T>
  Result<T> OnLoop(std::function<Result<T>()> fn, Deadline deadline);
  // Proposes `data` (the encoding of `cmd`, which apply then uses instead
  // of decoding the entry) here and waits until it applies.
  Attempt<state::ApplyResult> ProposeLocal(const std::string& data, std::shared_ptr<const v1::Command> cmd,
                                           Deadline deadline);
  // Whether `id` is in the configuration as this member last published it.
  bool IsMember(uint64_t id) const;
  std::string AddressOf(uint64_t id) const;
  // Runs `fn` on a thread of its own; Stop() waits for all of them. False
  // (and `fn` dropped) once the node is stopping.
  bool RunBlocking(std::function<void()> fn);

  // ---- routing (forwarding.cc) ----
  // Drives a Route (route.h) with blocking calls: runs `local` when this
  // member leads, `forward` (the leader's address, the attempt's deadline)
  // when another does, and waits for a leader while none is known or an
  // attempt must be tried again. Until `deadline`.
  template <typename T>
  Result<T> RouteToLeader(Deadline deadline, const std::function<Attempt<T>()>& local,
                          const std::function<Attempt<T>(const std::string&, Deadline)>& forward,
                          Route::Options options = {});
  LeaderView ViewForRoute() const;
  // Waits until a leader is known that differs from (leader, term), or
  // `until`.
  void WaitForLeaderChange(uint64_t leader, uint64_t term, Deadline until);
  // Gives `cmd` a request id if it has none, so that every retry of it,
  // here or forwarded, is applied at most once (state/request_log.h).
  void StampRequest(v1::Command& cmd);
  // One ReadIndex round on this member (ReadBarrier's attempt).
  Attempt<bool> ReadBarrierOnce(Deadline deadline);
  v1::ForwardRequest NewForward() const;
  // Forwards `req` to the leader for an operation that returns no value.
  Attempt<bool> ForwardAck(const std::string& leader, const v1::ForwardRequest& req,
                           Deadline deadline);

  // ---- membership (membership.cc) ----
  Status JoinExisting(Deadline deadline);
  Attempt<JoinResult> AddMemberLocal(uint64_t id, const std::string& address, Deadline deadline);
  Attempt<bool> RemoveMemberLocal(uint64_t id, Deadline deadline);
  Attempt<bool> TransferLeaderLocal(uint64_t to);
  JoinResult MembersSnapshot() const;

  // ---- the thread holding the pass (in_pass_; node.cc) ----
  void Loop();
  // One pass: `tasks`, the tick if due, every Ready (member_->Drain),
  // replies, status. False after a storage failure (waiters failed, node
  // stopping).
  bool Pass(std::deque<Task>& tasks, bool tick_due);
  // Gives the pass back; wakes the loop thread if work waits for it.
  void EndInlinePass();
  // MemberHost (node.cc, node_status.cc): the process around the member.
  Clock::time_point Now() override { return Clock::now(); }
  int64_t WallMs() override;
  void Send(std::vector<raft::Message> messages) override;
  void SetPeer(uint64_t id, const std::string& address) override { SetAddress(id, address); }
  void ForgetPeer(uint64_t id) override;
  bool Continue(ReadyHost::Stage stage) override;
  void OnSoftState(const raft::SoftState& ss) override;
  void OnVmsChanged() override {
    if (config_.on_vms_changed) config_.on_vms_changed();
  }
  bool Fatal(const Status& s);
  void FailAll(const Status& s);
  // Runs the callbacks completed in this pass: a lone one here when no task
  // waits (no thread hop on the latency path), a batch on replies_.
  void FlushReplies();
  void PublishStatus();
  void SetAddress(uint64_t id, const std::string& address);

  NodeConfig config_;
  const uint64_t request_nonce_;             // RequestId.hi of this process's writes
  std::atomic<uint64_t> request_seq_{0};     // RequestId.lo
  std::unique_ptr<storage::LogStore> store_;
  PeerClients clients_;
  // The Raft member: the pass only (after Init), but for its state lock.
  std::unique_ptr<Member> member_;
  std::string cluster_id_;  // as stored in meta; the pass

  uint64_t notified_applied_ = 0;  // the applied index apply listeners were last told
  std::mutex listeners_mu_;      // held while listeners run
  std::map<uint64_t, std::function<void(uint64_t)>> apply_listeners_;
  uint64_t last_listener_ = 0;
  bool ever_member_ = false;  // persisted as meta "member": removal is then detectable

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  // A pass is running, on the loop thread or inline (RunOrPost): the state
  // marked "loop" in this class belongs to whichever thread set it.
  bool in_pass_ = false;
  bool loop_waits_for_pass_ = false;  // the loop thread has work and waits for in_pass_
  std::thread thread_;
  size_t blocking_threads_ = 0;  // RunBlocking threads still running (under mu_)
  std::condition_variable blocking_cv_;

  ReplyThread replies_;  // stopped after the loop: runs what the loop left

  mutable std::mutex status_mu_;
  std::condition_variable status_cv_;  // signalled when leader/term change
  NodeStatus status_;
  std::map<uint64_t, std::string> addresses_;  // under status_mu_
};

template <typename T>
Result<T> Node::Impl::OnLoop(std::function<Result<T>()> fn, Deadline deadline) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  if (!Post([fn = std::move(fn), promise] { promise->set_value(fn()); })) {
    return Status::Unavailable("node is shutting down");
  }
  if (future.wait_until(deadline) != std::future_status::ready) {
    return Status::Unavailable("node loop did not answer before the deadline");
  }
  try {
    return future.get();
  } catch (const std::future_error&) {  // task dropped at shutdown
    return Status::Unavailable("node is shutting down");
  }
}

template <typename T>
Result<T> Node::Impl::RouteToLeader(Deadline deadline, const std::function<Attempt<T>()>& local,
                                    const std::function<Attempt<T>(const std::string&, Deadline)>& forward,
                                    Route::Options options) {
  Route route(config_.id, deadline, std::move(options));
  while (true) {
    const Route::Step step = route.Next(ViewForRoute(), Clock::now());
    switch (step.kind) {
      case Route::Step::kFail:
        return step.failure;
      case Route::Step::kWait:
        WaitForLeaderChange(step.leader_id, step.term, step.until);
        break;
      case Route::Step::kLocal:
      case Route::Step::kForward: {
        Attempt<T> a = step.kind == Route::Step::kLocal ? local() : forward(step.address, step.until);
        if (a.done()) return std::move(a.result);
        route.Tried(a);
        break;
      }
    }
  }
}

}  // namespace blixard::node
