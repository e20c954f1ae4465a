// The model a bounded exhaustive checker explores: three real Raft cores
// (raft/raft.h), the durable state each one asked to persist, the in-flight
// network and the fault budgets. A transition is one environment choice
// (deliver, drop or duplicate a message, an election timeout, a heartbeat
// tick, a client proposal, a crash-restart); after it every affected core's
// Ready is handled exactly as types.h says (persist, send, apply, advance)
// and the safety properties are checked on the resulting state.
//
// Deterministic: every core has a fixed seed, the network is a canonical
// (sorted) multiset, so the same transitions from the same state always give
// the same state, and equal states give equal Hash().
//
// Thread safety: none. States share cores copy-on-write (a state never
// mutates a core another state can see), so copying a State is cheap.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "raft/raft.h"
#include "raft/testing/network.h"

namespace blixard::mc {

using raft::Index;
using raft::NodeId;
using raft::Term;

inline constexpr int kNodes = 3;  // node ids 1..kNodes

struct ModelConfig {
  int election_tick = 3;
  int heartbeat_tick = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  int proposals = 1;  // client proposals over a whole path
  int crashes = 0;    // crash-restarts over a whole path
  int drops = 0;      // messages lost over a whole path
  int dups = 0;       // deliveries that leave the message in flight
};

// What a node's disk holds: exactly what Ready asked it to persist.
using Durable = raft::testing::MemDisk;

// Identity of a log entry, for comparing logs and applied sequences.
struct EntryId {
  Term term = 0;
  uint64_t hash = 0;  // of type and data
  bool operator==(const EntryId&) const = default;
};
EntryId IdOf(const raft::Entry& e);

// An entry known committed: `bound` is the smallest current term of a node
// seen holding it below its commit index. It was committed by a leader of
// that term or earlier, so every leader of a term >= bound must hold it.
struct Committed {
  EntryId id;
  Term bound = 0;
  bool operator==(const Committed&) const = default;
};

struct NodeState {
  std::shared_ptr<const raft::Raft> core;  // shared between states; never mutated once shared
  std::shared_ptr<const Durable> disk;
  std::vector<EntryId> applied;  // applied[i] is the entry applied at index i + 1 since the last restart
};

struct State {
  std::array<NodeState, kNodes> nodes;
  std::vector<raft::Message> net;   // in flight, sorted by net_hash (a canonical multiset)
  std::vector<uint64_t> net_hash;   // MessageHash of net[i]
  int proposals_left = 0, crashes_left = 0, drops_left = 0, dups_left = 0;
  int proposed = 0;                  // names the next proposal ("v<proposed+1>")
  std::map<Term, NodeId> leaders;    // every leader seen on this path, by term
  std::map<Index, Committed> committed;

  const raft::Raft& core(NodeId id) const { return *nodes[id - 1].core; }
};

enum class Kind : uint8_t {
  kDeliver,      // step the message into its destination; it leaves the network
  kDeliverKeep,  // step it but leave a copy in flight (duplication)
  kDrop,         // the network loses it
  kTimeout,      // tick the node until its election (or leader quorum check) timer fires
  kHeartbeat,    // leader: heartbeat_tick ticks
  kPropose,      // leader: a client proposal
  kCrash,        // crash-restart from the durable state
  kInject,       // test hook (Model::inject): a deliberately broken step
};
const char* KindName(Kind k);

struct Transition {
  Kind kind = Kind::kDeliver;
  NodeId node = raft::kNoNode;  // the node acted on (a message's destination)
  uint64_t msg = 0;             // MessageHash of the message, for message transitions
  bool operator==(const Transition&) const = default;
};

uint64_t MessageHash(const raft::Message& m);
std::string Describe(const raft::Message& m);

class Model {
 public:
  explicit Model(ModelConfig config);

  const ModelConfig& config() const { return cfg_; }
  // A fresh 3-voter cluster: every node built from the same bootstrap
  // snapshot (index 0, voters {1,2,3}).
  State Initial() const;
  // The enabled transitions of `s`, in a fixed order; identical in-flight
  // copies of a message give one transition.
  std::vector<Transition> Successors(const State& s) const;
  // Applies `t` to a copy of `s` into `out`. Returns a non-ok Status naming
  // the violated property when the result breaks one (out then holds the
  // offending state). REQUIRES: t is one of Successors(s).
  Status Apply(const State& s, const Transition& t, State* out) const;
  // Canonical hash of everything in the state (cores, disks, applied
  // sequences, network, budgets and the recorded history).
  uint64_t Hash(const State& s) const;
  // Records the history the properties need (the leader of each term, the
  // entries known committed) and checks every safety property: each core's
  // CheckInvariants(), election safety, log matching, leader completeness
  // (no committed entry lost) and state machine safety.
  Status Observe(State& s) const;
  std::string Describe(const State& s, const Transition& t) const;
  std::string Summary(const State& s) const;

  // Test hook: when set, each state also has one kInject transition per
  // node; it is applied to a copy of the state and must return false, and
  // leave the copy unchanged, when it does not apply (the successor is then
  // the state itself, already seen). Used to prove the checker catches a
  // broken step.
  std::function<bool(State&, NodeId)> inject;

 private:
  raft::Config CoreConfig(NodeId id) const;
  // Handles every pending Ready of node `id` (persist, send, apply, advance).
  // `send` false: its messages are lost instead of put in flight.
  Status Process(State& s, NodeId id, raft::Raft& core, bool send = true) const;
  static void AddMessage(State& s, raft::Message m);
  static void RemoveMessage(State& s, size_t i);
  static size_t FindMessage(const State& s, uint64_t hash);

  ModelConfig cfg_;
  std::shared_ptr<const raft::Snapshot> bootstrap_;
};

}  // namespace blixard::mc
