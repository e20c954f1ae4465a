// Named end-to-end scenarios over the in-memory network.
#include <gtest/gtest.h>

#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::App;
using testing::Network;

// A restarted node may first learn the current term from the rejections of
// its pre-vote; its next campaign uses the right term.
NodeId ElectAgain(Network& net, NodeId id) {
  for (int i = 0; i < 3 && net.raft(id).role() != Role::kLeader; ++i) net.Elect(id);
  return net.Leader();
}

bool HasEntryAt(const Message& m, Index i) {
  for (const auto& e : m.entries) if (e.index == i) return true;
  return false;
}

// Raft paper Figure 8 / §5.4.2: an entry of an earlier term stored on a
// majority is NOT committed by counting replicas; a later leader may still
// overwrite it, and no state machine ever applies it.
TEST(RaftScenario, Figure8OldTermEntryNotCommittedByCounting) {
  Config c;
  c.check_quorum = false;  // elections below are forced by hand
  c.max_size_per_msg = 1;  // one entry per append, to steer what arrives
  Network net(5, c);
  ASSERT_EQ(net.Elect(1), 1u);
  net.TickAll(1);
  // (a) S1 replicates "a" at index 2 to S2 only.
  for (NodeId n : {3, 4, 5}) net.Cut(1, n);
  ASSERT_TRUE(net.Propose("a").ok());
  net.Stabilize();
  ASSERT_EQ(net.raft(2).last_index(), 2u);
  // (b) S1 crashes; S5 wins with S3, S4; its entries (no-op at index 2,
  // "b" at 3) stay on S5 alone.
  net.Crash(1);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppend && m.from == 5; };
  ASSERT_EQ(net.Elect(5), 5u);
  net.drop = nullptr;
  net.Isolate(5);
  ASSERT_TRUE(net.raft(5).propose("b").ok());
  net.ProcessAll();
  net.Stabilize();
  const Term term_b = net.raft(5).term();
  // (c) S5 crashes; S1 restarts and wins; "a" (old term) reaches S3 so it is
  // on a majority (S1, S2, S3), but S1's own-term no-op reaches nobody.
  net.Crash(5);
  net.Heal();
  net.Restart(1);
  const Index noop = 3;
  // Lose every append that would place the no-op on a follower (a probe the
  // follower rejects anyway goes through).
  net.drop = [&](const Message& m) {
    if (m.to == 4) return true;
    if (m.type != MessageType::kAppend || !HasEntryAt(m, noop)) return false;
    Raft& to = net.raft(m.to);
    return to.last_index() >= m.index && to.entries(m.index, m.index + 1).at(0).term == m.log_term;
  };
  ASSERT_EQ(ElectAgain(net, 1), 1u);
  ASSERT_GT(net.raft(1).term(), term_b);
  for (NodeId n : {1, 2, 3}) {
    ASSERT_EQ(net.raft(n).entries(2, 3).at(0).data, "a") << n;
  }
  EXPECT_EQ(net.raft(1).commit_index(), 1u) << "old-term entry committed by counting replicas";
  // (d) S1 crashes; S5 (last term higher) wins with S2, S3, S4 and
  // overwrites index 2 everywhere.
  net.Crash(1);
  net.drop = nullptr;
  net.Restart(5);
  ASSERT_EQ(ElectAgain(net, 5), 5u);
  net.TickAll(2);
  net.Restart(1);
  net.TickAll(5);
  for (NodeId n : net.ids()) {
    EXPECT_EQ(net.raft(n).entries(2, 3).at(0).term, term_b) << n;  // "a" overwritten
    EXPECT_EQ(net.node(n).app.payloads, std::vector<std::string>{"b"}) << n;
  }
  net.CheckLogMatching();
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

// Figure 8 (e): once the leader's own-term entry is on a majority, the old
// entry before it is committed and survives.
TEST(RaftScenario, Figure8CurrentTermEntryCommitsPriorEntries) {
  Config c;
  c.check_quorum = false;
  Network net(5, c);
  ASSERT_EQ(net.Elect(1), 1u);
  for (NodeId n : {3, 4, 5}) net.Cut(1, n);
  ASSERT_TRUE(net.Propose("a").ok());
  net.Stabilize();
  net.Crash(1);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppend && m.from == 5; };
  ASSERT_EQ(net.Elect(5), 5u);
  net.drop = nullptr;
  net.Isolate(5);
  ASSERT_TRUE(net.raft(5).propose("b").ok());
  net.ProcessAll();
  net.Crash(5);
  net.Heal();
  net.Restart(1);
  ASSERT_EQ(ElectAgain(net, 1), 1u);
  net.TickAll(1);
  EXPECT_EQ(net.raft(1).commit_index(), 3u);
  net.Restart(5);
  net.TickAll(30);
  for (NodeId n : net.ids()) EXPECT_EQ(net.node(n).app.payloads, std::vector<std::string>{"a"}) << n;
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftScenario, LeaderIsolatedInMinorityThenHealed) {
  Network net(5);
  ASSERT_EQ(net.Elect(1), 1u);
  ASSERT_TRUE(net.Propose("before").ok());
  net.TickAll(1);
  for (NodeId a : {1, 2}) for (NodeId b : {3, 4, 5}) net.Cut(a, b);
  ASSERT_TRUE(net.raft(1).propose("lost").ok());  // minority: never commits
  net.ProcessAll();
  net.TickAll(40);
  EXPECT_NE(net.raft(1).role(), Role::kLeader);  // check-quorum
  const NodeId l = net.Leader();
  ASSERT_TRUE(l >= 3) << l;
  ASSERT_TRUE(net.Propose("after").ok());
  net.TickAll(1);
  net.Heal();
  net.TickAll(10);
  EXPECT_EQ(net.Leader(), l);
  for (NodeId n : net.ids()) {
    EXPECT_EQ(net.node(n).app.payloads, (std::vector<std::string>{"before", "after"})) << n;
    EXPECT_EQ(net.raft(n).last_index(), net.raft(l).last_index()) << n;
  }
  net.CheckLogMatching();
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftScenario, RestartEveryNodeFromPersistedState) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net.Propose("r" + std::to_string(i)).ok());
  net.TickAll(2);
  ASSERT_TRUE(net.Compact(2, net.node(2).app.applied).ok());
  for (int i = 20; i < 25; ++i) ASSERT_TRUE(net.Propose("r" + std::to_string(i)).ok());
  net.TickAll(2);
  std::map<NodeId, std::pair<HardState, App>> before;
  for (NodeId n : net.ids()) before[n] = {net.raft(n).hard_state(), net.node(n).app};
  for (NodeId n : net.ids()) net.Crash(n);
  for (NodeId n : net.ids()) net.Restart(n);
  for (NodeId n : net.ids()) {
    // The restarted core re-delivers committed entries after the snapshot,
    // rebuilding the same application state.
    EXPECT_EQ(net.raft(n).hard_state(), before[n].first) << n;
    EXPECT_EQ(net.node(n).app.payloads, before[n].second.payloads) << n;
    EXPECT_EQ(net.node(n).app.hash, before[n].second.hash) << n;
  }
  net.TickAll(40);
  ASSERT_NE(net.Leader(), kNoNode);
  ASSERT_TRUE(net.Propose("r25").ok());
  net.TickAll(2);
  for (NodeId n : net.ids()) EXPECT_EQ(net.node(n).app.payloads.size(), 26u) << n;
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftScenario, LeadershipTransferUnderLoad) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  // Node 3 lags: its appends are lost for a while.
  net.drop = [](const Message& m) { return m.type == MessageType::kAppend && m.to == 3; };
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(net.Propose("t" + std::to_string(i)).ok());
  net.Stabilize();
  net.drop = nullptr;
  ASSERT_TRUE(net.raft(1).transfer_leader(3).ok());
  auto refused = net.raft(1).propose("during");
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  net.ProcessAll();
  net.Stabilize();
  EXPECT_EQ(net.Leader(), 3u);
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.Propose("u" + std::to_string(i)).ok());
  net.TickAll(2);
  for (NodeId n : net.ids()) EXPECT_EQ(net.node(n).app.payloads.size(), 40u) << n;
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftScenario, LeadershipTransferAbortsAfterElectionTimeout) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(3);
  ASSERT_TRUE(net.raft(1).transfer_leader(3).ok());
  EXPECT_FALSE(net.raft(1).propose("x").ok());
  net.Tick(1, 10);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  EXPECT_TRUE(net.raft(1).propose("x").ok());
}

TEST(RaftScenario, ReadIndexLinearizabilityBasics) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  auto w = net.Propose("w");
  ASSERT_TRUE(w.ok());
  net.Stabilize();
  // Leader read: answered after a heartbeat round, at >= the write's index.
  ASSERT_TRUE(net.raft(1).read_index("r1").ok());
  net.ProcessAll();
  EXPECT_TRUE(net.node(1).reads.empty());  // needs a quorum first
  net.Stabilize();
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0].context, "r1");
  EXPECT_GE(net.node(1).reads[0].index, *w);
  // Follower read: forwarded to the leader, surfaced on the follower.
  ASSERT_TRUE(net.raft(2).read_index("r2").ok());
  net.Stabilize();
  ASSERT_EQ(net.node(2).reads.size(), 1u);
  EXPECT_EQ(net.node(2).reads[0].context, "r2");
  EXPECT_GE(net.node(2).reads[0].index, *w);
  // A leader cut off from the quorum never answers.
  net.Isolate(1);
  ASSERT_TRUE(net.raft(1).read_index("r3").ok());
  net.Stabilize();
  net.Tick(1, 3);
  net.Stabilize();
  EXPECT_EQ(net.node(1).reads.size(), 1u);
  // No leader known: unavailable.
  net.Crash(1);
  net.Crash(2);
  net.Tick(3, 30);
  EXPECT_EQ(net.raft(3).read_index("r4").code(), StatusCode::kUnavailable);
}

TEST(RaftScenario, ReadIndexWaitsForCommitInLeaderTerm) {
  Network net(3);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppendResp; };
  ASSERT_EQ(net.Elect(1), 1u);
  ASSERT_EQ(net.raft(1).commit_index(), 0u);
  ASSERT_TRUE(net.raft(1).read_index("early").ok());
  net.Stabilize();
  net.TickAll(1);
  EXPECT_TRUE(net.node(1).reads.empty());
  net.drop = nullptr;
  net.TickAll(2);
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0].index, 1u);
}

TEST(RaftScenario, SingleVoterReadIndexAnswersImmediately) {
  Network net(1);
  ASSERT_EQ(net.Elect(1), 1u);
  ASSERT_TRUE(net.raft(1).read_index("solo").ok());
  net.ProcessAll();
  ASSERT_EQ(net.node(1).reads.size(), 1u);
  EXPECT_EQ(net.node(1).reads[0].index, 1u);
}

}  // namespace
}  // namespace blixard::raft
