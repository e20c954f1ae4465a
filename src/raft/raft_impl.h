// Internal: the state and helpers behind Raft. Split by concern over
//   raft.cc              public API, Ready/advance, Clone, digest, invariants
//   raft_election.cc     term rules, roles, elections (§5.2, thesis §9.6, §6.2)
//   raft_replication.cc  leader: append/heartbeat/snapshot sending, commit (§5.3, §5.4.2)
//   raft_follower.cc     follower: AppendEntries/heartbeat/InstallSnapshot handling
//   raft_admin.cc        membership (§4.1), leadership transfer (§3.10), ReadIndex (§6.4)
// Everything is a value (snapshots are shared immutable), so Clone() is a copy.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/log.h"
#include "raft/progress.h"
#include "raft/raft.h"

namespace blixard::raft {

// kVote context marking a campaign triggered by kTimeoutNow: voters skip the
// leader-lease check for it (thesis §3.10, §4.2.3).
inline constexpr char kCampaignTransfer[] = "CampaignTransfer";

enum class CampaignKind : uint8_t { kPreElection, kElection, kTransfer };

// splitmix64: tiny, deterministic across standard libraries.
struct Prng {
  uint64_t state = 0;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

// A ReadIndex request waiting for a quorum of heartbeat acknowledgements.
struct ReadRequest {
  Index index = 0;
  NodeId from = kNoNode;  // who asked (this node or a follower)
  std::string context;
  std::set<NodeId> acks;
};

class Raft::Impl {
 public:
  Impl(const Config& config, PersistentState state);

  // --- raft_election.cc
  void tick();
  Status step(const Message& m);
  void campaign(CampaignKind kind);
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  bool promotable() const { return conf_.IsVoter(id()); }
  bool quorum_active() const;
  void handle_vote_request(const Message& m);
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void send(Message m);

  // --- raft_replication.cc
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_snapshot(NodeId to, Progress& pr);
  void send_heartbeat(NodeId to, const std::string& ctx);
  void bcast_append();
  void bcast_heartbeat(const std::string& ctx);
  bool maybe_commit();
  void handle_append_resp(const Message& m);
  void handle_heartbeat_resp(const Message& m);
  void leader_append(Entry e);
  void sync_progress();
  // Keeps conf_ equal to the last conf entry in the log (thesis §4.1).
  void update_conf_after_append(Index old_last, bool truncated);

  // --- raft_follower.cc
  void handle_append(const Message& m);
  void handle_heartbeat(const Message& m);
  void handle_snapshot(const Message& m);

  // --- raft_admin.cc
  Result<Index> propose(std::string data);
  Result<Index> propose_conf_change(const ConfChange& cc);
  Status transfer_leader(NodeId to);
  Status read_index(std::string ctx);
  void leader_read_index(NodeId from, std::string ctx);
  void read_ack(NodeId from, const std::string& ctx);
  void respond_read(NodeId from, Index index, std::string ctx);
  void on_commit_advanced();
  bool committed_in_term() const;

  // --- raft.cc
  bool has_ready() const;
  Ready ready();
  void advance(const Ready& rd);
  Result<SnapshotMeta> compact(Index index, std::string data);
  Status CheckInvariants() const;
  uint64_t Digest() const;

  NodeId id() const { return cfg_.id; }
  Index quorum() const { return conf_.voters.size() / 2 + 1; }

  Config cfg_;
  Prng rng_;
  RaftLog log_;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::kFollower;
  ConfState conf_;       // last configuration in the log (or the snapshot's)
  Index conf_index_ = 0;  // index of that conf entry; 0 when from the snapshot
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_timeout_ = 0;
  std::map<NodeId, Progress> prs_;  // leader only; includes self
  std::map<NodeId, bool> votes_;    // candidate / pre-candidate only
  NodeId lead_transferee_ = kNoNode;
  std::deque<ReadRequest> read_queue_;                       // leader, awaiting acks
  std::vector<std::pair<NodeId, std::string>> pending_reads_;  // leader, before a commit in its term
  std::vector<Message> msgs_;
  // Per peer with a message in msgs_: the position of the last one queued
  // to it, and the bytes of entry data it carries (for max_size_per_msg).
  struct Tail {
    NodeId to;
    size_t pos;
    uint64_t bytes;
  };
  std::vector<Tail> tails_;  // a few peers: searched linearly; cleared with msgs_
  // Folds `m` (carrying `bytes` of entry data) into `tail`, the last message
  // queued to the same peer, when it extends it (see send); false if it
  // must go on its own.
  bool merge_into_tail(Tail& tail, Message& m, uint64_t bytes);
  std::vector<ReadState> read_states_;
  SoftState prev_soft_;
  HardState prev_hard_;
};

}  // namespace blixard::raft
