// Elections: §5.2, pre-vote (thesis §9.6), check-quorum and leader lease
// (thesis §6.2, §4.2.3).
#include <gtest/gtest.h>

#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::Network;

PersistentState Bootstrap(std::vector<NodeId> voters) {
  auto snap = std::make_shared<Snapshot>();
  snap->meta.conf.voters = std::move(voters);
  return PersistentState{{}, snap, {}};
}

TEST(RaftElection, SingleNodeBecomesLeaderOnCampaignAndCommitsNoop) {
  Config c;
  c.id = 1;
  Raft r(c, Bootstrap({1}));
  r.campaign();
  EXPECT_EQ(r.role(), Role::kLeader);
  EXPECT_EQ(r.term(), 1u);
  EXPECT_EQ(r.commit_index(), 1u);
  Ready rd = r.ready();
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, 1u);
  EXPECT_EQ(rd.hard_state->vote, 1u);
  ASSERT_EQ(rd.entries.size(), 1u);
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_TRUE(rd.messages.empty());  // messages to self never appear
  r.advance(rd);
  EXPECT_EQ(r.applied_index(), 1u);
  EXPECT_FALSE(r.has_ready());
}

TEST(RaftElection, ElectionTimeoutIsRandomizedWithinRange) {
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Config c;
    c.id = 1;
    c.seed = seed;
    c.election_tick = 10;
    Raft r(c, Bootstrap({1, 2, 3}));
    int t = r.randomized_election_timeout();
    EXPECT_GE(t, 10);
    EXPECT_LT(t, 20);
    seen.insert(t);
  }
  EXPECT_GT(seen.size(), 3u);
}

TEST(RaftElection, FollowerCampaignsAfterTimeout) {
  Network net(3);
  net.TickAll(25);
  NodeId l = net.Leader();
  ASSERT_NE(l, kNoNode);
  for (NodeId id : net.ids()) EXPECT_EQ(net.raft(id).leader(), l);
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftElection, PreVoteDoesNotBumpTerms) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  const Term t = net.raft(1).term();
  net.Isolate(3);
  net.TickAll(100);  // node 3 pre-votes over and over, nobody answers
  EXPECT_EQ(net.raft(3).term(), t);
  EXPECT_EQ(net.raft(3).role(), Role::kPreCandidate);
  EXPECT_EQ(net.raft(1).term(), t);
  EXPECT_EQ(net.Leader(), 1u);
}

TEST(RaftElection, DisruptiveRejoinKeepsTermStableWithPreVote) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  const Term t = net.raft(1).term();
  net.Isolate(3);
  net.TickAll(60);
  net.Heal();
  net.TickAll(30);
  EXPECT_EQ(net.Leader(), 1u);
  for (NodeId id : net.ids()) EXPECT_EQ(net.raft(id).term(), t) << id;
  EXPECT_EQ(net.raft(3).leader(), 1u);
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftElection, WithoutPreVoteRejoinBumpsTerm) {
  Config c;
  c.pre_vote = false;
  c.check_quorum = false;
  Network net(3, c);
  ASSERT_EQ(net.Elect(1), 1u);
  const Term t = net.raft(1).term();
  net.Isolate(3);
  net.TickAll(60);
  EXPECT_GT(net.raft(3).term(), t + 1);  // the problem pre-vote solves
}

TEST(RaftElection, CheckQuorumLeaderStepsDown) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(1);
  // The first check (after one timeout) still sees the acks of the first
  // round; the window after that has none.
  net.Tick(1, 10);
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
  net.Tick(1, 10);
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  EXPECT_EQ(net.raft(1).leader(), kNoNode);
}

TEST(RaftElection, LeaderLeaseIgnoresVoteRequests) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  const Term t = net.raft(1).term();
  // Node 3 asks for a (real) vote at a higher term: 1 and 2 heard from the
  // leader recently and ignore it.
  Message m;
  m.type = MessageType::kVote;
  m.from = 3;
  m.term = t + 5;
  m.index = net.raft(3).last_index();
  m.log_term = t;
  for (NodeId to : {1, 2}) {
    m.to = to;
    ASSERT_TRUE(net.raft(to).step(m).ok());
    EXPECT_EQ(net.raft(to).term(), t);
  }
  EXPECT_EQ(net.raft(1).role(), Role::kLeader);
}

TEST(RaftElection, VoteRefusedToStaleLog) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose("x").ok());
  net.Stabilize();
  net.Heal();
  net.Crash(1);
  // Node 3 lacks "x": node 2 must refuse it (§5.4.1); node 2 can win.
  net.Tick(3, 30);
  net.Stabilize();
  EXPECT_NE(net.raft(3).role(), Role::kLeader);
  net.TickAll(40);
  EXPECT_EQ(net.Leader(), 2u);
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftElection, EmptyConfigNodeNeverCampaigns) {
  Network net(1);
  net.AddNode(7);
  net.Tick(7, 100);
  EXPECT_EQ(net.raft(7).role(), Role::kFollower);
  EXPECT_EQ(net.raft(7).term(), 0u);
  EXPECT_EQ(net.queue().size(), 0u);
}

TEST(RaftElection, MessageForAnotherNodeIsRejected) {
  Network net(3);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = 2;
  m.to = 3;
  EXPECT_FALSE(net.raft(1).step(m).ok());
}

}  // namespace
}  // namespace blixard::raft
