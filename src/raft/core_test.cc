// The Ready/advance contract, Clone, StateDigest and CheckInvariants.
#include <gtest/gtest.h>

#include "raft/raft.h"
#include "raft/testing/network.h"

namespace blixard::raft {
namespace {

using testing::Network;

PersistentState Bootstrap(std::vector<NodeId> voters) {
  auto snap = std::make_shared<Snapshot>();
  snap->meta.conf.voters = std::move(voters);
  return PersistentState{{}, snap, {}};
}

TEST(RaftCore, ReadyHandsOutEachThingOnceAndAdvanceAcknowledges) {
  Config c;
  c.id = 1;
  Raft r(c, Bootstrap({1}));
  EXPECT_FALSE(r.has_ready());
  r.campaign();
  ASSERT_TRUE(r.has_ready());
  Ready rd = r.ready();
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, Role::kLeader);
  EXPECT_TRUE(rd.MustSync());
  r.advance(rd);
  EXPECT_FALSE(r.has_ready());
  ASSERT_TRUE(r.propose("a").ok());
  rd = r.ready();
  EXPECT_FALSE(rd.soft_state.has_value());
  ASSERT_EQ(rd.entries.size(), 1u);
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_EQ(rd.committed_entries[0].data, "a");
  EXPECT_EQ(rd.hard_state->commit, 2u);
  r.advance(rd);
  EXPECT_EQ(r.applied_index(), 2u);
  EXPECT_FALSE(r.has_ready());
}

TEST(RaftCore, RestartRedeliversCommittedEntriesAfterSnapshot) {
  Config c;
  c.id = 1;
  auto snap = std::make_shared<Snapshot>();
  snap->meta = SnapshotMeta{2, 1, ConfState{{1}, {}}};
  std::vector<Entry> ents{{1, 3, EntryType::kNormal, "c"}, {1, 4, EntryType::kNormal, "d"}};
  Raft r(c, PersistentState{HardState{1, 1, 3}, snap, ents});
  EXPECT_EQ(r.applied_index(), 2u);
  Ready rd = r.ready();
  EXPECT_FALSE(rd.hard_state.has_value());  // nothing new to persist
  EXPECT_TRUE(rd.entries.empty());
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_EQ(rd.committed_entries[0].data, "c");
  r.advance(rd);
  EXPECT_TRUE(r.CheckInvariants().ok());
}

TEST(RaftCore, CloneIsIndependentAndDigestTracksState) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  ASSERT_TRUE(net.Propose("x").ok());
  net.Stabilize();
  Raft& leader = net.raft(1);
  auto copy = leader.Clone();
  EXPECT_EQ(copy->StateDigest(), leader.StateDigest());
  EXPECT_EQ(copy->last_index(), leader.last_index());
  ASSERT_TRUE(copy->propose("only-in-copy").ok());
  EXPECT_NE(copy->StateDigest(), leader.StateDigest());
  EXPECT_EQ(copy->last_index(), leader.last_index() + 1);
  // Same inputs, same digest: determinism.
  auto a = leader.Clone();
  auto b = leader.Clone();
  for (int i = 0; i < 7; ++i) {
    a->tick();
    b->tick();
  }
  EXPECT_EQ(a->StateDigest(), b->StateDigest());
  a->tick();
  EXPECT_NE(a->StateDigest(), b->StateDigest());
  // Digests differ between nodes.
  EXPECT_NE(net.raft(2).StateDigest(), net.raft(3).StateDigest());
}

TEST(RaftCore, SameSeedSameHistory) {
  auto run = [] {
    Network net(5, Config{}, 42);
    net.TickAll(40);
    std::vector<uint64_t> d;
    for (NodeId n : net.ids()) d.push_back(net.raft(n).StateDigest());
    return d;
  };
  EXPECT_EQ(run(), run());
}

TEST(RaftCore, EntriesAccessorClamps) {
  Network net(1);
  ASSERT_EQ(net.Elect(1), 1u);
  ASSERT_TRUE(net.Propose("a").ok());
  EXPECT_EQ(net.raft(1).entries(0, 100).size(), 2u);
  EXPECT_EQ(net.raft(1).entries(2, 3).at(0).data, "a");
  EXPECT_TRUE(net.raft(1).entries(5, 9).empty());
}

TEST(RaftCore, TransferToNonVoterOrFromFollowerRefused) {
  Network net(3);
  ASSERT_EQ(net.Elect(1), 1u);
  EXPECT_EQ(net.raft(1).transfer_leader(9).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(net.raft(2).transfer_leader(3).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(net.raft(1).transfer_leader(1).ok());
}

}  // namespace
}  // namespace blixard::raft
