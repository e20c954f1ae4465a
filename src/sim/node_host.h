// NodeHost: a simulated process's side of the daemon's Ready handling
// (node::ReadyLoop). Private to src/sim/ (world.cc).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "node/ready_loop.h"
#include "sim/world.h"

namespace blixard::sim::detail {

// The simulated process's part of each Ready, in the daemon's order
// (node::ReadyLoop): the network, the disk's shadow and the crash points
// are the simulator's; the order is the production code's.
class NodeHost : public node::ReadyHost {
 public:
  NodeHost(World& w, SimNode& n) : w_(w), n_(n) {}

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

  Status ApplySnapshot(const raft::Snapshot& snap) override {
    if (snap.meta.index <= n_.applied) return Status::Ok();
    if (!w_.Check(n_.state.RestoreSnapshot(snap.data), "snapshot restore")) return Failed();
    if (!w_.Check(w_.safety_.OnSnapshot(n_.id, snap.meta.index, snap.meta.term), "snapshot")) return Failed();
    n_.applied = snap.meta.index;
    w_.Trace(Ev::kSnapshotInstalled, n_.id, n_.applied);
    return Status::Ok();
  }

  void Apply(const std::vector<raft::Entry>& committed) override {
    for (const raft::Entry& e : committed) {
      w_.ApplyEntry(n_, e);
      if (w_.failed()) return;
    }
  }

  void OnReadStates(std::vector<raft::ReadState>& read_states) override {
    for (const raft::ReadState& rs : read_states) {
      if (w_.VmOnReadState(n_, rs)) continue;
      auto it = n_.reads.find(rs.context);
      if (it != n_.reads.end() && !it->second.have_index) {
        it->second.index = rs.index;
        it->second.have_index = true;
      }
    }
  }

  Status OnAdvanced() override {
    w_.ServeReads(n_);
    return w_.MaybeCompact(n_);
  }

  bool Continue(Stage stage) override {
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
  static Status Failed() { return Status::Aborted("a check failed"); }
  World& w_;
  SimNode& n_;
};

}  // namespace blixard::sim::detail
