// NodeHost: the simulated process around a node's Raft member
// (node::Member, the daemon's): virtual time, the simulated network, the
// disk's shadow, the crash points and the checks on every step. Private to
// src/sim/ (world.cc).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/member.h"
#include "sim/world.h"

namespace blixard::sim::detail {

class NodeHost : public node::MemberHost {
 public:
  NodeHost(World& w, SimNode& n) : w_(w), n_(n) {}

  Clock::time_point Now() override { return Clock::time_point(std::chrono::milliseconds(w_.events_.now())); }
  int64_t WallMs() override { return kEpochMs + w_.events_.now(); }

  void Send(std::vector<raft::Message> messages) override {
    for (raft::Message& m : messages) {
      if (m.type == raft::MessageType::kSnapshot) ++w_.result_.snapshots_sent;
      w_.net_.Send(m.from, m.to, [w = &w_, m = std::move(m)] { w->DeliverRaft(m); });
    }
  }

  void OnPersisted(const raft::Ready& rd) override {
    std::optional<std::pair<Index, Term>> snap;
    if (rd.snapshot) snap = std::make_pair(rd.snapshot->meta.index, rd.snapshot->meta.term);
    n_.shadow.Save(snap, rd.entries);
    for (const raft::Entry& e : rd.entries) {
      if (e.index <= n_.shadow.snapshot_index()) continue;
      const std::optional<Term> prev = n_.shadow.term_at(e.index - 1);
      if (!prev) {
        w_.Fail("log matching", "node " + std::to_string(n_.id) + " saved entry " + std::to_string(e.index) +
                                    " with a gap before it");
        return;
      }
      if (!w_.Check(w_.safety_.OnPersist(n_.id, e.index, {e.term, EntryHash(e)}, *prev), "log matching")) return;
    }
  }

  void OnSoftState(const raft::SoftState& ss) override {
    if (ss.role == Role::kLeader) w_.OnBecameLeader(n_);
    w_.WakeRoutes(n_);
  }

  bool BeforeApply(const raft::Entry& e) override { return w_.BeforeApply(n_, e); }
  void OnApplied(const raft::Entry& e, const state::ApplyResult& result) override { w_.OnApplied(n_, e, result); }

  bool OnSnapshotRestored(const raft::Snapshot& snap) override {
    if (!w_.Check(w_.safety_.OnSnapshot(n_.id, snap.meta.index, snap.meta.term), "snapshot")) return false;
    w_.Trace(Ev::kSnapshotInstalled, n_.id, snap.meta.index);
    return true;
  }

  bool OnCompacted(const Result<raft::SnapshotMeta>& meta) override { return w_.OnCompacted(n_, meta); }

  bool Continue(node::ReadyHost::Stage stage) override {
    using Stage = node::ReadyHost::Stage;
    if (w_.failed()) return false;
    switch (stage) {
      case Stage::kSentEarly: return !w_.CrashPoint(n_, 4);
      case Stage::kPersisted: return !w_.CrashPoint(n_, 1);
      case Stage::kSent: return !w_.CrashPoint(n_, 2);
      case Stage::kApplied: return !w_.CrashPoint(n_, 3);
    }
    return true;
  }

 private:
  World& w_;
  SimNode& n_;
};

}  // namespace blixard::sim::detail
