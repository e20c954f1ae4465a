// Membership changes (thesis §4.1, §4.2): learners, promote, demote, remove;
// one change at a time, in effect when appended.
#include <gtest/gtest.h>

#include "raft/conf_change.h"
#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::Network;

ConfChange Change(ConfChangeType t, NodeId n) { return ConfChange{t, n, "addr-" + std::to_string(n)}; }

// Proposes a change at the leader and runs the cluster until it commits.
void Commit(Network& net, ConfChange cc) {
  auto r = net.raft(net.Leader()).propose_conf_change(cc);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  net.ProcessAll();
  net.TickAll(3);
  ASSERT_GE(net.raft(net.Leader()).commit_index(), *r);
}

TEST(RaftMembership, AddLearnerThenPromoteUnderLoad) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net.Propose("a" + std::to_string(i)).ok());
  net.TickAll(1);
  net.AddNode(4);  // empty configuration: joining
  Commit(net, Change(ConfChangeType::kAddLearner, 4));
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(net.Propose("b" + std::to_string(i)).ok());
    net.TickAll(1);
  }
  EXPECT_TRUE(net.raft(1).conf().IsLearner(4));
  EXPECT_EQ(net.raft(4).commit_index(), net.raft(1).commit_index());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose("c" + std::to_string(i)).ok());
  Commit(net, Change(ConfChangeType::kPromote, 4));
  for (NodeId n : net.ids()) EXPECT_EQ(net.raft(n).conf().voters, (std::vector<NodeId>{1, 2, 3, 4})) << n;
  // Node 4 now counts: with 1 and 2 down, 3 and 4 are not a quorum of 4...
  net.Crash(2);
  ASSERT_TRUE(net.Propose("d").ok());
  net.TickAll(2);
  EXPECT_EQ(net.node(4).app.payloads.back(), "d");  // 1, 3, 4 committed it
  net.Crash(1);
  net.TickAll(50);
  EXPECT_EQ(net.Leader(), kNoNode);  // 3 and 4 alone are not a majority of 4
  net.Restart(2);
  net.TickAll(50);
  EXPECT_NE(net.Leader(), kNoNode);
  EXPECT_EQ(net.node(4).app.payloads.size(), 46u);
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftMembership, LearnerDoesNotVoteAndIsNotCounted) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.TickAll(1);
  net.AddNode(4);
  Commit(net, Change(ConfChangeType::kAddLearner, 4));
  const Term t = net.raft(1).term();
  // A learner never campaigns.
  net.Isolate(4);
  net.Tick(4, 100);
  EXPECT_EQ(net.raft(4).role(), Role::kFollower);
  EXPECT_EQ(net.raft(4).term(), t);
  net.Heal();
  // With two voters gone, leader + learner cannot commit.
  net.Crash(2);
  net.Crash(3);
  const Index before = net.raft(1).commit_index();
  ASSERT_TRUE(net.Propose("x").ok());
  net.Stabilize();
  EXPECT_EQ(net.raft(4).last_index(), net.raft(1).last_index());  // replicated to the learner
  EXPECT_EQ(net.raft(1).commit_index(), before);                   // but not counted
  // Candidates do not ask learners for votes.
  net.Restart(2);
  net.Crash(1);
  net.ResetCounters();
  net.Tick(2, 30);
  for (const Message& m : net.queue()) EXPECT_NE(m.to, 4u) << MessageTypeName(m.type);
}

TEST(RaftMembership, RemoveLeaderRefusedThenTransferAndRemove) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.TickAll(1);
  auto r = net.raft(1).propose_conf_change(Change(ConfChangeType::kRemove, 1));
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(net.raft(1).propose_conf_change(Change(ConfChangeType::kDemote, 1)).status().code(),
            StatusCode::kFailedPrecondition);
  ASSERT_TRUE(net.raft(1).transfer_leader(2).ok());
  net.ProcessAll();
  net.Stabilize();
  ASSERT_EQ(net.Leader(), 2u);
  net.TickAll(1);
  Commit(net, Change(ConfChangeType::kRemove, 1));
  for (NodeId n : net.ids()) EXPECT_EQ(net.raft(n).conf().voters, (std::vector<NodeId>{2, 3})) << n;
  // The removed node never campaigns again; the rest keep committing.
  const Term t = net.raft(1).term();
  net.Isolate(1);
  net.Tick(1, 100);
  EXPECT_EQ(net.raft(1).term(), t);
  EXPECT_EQ(net.raft(1).role(), Role::kFollower);
  ASSERT_TRUE(net.Propose("after-remove").ok());
  net.TickAll(2);
  EXPECT_EQ(net.node(3).app.payloads.back(), "after-remove");
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftMembership, RefusedBeforeLeaderCommitsInItsTerm) {
  Network net(3);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppendResp; };
  ASSERT_EQ(net.Elect(1), 1u);
  EXPECT_EQ(net.raft(1).propose_conf_change(Change(ConfChangeType::kAddLearner, 4)).status().code(),
            StatusCode::kFailedPrecondition);
  net.drop = nullptr;
  net.TickAll(2);
  EXPECT_TRUE(net.raft(1).propose_conf_change(Change(ConfChangeType::kAddLearner, 4)).ok());
}

TEST(RaftMembership, OneChangeAtATime) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.TickAll(1);
  net.Isolate(1);
  ASSERT_TRUE(net.raft(1).propose_conf_change(Change(ConfChangeType::kAddLearner, 4)).ok());
  EXPECT_EQ(net.raft(1).propose_conf_change(Change(ConfChangeType::kAddLearner, 5)).status().code(),
            StatusCode::kFailedPrecondition);
  // In effect on append, before it commits.
  EXPECT_TRUE(net.raft(1).conf().IsLearner(4));
  // Changes that do not apply are refused.
  net.Heal();
  net.TickAll(2);
  EXPECT_FALSE(net.raft(1).propose_conf_change(Change(ConfChangeType::kAddLearner, 2)).ok());
  EXPECT_FALSE(net.raft(1).propose_conf_change(Change(ConfChangeType::kPromote, 3)).ok());
  EXPECT_FALSE(net.raft(1).propose_conf_change(Change(ConfChangeType::kRemove, 9)).ok());
}

TEST(RaftMembership, ConfChangeRevertsWhenItsEntryIsTruncated) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.TickAll(1);
  // The change reaches node 2 only, then leader 1 is cut off.
  net.Cut(1, 3);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppendResp; };
  ASSERT_TRUE(net.raft(1).propose_conf_change(Change(ConfChangeType::kAddLearner, 4)).ok());
  net.ProcessAll();
  net.Stabilize();
  EXPECT_TRUE(net.raft(2).conf().IsLearner(4));
  net.drop = nullptr;
  net.Isolate(1);
  net.Cut(2, 3);
  // Node 3 wins with... nobody: give it node 2's vote by healing 2<->3 after
  // 2 lost its leader, while 3's log is older (so 3 needs 2 to lack more).
  net.Heal();
  net.Isolate(1);
  net.TickAll(40);
  const NodeId l = net.Leader();
  ASSERT_NE(l, kNoNode);
  ASSERT_NE(l, 1u);
  // Whoever leads, the change (on 2) is either kept or truncated consistently.
  ASSERT_TRUE(net.Propose("x").ok());
  net.TickAll(2);
  EXPECT_EQ(net.raft(2).conf(), net.raft(3).conf());
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftMembership, TruncatedConfEntryRevertsByHand) {
  // Drive a follower directly: a conf entry appended then replaced by a new
  // leader's entry at the same index.
  auto snap = std::make_shared<Snapshot>();
  snap->meta.conf.voters = {1, 2, 3};
  Config c;
  c.id = 2;
  Raft r(c, PersistentState{{}, snap, {}});
  ConfState next{{1, 2, 3}, {4}};
  Entry cc{1, 1, EntryType::kConfChange,
           EncodeConfChangeEntry({Change(ConfChangeType::kAddLearner, 4), next})};
  Message m;
  m.type = MessageType::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = 1;
  m.entries = {cc};
  ASSERT_TRUE(r.step(m).ok());
  EXPECT_EQ(r.conf(), next);  // in effect on append
  m.from = 3;
  m.term = 2;
  m.entries = {Entry{2, 1, EntryType::kNormal, ""}};
  ASSERT_TRUE(r.step(m).ok());
  EXPECT_EQ(r.conf(), snap->meta.conf);  // reverted
  EXPECT_TRUE(r.CheckInvariants().ok());
}

TEST(RaftMembership, NewLearnerCatchesUpFromSnapshot) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.Propose("s" + std::to_string(i)).ok());
  net.TickAll(1);
  for (NodeId n : net.ids()) ASSERT_TRUE(net.Compact(n, net.node(n).app.applied).ok());
  net.AddNode(4);
  Commit(net, Change(ConfChangeType::kAddLearner, 4));
  net.TickAll(3);
  EXPECT_GE(net.delivered(MessageType::kSnapshot), 1u);
  EXPECT_EQ(net.node(4).app.payloads, net.node(1).app.payloads);
  EXPECT_TRUE(net.raft(4).conf().IsLearner(4));
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

}  // namespace
}  // namespace blixard::raft
