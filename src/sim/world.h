// Internals of the simulator (simulator.h): the world that runs the nodes
// (cluster.h), the clients, the nemesis, the checks and the trace, and owns
// the VM workload (vms.h) and the workers (workers.h). Private to src/sim/;
// split over world.cc (nodes, checks, the run), clients.cc, routes.cc,
// nemesis.cc, voters.cc and trace.cc.
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

#include "sim/cluster.h"
#include "sim/history.h"
#include "sim/vms.h"
#include "sim/workers.h"
#include "state/cluster_state.h"

namespace blixard::sim::detail {

constexpr Endpoint kClientBase = 1'000'000;
constexpr Time kClientAttemptTimeoutMs = 2'000;
constexpr Time kClientOpDeadlineMs = 5'000;
constexpr Time kCheckEveryMs = 1'000;
constexpr size_t kTraceRing = 50;

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

class World final : public Cluster {
 public:
  explicit World(const SimConfig& c) : cfg_(c), prng_(c.seed), net_(&events_, &prng_) {}
  SimResult Run();

  // The process around a node's member (node_host.h).
  friend class NodeHost;

  // -- Cluster: what the VM workload and the workers reach --
  EventQueue& events() override { return events_; }
  Network& net() override { return net_; }
  Prng& prng() override { return prng_; }
  const SimConfig& config() const override { return cfg_; }
  void Trace(Ev ev, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0, uint64_t e = 0) override;
  void Fail(const std::string& check, const std::string& message) override;
  bool failed() const override { return !result_.ok; }
  bool settling() const override { return settling_; }
  SimNode* Find(NodeId id) override {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : it->second.get();
  }
  std::vector<NodeId> Members() override;
  void AfterInput(SimNode& n) override;
  void OnNode(SimNode& n, std::function<void()> fn) override;
  void Later(NodeId id, Time delay, std::function<void(SimNode&)> fn) override;
  void WithinBound(const std::string& check, const std::string& what,
                   const std::function<std::string(SimNode& leader)>& waiting_on) override;

 private:
  bool faults(uint32_t kind) const { return (cfg_.faults & kind) != 0; }

  // -- nodes --
  SimNode& AddNode(NodeId id, const std::vector<NodeId>& bootstrap_voters,
                   const std::vector<NodeId>& bootstrap_learners = {});
  void Start(SimNode& n);
  void Crash(SimNode& n);
  void ScheduleRestart(SimNode& n, Time delay);
  void Shutdown(SimNode& n);
  // The process of `n` is gone (crash or shutdown): its member and waiters.
  void StopProcess(SimNode& n);
  void ScheduleTick(SimNode& n, Time delay);
  void DeliverRaft(const raft::Message& m);
  void HandleReady(SimNode& n);
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
  void PlacedWithinBound();

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
  bool defer_ready_ = false;  // this seed batches several inputs into one Ready now and then
  std::map<NodeId, Reply::Kind> probes_;  // ProbeForwarding's answers
  Time nemesis_interval_ = 2000;  // upper bound between two faults
  uint64_t partition_gen_ = 0;
  uint64_t net_gen_ = 0;
  std::map<Index, bool> conf_seen_;  // conf-change indices already acted on
  // Election latency: set when a leader crashes.
  bool measuring_ = false;
  Time measure_start_ = 0;
  Term measure_term_ = 0;
  bool measure_clean_ = false;

  std::unique_ptr<VmWorkload> vms_;   // SimConfig::vms
  std::unique_ptr<Workers> workers_;  // SimConfig::workers
  uint64_t trace_hash_ = 0;
  std::array<TraceRec, kTraceRing> ring_{};
  uint64_t ring_next_ = 0;
};

}  // namespace blixard::sim::detail
