// Randomized "nemesis" property: 3-5 nodes under message drops, reorders,
// duplicates, partitions, crash-restarts and compactions keep election
// safety, log matching and state machine safety (Raft paper Fig. 3), and
// every core's own invariants. Then, healed, they converge.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::Network;

struct Op {
  int kind;  // what to do, see the switch below
  int arg;   // which message / node
};

#define CHECK_OR_RETURN(cond) \
  do {                              \
    if (!(cond)) return std::string(#cond) + "\n" + net.ErrorText(); \
  } while (0)

// Runs one history; returns "" or what went wrong.
std::string RunHistory(int nodes, uint64_t seed, const std::vector<Op>& ops) {
  Config c;
  // Vary the optional protocol features with the seed.
  c.pre_vote = seed % 4 != 1;
  c.check_quorum = seed % 4 != 2;
  c.election_tick = 5;
  c.max_inflight_msgs = 4;
  c.max_size_per_msg = 64;
  Network net(nodes, c, seed);
  net.AddNode(static_cast<NodeId>(nodes + 1));  // spare, outside the configuration
  int proposals = 0;
  for (const Op& op : ops) {
    const NodeId node = static_cast<NodeId>(op.arg % nodes + 1);
    const bool has_msgs = !net.queue().empty();
    const int k = op.kind;  // 0..99: weights of the fault mix
    if (k < 45) {
      if (has_msgs) net.DeliverAt(static_cast<size_t>(op.arg));  // any order: reordering
    } else if (k < 50) {
      if (has_msgs) net.DropAt(static_cast<size_t>(op.arg));
    } else if (k < 52) {
      if (has_msgs) net.DuplicateAt(static_cast<size_t>(op.arg));
    } else if (k < 72) {
      net.Tick(node);
    } else if (k < 82) {
      NodeId l = net.Leader();
      if (l != kNoNode) {
        (void)net.raft(l).propose("p" + std::to_string(proposals++));
        net.Process(l);
      }
    } else if (k < 84) {
      net.Isolate(node);
    } else if (k < 88) {
      net.Heal();
    } else if (k < 91) {
      if (net.node(node).up) {
        net.Crash(node);
      } else {
        net.Restart(node);
      }
    } else if (k < 94) {
      if (net.node(node).up && net.node(node).app.applied >= net.raft(node).first_index()) {
        (void)net.Compact(node, net.node(node).app.applied);
      }
    } else if (k < 95) {
      if (net.node(node).up) (void)net.raft(node).transfer_leader(static_cast<NodeId>(op.arg / 7 % nodes + 1));
      net.ProcessAll();
    } else if (k < 97) {
      // Membership change at the leader, on any node incl. a spare joiner.
      NodeId l = net.Leader();
      if (l != kNoNode) {
        const auto type = static_cast<ConfChangeType>(op.arg / 11 % 4);
        const NodeId target = static_cast<NodeId>(op.arg % (nodes + 1) + 1);
        (void)net.raft(l).propose_conf_change(ConfChange{type, target, ""});
        net.Process(l);
      }
    } else {
      for (NodeId n : net.ids()) net.Tick(n);
    }
    CHECK_OR_RETURN(net.errors().empty());
  }
  net.CheckLogMatching();
  CHECK_OR_RETURN(net.errors().empty());
  if (getenv("RAFT_PROP_VERBOSE")) {
    Index max_commit = 0;
    for (NodeId n : net.ids()) max_commit = std::max(max_commit, net.raft(n).commit_index());
    fprintf(stderr, "nodes=%d ops=%zu proposals=%d max_commit=%lu delivered=%lu snapshots=%lu\n", nodes, ops.size(),
            proposals, static_cast<unsigned long>(max_commit),
            static_cast<unsigned long>(net.delivered(MessageType::kAppend)),
            static_cast<unsigned long>(net.delivered(MessageType::kSnapshot)));
  }
  // Heal everything: the cluster elects a leader and converges.
  net.Heal();
  for (NodeId n : net.ids()) {
    if (!net.node(n).up) net.Restart(n);
  }
  // Without pre-vote, a node with a stale uncommitted configuration can keep
  // outbidding the node that could win (split terms); random timeouts end
  // it, occasionally only after many rounds.
  for (int round = 0; round < 600 && (round < 30 || net.Leader() == kNoNode); ++round) {
    net.TickAll(1);
    if (getenv("RAFT_PROP_TRACE")) {
      for (NodeId n : net.ids()) {
        Raft& r = net.raft(n);
        fprintf(stderr, "%lu:%s/%lu/t%d ", (unsigned long)n, RoleName(r.role()), (unsigned long)r.term(),
                r.randomized_election_timeout());
      }
      fprintf(stderr, "\n");
    }
  }
  const NodeId l = net.Leader();
  if (l == kNoNode && getenv("RAFT_PROP_VERBOSE")) {
    for (NodeId n : net.ids()) {
      Raft& r = net.raft(n);
      fprintf(stderr, "node %lu role=%s term=%lu vote=%lu lead=%lu last=%lu lastterm=%lu commit=%lu voters=%zu\n",
              (unsigned long)n, RoleName(r.role()), (unsigned long)r.term(), (unsigned long)r.hard_state().vote,
              (unsigned long)r.leader(), (unsigned long)r.last_index(),
              (unsigned long)(r.last_index() >= r.first_index() ? r.entries(r.last_index(), r.last_index() + 1)[0].term : 0),
              (unsigned long)r.commit_index(), r.conf().voters.size());
      for (NodeId v : r.conf().voters) fprintf(stderr, "  voter %lu\n", (unsigned long)v);
      for (NodeId v : r.conf().learners) fprintf(stderr, "  learner %lu\n", (unsigned long)v);
      for (const Entry& e : r.entries(r.first_index(), r.last_index() + 1))
        if (e.type == EntryType::kConfChange) fprintf(stderr, "  conf entry %lu term %lu\n", (unsigned long)e.index, (unsigned long)e.term);
    }
    fprintf(stderr, "queue=%zu\n", net.queue().size());
  }
  CHECK_OR_RETURN(l != kNoNode);
  CHECK_OR_RETURN(net.Propose("final").ok());
  net.TickAll(5);
  for (NodeId n : net.ids()) {
    if (!net.raft(l).conf().IsMember(n)) continue;  // removed or never added
    CHECK_OR_RETURN(net.raft(n).commit_index() == net.raft(l).commit_index());
    CHECK_OR_RETURN(net.node(n).app.hash == net.node(l).app.hash);
  }
  net.CheckLogMatching();
  CHECK_OR_RETURN(net.errors().empty());
  return "";
}

RC_GTEST_PROP(RaftProperty, SafetyUnderDropsReordersPartitionsAndRestarts, ()) {
  const int nodes = *rc::gen::inRange(3, 6);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  const size_t count = *rc::gen::inRange<size_t>(0, 1500);
  const auto ops = *rc::gen::container<std::vector<Op>>(
      count, rc::gen::construct<Op>(rc::gen::inRange(0, 100), rc::gen::inRange(0, 1 << 16)));
  const std::string err = RunHistory(nodes, seed, ops);
  RC_ASSERT(err == "");
}

// The same with a long fixed schedule per seed (longer histories than the
// shrinking generator tends to produce).
TEST(RaftProperty, LongRandomHistories) {
  // RAFT_PROP_SEEDS=N runs more seeds (soak).
  const char* env = getenv("RAFT_PROP_SEEDS");
  const uint64_t seeds = env ? std::strtoull(env, nullptr, 10) : 20;
  const char* first_env = getenv("RAFT_PROP_FIRST");
  const uint64_t first = first_env ? std::strtoull(first_env, nullptr, 10) : 1;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL;
    std::vector<Op> ops;
    for (int i = 0; i < 3000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      ops.push_back(Op{static_cast<int>(x % 100), static_cast<int>((x >> 8) & 0xffff)});
    }
    EXPECT_EQ(RunHistory(3 + static_cast<int>(seed % 3), seed, ops), "") << "seed " << seed;
  }
}

}  // namespace
}  // namespace blixard::raft
