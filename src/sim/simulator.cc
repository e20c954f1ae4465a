#include "sim/simulator.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "raft/conf_change.h"
#include "raft/raft.h"
#include "sim/history.h"
#include "sim/network.h"
#include "sim/prng.h"
#include "sim/safety.h"
#include "state/cluster_state.h"
#include "state/commands.h"
#include "storage/mem_log_store.h"

namespace blixard::sim {
namespace {

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
  kConfApplied, kTransfer, kSettle, kCrashArmed,
};

struct TraceRec {
  Time t = 0;
  Ev ev = Ev::kTick;
  uint64_t a = 0, b = 0, c = 0, d = 0, e = 0;
};

const char* PartitionName(uint64_t k) {
  static const char* const kNames[] = {"split", "isolate-leader", "one-way-out", "one-way-in", "bridge", "flap-on",
                                       "flap-off"};
  return k < std::size(kNames) ? kNames[k] : "?";
}

const char* ConfTypeName(uint64_t t) {
  static const char* const kNames[] = {"add-learner", "promote", "demote", "remove"};
  return t < std::size(kNames) ? kNames[t] : "?";
}

std::string FormatTrace(const TraceRec& r) {
  char buf[256];
  const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  switch (r.ev) {
    case Ev::kTick: snprintf(buf, sizeof buf, "node %llu tick", u(r.a)); break;
    case Ev::kDeliver:
      snprintf(buf, sizeof buf, "%s %llu->%llu term=%llu index=%llu%s", raft::MessageTypeName(static_cast<raft::MessageType>(r.a)),
               u(r.b), u(r.c), u(r.d), u(r.e >> 1), (r.e & 1) ? " reject" : "");
      break;
    case Ev::kCrash: snprintf(buf, sizeof buf, "node %llu CRASH (was %s)", u(r.a), r.b ? "leader" : "not leader"); break;
    case Ev::kRestart: snprintf(buf, sizeof buf, "node %llu restart (snapshot %llu, %llu entries)", u(r.a), u(r.b), u(r.c)); break;
    case Ev::kShutdown: snprintf(buf, sizeof buf, "node %llu shut down (removed from the cluster)", u(r.a)); break;
    case Ev::kPause: snprintf(buf, sizeof buf, "node %llu PAUSE", u(r.a)); break;
    case Ev::kResume: snprintf(buf, sizeof buf, "node %llu resume (%llu held deliveries)", u(r.a), u(r.b)); break;
    case Ev::kDiskFault: snprintf(buf, sizeof buf, "node %llu disk will fail after %llu writes", u(r.a), u(r.b)); break;
    case Ev::kStorageError: snprintf(buf, sizeof buf, "node %llu storage write FAILED: stopping", u(r.a)); break;
    case Ev::kPartition:
      snprintf(buf, sizeof buf, "PARTITION %s node=%llu mask=%llx", PartitionName(r.a), u(r.b), u(r.c));
      break;
    case Ev::kHeal: snprintf(buf, sizeof buf, "heal all partitions"); break;
    case Ev::kNetConfig:
      snprintf(buf, sizeof buf, "network drop=%llu%% dup=%llu%% long-delay=%llu%% (per mille)", u(r.a), u(r.b), u(r.c));
      break;
    case Ev::kLeader: snprintf(buf, sizeof buf, "node %llu became LEADER term=%llu last=%llu", u(r.a), u(r.b), u(r.c)); break;
    case Ev::kPropose:
      snprintf(buf, sizeof buf, "node %llu proposed op #%llu at index %llu term %llu", u(r.a), u(r.b), u(r.c), u(r.d));
      break;
    case Ev::kClientReply:
      snprintf(buf, sizeof buf, "node %llu -> client %llu op #%llu: %s index=%llu", u(r.a), u(r.b), u(r.c),
               r.d == 0 ? "ok" : r.d == 1 ? "not-leader" : "failed", u(r.e));
      break;
    case Ev::kOpDone:
      snprintf(buf, sizeof buf, "client %llu op #%llu %s index=%llu", u(r.a), u(r.b),
               OutcomeName(static_cast<Outcome>(r.c)), u(r.d));
      break;
    case Ev::kSnapshotTaken: snprintf(buf, sizeof buf, "node %llu snapshot+compact at %llu", u(r.a), u(r.b)); break;
    case Ev::kSnapshotInstalled: snprintf(buf, sizeof buf, "node %llu installed snapshot at %llu", u(r.a), u(r.b)); break;
    case Ev::kConfPropose:
      snprintf(buf, sizeof buf, "leader %llu proposes %s node %llu: %s", u(r.a), ConfTypeName(r.b), u(r.c),
               r.d ? "accepted" : "refused");
      break;
    case Ev::kConfApplied: snprintf(buf, sizeof buf, "committed %s node %llu at index %llu", ConfTypeName(r.a), u(r.b), u(r.c)); break;
    case Ev::kTransfer: snprintf(buf, sizeof buf, "leader %llu transfers leadership to %llu: %s", u(r.a), u(r.b), r.c ? "ok" : "refused"); break;
    case Ev::kSettle: snprintf(buf, sizeof buf, "SETTLE: faults off, all nodes up, network healed"); break;
    case Ev::kCrashArmed:
      snprintf(buf, sizeof buf, "node %llu will crash in its next Ready, after %s", u(r.a),
               r.b == 1 ? "persisting" : r.b == 2 ? "sending" : "applying");
      break;
  }
  char line[320];
  snprintf(line, sizeof line, "t=%7lldms %s", static_cast<long long>(r.t), buf);
  return line;
}

// ---- Nodes and clients ----

struct PendingWrite {
  uint64_t client;
  uint64_t attempt;
  size_t op;
  Term term;
  uint64_t hash;
};

struct PendingRead {
  uint64_t client;
  uint64_t attempt;
  size_t op;
  std::string name;
  Index index = 0;
  bool have_index = false;
};

struct SimNode {
  NodeId id = 0;
  // The disk: survives crashes.
  std::unique_ptr<storage::MemLogStore> store;
  ShadowLog shadow;
  // The process: rebuilt on restart.
  std::unique_ptr<raft::Raft> raft;
  state::ClusterState state;
  Index applied = 0;
  bool up = false;
  bool paused = false;
  bool removed = false;
  uint64_t incarnation = 0;
  uint64_t pause_gen = 0;
  bool ready_deferred = false;  // a HandleReady is scheduled
  int crash_point = 0;          // crash in the next Ready: 1 after persist, 2 after send, 3 after apply
  Time tick_interval = kTickMs;
  std::vector<std::function<void()>> held;  // deliveries while paused
  std::map<Index, PendingWrite> writes;
  std::map<std::string, PendingRead> reads;  // by ReadIndex context
};

enum class WriteKind : uint8_t { kCreate, kSetDesired, kDelete };

struct Client {
  uint64_t id = 0;
  Endpoint ep = 0;
  NodeId target = 0;
  uint64_t seq = 0;
  std::vector<std::string> live;  // acknowledged creates with no delete issued
  bool busy = false;
  size_t op = 0;
  uint64_t attempt = 0;
  WriteKind write_kind = WriteKind::kCreate;
  std::string name;
  std::string data;
};

struct Reply {
  enum Kind : uint8_t { kOk = 0, kNotLeader = 1, kFailed = 2 } kind = kOk;
  NodeId hint = 0;
  Index index = 0;
  Index served = 0;
  bool found = false;
};

class World {
 public:
  explicit World(const SimConfig& c) : cfg_(c), prng_(c.seed), net_(&events_, &prng_) {}
  SimResult Run();

 private:
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
  SimNode& AddNode(NodeId id, const std::vector<NodeId>& bootstrap_voters);
  void Start(SimNode& n);
  void Crash(SimNode& n);
  void ScheduleRestart(SimNode& n, Time delay);
  void Shutdown(SimNode& n);
  void ScheduleTick(SimNode& n, Time delay);
  void OnNode(SimNode& n, std::function<void()> fn);
  void DeliverRaft(const raft::Message& m);
  void HandleReady(SimNode& n);
  void AfterInput(SimNode& n);
  bool CrashPoint(SimNode& n, int stage);
  void OnBecameLeader(SimNode& n);
  void ApplyEntry(SimNode& n, const raft::Entry& e);
  void ServeReads(SimNode& n);
  void MaybeCompact(SimNode& n);
  SimNode* Leader();
  std::vector<NodeId> Members();  // not removed
  bool Working(const SimNode& n) const { return n.up && !n.paused; }

  // -- clients --
  void ClientNext(Client& c);
  void ClientSend(Client& c);
  void ClientDone(Client& c, Outcome outcome);
  void OnReply(Client& c, uint64_t attempt, const Reply& r);
  void NodeRequest(SimNode& n, Client& c, uint64_t attempt);
  void ReplyTo(SimNode& n, const PendingWrite& w, const Reply& r) { ReplyTo(n.id, w.client, w.attempt, w.op, r); }
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
  void Heal();
  void Flap(NodeId a, NodeId b, uint64_t gen, Time until);
  bool MayTakeDown();
  void Settle();

  // -- checks --
  void PeriodicChecks();
  Status RaftLogMatchesStorage(const SimNode& n) const;
  bool Converged();
  void FinalChecks();

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
  Time nemesis_interval_ = 2000;  // upper bound between two faults
  uint64_t partition_gen_ = 0;
  uint64_t net_gen_ = 0;
  std::map<Index, bool> conf_seen_;  // conf-change indices already acted on
  // Election latency: set when a leader crashes.
  bool measuring_ = false;
  Time measure_start_ = 0;
  Term measure_term_ = 0;
  bool measure_clean_ = false;

  uint64_t trace_hash_ = 0;
  std::array<TraceRec, kTraceRing> ring_{};
  uint64_t ring_next_ = 0;
};

void World::Trace(Ev ev, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e) {
  TraceRec r{events_.now(), ev, a, b, c, d, e};
  trace_hash_ = HashCombine(trace_hash_, static_cast<uint64_t>(r.t) * 64 + static_cast<uint64_t>(ev));
  trace_hash_ = HashCombine(trace_hash_, a ^ Mix64(b) ^ Mix64(c + 1) ^ Mix64(d + 2) ^ Mix64(e + 3));
  ring_[ring_next_++ % kTraceRing] = r;
  if (cfg_.verbose && cfg_.out != nullptr) *cfg_.out << FormatTrace(r) << "\n";
}

void World::Fail(const std::string& check, const std::string& message) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.check = check;
  std::string s = "FAIL seed=" + std::to_string(cfg_.seed) + " t=" + std::to_string(events_.now()) + "ms check=" +
                  check + ": " + message + "\n  replay: blixard-sim --seed " + std::to_string(cfg_.seed) +
                  " --nodes " + std::to_string(cfg_.nodes) + " --virtual-seconds " +
                  std::to_string(cfg_.duration_ms / 1000) + " --faults " + FaultsToString(cfg_.faults) +
                  " --verbose\n  last events:\n";
  const uint64_t n = std::min<uint64_t>(ring_next_, kTraceRing);
  for (uint64_t i = ring_next_ - n; i < ring_next_; ++i) s += "    " + FormatTrace(ring_[i % kTraceRing]) + "\n";
  result_.failure = s;
}

// ---------------------------------------------------------------- nodes

SimNode& World::AddNode(NodeId id, const std::vector<NodeId>& bootstrap_voters) {
  auto n = std::make_unique<SimNode>();
  n->id = id;
  n->store = std::make_unique<storage::MemLogStore>();
  if (!bootstrap_voters.empty()) {
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta.conf.voters = bootstrap_voters;
    Check(n->store->Save(std::nullopt, {}, snap), "storage");
  }
  // Clock drift: each node's timer runs a little fast or slow.
  n->tick_interval = kTickMs + prng_.Range(-3, 3);
  SimNode& ref = *n;
  nodes_[id] = std::move(n);
  next_node_id_ = std::max(next_node_id_, id + 1);
  return ref;
}

void World::Start(SimNode& n) {
  auto loaded = n.store->Load();
  if (!Check(loaded.status(), "storage")) return;
  raft::PersistentState ps = std::move(loaded).value();
  if (ps.snapshot == nullptr) {
    Fail("storage", "Load() returned no snapshot");
    return;
  }
  // What the store gives back must be what the simulator saw saved.
  const ShadowLog& sh = n.shadow;
  bool same = ps.snapshot->meta.index == sh.snapshot_index() &&
              ps.snapshot->meta.index + ps.entries.size() == sh.last_index();
  for (size_t i = 0; same && i < ps.entries.size(); ++i) {
    const raft::Entry& e = ps.entries[i];
    same = e.index == sh.snapshot_index() + 1 + i && sh.at(e.index) == LogRecord{e.term, EntryHash(e)};
  }
  if (!same) {
    Fail("storage", "node " + std::to_string(n.id) + ": Load() after restart differs from what was saved (snapshot " +
                        std::to_string(ps.snapshot->meta.index) + " vs " + std::to_string(sh.snapshot_index()) +
                        ", last " + std::to_string(ps.snapshot->meta.index + ps.entries.size()) + " vs " +
                        std::to_string(sh.last_index()) + ")");
    return;
  }
  n.state = state::ClusterState();
  if (!ps.snapshot->data.empty() && !Check(n.state.RestoreSnapshot(ps.snapshot->data), "snapshot restore")) return;
  n.applied = ps.snapshot->meta.index;
  Trace(Ev::kRestart, n.id, ps.snapshot->meta.index, ps.entries.size());
  raft::Config rc = raft_template_;
  rc.id = n.id;
  rc.seed = prng_.Fork();
  n.raft = std::make_unique<raft::Raft>(rc, std::move(ps));
  n.up = true;
  n.paused = false;
  n.store->SetFaultHook(nullptr);
  n.ready_deferred = false;
  n.crash_point = 0;
  ++n.incarnation;
  ScheduleTick(n, prng_.Range(1, n.tick_interval));
  HandleReady(n);
}

void World::Crash(SimNode& n) {
  if (!n.up) return;
  const bool was_leader = n.raft->role() == Role::kLeader;
  Trace(Ev::kCrash, n.id, was_leader);
  if (was_leader && !measuring_) {
    measuring_ = true;
    measure_start_ = events_.now();
    measure_term_ = n.raft->term();
    measure_clean_ = net_.blocked_links() == 0 && net_.config().drop_per_mille == 0;
    for (const auto& [id, other] : nodes_) {
      if (other.get() != &n && !other->removed && !Working(*other)) measure_clean_ = false;
    }
  }
  ++result_.crashes;
  n.raft.reset();
  n.up = false;
  n.paused = false;
  ++n.incarnation;
  n.held.clear();
  n.crash_point = 0;
  n.ready_deferred = false;
  n.writes.clear();  // clients time out: outcome unknown
  n.reads.clear();
  if (cfg_.bug == InjectedBug::kLyingDisk) {
    // The disk acknowledged fsyncs it never did: only the snapshot and the
    // hard state survive.
    auto ps = n.store->Load();
    if (!Check(ps.status(), "storage")) return;
    n.store = std::make_unique<storage::MemLogStore>();
    Check(n.store->Save(ps->hard_state, {}, ps->snapshot), "storage");
    n.shadow = ShadowLog();
    n.shadow.Save(std::make_pair(ps->snapshot->meta.index, ps->snapshot->meta.term), {});
  }
}

void World::ScheduleRestart(SimNode& n, Time delay) {
  const uint64_t inc = n.incarnation;
  const NodeId id = n.id;
  events_.After(delay, [this, id, inc] {
    SimNode* n = Find(id);
    if (n != nullptr && !n->up && !n->removed && n->incarnation == inc && !failed()) Start(*n);
  });
}

void World::Shutdown(SimNode& n) {
  if (n.removed) return;
  Trace(Ev::kShutdown, n.id);
  n.raft.reset();
  n.up = false;
  n.removed = true;
  ++n.incarnation;
  n.held.clear();
  n.writes.clear();
  n.reads.clear();
}

void World::ScheduleTick(SimNode& n, Time delay) {
  const uint64_t inc = n.incarnation;
  const NodeId id = n.id;
  events_.After(delay, [this, id, inc] {
    SimNode* n = Find(id);
    if (n == nullptr || !n->up || n->incarnation != inc) return;
    ScheduleTick(*n, n->tick_interval);
    if (n->paused) return;
    Trace(Ev::kTick, id);
    n->raft->tick();
    AfterInput(*n);
    if (!n->up) return;
    Check(n->raft->CheckInvariants(), "raft invariants");
  });
}

// Runs `fn` on the node now, or when it resumes if it is paused; dropped if
// the node is down.
void World::OnNode(SimNode& n, std::function<void()> fn) {
  if (!n.up) return;
  if (n.paused) {
    n.held.push_back(std::move(fn));
    return;
  }
  fn();
}

void World::DeliverRaft(const raft::Message& m) {
  SimNode* n = Find(m.to);
  if (n == nullptr || !n->up) return;
  const NodeId id = n->id;
  const uint64_t inc = n->incarnation;
  OnNode(*n, [this, m, id, inc] {
    SimNode* n = Find(id);
    if (n == nullptr || !n->up || n->incarnation != inc || failed()) return;
    Trace(Ev::kDeliver, static_cast<uint64_t>(m.type), m.from, m.to, m.term, (m.index << 1) | (m.reject ? 1 : 0));
    // Purity: now and then a clone steps the same message and must end up
    // in the same state.
    std::unique_ptr<raft::Raft> twin;
    if (prng_.OneIn(64)) {
      twin = n->raft->Clone();
      if (twin->StateDigest() != n->raft->StateDigest()) {
        Fail("purity", "node " + std::to_string(id) + ": Clone() has a different StateDigest()");
        return;
      }
    }
    (void)n->raft->step(m);
    if (twin != nullptr) {
      (void)twin->step(m);
      if (twin->StateDigest() != n->raft->StateDigest()) {
        Fail("purity", "node " + std::to_string(id) + ": a clone stepping the same " +
                           raft::MessageTypeName(m.type) + " reached a different state");
        return;
      }
    }
    AfterInput(*n);
  });
}

// Like the daemon's loop, which drains its inbox before handling a Ready:
// some seeds now and then let several inputs pile up into one Ready.
void World::AfterInput(SimNode& n) {
  if (n.ready_deferred) return;
  if (defer_ready_ && prng_.OneIn(4)) {
    n.ready_deferred = true;
    const NodeId id = n.id;
    const uint64_t inc = n.incarnation;
    events_.After(prng_.Range(0, 20), [this, id, inc] {
      SimNode* n = Find(id);
      if (n == nullptr || !n->up || n->incarnation != inc) return;
      OnNode(*n, [this, id, inc] {
        SimNode* n = Find(id);
        if (n == nullptr || !n->up || n->incarnation != inc || failed()) return;
        n->ready_deferred = false;
        HandleReady(*n);
      });
    });
    return;
  }
  HandleReady(n);
}

// A crash in the middle of handling a Ready (kill -9 between two steps).
bool World::CrashPoint(SimNode& n, int stage) {
  if (n.crash_point != stage) return false;
  Crash(n);
  ScheduleRestart(n, prng_.Range(50, 3000));
  return true;
}

void World::HandleReady(SimNode& n) {
  while (n.up && !failed() && n.raft->has_ready()) {
    raft::Ready rd = n.raft->ready();
    bool became_leader = false;
    if (rd.soft_state && rd.soft_state->role == Role::kLeader) became_leader = true;
    // 1. Persist.
    if (rd.MustSync()) {
      Status s = n.store->Save(rd.hard_state, rd.entries, rd.snapshot);
      if (!s.ok()) {
        // As the daemon does: an I/O error stops the node; it restarts from
        // what is durable.
        Trace(Ev::kStorageError, n.id);
        Crash(n);
        ScheduleRestart(n, prng_.Range(100, 2000));
        return;
      }
      std::optional<std::pair<Index, Term>> snap;
      if (rd.snapshot) snap = std::make_pair(rd.snapshot->meta.index, rd.snapshot->meta.term);
      n.shadow.Save(snap, rd.entries);
      for (const raft::Entry& e : rd.entries) {
        if (e.index <= n.shadow.snapshot_index()) continue;
        const std::optional<Term> prev = n.shadow.term_at(e.index - 1);
        if (!prev) {
          Fail("log matching", "node " + std::to_string(n.id) + " saved entry " + std::to_string(e.index) +
                                   " with a gap before it");
          return;
        }
        if (!Check(safety_.OnPersist(n.id, e.index, {e.term, EntryHash(e)}, *prev), "log matching")) return;
      }
    }
    if (became_leader) OnBecameLeader(n);
    if (failed() || CrashPoint(n, 1)) return;
    // 2. Send.
    for (const raft::Message& m : rd.messages) {
      if (m.type == raft::MessageType::kSnapshot) ++result_.snapshots_sent;
      net_.Send(m.from, m.to, [this, m] { DeliverRaft(m); });
    }
    if (CrashPoint(n, 2)) return;
    // 3. Apply.
    if (rd.snapshot && rd.snapshot->meta.index > n.applied) {
      if (!Check(n.state.RestoreSnapshot(rd.snapshot->data), "snapshot restore")) return;
      if (!Check(safety_.OnSnapshot(n.id, rd.snapshot->meta.index, rd.snapshot->meta.term), "snapshot")) return;
      n.applied = rd.snapshot->meta.index;
      Trace(Ev::kSnapshotInstalled, n.id, n.applied);
    }
    for (const raft::Entry& e : rd.committed_entries) {
      ApplyEntry(n, e);
      if (failed()) return;
    }
    for (const raft::ReadState& rs : rd.read_states) {
      auto it = n.reads.find(rs.context);
      if (it != n.reads.end() && !it->second.have_index) {
        it->second.index = rs.index;
        it->second.have_index = true;
      }
    }
    if (CrashPoint(n, 3)) return;
    // 4. Advance.
    n.raft->advance(rd);
    ServeReads(n);
    MaybeCompact(n);
  }
}

void World::OnBecameLeader(SimNode& n) {
  const Term term = n.raft->term();
  Trace(Ev::kLeader, n.id, term, n.raft->last_index());
  if (!Check(safety_.OnLeader(n.id, term, static_cast<uint64_t>(events_.now())), "election safety")) return;
  if (!Check(safety_.OnNewLeaderLog(n.id, term, n.shadow), "leader completeness")) return;
  // Like the daemon: the leader records the cluster id and itself in the
  // replicated state.
  const int64_t now = kEpochMs + events_.now();
  if (n.state.cluster_id().empty()) (void)n.raft->propose(state::EncodeCommand(state::MakeInitCluster("sim-cluster", now)));
  if (n.state.FindNode(n.id) == nullptr) {
    v1::Node node;
    node.set_id(n.id);
    node.set_address("10.0.0." + std::to_string(n.id) + ":7001");
    node.set_role(v1::NODE_ROLE_VOTER);
    node.set_health(v1::NODE_HEALTH_READY);
    node.mutable_capacity()->set_vcpus(16);
    node.mutable_capacity()->set_memory_mib(65536);
    (void)n.raft->propose(state::EncodeCommand(state::MakeRegisterNode(node, now)));
  }
}

void World::ApplyEntry(SimNode& n, const raft::Entry& e) {
  if (e.index != n.applied + 1) {
    Fail("apply order", "node " + std::to_string(n.id) + " was handed entry " + std::to_string(e.index) +
                            " after applying " + std::to_string(n.applied));
    return;
  }
  const LogRecord rec{e.term, EntryHash(e)};
  std::vector<std::pair<Term, const ShadowLog*>> leaders;
  for (const auto& [id, other] : nodes_) {
    if (other->up && other->raft->role() == Role::kLeader) leaders.emplace_back(other->raft->term(), &other->shadow);
  }
  if (!Check(safety_.OnApply(n.id, n.raft->term(), e.index, rec, leaders), "state machine safety")) return;
  state::ApplyResult result;
  if (e.type == raft::EntryType::kNormal && !e.data.empty()) {
    auto cmd = state::DecodeCommand(e.data);
    if (!cmd.ok()) {
      Fail("entry decode", "node " + std::to_string(n.id) + " entry " + std::to_string(e.index) + ": " +
                               cmd.status().ToString());
      return;
    }
    result = n.state.Apply(*cmd, e.index);
  } else if (e.type == raft::EntryType::kConfChange && !conf_seen_.count(e.index)) {
    conf_seen_[e.index] = true;
    auto cc = raft::DecodeConfChangeEntry(e.data);
    if (!Check(cc.status(), "conf change decode")) return;
    ++result_.conf_changes;
    Trace(Ev::kConfApplied, static_cast<uint64_t>(cc->change.type), cc->change.node, e.index);
    if (cc->change.type == raft::ConfChangeType::kRemove) {
      // The removed node stops when it notices, as the daemon does; until
      // then (sometimes for a while) it runs on and may try to campaign.
      const NodeId gone = cc->change.node;
      events_.After(prng_.OneIn(2) ? 0 : prng_.Range(100, 10'000), [this, gone] {
        if (SimNode* g = Find(gone)) Shutdown(*g);
      });
    }
  }
  n.applied = e.index;
  if (e.index % 16 == 0 && !Check(safety_.OnStateDigest(n.id, e.index, n.state.Digest()), "state machine safety")) {
    return;
  }
  if (n.raft->role() == Role::kLeader && measuring_ && e.term == n.raft->term() && e.term > measure_term_) {
    result_.election_ms.push_back(events_.now() - measure_start_);
    if (measure_clean_) result_.election_clean_ms.push_back(events_.now() - measure_start_);
    measuring_ = false;
  }
  auto it = n.writes.find(e.index);
  if (it != n.writes.end()) {
    const PendingWrite w = it->second;
    n.writes.erase(it);
    if (cfg_.bug != InjectedBug::kAckOnPropose) {
      Reply r;
      if (w.term == e.term && w.hash == rec.hash) {
        r.kind = Reply::kOk;
        r.index = e.index;
      } else {
        r.kind = Reply::kFailed;  // overwritten by another leader's entry
      }
      ReplyTo(n, w, r);
    }
  }
  // Waiters below this index were overwritten (their index was applied with another entry).
  while (!n.writes.empty() && n.writes.begin()->first < e.index) {
    const PendingWrite w = n.writes.begin()->second;
    n.writes.erase(n.writes.begin());
    Reply r;
    r.kind = Reply::kFailed;
    if (cfg_.bug != InjectedBug::kAckOnPropose) ReplyTo(n, w, r);
  }
}

void World::ServeReads(SimNode& n) {
  for (auto it = n.reads.begin(); it != n.reads.end();) {
    const PendingRead& pr = it->second;
    if (pr.have_index && pr.index <= n.applied) {
      Reply r;
      r.kind = Reply::kOk;
      r.index = pr.index;
      r.served = n.applied;
      r.found = !pr.name.empty() && n.state.FindVm(pr.name) != nullptr;
      ReplyTo(n.id, pr.client, pr.attempt, pr.op, r);
      it = n.reads.erase(it);
    } else {
      ++it;
    }
  }
}

void World::MaybeCompact(SimNode& n) {
  if (!n.up || n.applied < n.shadow.snapshot_index() + snapshot_threshold_) return;
  std::string data = n.state.EncodeSnapshot();
  auto meta = n.raft->compact(n.applied, data);
  if (!meta.ok()) {
    Fail("compact", "node " + std::to_string(n.id) + " compact(" + std::to_string(n.applied) +
                        ") refused: " + meta.status().ToString());
    return;
  }
  const std::optional<Term> t = n.shadow.term_at(meta->index);
  if (meta->index != n.applied || !t || *t != meta->term) {
    Fail("compact", "node " + std::to_string(n.id) + " compact(" + std::to_string(n.applied) + ") returned index " +
                        std::to_string(meta->index) + " term " + std::to_string(meta->term) +
                        ", the saved log has term " + (t ? std::to_string(*t) : "none"));
    return;
  }
  Status s = n.store->Compact(raft::Snapshot{*meta, std::move(data)});
  if (!s.ok()) {
    Trace(Ev::kStorageError, n.id);
    Crash(n);
    ScheduleRestart(n, prng_.Range(100, 2000));
    return;
  }
  n.shadow.Compact(meta->index, meta->term);
  Trace(Ev::kSnapshotTaken, n.id, meta->index);
}

SimNode* World::Leader() {
  SimNode* best = nullptr;
  for (const auto& [id, n] : nodes_) {
    if (!Working(*n) || n->raft->role() != Role::kLeader) continue;
    if (best == nullptr || n->raft->term() > best->raft->term()) best = n.get();
  }
  return best;
}

std::vector<NodeId> World::Members() {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) {
    if (!n->removed) out.push_back(id);
  }
  return out;
}

// ---------------------------------------------------------------- clients

void World::ClientNext(Client& c) {
  if (failed() || settling_ || events_.now() >= cfg_.duration_ms) return;
  Op op;
  op.client = c.id;
  op.id = history_.ops().size();
  op.invoke = events_.now();
  const int64_t now = kEpochMs + events_.now();
  const uint64_t roll = prng_.Below(100);
  if (c.live.empty() || roll < 40) {
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kCreate;
    c.name = "vm-" + std::to_string(c.id) + "-" + std::to_string(c.seq++);
    v1::VmSpec spec;
    spec.set_name(c.name);
    spec.set_vcpus(static_cast<uint32_t>(prng_.Range(1, 4)));
    spec.set_memory_mib(static_cast<uint64_t>(128 << prng_.Below(4)));
    c.data = state::EncodeCommand(state::MakeCreateVm(spec, prng_.OneIn(2), now));
    op.what = "create " + c.name;
  } else if (roll < 60) {
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kSetDesired;
    c.name = prng_.Pick(c.live);
    const bool run = prng_.OneIn(2);
    c.data = state::EncodeCommand(
        state::MakeSetVmDesiredState(c.name, run ? v1::DESIRED_STATE_RUNNING : v1::DESIRED_STATE_STOPPED, now));
    op.what = std::string(run ? "start " : "stop ") + c.name;
  } else if (roll < 70) {
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kDelete;
    const size_t i = prng_.Below(c.live.size());
    c.name = c.live[i];
    c.live.erase(c.live.begin() + static_cast<ptrdiff_t>(i));
    c.data = state::EncodeCommand(state::MakeDeleteVm(c.name, now));
    op.what = "delete " + c.name;
  } else {
    op.kind = OpKind::kRead;
    c.name = prng_.Pick(c.live);
    op.must_find = true;
    c.data.clear();
    op.what = "read " + c.name;
  }
  if (op.kind == OpKind::kWrite) op.hash = EntryHash(raft::Entry{0, 0, raft::EntryType::kNormal, c.data});
  c.op = history_.Invoke(std::move(op));
  c.busy = true;
  ClientSend(c);
}

void World::ClientSend(Client& c) {
  const uint64_t attempt = ++c.attempt;
  const uint64_t cid = c.id;
  SimNode* n = Find(c.target);
  if (n == nullptr || n->removed) {
    const std::vector<NodeId> m = Members();
    c.target = prng_.Pick(m);
  }
  const NodeId target = c.target;
  net_.Send(c.ep, target, [this, cid, attempt, target] {
    SimNode* n = Find(target);
    if (n == nullptr || !n->up || failed()) return;
    const uint64_t inc = n->incarnation;
    OnNode(*n, [this, cid, attempt, target, inc] {
      SimNode* n = Find(target);
      if (n == nullptr || !n->up || n->incarnation != inc || failed()) return;
      NodeRequest(*n, clients_[cid - 1], attempt);
    });
  }, /*reliable=*/true);
  events_.After(kClientAttemptTimeoutMs, [this, cid, attempt] {
    Client& c = clients_[cid - 1];
    if (c.busy && c.attempt == attempt && !failed()) ClientDone(c, Outcome::kUnknown);
  });
}

void World::NodeRequest(SimNode& n, Client& c, uint64_t attempt) {
  if (attempt != c.attempt || !c.busy) return;  // the client gave up on this attempt
  const Op& op = history_.at(c.op);
  Reply r;
  if (op.kind == OpKind::kWrite) {
    if (n.raft->role() != Role::kLeader) {
      r.kind = Reply::kNotLeader;
      r.hint = n.raft->leader();
      ReplyTo(n.id, c.id, attempt, c.op, r);
      return;
    }
    const Term term = n.raft->term();
    auto idx = n.raft->propose(c.data);
    if (!idx.ok()) {
      r.kind = Reply::kNotLeader;
      r.hint = n.raft->leader() == n.id ? kNoNode : n.raft->leader();
      ReplyTo(n.id, c.id, attempt, c.op, r);
      return;
    }
    Trace(Ev::kPropose, n.id, op.id, *idx, term);
    n.writes[*idx] = PendingWrite{c.id, attempt, c.op, term, op.hash};
    if (cfg_.bug == InjectedBug::kAckOnPropose) {
      r.index = *idx;
      ReplyTo(n.id, c.id, attempt, c.op, r);
    }
    AfterInput(n);
    return;
  }
  if (cfg_.bug == InjectedBug::kLocalRead) {
    r.index = n.applied;
    r.served = n.applied;
    r.found = n.state.FindVm(c.name) != nullptr;
    ReplyTo(n.id, c.id, attempt, c.op, r);
    return;
  }
  const std::string ctx = "read-" + std::to_string(op.id) + "-" + std::to_string(attempt);
  Status s = n.raft->read_index(ctx);
  if (!s.ok()) {
    r.kind = Reply::kNotLeader;
    r.hint = n.raft->leader() == n.id ? kNoNode : n.raft->leader();
    ReplyTo(n.id, c.id, attempt, c.op, r);
    return;
  }
  n.reads[ctx] = PendingRead{c.id, attempt, c.op, c.name};
  AfterInput(n);
}

void World::ReplyTo(NodeId from, uint64_t client, uint64_t attempt, size_t op, const Reply& r) {
  Trace(Ev::kClientReply, from, client, history_.at(op).id, r.kind, r.index);
  net_.Send(from, kClientBase + client, [this, client, attempt, r] { OnReply(clients_[client - 1], attempt, r); },
            /*reliable=*/true);
}

void World::OnReply(Client& c, uint64_t attempt, const Reply& r) {
  if (!c.busy || c.attempt != attempt || failed()) return;
  Op& op = history_.at(c.op);
  switch (r.kind) {
    case Reply::kOk:
      op.index = r.index;
      op.served = r.served;
      op.found = r.found;
      if (op.kind == OpKind::kWrite && c.write_kind == WriteKind::kCreate) c.live.push_back(c.name);
      ClientDone(c, Outcome::kOk);
      return;
    case Reply::kFailed:
      ClientDone(c, Outcome::kFail);
      return;
    case Reply::kNotLeader:
      // Refused without proposing: safe to retry elsewhere until the deadline.
      if (events_.now() - op.invoke > kClientOpDeadlineMs) {
        ClientDone(c, Outcome::kFail);
        return;
      }
      if (r.hint != kNoNode && Find(r.hint) != nullptr && !prng_.OneIn(8)) {
        c.target = r.hint;
      } else {
        const std::vector<NodeId> m = Members();
        c.target = prng_.Pick(m);
      }
      ++c.attempt;  // the old attempt's timeout no longer applies
      {
        const uint64_t cid = c.id;
        const uint64_t a = c.attempt;
        events_.After(prng_.Range(10, 100), [this, cid, a] {
          Client& c = clients_[cid - 1];
          if (c.busy && c.attempt == a && !failed()) ClientSend(c);
        });
      }
      return;
  }
}

void World::ClientDone(Client& c, Outcome outcome) {
  Op& op = history_.at(c.op);
  op.outcome = outcome;
  op.complete = events_.now();
  Trace(Ev::kOpDone, c.id, op.id, static_cast<uint64_t>(outcome), op.index);
  if (!Check(history_checker_.OnComplete(op, safety_.committed()), "linearizability")) return;
  if (op.kind == OpKind::kWrite) {
    if (outcome == Outcome::kOk) ++result_.writes_ok;
    if (outcome == Outcome::kFail) ++result_.writes_failed;
    if (outcome == Outcome::kUnknown) ++result_.writes_unknown;
  } else if (outcome == Outcome::kOk) {
    ++result_.reads_ok;
  }
  c.busy = false;
  ++c.attempt;
  const uint64_t cid = c.id;
  events_.After(prng_.Range(1, 60), [this, cid] { ClientNext(clients_[cid - 1]); });
}

// ---------------------------------------------------------------- nemesis

bool World::MayTakeDown() {
  size_t voters = 0, down = 0;
  for (const auto& [id, n] : nodes_) {
    if (n->removed) continue;
    ++voters;
    down += !Working(*n);
  }
  // Usually keep a majority working, so the cluster makes progress; now and
  // then take down more, to see that nothing breaks without a quorum.
  return down + 1 <= (voters - 1) / 2 || prng_.OneIn(10);
}

void World::NemesisStep() {
  if (failed() || settling_) return;
  std::vector<void (World::*)()> acts;
  const auto add = [&](uint32_t kind, void (World::*act)(), int weight) {
    if (faults(kind)) acts.insert(acts.end(), weight, act);
  };
  add(kFaultNet, &World::ActNetChaos, 2);
  add(kFaultPartition, &World::ActPartition, 4);
  add(kFaultCrash, &World::ActCrash, 4);
  add(kFaultPause, &World::ActPause, 2);
  add(kFaultDisk, &World::ActDisk, 1);
  add(kFaultMembership, &World::ActMembership, 2);
  add(kFaultTransfer, &World::ActTransfer, 1);
  if (acts.empty()) return;
  measure_clean_ = false;  // a fault during a failover: not a clean measurement
  (this->*prng_.Pick(acts))();
  events_.After(prng_.Range(100, nemesis_interval_), [this] { NemesisStep(); });
}

void World::ActNetChaos() {
  NetworkConfig c = net_.config();
  static const std::vector<uint32_t> kDrop = {0, 0, 10, 50, 100, 300};
  static const std::vector<uint32_t> kDup = {0, 0, 10, 50, 100};
  static const std::vector<uint32_t> kLong = {0, 5, 20, 50};
  c.drop_per_mille = prng_.Pick(kDrop);
  c.dup_per_mille = prng_.Pick(kDup);
  c.long_delay_per_mille = prng_.Pick(kLong);
  // Now and then a message surfaces many election timeouts later.
  c.long_delay_max = prng_.OneIn(3) ? 10'000 : 2'000;
  net_.set_config(c);
  Trace(Ev::kNetConfig, c.drop_per_mille, c.dup_per_mille, c.long_delay_per_mille);
  const uint64_t gen = ++net_gen_;
  events_.After(prng_.Range(500, 5000), [this, gen] {
    if (gen != net_gen_ || settling_) return;
    net_.set_config(NetworkConfig{});
    Trace(Ev::kNetConfig, 0, 0, 0);
  });
}

void World::ActPartition() {
  net_.HealAll();
  const uint64_t gen = ++partition_gen_;
  std::vector<NodeId> m = Members();
  prng_.Shuffle(m);
  const auto mask = [](const std::vector<NodeId>& ids) {
    uint64_t x = 0;
    for (NodeId id : ids) x |= 1ull << (id % 64);
    return x;
  };
  SimNode* leader = Leader();
  const uint64_t kind = prng_.Below(6);
  if (m.size() < 2) return;
  switch (kind) {
    case 0: {  // split into two sides
      const size_t k = static_cast<size_t>(prng_.Range(1, static_cast<int64_t>(m.size()) - 1));
      std::vector<NodeId> a(m.begin(), m.begin() + static_cast<ptrdiff_t>(k)), b(m.begin() + static_cast<ptrdiff_t>(k), m.end());
      for (NodeId x : a)
        for (NodeId y : b) net_.BlockBoth(x, y);
      Trace(Ev::kPartition, 0, 0, mask(a));
      break;
    }
    case 1: {  // the leader alone
      const NodeId l = leader != nullptr ? leader->id : m[0];
      for (NodeId y : m)
        if (y != l) net_.BlockBoth(l, y);
      Trace(Ev::kPartition, 1, l, 0);
      break;
    }
    case 2:
    case 3: {  // one-way: a node (often the leader) can only send, or only receive
      const NodeId x = (leader != nullptr && prng_.OneIn(2)) ? leader->id : m[0];
      for (NodeId y : m) {
        if (y == x) continue;
        if (kind == 2) net_.Block(x, y); else net_.Block(y, x);
      }
      Trace(Ev::kPartition, kind, x, 0);
      break;
    }
    case 4: {  // bridge: m[0] sees everyone, the two halves of the rest do not see each other
      if (m.size() < 3) return;
      const size_t k = 1 + static_cast<size_t>(prng_.Range(1, static_cast<int64_t>(m.size()) - 2));
      for (size_t i = 1; i < k; ++i)
        for (size_t j = k; j < m.size(); ++j) net_.BlockBoth(m[i], m[j]);
      Trace(Ev::kPartition, 4, m[0], mask(std::vector<NodeId>(m.begin() + 1, m.begin() + static_cast<ptrdiff_t>(k))));
      break;
    }
    case 5: {  // a flapping link
      const Time until = events_.now() + prng_.Range(1000, 8000);
      Flap(m[0], m[1], gen, until);
      return;  // healed when flapping stops
    }
  }
  events_.After(prng_.Range(300, 6000), [this, gen] {
    if (gen != partition_gen_ || settling_) return;
    net_.HealAll();
    Trace(Ev::kHeal);
  });
}

void World::Flap(NodeId a, NodeId b, uint64_t gen, Time until) {
  if (gen != partition_gen_ || settling_) return;
  if (events_.now() >= until) {
    net_.UnblockBoth(a, b);
    Trace(Ev::kHeal);
    return;
  }
  const bool cut = !net_.Blocked(a, b);
  if (cut) net_.BlockBoth(a, b); else net_.UnblockBoth(a, b);
  Trace(Ev::kPartition, cut ? 5 : 6, a, (1ull << (a % 64)) | (1ull << (b % 64)));
  events_.After(prng_.Range(30, 600), [this, a, b, gen, until] { Flap(a, b, gen, until); });
}

void World::ActCrash() {
  if (!MayTakeDown()) return;
  SimNode* target = nullptr;
  if (prng_.OneIn(2)) target = Leader();
  if (target == nullptr) {
    std::vector<NodeId> up;
    for (const auto& [id, n] : nodes_)
      if (n->up) up.push_back(id);
    if (up.empty()) return;
    target = Find(prng_.Pick(up));
  }
  if (prng_.OneIn(3)) {
    target->crash_point = static_cast<int>(prng_.Range(1, 3));
    Trace(Ev::kCrashArmed, target->id, static_cast<uint64_t>(target->crash_point));
    return;
  }
  Crash(*target);
  ScheduleRestart(*target, prng_.Range(50, 4000));
}

void World::ActPause() {
  if (!MayTakeDown()) return;
  SimNode* target = nullptr;
  if (prng_.OneIn(2)) target = Leader();
  if (target == nullptr) {
    std::vector<NodeId> ok;
    for (const auto& [id, n] : nodes_)
      if (Working(*n)) ok.push_back(id);
    if (ok.empty()) return;
    target = Find(prng_.Pick(ok));
  }
  target->paused = true;
  const uint64_t gen = ++target->pause_gen;
  const uint64_t inc = target->incarnation;
  const NodeId id = target->id;
  Trace(Ev::kPause, id);
  events_.After(prng_.Range(100, 5000), [this, id, gen, inc] {
    SimNode* n = Find(id);
    if (n == nullptr || !n->up || n->incarnation != inc || n->pause_gen != gen || !n->paused) return;
    n->paused = false;
    std::vector<std::function<void()>> held = std::move(n->held);
    n->held.clear();
    Trace(Ev::kResume, id, held.size());
    for (auto& fn : held) fn();
  });
}

void World::ActDisk() {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_)
    if (n->up) up.push_back(id);
  if (up.empty() || !MayTakeDown()) return;
  SimNode* n = Find(prng_.Pick(up));
  const int64_t after = prng_.Range(0, 5);
  Trace(Ev::kDiskFault, n->id, static_cast<uint64_t>(after));
  n->store->SetFaultHook([left = after]() mutable {
    if (left-- > 0) return Status::Ok();
    return Status::IoError("injected: fsync failed");
  });
}

void World::ActMembership() {
  SimNode* l = Leader();
  if (l == nullptr) return;
  const raft::ConfState conf = l->raft->conf();
  raft::ConfChange cc;
  const size_t voters = conf.voters.size();
  const size_t target = static_cast<size_t>(cfg_.nodes);
  std::vector<NodeId> other_voters;
  for (NodeId v : conf.voters)
    if (v != l->id) other_voters.push_back(v);
  if (prng_.OneIn(12)) {
    // The leader may not remove itself (raft.h): it must refuse.
    cc.node = l->id;
    cc.type = raft::ConfChangeType::kRemove;
    auto r = l->raft->propose_conf_change(cc);
    Trace(Ev::kConfPropose, l->id, static_cast<uint64_t>(cc.type), cc.node, r.ok());
    if (r.ok()) Fail("raft contract", "leader " + std::to_string(l->id) + " accepted its own removal");
    return;
  }
  if (!conf.learners.empty()) {
    cc.node = prng_.Pick(conf.learners);
    cc.type = (voters < 7 && !prng_.OneIn(3)) ? raft::ConfChangeType::kPromote : raft::ConfChangeType::kRemove;
  } else if (voters > 3 && (voters > target || prng_.OneIn(3)) && !other_voters.empty()) {
    cc.node = prng_.Pick(other_voters);
    cc.type = prng_.OneIn(2) ? raft::ConfChangeType::kDemote : raft::ConfChangeType::kRemove;
  } else {
    if (nodes_.size() >= target + 6) return;  // enough fresh ids used
    cc.node = next_node_id_;
    cc.type = raft::ConfChangeType::kAddLearner;
  }
  cc.context = "10.0.0." + std::to_string(cc.node) + ":7001";
  auto r = l->raft->propose_conf_change(cc);
  Trace(Ev::kConfPropose, l->id, static_cast<uint64_t>(cc.type), cc.node, r.ok());
  if (r.ok() && cc.type == raft::ConfChangeType::kAddLearner) {
    Start(AddNode(cc.node, {}));
  }
  AfterInput(*l);
}

void World::ActTransfer() {
  SimNode* l = Leader();
  if (l == nullptr) return;
  std::vector<NodeId> others;
  for (NodeId v : l->raft->conf().voters)
    if (v != l->id) others.push_back(v);
  if (others.empty()) return;
  const NodeId to = prng_.Pick(others);
  Status s = l->raft->transfer_leader(to);
  Trace(Ev::kTransfer, l->id, to, s.ok());
  AfterInput(*l);
}

void World::Settle() {
  settling_ = true;
  Trace(Ev::kSettle);
  ++partition_gen_;
  ++net_gen_;
  net_.HealAll();
  net_.set_config(NetworkConfig{});
  for (const auto& [id, n] : nodes_) {
    if (n->removed) continue;
    n->store->SetFaultHook(nullptr);
    n->crash_point = 0;
    if (!n->up) {
      Start(*n);
    } else if (n->paused) {
      n->paused = false;
      std::vector<std::function<void()>> held = std::move(n->held);
      n->held.clear();
      Trace(Ev::kResume, id, held.size());
      for (auto& fn : held) fn();
    }
    if (failed()) return;
  }
}

// ---------------------------------------------------------------- checks

void World::PeriodicChecks() {
  if (failed()) return;
  std::vector<SimNode*> live;
  for (const auto& [id, n] : nodes_)
    if (!n->removed) live.push_back(n.get());
  for (size_t i = 0; i < live.size(); ++i) {
    for (size_t j = i + 1; j < live.size(); ++j) {
      if (!Check(SafetyChecker::CompareLogs(live[i]->id, live[i]->shadow, live[j]->id, live[j]->shadow),
                 "log matching")) {
        return;
      }
    }
    if (live[i]->up) {
      if (!Check(live[i]->state.CheckInvariants(), "state invariants")) return;
      if (!Check(live[i]->raft->CheckInvariants(), "raft invariants")) return;
      if (!live[i]->raft->has_ready() && !Check(RaftLogMatchesStorage(*live[i]), "raft log vs storage")) return;
    }
  }
  if (!settling_) events_.After(kCheckEveryMs, [this] { PeriodicChecks(); });
}

// Between events every Ready has been handled, so the core's log is exactly
// what was saved: same snapshot boundary, same entries.
Status World::RaftLogMatchesStorage(const SimNode& n) const {
  const raft::Raft& r = *n.raft;
  const ShadowLog& sh = n.shadow;
  const std::string who = "node " + std::to_string(n.id) + ": ";
  if (r.first_index() != sh.snapshot_index() + 1 || r.last_index() != sh.last_index()) {
    return Status::Internal(who + "core holds log [" + std::to_string(r.first_index()) + ", " +
                            std::to_string(r.last_index()) + "], storage holds [" +
                            std::to_string(sh.snapshot_index() + 1) + ", " + std::to_string(sh.last_index()) + "]");
  }
  const std::vector<raft::Entry> es = r.entries(r.first_index(), r.last_index() + 1);
  if (es.size() != r.last_index() + 1 - r.first_index()) {
    return Status::Internal(who + "entries(first, last+1) returned " + std::to_string(es.size()) + " entries");
  }
  for (const raft::Entry& e : es) {
    if (!sh.Contains(e.index, LogRecord{e.term, EntryHash(e)})) {
      return Status::Internal(who + "core's entry " + std::to_string(e.index) + "@" + std::to_string(e.term) +
                              " differs from the saved one");
    }
  }
  if (r.hard_state().commit > r.last_index() && r.hard_state().commit > sh.snapshot_index()) {
    return Status::Internal(who + "commit index beyond the log");
  }
  return Status::Ok();
}

bool World::Converged() {
  for (const Client& c : clients_)
    if (c.busy) return false;
  SimNode* l = Leader();
  if (l == nullptr) return false;
  const Index commit = l->raft->commit_index();
  if (commit != l->raft->last_index()) return false;
  const raft::ConfState& conf = l->raft->conf();
  const uint64_t digest = l->state.Digest();
  for (const auto* ids : {&conf.voters, &conf.learners}) {
    for (NodeId id : *ids) {
      SimNode* n = Find(id);
      if (n == nullptr || !Working(*n) || n->applied != commit) return false;
      if (n->state.Digest() != digest) return false;
    }
  }
  return true;
}

void World::FinalChecks() {
  if (!Check(CheckHistory(history_, safety_.committed()), "linearizability")) return;
  SimNode* l = Leader();
  // Every VM whose create was acknowledged (and that was never deleted) is
  // in the final state.
  for (const Client& c : clients_) {
    for (const std::string& name : c.live) {
      if (l->state.FindVm(name) == nullptr) {
        Fail("durability", "VM " + name + " was created (acknowledged) but is missing from the final state");
        return;
      }
    }
  }
  PeriodicChecks();
}

SimResult World::Run() {
  // Per-seed variety in the Raft configuration and snapshot cadence.
  raft_template_.election_tick = 10;
  raft_template_.heartbeat_tick = 1;
  raft_template_.pre_vote = true;
  raft_template_.check_quorum = true;
  raft_template_.max_size_per_msg = prng_.OneIn(2) ? (1u << 20) : 512;
  raft_template_.max_inflight_msgs = prng_.OneIn(2) ? 256 : static_cast<size_t>(prng_.Range(1, 8));
  snapshot_threshold_ = static_cast<uint64_t>(prng_.Range(8, 60));
  defer_ready_ = prng_.OneIn(2);
  static const std::vector<Time> kIntervals = {700, 2000, 2000, 4000};
  nemesis_interval_ = prng_.Pick(kIntervals);

  std::vector<NodeId> voters;
  for (int i = 1; i <= cfg_.nodes; ++i) voters.push_back(static_cast<NodeId>(i));
  for (NodeId id : voters) AddNode(id, voters);
  for (NodeId id : voters) Start(*Find(id));
  for (int i = 1; i <= cfg_.clients; ++i) {
    Client c;
    c.id = static_cast<uint64_t>(i);
    c.ep = kClientBase + c.id;
    c.target = prng_.Pick(voters);
    clients_.push_back(std::move(c));
  }
  for (Client& c : clients_) {
    const uint64_t cid = c.id;
    events_.After(prng_.Range(0, 500), [this, cid] { ClientNext(clients_[cid - 1]); });
  }
  if (cfg_.faults != 0) events_.After(prng_.Range(500, 2000), [this] { NemesisStep(); });
  events_.After(kCheckEveryMs, [this] { PeriodicChecks(); });

  const auto stop = [this] { return failed(); };
  events_.RunUntil(cfg_.duration_ms, stop);
  if (!failed()) Settle();
  const Time deadline = cfg_.duration_ms + cfg_.settle_ms;
  bool converged = false;
  while (!failed() && events_.now() < deadline) {
    events_.RunUntil(events_.now() + 100, stop);
    if (!failed() && Converged()) {
      converged = true;
      break;
    }
  }
  if (!failed() && !converged) {
    SimNode* l = Leader();
    Fail("liveness", "the cluster did not converge within " + std::to_string(cfg_.settle_ms) +
                         "ms after every fault was healed (leader: " + (l ? std::to_string(l->id) : "none") + ")");
  }
  if (!failed()) FinalChecks();

  SimResult& r = result_;
  r.virtual_ms = events_.now();
  r.events = events_.executed();
  r.elections = safety_.leaders().size();
  SimNode* l = failed() ? nullptr : Leader();
  r.committed = l ? l->raft->commit_index() : safety_.max_committed();
  uint64_t d = trace_hash_;
  d = HashCombine(d, r.committed);
  d = HashCombine(d, r.writes_ok * 1'000'003 + r.reads_ok);
  if (l != nullptr) {
    d = HashCombine(d, l->state.Digest());
    d = HashCombine(d, l->raft->StateDigest());
  }
  r.digest = d;
  return r;
}

}  // namespace

std::string SimResult::DigestHex() const {
  char buf[32];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(digest));
  return buf;
}

Result<uint32_t> ParseFaults(const std::string& spec) {
  if (spec == "all") return static_cast<uint32_t>(kFaultAll);
  if (spec == "none" || spec.empty()) return 0u;
  static const std::pair<const char*, uint32_t> kNames[] = {
      {"net", kFaultNet},   {"partition", kFaultPartition}, {"crash", kFaultCrash},       {"pause", kFaultPause},
      {"disk", kFaultDisk}, {"membership", kFaultMembership}, {"transfer", kFaultTransfer}};
  uint32_t out = 0;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = spec.find(',', pos);
    const std::string word = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    bool found = false;
    for (const auto& [name, bit] : kNames) {
      if (word == name) {
        out |= bit;
        found = true;
      }
    }
    if (!found) {
      return Status::InvalidArgument("unknown fault kind '" + word +
                                     "': use all, none, or a comma list of net,partition,crash,pause,disk,"
                                     "membership,transfer");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string FaultsToString(uint32_t faults) {
  if (faults == kFaultAll) return "all";
  if (faults == 0) return "none";
  static const char* const kNames[] = {"net", "partition", "crash", "pause", "disk", "membership", "transfer"};
  std::string s;
  for (int i = 0; i < 7; ++i) {
    if (faults & (1u << i)) s += (s.empty() ? "" : ",") + std::string(kNames[i]);
  }
  return s;
}

SimResult RunSimulation(const SimConfig& config) {
  World w(config);
  return w.Run();
}

}  // namespace blixard::sim
