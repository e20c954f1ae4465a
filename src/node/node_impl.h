// Node::Impl: private to src/node/. Split across node.cc (loop, Ready
// handling, apply), proposals.cc (writes and reads), membership.cc (join,
// remove, transfer, the voter controller's tick), placement_driver.cc (the
// leader's placement passes), forwarding.cc (routing to the leader) and
// node_status.cc (published status, apply listeners).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "control/placement.h"
#include "node/node.h"
#include "node/peer_clients.h"
#include "node/ready_loop.h"
#include "node/reply_thread.h"
#include "node/route.h"
#include "raft/raft.h"

namespace blixard::node {

// How a proposal's or a read's waiter learns that the leader changed under
// it (the entry was overwritten by another leader's; the read's leader lost
// its role, or none is known): nothing was applied, so it may be routed
// again. kAborted is used by the node for nothing else.
Status OverwrittenStatus();
bool IsLeaderChange(const Status& s);

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

class Node::Impl : private ReadyHost {
 public:
  Impl(NodeConfig config, std::unique_ptr<storage::LogStore> store);
  ~Impl();

  Status Init(Deadline join_deadline);
  void Stop();
  void Receive(std::vector<raft::Message> batch);

  Result<state::ApplyResult> Propose(v1::Command cmd, Deadline deadline);
  void ProposeAsync(v1::Command cmd, Deadline deadline, Node::ApplyCallback done);
  std::future<Result<state::ApplyResult>> ProposeInTerm(v1::Command cmd, uint64_t term);
  Result<uint64_t> LastIndexInTerm(uint64_t term, Deadline deadline);
  Result<JoinResult> AddMember(uint64_t id, const std::string& address, Deadline deadline);
  Status RemoveMember(uint64_t id, Deadline deadline);
  Status TransferLeader(uint64_t to, Deadline deadline);
  v1::ForwardResponse HandleForward(const v1::ForwardRequest& req, Deadline deadline);
  Status ReadBarrier(Deadline deadline);

  void Read(const std::function<void(const state::ClusterState&)>& fn) const {
    std::shared_lock lk(state_mu_);
    fn(state_);
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
  struct ProposalWaiter {
    ProposalWaiter() = default;
    ProposalWaiter(raft::Term t, std::shared_ptr<ApplyPromise> p, std::shared_ptr<const v1::Command> c = nullptr)
        : term(t), promise(std::move(p)), cmd(std::move(c)) {}
    ProposalWaiter(raft::Term t, std::shared_ptr<ApplyOnce> d, Deadline dl,
                   std::shared_ptr<const v1::Command> c)
        : term(t), done(std::move(d)), deadline(dl), cmd(std::move(c)) {}
    raft::Term term = 0;
    std::shared_ptr<ApplyPromise> promise;  // a blocked caller, or
    std::shared_ptr<ApplyOnce> done;        // an asynchronous one, which
    Deadline deadline = Deadline::max();    // the loop fails after this
    // The proposed command when known: the entry at this index and `term`
    // is that command, so it is applied without decoding the entry again.
    std::shared_ptr<const v1::Command> cmd;
    // A blocked caller is woken at once; an asynchronous one's callback is
    // added to `replies` (run later, off the loop: see FlushReplies).
    void Complete(Result<state::ApplyResult> r, std::vector<ReplyThread::Callback>& replies) {
      if (promise) promise->set_value(std::move(r));
      if (done) {
        replies.push_back([done = std::move(done), r = std::move(r)]() mutable { (*done)(std::move(r)); });
      }
    }
  };
  struct ReadWaiter {
    raft::Index index = 0;  // 0 until the ReadState arrives
    std::shared_ptr<std::promise<Status>> promise;
  };

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
  Result<raft::Index> ProposeConfChangeOnLoop(const raft::ConfChange& cc,
                                              std::shared_ptr<ApplyPromise> promise);
  JoinResult MembersSnapshot() const;
  void NoteConfEntry(const raft::Entry& e, bool applied);  // loop
  void RunControllers();                                   // loop, leader only
  void SyncAddressesFromState();                           // loop
  void ForgetRemovedPeers();                               // loop, on ticks

  // ---- placement (placement_driver.cc) ----
  void PlacePendingVms();                                  // loop, leader only
  static bool MayNeedPlacement(const v1::Command& cmd);

  // ---- the thread holding the pass (in_pass_; node.cc) ----
  void Loop();
  // One pass: `tasks`, the tick if due, every Ready, placement, replies,
  // status. False after a storage failure (waiters failed, node stopping).
  bool Pass(std::deque<Task>& tasks, bool tick_due);
  // Gives the pass back; wakes the loop thread if work waits for it.
  void EndInlinePass();
  // ReadyHost (node.cc): the loop pass's part of each Ready, called by ready_.
  void Send(std::vector<raft::Message> messages) override;
  void OnPersisted(const raft::Ready& rd) override;
  void OnSoftState(const raft::SoftState& ss) override;
  Status ApplySnapshot(const raft::Snapshot& snapshot) override;
  void Apply(const std::vector<raft::Entry>& committed) override;
  void OnReadStates(std::vector<raft::ReadState>& read_states) override;
  Status OnAdvanced() override;
  bool Continue(Stage stage) override;
  void ApplyEntry(const raft::Entry& e);
  void ServeReads();
  // The waiter's entry was overwritten by another leader's (see node.cc).
  void Overwritten(ProposalWaiter& w);
  void ExpireProposals();
  void ProposeInternal(const v1::Command& cmd);
  Status MaybeSnapshot();  // the store's error if compaction failed
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
  std::unique_ptr<raft::Raft> raft_;  // the pass only (after Init)
  std::unique_ptr<ReadyLoop> ready_;  // over raft_ and store_, with this as host
  std::string cluster_id_;            // as stored in meta; the pass

  mutable std::shared_mutex state_mu_;
  state::ClusterState state_;  // written by the loop under state_mu_

  // Bookkeeping of the pass (whichever thread runs it, see in_pass_).
  raft::Index applied_ = 0;
  raft::Index snapshot_index_ = 0;
  uint64_t records_ = 0;  // VMs and nodes in state_ after the last apply
  std::map<raft::Index, ProposalWaiter> proposals_;
  std::vector<ReplyThread::Callback> pending_replies_;  // completed this pass
  std::map<std::string, ReadWaiter> reads_;
  uint64_t read_seq_ = 0;
  std::map<uint64_t, Clock::time_point> last_heard_;
  Clock::time_point leader_since_{};
  std::set<uint64_t> removing_;  // leader: members being removed are not promoted
  std::map<uint64_t, Clock::time_point> forget_peers_;  // removed members: drop their stream then
  raft::Index placement_index_ = 0;  // leader: last PlaceVms proposed
  // Something applied since the last placement pass may have made a VM
  // placeable: the placement pass runs only then (see MayNeedPlacement).
  bool placement_dirty_ = true;
  bool vms_changed_ = false;  // since the last on_vms_changed call
  uint64_t notified_applied_ = 0;  // the applied index apply listeners were last told
  std::mutex listeners_mu_;      // held while listeners run
  std::map<uint64_t, std::function<void(uint64_t)>> apply_listeners_;
  uint64_t last_listener_ = 0;
  Clock::time_point placement_next_{};      // earliest next pass
  Clock::time_point placement_last_{};      // last pass
  control::PlacementController placement_;  // leader: placement and drain (reset on election)
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
