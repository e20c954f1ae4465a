// One cluster member's control plane: the Raft core, its durable store and
// the cluster state machine, driven by a single loop thread.
//
// The loop owns the core and the store: it drains an inbound task queue
// (proposals, reads, peer messages), ticks on a timer, and handles each
// Ready in the order the core requires: persist (one LMDB transaction,
// fsync) -> send -> apply -> complete waiters -> advance. Other threads
// (gRPC) only enqueue tasks and wait on futures with a deadline.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "raft/types.h"
#include "state/cluster_state.h"
#include "storage/log_store.h"

namespace blixard::node {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct NodeConfig {
  uint64_t id = 1;
  std::string address;               // advertised API address of this node
  uint64_t snapshot_threshold = 10000;
  int tick_ms = 100;
  int election_ticks = 10;
  bool bootstrap = true;             // a fresh store becomes a one-member cluster
  std::function<void(const Status&)> on_fatal;  // storage failure: the process must stop
};

struct MemberStatus {
  uint64_t id = 0;
  std::string role;  // voter | learner
  uint64_t match_index = 0;
};

struct NodeStatus {
  uint64_t node_id = 0;
  std::string cluster_id;
  uint64_t term = 0;
  uint64_t leader_id = 0;
  std::string role;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t snapshot_index = 0;
  uint64_t last_index = 0;
  std::vector<MemberStatus> members;
};

class Node {
 public:
  // Loads the store (bootstrapping a fresh one when config.bootstrap) and
  // starts the loop thread. Fails with the store's error (e.g. kDataLoss).
  static Result<std::unique_ptr<Node>> Start(NodeConfig config,
                                             std::unique_ptr<storage::LogStore> store);
  ~Node();  // Stop()s

  // Stops the loop after the current step; pending waiters fail with
  // kUnavailable. Nothing half-written: every store write is atomic.
  void Stop();

  // Proposes `cmd` and waits until it is applied, returning the state
  // machine's answer. kUnavailable when this node is not the leader or loses
  // leadership before the entry commits (the write may or may not apply);
  // kDeadlineExceeded when the deadline passes first (same caveat).
  Result<state::ApplyResult> Propose(v1::Command cmd, Deadline deadline);

  // Linearizable read barrier (ReadIndex): returns once this node's state
  // reflects every write acknowledged before the call.
  Status ReadBarrier(Deadline deadline);

  // Runs `fn` on a consistent view of the applied state (shared lock; keep
  // it short).
  void Read(const std::function<void(const state::ClusterState&)>& fn) const;

  NodeStatus GetStatus() const;
  uint64_t id() const;

 private:
  class Impl;
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace blixard::node
