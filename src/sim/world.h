// Internals of the simulator (simulator.h): the world, its nodes and
// clients, and the trace. Private to src/sim/; split over world.cc (nodes,
// Ready handling, checks, the run), clients.cc, nemesis.cc and trace.cc.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/member.h"
#include "node/route.h"
#include "raft/raft.h"
#include "sim/event_queue.h"
#include "sim/history.h"
#include "sim/network.h"
#include "sim/prng.h"
#include "sim/safety.h"
#include "sim/simulator.h"
#include "sim/vms.h"
#include "sim/workers.h"
#include "state/cluster_state.h"
#include "storage/mem_log_store.h"

namespace blixard::sim::detail {

using raft::kNoNode;
using raft::Role;

constexpr int64_t kEpochMs = 1'767'225'600'000;  // the clients' wall clock at t=0 (2026-01-01)
constexpr Endpoint kClientBase = 1'000'000;
constexpr Time kTickMs = 100;
constexpr Time kClientAttemptTimeoutMs = 2'000;
constexpr Time kClientOpDeadlineMs = 5'000;
constexpr Time kCheckEveryMs = 1'000;
constexpr size_t kTraceRing = 50;

// ---- Trace: every event, hashed into the digest; the last few kept for a
// failure report; all of them printed with --verbose. ----

enum class Ev : uint8_t {
  kTick, kDeliver, kCrash, kRestart, kShutdown, kPause, kResume, kDiskFault, kStorageError, kPartition, kHeal,
  kNetConfig, kLeader, kPropose, kClientReply, kOpDone, kSnapshotTaken, kSnapshotInstalled, kConfPropose,
  kConfApplied, kTransfer, kSettle, kCrashArmed, kVm, kWorker, kRoute,
};

struct TraceRec {
  Time t = 0;
  Ev ev = Ev::kTick;
  uint64_t a = 0, b = 0, c = 0, d = 0, e = 0;
};

const char* PartitionName(uint64_t k);
const char* ConfTypeName(uint64_t t);
std::string FormatTrace(const TraceRec& r);

// ---- Nodes and clients ----

// A write proposed by a leader for a route (routes.cc): answered to the
// route's member, `router`, when the member's waiter for it completes.
struct PendingWrite {
  NodeId router;
  uint64_t route;
  uint64_t try_seq;  // the route's attempt it answers
  size_t op;
};

// A client's write on the member it reached, routed to the leader by the
// daemon's node::Route (routes.cc) until it is answered or its deadline.
inline constexpr size_t kProbeOp = SIZE_MAX;  // SimRoute::op of a probe: not in the history

struct SimRoute {
  SimRoute(uint64_t c, uint64_t a, size_t o, std::string d, NodeId self, Time deadline_ms,
           node::Route::Options options)
      : client(c), attempt(a), op(o), data(std::move(d)),
        route(self, node::Route::Clock::time_point(std::chrono::milliseconds(deadline_ms)), std::move(options)) {}
  uint64_t client;  // 0: a probe (World::ProbeForwarding)
  uint64_t attempt;
  size_t op;        // in the history; kProbeOp for a probe
  std::string data;
  node::Route route;  // its deadline is the write's
  uint64_t try_seq = 0;   // the attempt under way; answers of older ones are dropped
  bool waiting = false;   // in a kWait step for a leader other than:
  NodeId wait_leader = 0;
  Term wait_term = 0;
};

struct SimNode {
  NodeId id = 0;
  // The disk: survives crashes.
  std::unique_ptr<storage::MemLogStore> store;
  ShadowLog shadow;
  // The process, rebuilt on restart: the daemon's Raft member
  // (node/member.h) with `host` as the simulated process around it. A
  // crash may happen inside the member's Drain, so a crashed process is
  // kept in `dead` until the next start.
  std::unique_ptr<node::MemberHost> host;
  std::unique_ptr<node::Member> member;
  std::pair<std::unique_ptr<node::Member>, std::unique_ptr<node::MemberHost>> dead;
  raft::Raft* raft = nullptr;  // member's core while up
  const state::ClusterState& state() const { return member->state(); }
  Index applied() const { return member->applied(); }
  bool up = false;
  bool paused = false;
  bool removed = false;
  uint64_t incarnation = 0;
  uint64_t pause_gen = 0;
  bool ready_deferred = false;  // a HandleReady is scheduled
  // Crash in the next Ready: 1 after persist, 2 after send, 3 after apply,
  // 4 after a leader's early send (before its own save).
  int crash_point = 0;
  Time tick_interval = kTickMs;
  std::vector<std::function<void()>> held;  // deliveries while paused
  std::map<uint64_t, SimRoute> routes;        // writes this member routes
  uint64_t next_route = 0;
  std::unique_ptr<VmSide> vms;               // SimConfig::vms only (vms.cc)
};

enum class WriteKind : uint8_t { kCreate, kSetDesired, kDelete, kDrain };

struct Client {
  uint64_t id = 0;
  Endpoint ep = 0;
  NodeId target = 0;
  uint64_t seq = 0;
  uint64_t requests = 0;  // request ids given (RequestId.lo)
  std::vector<std::string> live;  // acknowledged creates with no delete issued
  bool busy = false;
  size_t op = 0;
  uint64_t attempt = 0;
  WriteKind write_kind = WriteKind::kCreate;
  std::string name;
  std::string data;
};

// An answer: a member's to a client (kOk, kFailed, kUnknown; kNotLeader for
// reads), or a leader's to a route's attempt (kOk, kNotLeader, kRetry).
struct Reply {
  enum Kind : uint8_t { kOk = 0, kNotLeader = 1, kFailed = 2, kUnknown = 3, kRetry = 4 } kind = kOk;
  NodeId hint = 0;
  Index index = 0;
  Index served = 0;
  bool found = false;
};

class World {
 public:
  explicit World(const SimConfig& c) : cfg_(c), prng_(c.seed), net_(&events_, &prng_) {}
  SimResult Run();

  // The workers (workers.h) drive the world's nodes, network and ledger.
  friend class Workers;
  // The process around a node's member (node_host.h).
  friend class NodeHost;

  // -- the VM workload's node agents (vms.cc) --
  std::optional<std::vector<v1::Vm>> VmPlacedHere(NodeId id);
  void VmReport(NodeId id, const std::string& name, v1::VmPhase phase, const std::string& message,
                uint64_t seq, uint64_t observed_generation);
  void VmStoppedForMove(NodeId id, const std::string& name, uint64_t move_index);
  // A command of node `id`'s agent, forwarded to the leader and proposed there.
  void VmForward(NodeId id, std::string data);

 private:
  // -- the VM workload (vms.cc) --
  void VmStart(SimNode& n);
  void VmHostDown(SimNode& n);
  void ScheduleVmStep(SimNode& n, Time delay);
  void VmStep(SimNode& n);
  void VmHeartbeat(SimNode& n);
  bool VmOnReadState(SimNode& l, const raft::ReadState& rs);
  void VmTrackTerm(SimNode& l);
  void VmControl(SimNode& l);
  // "node over capacity": on `n`'s applied state, the VMs that hold capacity
  // on a node (state::HoldsCapacity) fit in what it reported (vms.cc).
  Status VmCapacityHolds(const SimNode& n) const;
  // "anti-affinity": on `n`'s applied state, no node holds two VMs (that
  // hold capacity there) of one anti-affinity group (vms.cc).
  Status VmAntiAffinityHolds(const SimNode& n) const;

  // -- infrastructure --
  void Trace(Ev ev, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0, uint64_t e = 0);
  void Fail(const std::string& check, const std::string& message);
  bool Check(const Status& s, const char* check) {
    if (!s.ok() && result_.ok) Fail(check, s.message());
    return s.ok();
  }
  bool failed() const { return !result_.ok; }
  bool faults(uint32_t kind) const { return (cfg_.faults & kind) != 0; }

  // -- nodes --
  SimNode* Find(NodeId id) {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : it->second.get();
  }
  SimNode& AddNode(NodeId id, const std::vector<NodeId>& bootstrap_voters,
                   const std::vector<NodeId>& bootstrap_learners = {});
  void Start(SimNode& n);
  void Crash(SimNode& n);
  void ScheduleRestart(SimNode& n, Time delay);
  void Shutdown(SimNode& n);
  // The process of `n` is gone (crash or shutdown): its member and waiters.
  void StopProcess(SimNode& n);
  void ScheduleTick(SimNode& n, Time delay);
  void OnNode(SimNode& n, std::function<void()> fn);
  // Runs `fn` on node `id` after `delay` (0: in a later event of this
  // instant, outside the Ready handling that scheduled it), as OnNode does,
  // if it is still the same process then.
  void Later(NodeId id, Time delay, std::function<void(SimNode&)> fn);
  void DeliverRaft(const raft::Message& m);
  void HandleReady(SimNode& n);
  void AfterInput(SimNode& n);
  bool CrashPoint(SimNode& n, int stage);
  // Checks when `n` takes over as leader (its member proposes its set-up).
  void OnBecameLeader(SimNode& n);
  // SimConfig::max_voters: what keeps the leader from its voters.
  std::string VotersWaitingOn(SimNode& l);
  // The checks around each entry a member applies (node_host.h calls them).
  bool BeforeApply(SimNode& n, const raft::Entry& e);
  void OnApplied(SimNode& n, const raft::Entry& e, const state::ApplyResult& result);
  bool OnCompacted(SimNode& n, const Result<raft::SnapshotMeta>& meta);
  node::MemberConfig MemberConfigFor(const SimNode& n);
  SimNode* Leader();
  std::vector<NodeId> Members();  // not removed
  bool Working(const SimNode& n) const { return n.up && !n.paused; }

  // -- clients --
  void ClientNext(Client& c);
  void ClientSend(Client& c);
  void ClientDone(Client& c, Outcome outcome);
  void OnReply(Client& c, uint64_t attempt, const Reply& r);
  void NodeRequest(SimNode& n, Client& c, uint64_t attempt);

  // -- routing writes to the leader (routes.cc), with node::Route --
  void RouteWrite(SimNode& n, uint64_t client, uint64_t attempt, size_t op, std::string data, Time deadline);
  void RouteStep(SimNode& n, uint64_t rid);
  // The answer to attempt `try_seq` of route `rid` on member `router`.
  void RouteTried(NodeId router, uint64_t rid, uint64_t try_seq, const Reply& r, const std::string& why);
  // The leader's side of an attempt (a forward, or the router's own).
  void LeaderWrite(SimNode& l, NodeId router, uint64_t rid, uint64_t try_seq, const std::string& data, size_t op);
  void AnswerAttempt(NodeId from, const PendingWrite& w, const Reply& r);
  void RouteDone(SimNode& n, uint64_t rid, Reply r);
  // A node's soft state changed: routes waiting for another leader try again.
  void WakeRoutes(SimNode& n);
  // Attempt `try_seq` of route `rid` on node `id` waits no more: after
  // `delay`, the route takes its next step (if it still waits in that step).
  void ResumeRoute(NodeId id, uint64_t rid, uint64_t try_seq, Time delay);
  uint64_t OpId(size_t op) const;  // for the trace: the op's id, 0 for a probe
  // After the cluster is quiet: a write through every member completes.
  void ProbeForwarding();
  void ReplyTo(NodeId from, uint64_t client, uint64_t attempt, size_t op, const Reply& r);

  // -- nemesis --
  void NemesisStep();
  void ActNetChaos();
  void ActPartition();
  void ActCrash();
  void ActPause();
  void ActDisk();
  void ActMembership();
  void ActTransfer();
  void ActWorkerCrash() { workers_->ActCrash(); }
  void ActWorkerPartition() { workers_->ActPartition(); }
  // Heals the links between servers (the workers' cuts are theirs to heal).
  void HealServerLinks();
  void Heal();
  void Flap(NodeId a, NodeId b, uint64_t gen, Time until);
  bool MayTakeDown();
  void Settle();

  // -- checks --
  void PeriodicChecks();
  Status RaftLogMatchesStorage(const SimNode& n) const;
  bool Converged();
  void FinalChecks();
  void WithinBound(const std::string& check, const std::string& what,
                   const std::function<std::string(SimNode& leader)>& waiting_on);
  void PlacedWithinBound();
  // "drains finish" (vms.cc): once the cluster is quiet, every drain is done
  // within a bound, but for VMs that fit on no other node while the drain
  // has no deadline or it is still ahead.
  void DrainsFinish();
  std::string DrainWaitingOn(const state::ClusterState& st, int64_t wall) const;

  SimConfig cfg_;
  Prng prng_;
  EventQueue events_;
  Network net_;
  SafetyChecker safety_;
  History history_;
  HistoryChecker history_checker_;
  SimResult result_;
  std::map<NodeId, std::unique_ptr<SimNode>> nodes_;
  std::vector<Client> clients_;
  NodeId next_node_id_ = 1;
  uint64_t snapshot_threshold_ = 50;
  raft::Config raft_template_;
  bool settling_ = false;
  bool defer_ready_ = false;
  std::map<NodeId, Reply::Kind> probes_;  // ProbeForwarding's answers  // this seed batches several inputs into one Ready now and then
  Time nemesis_interval_ = 2000;  // upper bound between two faults
  uint64_t partition_gen_ = 0;
  uint64_t net_gen_ = 0;
  std::map<Index, bool> conf_seen_;  // conf-change indices already acted on
  // Election latency: set when a leader crashes.
  bool measuring_ = false;
  Time measure_start_ = 0;
  Term measure_term_ = 0;
  bool measure_clean_ = false;

  VmLedger vm_ledger_;
  std::unique_ptr<Workers> workers_;  // SimConfig::workers
  uint64_t trace_hash_ = 0;
  std::array<TraceRec, kTraceRing> ring_{};
  uint64_t ring_next_ = 0;
};

}  // namespace blixard::sim::detail
