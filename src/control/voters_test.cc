#include "control/voters.h"

#include <gtest/gtest.h>

namespace blixard::control {
namespace {

// Three voters, two learners, everyone heard a moment ago and caught up.
VoterView Healthy() {
  VoterView v;
  v.self = 1;
  v.conf.voters = {1, 2, 3};
  v.conf.learners = {4, 5};
  v.commit = 100;
  for (raft::NodeId id : {2, 3, 4, 5}) {
    v.match[id] = 100;
    v.silent_ms[id] = 50;
  }
  v.leader_for_ms = 60'000;
  v.election_ms = 1000;
  v.replace_after_ms = 30'000;
  v.max_voters = 3;
  return v;
}

TEST(VoterController, LeavesAHealthyClusterAlone) { EXPECT_FALSE(NextVoterChange(Healthy())); }

TEST(VoterController, PromotesACaughtUpLearnerWhileVotersAreMissing) {
  VoterView v = Healthy();
  v.conf.voters = {1, 2};
  v.conf.learners = {3, 4};
  v.match[3] = 10;  // far behind: not yet
  auto c = NextVoterChange(v);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, raft::ConfChangeType::kPromote);
  EXPECT_EQ(c->node, 4u);
  v.removing = {4};
  EXPECT_FALSE(NextVoterChange(v));
}

TEST(VoterController, DemotesAVoterLostLongerThanReplaceAfterWhenAStandbyCanTakeItsPlace) {
  VoterView v = Healthy();
  v.silent_ms[3] = 31'000;
  auto c = NextVoterChange(v);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->type, raft::ConfChangeType::kDemote);
  EXPECT_EQ(c->node, 3u);
  // Not when no standby is healthy: the dead voter still counts for quorum size only.
  v.silent_ms[4] = v.silent_ms[5] = 5'000;
  EXPECT_FALSE(NextVoterChange(v));
  // Nor before the leader has led that long (it may not have heard anyone yet).
  v = Healthy();
  v.silent_ms.erase(3);
  v.leader_for_ms = 10'000;
  EXPECT_FALSE(NextVoterChange(v));
  v.leader_for_ms = 40'000;
  EXPECT_EQ(NextVoterChange(v)->node, 3u);
}

}  // namespace
}  // namespace blixard::control
