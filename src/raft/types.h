// Value types shared by the Raft core, its storage and its transport.
// Plain structs, standard library only: the core does no I/O, so these are
// what crosses its boundary. The wire form (proto/blixard/v1/raft.proto) and
// the disk form (src/storage/) are conversions of these.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace blixard::raft {

using NodeId = uint64_t;  // 0 is "no node"
using Term = uint64_t;
using Index = uint64_t;   // log index; the first real entry is 1
inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,      // application command (empty data: the leader's no-op)
  kConfChange = 1,  // data = EncodeConfChangeEntry(...) (conf_change.h)
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;
  bool operator==(const Entry&) const = default;
};

// Cluster membership. Both lists sorted ascending, disjoint.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;  // receive the log, do not vote or count for quorum
  bool operator==(const ConfState&) const = default;
  bool IsVoter(NodeId id) const;
  bool IsLearner(NodeId id) const;
  bool IsMember(NodeId id) const { return IsVoter(id) || IsLearner(id); }
};

enum class ConfChangeType : uint8_t {
  kAddLearner = 0,  // new node joins as learner
  kPromote = 1,     // learner -> voter
  kDemote = 2,      // voter -> learner
  kRemove = 3,      // learner or voter leaves
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddLearner;
  NodeId node = kNoNode;
  std::string context;  // opaque to raft (the node layer puts the member's address here)
  bool operator==(const ConfChange&) const = default;
};

// Persistent per-node state (§5.1, Figure 2) plus the commit index.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

struct SnapshotMeta {
  Index index = 0;  // last entry the snapshot covers
  Term term = 0;    // term of that entry
  ConfState conf;   // membership as of `index`
  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;  // application state machine image
  bool operator==(const Snapshot&) const = default;
};

enum class MessageType : uint8_t {
  kPreVote = 0,        // §9.6 thesis: would you vote for me at term+1?
  kPreVoteResp = 1,
  kVote = 2,           // RequestVote
  kVoteResp = 3,
  kAppend = 4,         // AppendEntries
  kAppendResp = 5,
  kHeartbeat = 6,      // empty AppendEntries carrying commit and ReadIndex context
  kHeartbeatResp = 7,
  kSnapshot = 8,       // InstallSnapshot (the transport chunks the payload)
  kTimeoutNow = 9,     // leadership transfer: campaign now, skipping pre-vote
  kReadIndex = 10,     // follower -> leader: what is the commit index for ctx?
  kReadIndexResp = 11,
};

const char* MessageTypeName(MessageType t);

struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;
  // kAppend: term/index of the entry before `entries`.
  // k(Pre)Vote: term/index of the candidate's last entry.
  // kAppendResp: index = last index matched (or rejected index).
  Term log_term = 0;
  Index index = 0;
  std::vector<Entry> entries;
  Index commit = 0;
  bool reject = false;
  Index reject_hint = 0;     // kAppendResp on reject: follower's hint for fast backtracking
  Term reject_term = 0;      // term of the follower's entry at reject_hint (0 if none)
  std::shared_ptr<const Snapshot> snapshot;  // kSnapshot only
  std::string context;       // ReadIndex / heartbeat context
};

// Answer to read_index(ctx): once the application has applied up to `index`,
// a read of its state is linearizable.
struct ReadState {
  Index index = 0;
  std::string context;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role r);

struct SoftState {
  NodeId leader = kNoNode;
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// What the core hands back; the caller must, in order:
//   1. when MustSync(): persist `snapshot` (if set), then `entries`
//      (truncating any stable entries at or after entries.front().index),
//      then the latest hard state, all durably (fsync). A snapshot replaces
//      the whole stored log unless the log holds an entry with the
//      snapshot's index and term (then only the entries it covers go). A
//      Ready that only moves the commit index need not be saved: the commit
//      index is volatile (§3.8, Figure 3.1) and a restarted node learns it
//      again, so it rides with the next save (the caller keeps the hard
//      state it last saved and saves the latest one then);
//   2. send `messages`;
//   3. apply `snapshot` (if set) then `committed_entries` to the state machine,
//      and serve `read_states` once applied >= their index;
//   4. call advance().
struct Ready {
  std::optional<SoftState> soft_state;
  std::optional<HardState> hard_state;
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<Entry> entries;
  std::vector<Message> messages;
  std::vector<Entry> committed_entries;
  std::vector<ReadState> read_states;
  // New entries, a snapshot, or a new term or vote (one vote per term,
  // §3.4, must survive a crash before any message reveals it).
  bool must_sync = false;
  bool MustSync() const { return must_sync; }
};

// What storage gives back at start: enough to rebuild the core.
struct PersistentState {
  HardState hard_state;
  std::shared_ptr<const Snapshot> snapshot;  // never null after bootstrap (index 0 = empty)
  std::vector<Entry> entries;                // contiguous, starting at snapshot->meta.index + 1
};

}  // namespace blixard::raft
