// The fixed order in which a Raft server handles what its core hands back
// (raft::Ready, raft/types.h), written once for the daemon's node and the
// simulator's. For each Ready:
//   1. early send: a leader's replication messages (appends, heartbeats,
//      snapshots) go out before its own save, so the two disk writes
//      overlap (thesis §10.2.1), unless the Ready changes term or vote.
//      Safe because the acknowledgements are stepped only after this Ready
//      is handled (the host steps nothing in between), so no entry commits
//      on the strength of a leader copy that is not yet durable;
//   2. persist, when the core says so (Ready::MustSync: new entries, a
//      snapshot, a new term or vote): one Save of the snapshot, the entries
//      and the latest hard state. A Ready that only moves the commit index
//      costs no fsync; that index rides with the next save;
//   3. the host sees the new soft state (a new leader proposes its set-up);
//   4. send the rest: votes and acks promise that what they report is
//      durable, so they wait for the save;
//   5. apply: the snapshot (the host skips one it is past), the committed
//      entries, then the read states;
//   6. advance the core; the host completes what waits on apply (reads)
//      and may compact.
// The host may stop the handling after a stage (Continue: a simulated
// crash); the store's failure stops it too (the server must stop).
// Thread safety: none; the owner of the core calls it (the node's loop
// pass, the simulator's event).
#pragma once

#include <vector>

#include "common/status.h"
#include "raft/raft.h"
#include "storage/log_store.h"

namespace blixard::node {

class ReadyHost {
 public:
  enum class Stage { kSentEarly, kPersisted, kSent, kApplied };
  virtual ~ReadyHost() = default;

  virtual void Send(std::vector<raft::Message> messages) = 0;
  // After a successful save of `rd` (entries, snapshot): e.g. the address
  // of a learner an entry adds.
  virtual void OnPersisted(const raft::Ready& rd) {}
  virtual void OnSoftState(const raft::SoftState& ss) {}
  // Replaces the state machine with the snapshot's if the snapshot is newer
  // than what it applied. An error stops the handling with it.
  virtual Status ApplySnapshot(const raft::Snapshot& snapshot) = 0;
  virtual void Apply(const std::vector<raft::Entry>& committed) = 0;
  virtual void OnReadStates(std::vector<raft::ReadState>& read_states) {}
  // After advance(). An error stops the handling with it.
  virtual Status OnAdvanced() { return Status::Ok(); }
  // Asked after each stage; false stops the handling there (kAborted).
  virtual bool Continue(Stage stage) { return true; }
};

class ReadyLoop {
 public:
  // `persisted`: the hard state the store holds (as loaded). Not owned;
  // all must outlive the loop.
  ReadyLoop(raft::Raft* raft, storage::LogStore* store, ReadyHost* host, raft::HardState persisted)
      : raft_(raft), store_(store), host_(host), persisted_(persisted) {}

  // Handles Readies until the core has none. kOk; the store's error (the
  // server must stop); the host's ApplySnapshot/OnAdvanced error; or
  // kAborted when the host's Continue stopped it (the core and the store
  // must not be touched after that: the host may have dropped them).
  Status Drain();
  // No Ready waits: the core's log is exactly what was saved.
  bool idle() const { return !raft_->has_ready(); }

 private:
  Status HandleOne();
  void SendEarly(raft::Ready& rd);

  raft::Raft* raft_;
  storage::LogStore* store_;
  ReadyHost* host_;
  raft::HardState persisted_;
};

}  // namespace blixard::node
