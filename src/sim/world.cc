#include <algorithm>
#include <cstdio>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "control/placement.h"
#include "raft/conf_change.h"
#include "sim/node_host.h"
#include "sim/world.h"
#include "state/commands.h"

namespace blixard::sim::detail {

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
                  (cfg_.vms ? " --vms" : "") + (cfg_.workers > 0 ? " --workers " + std::to_string(cfg_.workers) : "") +
                  (cfg_.max_voters > 0 ? " --max-voters " + std::to_string(cfg_.max_voters) : "") +
                  (cfg_.bug != InjectedBug::kNone ? " --inject-bug " + std::string(BugName(cfg_.bug)) : "") +
                  " --verbose\n  last events:\n";
  const uint64_t n = std::min<uint64_t>(ring_next_, kTraceRing);
  for (uint64_t i = ring_next_ - n; i < ring_next_; ++i) s += "    " + FormatTrace(ring_[i % kTraceRing]) + "\n";
  result_.failure = s;
}

// ---------------------------------------------------------------- nodes

SimNode& World::AddNode(NodeId id, const std::vector<NodeId>& bootstrap_voters,
                        const std::vector<NodeId>& bootstrap_learners) {
  auto n = std::make_unique<SimNode>();
  n->id = id;
  n->store = std::make_unique<storage::MemLogStore>();
  if (!bootstrap_voters.empty()) {
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta.conf.voters = bootstrap_voters;
    snap->meta.conf.learners = bootstrap_learners;
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
  Trace(Ev::kRestart, n.id, ps.snapshot->meta.index, ps.entries.size());
  n.dead = {};
  n.host = std::make_unique<NodeHost>(*this, n);
  n.member = std::make_unique<node::Member>(MemberConfigFor(n), n.store.get(), n.host.get());
  if (cfg_.bug == InjectedBug::kNoCapacityRefusal || cfg_.bug == InjectedBug::kNoAntiAffinity) {
    n.member->mutable_state_for_testing().SkipPlacementFitCheckForTesting();
  }
  if (!Check(n.member->Init(std::move(ps)), "snapshot restore")) return;
  n.up = true;
  n.paused = false;
  n.store->SetFaultHook(nullptr);
  n.ready_deferred = false;
  n.crash_point = 0;
  ++n.incarnation;
  ScheduleTick(n, prng_.Range(1, n.tick_interval));
  if (vms_) vms_->Start(n);
  HandleReady(n);
}

void World::Crash(SimNode& n) {
  if (!n.up) return;
  const bool was_leader = n.raft().role() == Role::kLeader;
  Trace(Ev::kCrash, n.id, was_leader);
  if (was_leader && !measuring_) {
    measuring_ = true;
    measure_start_ = events_.now();
    measure_term_ = n.raft().term();
    measure_clean_ = net_.blocked_links() == 0 && net_.config().drop_per_mille == 0;
    for (const auto& [id, other] : nodes_) {
      if (other.get() != &n && !other->removed && !Working(*other)) measure_clean_ = false;
    }
  }
  ++result_.crashes;
  if (vms_) vms_->HostDown(n);
  // The member's waiters die with it: routes through it time out and try
  // again, its clients time out (outcome unknown).
  StopProcess(n);
  n.paused = false;
  n.crash_point = 0;
  n.ready_deferred = false;
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
  if (vms_) vms_->HostDown(n);
  StopProcess(n);
  n.removed = true;
}

void World::StopProcess(SimNode& n) {
  // Kept until the next start: this may run inside the member's Drain.
  n.dead = {std::move(n.member), std::move(n.host)};
  n.up = false;
  ++n.incarnation;
  n.held.clear();
  n.routes.clear();
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
    n->member->Tick();
    AfterInput(*n);
    if (!n->up) return;
    Check(n->raft().CheckInvariants(), "raft invariants");
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

void World::Later(NodeId id, Time delay, std::function<void(SimNode&)> fn) {
  SimNode* n = Find(id);
  if (n == nullptr || !n->up) return;
  const uint64_t inc = n->incarnation;
  events_.After(delay, [this, id, inc, fn = std::move(fn)] {
    SimNode* n = Find(id);
    if (n == nullptr || !n->up || n->incarnation != inc || failed()) return;
    OnNode(*n, [this, id, inc, fn] {
      SimNode* n = Find(id);
      if (n == nullptr || !n->up || n->incarnation != inc || failed()) return;
      fn(*n);
    });
  });
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
      twin = n->raft().Clone();
      if (twin->StateDigest() != n->raft().StateDigest()) {
        Fail("purity", "node " + std::to_string(id) + ": Clone() has a different StateDigest()");
        return;
      }
    }
    n->member->Step(m);
    if (twin != nullptr) {
      (void)twin->step(m);
      if (twin->StateDigest() != n->raft().StateDigest()) {
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
    Later(n.id, prng_.Range(0, 20), [this](SimNode& n) {
      n.ready_deferred = false;
      HandleReady(n);
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
  if (!n.up || failed()) return;
  const Status s = n.member->Drain();
  if (s.ok() || s.code() == StatusCode::kAborted || failed()) return;
  if (s.code() != StatusCode::kInternal) {  // not the store's I/O error: a snapshot that does not restore
    Fail("ready handling", "node " + std::to_string(n.id) + ": " + s.ToString());
    return;
  }
  // As the daemon does: an I/O error (a save or a compaction) stops the
  // node; it restarts from what is durable.
  Trace(Ev::kStorageError, n.id);
  Crash(n);
  ScheduleRestart(n, prng_.Range(100, 2000));
}

void World::OnBecameLeader(SimNode& n) {
  const Term term = n.raft().term();
  Trace(Ev::kLeader, n.id, term, n.raft().last_index());
  if (!Check(safety_.OnLeader(n.id, term, static_cast<uint64_t>(events_.now())), "election safety")) return;
  Check(safety_.OnNewLeaderLog(n.id, term, n.shadow), "leader completeness");
}

// The daemon's member, with the simulator's seed-drawn Raft settings,
// snapshot cadence and node sizes.
node::MemberConfig World::MemberConfigFor(const SimNode& n) {
  node::MemberConfig mc;
  mc.id = n.id;
  mc.tick_ms = static_cast<int>(kTickMs);
  mc.election_ticks = raft_template_.election_tick;
  mc.raft = raft_template_;
  mc.raft.seed = prng_.Fork();
  mc.snapshot_threshold = snapshot_threshold_;
  mc.voter_controller = cfg_.max_voters > 0;
  mc.max_voters = static_cast<size_t>(std::max(cfg_.max_voters, 0));
  // Shorter than the daemon's 30 s default so that the nemesis's crashes
  // (up to 4 s) outlast it now and then.
  mc.voter_replace_after_ms = 2'000;
  mc.self.set_address("10.0.0." + std::to_string(n.id) + ":7001");
  mc.self.set_role(v1::NODE_ROLE_VOTER);
  mc.self.set_health(v1::NODE_HEALTH_READY);
  // Without the VM workload nothing runs the clients' VMs: room for all of
  // them, so that placement passes find little waiting.
  mc.self.mutable_capacity()->set_vcpus(cfg_.vms ? 16 : 100'000);
  mc.self.mutable_capacity()->set_memory_mib(cfg_.vms ? 65536 : 100'000'000);
  mc.cluster_id = "sim-cluster";
  // The VM workload's nodes heartbeat; the leader's member runs liveness.
  if (cfg_.vms) mc.liveness_ttl_ms = kVmTtlMs;
  if (cfg_.bug == InjectedBug::kNoCapacityRefusal) {
    // A scheduler that sees twice the room there is (and, above, a state
    // machine that applies its batches as they come).
    mc.placement_view_for_testing = [](state::ClusterState& st) {
      for (const auto& [id, node] : st.nodes()) {
        v1::Node bigger = node;
        bigger.mutable_capacity()->set_vcpus(2 * node.capacity().vcpus());
        (void)st.Apply(state::MakeUpdateNode(bigger, 0), st.applied_index() + 1);
      }
    };
  }
  if (cfg_.bug == InjectedBug::kNoAntiAffinity) {
    // A scheduler blind to anti-affinity groups.
    mc.placement_view_for_testing = [](state::ClusterState& st) {
      v1::ClusterStateSnapshot snap;
      (void)snap.ParseFromString(st.EncodeSnapshot());
      for (v1::Vm& vm : *snap.mutable_vms()) vm.mutable_spec()->clear_anti_affinity_group();
      st = state::ClusterState();
      (void)st.RestoreSnapshot(snap.SerializeAsString());
    };
  }
  mc.skip_drain_moves_for_testing = cfg_.bug == InjectedBug::kNoDrainMoves;
  mc.skip_voter_promotion_for_testing = cfg_.bug == InjectedBug::kNoVoterPromotion;
  return mc;
}

bool World::BeforeApply(SimNode& n, const raft::Entry& e) {
  if (failed()) return false;
  if (e.index != n.applied() + 1) {
    Fail("apply order", "node " + std::to_string(n.id) + " was handed entry " + std::to_string(e.index) +
                            " after applying " + std::to_string(n.applied()));
    return false;
  }
  const LogRecord rec{e.term, EntryHash(e)};
  std::vector<std::pair<Term, const ShadowLog*>> leaders;
  for (const auto& [id, other] : nodes_) {
    if (other->up && other->raft().role() == Role::kLeader) leaders.emplace_back(other->raft().term(), &other->shadow);
  }
  return Check(safety_.OnApply(n.id, n.raft().term(), e.index, rec, leaders), "state machine safety");
}

void World::OnApplied(SimNode& n, const raft::Entry& e, const state::ApplyResult& result) {
  if (result.status.code() == StatusCode::kDataLoss) {
    Fail("entry decode", "node " + std::to_string(n.id) + " entry " + std::to_string(e.index) + ": " +
                             result.status.ToString());
    return;
  }
  if (e.type == raft::EntryType::kConfChange && !conf_seen_.count(e.index)) {
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
  if (e.index % 16 == 0 && !Check(safety_.OnStateDigest(n.id, e.index, n.state().Digest()), "state machine safety")) {
    return;
  }
  if (n.raft().role() == Role::kLeader && measuring_ && e.term == n.raft().term() && e.term > measure_term_) {
    result_.election_ms.push_back(events_.now() - measure_start_);
    if (measure_clean_) result_.election_clean_ms.push_back(events_.now() - measure_start_);
    measuring_ = false;
  }
}

bool World::OnCompacted(SimNode& n, const Result<raft::SnapshotMeta>& meta) {
  if (!meta.ok()) {
    Fail("compact", "node " + std::to_string(n.id) + " compact(" + std::to_string(n.applied()) +
                        ") refused: " + meta.status().ToString());
    return false;
  }
  const std::optional<Term> t = n.shadow.term_at(meta->index);
  if (meta->index != n.applied() || !t || *t != meta->term) {
    Fail("compact", "node " + std::to_string(n.id) + " compact(" + std::to_string(n.applied()) + ") returned index " +
                        std::to_string(meta->index) + " term " + std::to_string(meta->term) +
                        ", the saved log has term " + (t ? std::to_string(*t) : "none"));
    return false;
  }
  n.shadow.Compact(meta->index, meta->term);
  Trace(Ev::kSnapshotTaken, n.id, meta->index);
  return true;
}

SimNode* World::Leader() {
  SimNode* best = nullptr;
  for (const auto& [id, n] : nodes_) {
    if (!Working(*n) || n->raft().role() != Role::kLeader) continue;
    if (best == nullptr || n->raft().term() > best->raft().term()) best = n.get();
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
      if (!Check(live[i]->state().CheckInvariants(), "state invariants")) return;
      if (!Check(live[i]->raft().CheckInvariants(), "raft invariants")) return;
      if (vms_ && !Check(vms_->CapacityHolds(*live[i]), "node over capacity")) return;
      if (vms_ && !Check(vms_->AntiAffinityHolds(*live[i]), "anti-affinity")) return;
      if (live[i]->member->idle() && !Check(RaftLogMatchesStorage(*live[i]), "raft log vs storage")) return;
    }
  }
  if (!settling_) events_.After(kCheckEveryMs, [this] { PeriodicChecks(); });
}

// Runs the world until `waiting_on()` (asked every 100 ms, of the leader)
// is empty; fails `check` if it is not within 4 TTLs (a TTL for nodes to be
// heard again, then a few controller passes).
void World::WithinBound(const std::string& check, const std::string& what,
                        const std::function<std::string(SimNode& leader)>& waiting_on) {
  constexpr Time kBoundMs = 4 * kVmTtlMs;
  const Time until = events_.now() + kBoundMs;
  const auto stop = [this] { return failed(); };
  std::string waiting;
  while (!failed()) {
    SimNode* l = Leader();
    waiting = l == nullptr ? "no leader" : waiting_on(*l);
    if (waiting.empty()) return;
    if (events_.now() >= until) break;
    events_.RunUntil(events_.now() + 100, stop);
  }
  if (!failed()) Fail(check, what + " " + std::to_string(kBoundMs) + " ms after the cluster was quiet (" + waiting + ")");
}

// Once the cluster is quiet, every pending VM that fits on a ready node is
// placed within the bound.
void World::PlacedWithinBound() {
  WithinBound("placement", "a placeable VM was still pending", [](SimNode& l) -> std::string {
    auto placeable = control::PlacePending(l.state(), 1);
    if (placeable.empty()) return "";
    return placeable.front().name + " fits on node " + std::to_string(placeable.front().node_id);
  });
}

// Between events every Ready has been handled, so the core's log is exactly
// what was saved: same snapshot boundary, same entries.
Status World::RaftLogMatchesStorage(const SimNode& n) const {
  const raft::Raft& r = n.raft();
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
  const Index commit = l->raft().commit_index();
  if (commit != l->raft().last_index()) return false;
  const raft::ConfState& conf = l->raft().conf();
  const uint64_t digest = l->state().Digest();
  for (const auto* ids : {&conf.voters, &conf.learners}) {
    for (NodeId id : *ids) {
      SimNode* n = Find(id);
      if (n == nullptr || !Working(*n) || n->applied() != commit) return false;
      if (n->state().Digest() != digest) return false;
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
      if (l->state().FindVm(name) == nullptr) {
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
  // Mostly the daemon's settings; some seeds run without pre-vote or
  // check-quorum, which safety must not depend on.
  raft_template_.pre_vote = !prng_.OneIn(4);
  raft_template_.check_quorum = !prng_.OneIn(4);
  raft_template_.max_size_per_msg = prng_.OneIn(2) ? (1u << 20) : 512;
  raft_template_.max_inflight_msgs = prng_.OneIn(2) ? 256 : static_cast<size_t>(prng_.Range(1, 8));
  snapshot_threshold_ = static_cast<uint64_t>(prng_.Range(8, 60));
  defer_ready_ = prng_.OneIn(2);
  if (cfg_.workers > 0) {
    cfg_.vms = true;
    if (cfg_.clients == SimConfig{}.clients) cfg_.clients += cfg_.workers / 10;
  }
  if (cfg_.vms) {
    // See vms.h for the faults this workload takes; the agents' logs stay quiet.
    cfg_.faults &= kFaultCrash | kFaultPartition | kFaultNet | kFaultTransfer;
    spdlog::set_level(spdlog::level::off);
    vms_ = std::make_unique<VmWorkload>(*this);
  }
  static const std::vector<Time> kIntervals = {700, 2000, 2000, 4000};
  nemesis_interval_ = prng_.Pick(kIntervals);

  std::vector<NodeId> voters, learners;
  if (cfg_.max_voters > 0) cfg_.faults &= ~static_cast<uint32_t>(kFaultMembership);
  for (int i = 1; i <= cfg_.nodes; ++i) {
    const bool learner = cfg_.max_voters > 0 && i > cfg_.max_voters;
    (learner ? learners : voters).push_back(static_cast<NodeId>(i));
  }
  for (NodeId id : voters) AddNode(id, voters, learners);
  for (NodeId id : learners) AddNode(id, voters, learners);
  for (NodeId id : voters) Start(*Find(id));
  for (NodeId id : learners) Start(*Find(id));
  voters.insert(voters.end(), learners.begin(), learners.end());  // every member, for the clients
  if (cfg_.workers > 0) {
    workers_ = std::make_unique<Workers>(*this, *vms_);
    vms_->set_server_hooks(workers_.get());
    workers_->Create(voters.size() + 1, cfg_.workers, voters);
    next_node_id_ = voters.size() + cfg_.workers + 1;
  }
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
  if (!failed() && cfg_.max_voters > 0) {
    WithinBound("voters kept", "the leader did not keep its voters", [this](SimNode& l) { return VotersWaitingOn(l); });
  }
  if (!failed() && workers_) {
    WithinBound("workers ready", "a worker was not READY", [this](SimNode& l) { return workers_->WaitingOn(l); });
  }
  if (!failed() && cfg_.vms) PlacedWithinBound();
  if (!failed() && vms_) vms_->DrainsFinish();
  if (!failed()) ProbeForwarding();
  if (!failed()) FinalChecks();

  SimResult& r = result_;
  r.virtual_ms = events_.now();
  r.vm_starts = vms_ ? vms_->ledger().starts() : 0;
  r.worker_vm_starts = workers_ ? workers_->vm_starts() : 0;
  r.heartbeats_passed_on = workers_ ? workers_->relays() : 0;
  r.heartbeats_refused_busy = workers_ ? workers_->relays_refused() : 0;
  r.events = events_.executed();
  r.elections = safety_.leaders().size();
  SimNode* l = failed() ? nullptr : Leader();
  r.committed = l ? l->raft().commit_index() : safety_.max_committed();
  uint64_t d = trace_hash_;
  d = HashCombine(d, r.committed);
  d = HashCombine(d, r.writes_ok * 1'000'003 + r.reads_ok);
  if (l != nullptr) {
    d = HashCombine(d, l->state().Digest());
    d = HashCombine(d, l->raft().StateDigest());
  }
  r.digest = d;
  return r;
}

}  // namespace blixard::sim::detail
