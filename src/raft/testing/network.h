// Test-only harness: N Raft cores joined by an in-memory network that
// delivers ready() messages, with per-node "disks" that record exactly what
// Ready asked to persist (so a node restarts from it), an application that
// folds applied entries into a hash, and cluster-wide safety checks
// (election safety, log matching, state machine safety; Raft paper Fig. 3).
// Deterministic: no clocks, no threads. Reusable by other folders' tests.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/raft.h"

namespace blixard::raft::testing {

// One node's durable state, updated per the Ready contract (types.h).
struct MemDisk {
  HardState hard_state;
  std::shared_ptr<const Snapshot> snapshot = std::make_shared<const Snapshot>();
  std::vector<Entry> entries;
  void Save(const Ready& rd);
  void Compact(std::shared_ptr<const Snapshot> s);
  PersistentState Load() const;
};

// The replicated state machine: applied payloads plus a running hash.
struct App {
  Index applied = 0;
  uint64_t hash = 0;
  std::vector<std::string> payloads;  // non-empty normal entries, in order
  void Apply(const Entry& e);
  std::string Encode() const;
  static App Decode(const std::string& s);
};

struct Node {
  std::unique_ptr<Raft> raft;
  MemDisk disk;
  App app;
  std::vector<ReadState> reads;
  bool up = true;
};

class Network {
 public:
  // Nodes 1..voters are voters of the initial configuration (the bootstrap
  // snapshot at index 0); `base` is copied for each node with id and seed set.
  explicit Network(int voters, Config base = {}, uint64_t seed = 1);

  // A node that is not in the configuration yet (joining): empty conf.
  void AddNode(NodeId id);
  Node& node(NodeId id) { return nodes_.at(id); }
  Raft& raft(NodeId id) { return *nodes_.at(id).raft; }
  std::vector<NodeId> ids() const;

  // Persist/send/apply/advance every pending Ready of `id` (or all nodes).
  void Process(NodeId id);
  void ProcessAll();
  // Delivers queued messages in FIFO order until the network is quiet or
  // `max` were delivered. Returns how many were delivered.
  size_t Stabilize(size_t max = 1000000);
  // Delivers just the first queued message (after ProcessAll).
  bool DeliverOne();
  // Delivers (or drops) the queued message at position i % size: reordering.
  // REQUIRES: the queue is not empty.
  void DeliverAt(size_t i);
  void DropAt(size_t i);
  void DuplicateAt(size_t i);
  void Tick(NodeId id, int n = 1);
  // Ticks every up node `n` times, stabilizing after each round.
  void TickAll(int n = 1);
  // campaign() on `id` and stabilize; returns the leader (kNoNode if none).
  NodeId Elect(NodeId id);
  // The up leader with the highest term, or kNoNode.
  NodeId Leader() const;
  Result<Index> Propose(std::string data);

  // Faults. Links are cut in both directions.
  void Cut(NodeId a, NodeId b);
  void Isolate(NodeId id);
  void Heal();
  void Crash(NodeId id);    // loses everything not on its disk
  void Restart(NodeId id);  // rebuilds the core from its disk
  // Application snapshot at the node's applied index, then compaction.
  Status Compact(NodeId id, Index index);
  std::function<bool(const Message&)> drop;  // true: drop this message
  // Check every core's invariants and election safety after each step
  // (O(log size) per step; benchmarks turn it off).
  bool check_invariants = true;

  std::deque<Message>& queue() { return queue_; }
  uint64_t sent(MessageType t) const;
  uint64_t delivered(MessageType t) const;
  void ResetCounters() { sent_.clear(); delivered_.clear(); }

  // Cross-node checks; violations are also collected as they happen.
  void CheckLogMatching();
  const std::vector<std::string>& errors() const { return errors_; }
  std::string ErrorText() const;

 private:
  void Observe(NodeId id);
  void Error(std::string e) { errors_.push_back(std::move(e)); }
  bool Blocked(const Message& m) const;

  Config base_;
  uint64_t seed_;
  std::map<NodeId, Node> nodes_;
  std::deque<Message> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::map<MessageType, uint64_t> sent_, delivered_;
  std::map<Term, NodeId> leader_of_term_;
  std::map<Index, Entry> applied_;  // what any node applied at each index
  std::vector<std::string> errors_;
};

}  // namespace blixard::raft::testing
