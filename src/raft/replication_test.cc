// Log replication (§5.3): batching, flow control, fast backtracking,
// heartbeats carrying commit, snapshots (§7).
#include <gtest/gtest.h>

#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::Network;

TEST(RaftReplication, ProposalsCommitOnEveryNode) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(net.Propose("v" + std::to_string(i)).ok());
  net.Stabilize();
  net.TickAll(2);
  for (NodeId id : net.ids()) {
    EXPECT_EQ(net.raft(id).commit_index(), 11u) << id;
    EXPECT_EQ(net.node(id).app.payloads.size(), 10u) << id;
  }
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftReplication, FollowerRefusesProposal) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  auto r = net.raft(2).propose("x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace blixard::raft

namespace blixard::raft {
namespace {

using testing::Network;

// A deposed leader holding many entries of its old term that nobody else has
// converges in a constant number of rejected probes, not one per entry.
TEST(RaftReplication, LogConflictFastBacktracking) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(1);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(net.raft(1).propose("old" + std::to_string(i)).ok());
  net.ProcessAll();
  net.Stabilize();
  net.TickAll(30);  // 1 steps down (check-quorum); 2 or 3 is elected
  const NodeId l = net.Leader();
  ASSERT_TRUE(l == 2 || l == 3) << l;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(net.Propose("new" + std::to_string(i)).ok());
  net.Stabilize();
  // Hand over to the other node so the leader that meets node 1 starts
  // probing at the end of its long log.
  const NodeId l2 = l == 2 ? 3 : 2;
  ASSERT_TRUE(net.raft(l).transfer_leader(l2).ok());
  net.ProcessAll();
  net.Stabilize();
  ASSERT_EQ(net.Leader(), l2);
  ASSERT_EQ(net.raft(1).last_index(), 101u);
  int rejects = 0;
  net.drop = [&](const Message& m) {
    if (m.type == MessageType::kAppendResp && m.from == 1 && m.reject) ++rejects;
    return false;
  };
  net.Heal();
  net.TickAll(3);
  EXPECT_GE(rejects, 1);
  EXPECT_LE(rejects, 2);
  EXPECT_EQ(net.raft(1).last_index(), net.raft(l2).last_index());
  EXPECT_EQ(net.node(1).app.payloads, net.node(l2).app.payloads);
  EXPECT_EQ(net.node(1).app.payloads.size(), 50u);
  net.CheckLogMatching();
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftReplication, FlowControlRespectsInflightCap) {
  Config c;
  c.max_inflight_msgs = 3;
  c.max_size_per_msg = 1;  // one entry per message
  Network net(3, c);
  ASSERT_EQ(net.Elect(1), 1u);
  ASSERT_EQ(net.raft(1).progress()[1].state, PeerProgress::State::kReplicate);
  int appends_to_2 = 0;
  net.drop = [&](const Message& m) {
    if (m.type == MessageType::kAppend && m.to == 2 && !m.entries.empty()) ++appends_to_2;
    return m.type == MessageType::kAppendResp && m.from == 2;  // 2's acks are lost
  };
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net.Propose("e" + std::to_string(i)).ok());
  net.Stabilize();
  EXPECT_EQ(appends_to_2, 3);
  // Acks flow again: replication resumes and completes.
  net.drop = nullptr;
  net.TickAll(30);
  EXPECT_EQ(net.raft(2).last_index(), net.raft(1).last_index());
  EXPECT_EQ(net.raft(2).commit_index(), net.raft(1).commit_index());
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftReplication, BatchesManyEntriesPerMessageAndAtLeastOne) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(3);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(net.Propose("b" + std::to_string(i)).ok());
  net.Stabilize();
  size_t biggest = 0;
  net.drop = [&](const Message& m) {
    if (m.type == MessageType::kAppend && m.to == 3) biggest = std::max(biggest, m.entries.size());
    return false;
  };
  net.Heal();
  net.TickAll(2);
  EXPECT_GE(biggest, 50u);
  EXPECT_EQ(net.raft(3).last_index(), net.raft(1).last_index());

  // A size limit smaller than one entry still sends one entry per message.
  Config c;
  c.max_size_per_msg = 1;
  Network small(2, c);
  ASSERT_EQ(small.Elect(1), 1u);
  ASSERT_TRUE(small.Propose(std::string(100, 'x')).ok());
  small.Stabilize();
  EXPECT_EQ(small.raft(2).last_index(), 2u);
}

TEST(RaftReplication, HeartbeatCarriesCommitBoundedByMatch) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose("h").ok());
  net.Stabilize();
  ASSERT_EQ(net.raft(1).commit_index(), 6u);
  Index match3 = 0;
  for (const auto& p : net.raft(1).progress()) if (p.id == 3) match3 = p.match;
  net.raft(1).tick();
  auto rd = net.raft(1).ready();
  int heartbeats = 0;
  for (const auto& m : rd.messages) {
    if (m.type != MessageType::kHeartbeat) continue;
    ++heartbeats;
    EXPECT_EQ(m.commit, m.to == 3 ? match3 : 6u);
  }
  EXPECT_EQ(heartbeats, 2);
  net.raft(1).advance(rd);
}

TEST(RaftReplication, SnapshotInstallToFollowerBehindCompaction) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(3);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(net.Propose("s" + std::to_string(i)).ok());
  net.Stabilize();
  net.TickAll(1);
  for (NodeId id : {1, 2}) ASSERT_TRUE(net.Compact(id, net.node(id).app.applied).ok());
  ASSERT_GT(net.raft(1).first_index(), net.raft(3).last_index() + 1);
  net.Heal();
  net.TickAll(3);
  EXPECT_GE(net.delivered(MessageType::kSnapshot), 1u);
  EXPECT_EQ(net.node(3).app.payloads, net.node(1).app.payloads);
  EXPECT_EQ(net.raft(3).first_index(), net.raft(1).first_index());
  // Replication resumes after the snapshot.
  ASSERT_TRUE(net.Propose("after").ok());
  net.TickAll(2);
  EXPECT_EQ(net.node(3).app.payloads.back(), "after");
  for (const auto& p : net.raft(1).progress()) EXPECT_EQ(p.state, PeerProgress::State::kReplicate);
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

TEST(RaftReplication, LostSnapshotIsResent) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose("s").ok());
  net.TickAll(1);
  ASSERT_TRUE(net.Compact(1, net.node(1).app.applied).ok());
  net.Heal();
  int dropped = 0;
  net.drop = [&](const Message& m) { return m.type == MessageType::kSnapshot && dropped++ == 0; };
  net.TickAll(40);
  EXPECT_GE(dropped, 2);
  EXPECT_EQ(net.raft(3).commit_index(), net.raft(1).commit_index());
}

TEST(RaftReplication, FollowerIgnoresStaleSnapshot) {
  Network net(2);
  ASSERT_EQ(net.Elect(1), 1u);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose("x").ok());
  net.TickAll(1);
  ASSERT_EQ(net.raft(2).commit_index(), 6u);
  auto snap = std::make_shared<Snapshot>();
  snap->meta.index = 3;
  snap->meta.term = net.raft(1).term();
  snap->meta.conf.voters = {1, 2};
  Message m;
  m.type = MessageType::kSnapshot;
  m.from = 1;
  m.to = 2;
  m.term = net.raft(1).term();
  m.snapshot = snap;
  ASSERT_TRUE(net.raft(2).step(m).ok());
  Ready rd = net.raft(2).ready();
  EXPECT_EQ(rd.snapshot, nullptr);
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type, MessageType::kAppendResp);
  EXPECT_EQ(rd.messages[0].index, 6u);
  net.raft(2).advance(rd);
  EXPECT_EQ(net.raft(2).last_index(), 6u);
}

std::vector<Message> TakeQueued(Network& net, NodeId to, MessageType type) {
  std::vector<Message> out;
  for (auto it = net.queue().begin(); it != net.queue().end();) {
    if (it->to == to && it->type == type) {
      out.push_back(std::move(*it));
      it = net.queue().erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

// Queues `msgs` again, runs the network until quiet and expects every node
// to have applied `payloads` entries.
void DeliverAndExpectApplied(Network& net, std::vector<Message> msgs, size_t payloads) {
  for (Message& m : msgs) net.queue().push_back(std::move(m));
  net.Stabilize();
  for (NodeId id : net.ids()) EXPECT_EQ(net.node(id).app.payloads.size(), payloads) << id;
  EXPECT_TRUE(net.errors().empty()) << net.ErrorText();
}

// Proposals made between two Readys go to each follower as one append
// (not one per proposal), carrying the newest commit index.
TEST(RaftReplication, ProposalsBetweenReadysGoAsOneAppendPerFollower) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Stabilize();
  const Index before = net.raft(1).last_index();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(1).propose("v" + std::to_string(i)).ok());
  net.Process(1);
  std::vector<Message> all;
  for (NodeId f : {2, 3}) {
    std::vector<Message> appends = TakeQueued(net, f, MessageType::kAppend);
    ASSERT_EQ(appends.size(), 1u) << f;
    EXPECT_EQ(appends[0].index, before);
    ASSERT_EQ(appends[0].entries.size(), 5u);
    EXPECT_EQ(appends[0].entries.back().index, before + 5);
    EXPECT_EQ(appends[0].entries.back().data, "v4");
    all.push_back(std::move(appends[0]));
  }
  DeliverAndExpectApplied(net, std::move(all), 5);
}

// max_size_per_msg still bounds a folded append: entries beyond it start a
// new one.
TEST(RaftReplication, FoldedAppendsKeepToTheSizeLimit) {
  Config c;
  c.max_size_per_msg = 25;
  Network net(3, c);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Stabilize();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(1).propose(std::string(10, 'a' + i)).ok());
  net.Process(1);
  std::vector<Message> appends = TakeQueued(net, 2, MessageType::kAppend);
  ASSERT_EQ(appends.size(), 3u);  // 10+10 bytes, 10+10, 10
  EXPECT_EQ(appends[0].entries.size(), 2u);
  EXPECT_EQ(appends[1].entries.size(), 2u);
  EXPECT_EQ(appends[2].entries.size(), 1u);
  DeliverAndExpectApplied(net, std::move(appends), 5);
}

// A follower that steps several appends before its next Ready answers them
// once, with the last index it holds.
TEST(RaftReplication, AFollowerAnswersTheAppendsOfOneReadyOnce) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Stabilize();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(net.raft(1).propose("v" + std::to_string(i)).ok());
    net.Process(1);  // one append per Ready: three appends to each follower
  }
  std::vector<Message> appends = TakeQueued(net, 2, MessageType::kAppend);
  ASSERT_EQ(appends.size(), 3u);
  for (const Message& m : appends) ASSERT_TRUE(net.raft(2).step(m).ok());
  Ready rd = net.raft(2).ready();
  std::vector<Message> answers;
  for (const Message& m : rd.messages) {
    if (m.type == MessageType::kAppendResp) answers.push_back(m);
  }
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0].reject);
  EXPECT_EQ(answers[0].index, net.raft(1).last_index());
}

// A folded append takes one slot of the follower's in-flight window, so a
// small window does not cut a Ready's proposals short.
TEST(RaftReplication, AFoldedAppendTakesOneInFlightSlot) {
  Config c;
  c.max_inflight_msgs = 2;
  Network net(3, c);
  ASSERT_EQ(net.Elect(1), 1u);
  net.Stabilize();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.raft(1).propose("v" + std::to_string(i)).ok());
  net.Process(1);
  std::vector<Message> appends = TakeQueued(net, 2, MessageType::kAppend);
  ASSERT_EQ(appends.size(), 1u);
  EXPECT_EQ(appends[0].entries.size(), 5u);
  DeliverAndExpectApplied(net, std::move(appends), 5);
}

}  // namespace
}  // namespace blixard::raft
