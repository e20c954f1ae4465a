// The model checker: bounded runs over the real Raft core find nothing, a
// deliberately broken step is caught with a short trace, and state hashing
// identifies equal states.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "mc/explorer.h"

namespace blixard::mc {
namespace {

Report Check(const ModelConfig& cfg, int depth, bool depth_first = true) {
  Model model(cfg);
  Bounds bounds;
  bounds.depth = depth;
  bounds.max_states = 100000000;
  bounds.depth_first = depth_first;
  Report r = Explore(model, bounds);
  std::printf("%s", r.ToString().c_str());
  return r;
}

void Record(const Report& r) {
  ::testing::Test::RecordProperty("distinct_states", std::to_string(r.stats.states));
  ::testing::Test::RecordProperty("depth", r.stats.max_depth);
  ::testing::Test::RecordProperty("cpu_seconds", std::to_string(r.stats.seconds));
}

// Bounds below are tuned so the four exhaustive runs take ~2 minutes of CPU
// together in a RelWithDebInfo build (figures in README.md); deeper runs:
// blixard-mc --depth N.

TEST(ModelCheck, ElectionsAndOneProposalDepth12) {
  ModelConfig cfg;
  cfg.proposals = 1;
  const Report r = Check(cfg, 12);
  Record(r);
  EXPECT_FALSE(r.violation) << r.ToString();
  EXPECT_EQ(r.stats.max_depth, 12);
  EXPECT_FALSE(r.stats.state_limit);
  EXPECT_GT(r.stats.states, 5000000u);
  EXPECT_GE(r.stats.max_commit, 2u) << "the proposal was never committed within the bound";
  EXPECT_GE(r.stats.max_term, 3u);
}

TEST(ModelCheck, CrashRestartDepth11) {
  ModelConfig cfg;
  cfg.proposals = 1;
  cfg.crashes = 1;
  const Report r = Check(cfg, 11);
  Record(r);
  EXPECT_FALSE(r.violation) << r.ToString();
  EXPECT_EQ(r.stats.max_depth, 11);
  EXPECT_GT(r.stats.states, 1000000u);
  EXPECT_GE(r.stats.max_commit, 2u);
}

TEST(ModelCheck, LossyDuplicatingNetworkWithCrashDepth9) {
  ModelConfig cfg;
  cfg.proposals = 1;
  cfg.crashes = 1;
  cfg.drops = 1;
  cfg.dups = 1;
  const Report r = Check(cfg, 9);
  Record(r);
  EXPECT_FALSE(r.violation) << r.ToString();
  EXPECT_EQ(r.stats.max_depth, 9);
  EXPECT_GT(r.stats.states, 1000000u);
  EXPECT_GE(r.stats.max_commit, 1u);
}

TEST(ModelCheck, NoPreVoteNoCheckQuorumTwoProposalsDepth10) {
  ModelConfig cfg;
  cfg.pre_vote = false;
  cfg.check_quorum = false;
  cfg.proposals = 2;
  cfg.crashes = 1;
  const Report r = Check(cfg, 10);
  Record(r);
  EXPECT_FALSE(r.violation) << r.ToString();
  EXPECT_EQ(r.stats.max_depth, 10);
  EXPECT_GT(r.stats.states, 1000000u);
  EXPECT_GE(r.stats.max_commit, 3u) << "both proposals should commit within the bound";
}

// Both strategies must reach exactly the same states: depth-first expands a
// state again when it finds a shorter path to it.
TEST(ModelCheck, DepthFirstAndBreadthFirstAgree) {
  ModelConfig cfg;
  cfg.crashes = 1;
  cfg.drops = 1;
  const Report dfs = Check(cfg, 7, /*depth_first=*/true);
  const Report bfs = Check(cfg, 7, /*depth_first=*/false);
  EXPECT_EQ(dfs.stats.states, bfs.stats.states);
  EXPECT_EQ(dfs.stats.leader_states, bfs.stats.leader_states);
  EXPECT_EQ(dfs.stats.max_depth, bfs.stats.max_depth);
}

// --- The checker bites -----------------------------------------------------

// A disk that loses the vote it acknowledged (a lying fsync): after a
// crash-restart the node votes again in the same term, so two leaders are
// elected in one term.
TEST(ModelCheckBites, ForgottenVoteGivesTwoLeadersInATerm) {
  ModelConfig cfg;
  cfg.pre_vote = false;
  cfg.check_quorum = false;
  cfg.proposals = 0;
  cfg.crashes = 1;
  Model model(cfg);
  model.inject = [](State& s, NodeId id) {
    const Durable& disk = *s.nodes[id - 1].disk;
    if (disk.hard_state.vote == raft::kNoNode || disk.hard_state.vote == id) return false;
    auto lossy = std::make_shared<Durable>(disk);
    lossy->hard_state.vote = raft::kNoNode;
    s.nodes[id - 1].disk = std::move(lossy);
    return true;
  };
  Bounds bounds;
  bounds.depth = 10;
  const Report r = Explore(model, bounds);
  std::printf("%s", r.ToString().c_str());
  ASSERT_TRUE(r.violation);
  EXPECT_NE(r.violation->property.find("election safety"), std::string::npos) << r.violation->property;
  // timeout, vote, vote response (leader 1), lose the vote, crash-restart,
  // timeout, vote, vote response (leader 2): 8 steps, and BFS finds no shorter.
  EXPECT_EQ(r.violation->path.size(), 8u) << r.ToString();
  EXPECT_NE(r.ToString().find("inject node"), std::string::npos);
  // The trace replays to the same violation.
  State end;
  const Status replayed = Replay(model, r.violation->path, nullptr, &end);
  EXPECT_EQ(replayed.message(), r.violation->property);
}

// A state machine that applied something else than what was committed.
TEST(ModelCheckBites, CorruptedAppliedEntryIsReported) {
  ModelConfig cfg;
  cfg.pre_vote = false;
  cfg.check_quorum = false;
  cfg.proposals = 0;
  Model model(cfg);
  model.inject = [](State& s, NodeId id) {
    auto& applied = s.nodes[id - 1].applied;
    if (applied.empty()) return false;
    applied.back().hash ^= 1;
    return true;
  };
  Bounds bounds;
  bounds.depth = 8;
  const Report r = Explore(model, bounds);
  std::printf("%s", r.ToString().c_str());
  ASSERT_TRUE(r.violation);
  EXPECT_NE(r.violation->property.find("state machine safety"), std::string::npos) << r.violation->property;
  // Elect (3 steps), replicate the leader's no-op and hear back (2): it
  // commits and applies; then the corruption.
  EXPECT_EQ(r.violation->path.size(), 6u) << r.ToString();
}

// --- State hashing ------------------------------------------------------------

State After(const Model& model, const std::vector<Transition>& path) {
  State end;
  EXPECT_TRUE(Replay(model, path, nullptr, &end).ok());
  return end;
}

TEST(ModelHash, SameStateThroughTwoPathsHashesEqual) {
  Model model{ModelConfig{}};
  const Transition t1{Kind::kTimeout, 1, 0};
  const Transition t2{Kind::kTimeout, 2, 0};
  const State a = After(model, {t1, t2});
  const State b = After(model, {t2, t1});
  EXPECT_EQ(model.Hash(a), model.Hash(b));
  EXPECT_EQ(a.net_hash, b.net_hash);  // the network is canonical
  EXPECT_EQ(a.core(1).StateDigest(), b.core(1).StateDigest());

  // Different states hash differently.
  EXPECT_NE(model.Hash(After(model, {t1})), model.Hash(After(model, {t2})));
  EXPECT_NE(model.Hash(After(model, {t1})), model.Hash(model.Initial()));
  // Deterministic: replaying a path gives the same state again.
  EXPECT_EQ(model.Hash(After(model, {t1})), model.Hash(After(model, {t1})));
}

TEST(ModelHash, DeliveryOrderOfIndependentMessagesDoesNotMatter) {
  ModelConfig cfg;
  cfg.pre_vote = false;
  Model model(cfg);
  // Node 1 campaigns: one vote request to each of 2 and 3.
  const State s = After(model, {{Kind::kTimeout, 1, 0}});
  ASSERT_EQ(s.net.size(), 2u);
  const Transition to2{Kind::kDeliver, s.net[0].to, s.net_hash[0]};
  const Transition to3{Kind::kDeliver, s.net[1].to, s.net_hash[1]};
  State a1, a2, b1, b2;
  ASSERT_TRUE(model.Apply(s, to2, &a1).ok());
  ASSERT_TRUE(model.Apply(a1, to3, &a2).ok());
  ASSERT_TRUE(model.Apply(s, to3, &b1).ok());
  ASSERT_TRUE(model.Apply(b1, to2, &b2).ok());
  EXPECT_EQ(model.Hash(a2), model.Hash(b2));
  EXPECT_NE(model.Hash(a1), model.Hash(b1));
  // Copy-on-write: applying to a state never changed it.
  EXPECT_EQ(model.Hash(s), model.Hash(After(model, {{Kind::kTimeout, 1, 0}})));
}

}  // namespace
}  // namespace blixard::mc
