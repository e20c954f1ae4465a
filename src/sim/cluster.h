// What the parts of a simulated run share, below the world that runs them
// (world.h): a node (its disk, its process around the daemon's Raft member,
// the writes it routes) and the Cluster interface through which the VM
// workload (vms.h) and the workers (workers.h) reach the world: time, the
// network, the seed's randomness, the trace, the checks and the nodes.
// Private to src/sim/.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "node/member.h"
#include "node/route.h"
#include "raft/raft.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/prng.h"
#include "sim/safety.h"
#include "sim/simulator.h"
#include "storage/mem_log_store.h"

namespace blixard::sim::detail {

using raft::kNoNode;
using raft::Role;

constexpr int64_t kEpochMs = 1'767'225'600'000;  // the clients' wall clock at t=0 (2026-01-01)
constexpr Time kTickMs = 100;

// ---- Trace: every event, hashed into the digest; the last few kept for a
// failure report; all of them printed with --verbose. ----

enum class Ev : uint8_t {
  kTick, kDeliver, kCrash, kRestart, kShutdown, kPause, kResume, kDiskFault, kStorageError, kPartition, kHeal,
  kNetConfig, kLeader, kPropose, kClientReply, kOpDone, kSnapshotTaken, kSnapshotInstalled, kConfPropose,
  kConfApplied, kTransfer, kSettle, kCrashArmed, kVm, kWorker, kRoute,
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

struct VmSide;  // vms.h

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
  raft::Raft& raft() { return member->raft(); }  // while up
  const raft::Raft& raft() const { return member->raft(); }
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

  ~SimNode();  // in vms.cc, where VmSide is complete
};

// The world as its parts see it (World implements it).
class Cluster {
 public:
  virtual ~Cluster() = default;

  virtual EventQueue& events() = 0;
  virtual Network& net() = 0;
  virtual Prng& prng() = 0;
  virtual const SimConfig& config() const = 0;

  virtual void Trace(Ev ev, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0, uint64_t e = 0) = 0;
  // Fails the run (the first failure is kept).
  virtual void Fail(const std::string& check, const std::string& message) = 0;
  virtual bool failed() const = 0;
  bool Check(const Status& s, const char* check) {
    if (!s.ok() && !failed()) Fail(check, s.message());
    return s.ok();
  }
  // After the last fault: the run is settling.
  virtual bool settling() const = 0;

  virtual SimNode* Find(NodeId id) = 0;
  virtual std::vector<NodeId> Members() = 0;  // not removed
  // Node `n`'s process handled an input: its member's Readies are handled.
  virtual void AfterInput(SimNode& n) = 0;
  // Runs `fn` on the node now, or when it resumes if it is paused; dropped
  // if the node is down.
  virtual void OnNode(SimNode& n, std::function<void()> fn) = 0;
  // Runs `fn` on node `id` after `delay` (0: in a later event of this
  // instant), if it is still the same process then.
  virtual void Later(NodeId id, Time delay, std::function<void(SimNode&)> fn) = 0;
  // Runs the world until `waiting_on()` (asked of the leader) is empty;
  // fails `check` if it is not within 4 TTLs.
  virtual void WithinBound(const std::string& check, const std::string& what,
                           const std::function<std::string(SimNode& leader)>& waiting_on) = 0;
};

}  // namespace blixard::sim::detail
