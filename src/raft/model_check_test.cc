// A small explicit-state model check built on Clone() and StateDigest():
// explores every delivery order (and loss) of the messages of two competing
// candidates in a 3-node cluster, plus proposals and ticks, and checks
// election safety and log matching in every reachable state.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <set>

#include "raft/log.h"
#include "raft/raft.h"

namespace blixard::raft {
namespace {

struct World {
  std::vector<std::unique_ptr<Raft>> nodes;  // ids 1..n at positions 0..n-1
  std::vector<Message> net;                  // in flight, any order

  World Clone() const {
    World w;
    for (const auto& n : nodes) w.nodes.push_back(n->Clone());
    w.net = net;
    return w;
  }
  void Drain(size_t i) {
    Raft& r = *nodes[i];
    while (r.has_ready()) {
      Ready rd = r.ready();
      for (auto& m : rd.messages) net.push_back(std::move(m));
      r.advance(rd);
    }
  }
  uint64_t Digest() const {
    uint64_t h = 0;
    for (const auto& n : nodes) h = HashMix(h, n->StateDigest());
    std::multiset<uint64_t> msgs;  // order-insensitive
    for (const Message& m : net) {
      uint64_t x = HashMix(HashMix(HashMix(static_cast<uint64_t>(m.type), m.from), m.to), m.term);
      x = HashMix(HashMix(HashMix(x, m.index), m.log_term), m.commit);
      x = HashMix(HashMix(x, m.reject), m.entries.size());
      msgs.insert(x);
    }
    for (uint64_t x : msgs) h = HashMix(h, x);
    return h;
  }
};

std::string CheckSafety(const World& w) {
  std::map<Term, NodeId> leaders;
  for (const auto& n : w.nodes) {
    if (Status s = n->CheckInvariants(); !s.ok()) return s.ToString();
    if (n->role() != Role::kLeader) continue;
    if (!leaders.emplace(n->term(), n->id()).second) return "two leaders in one term";
  }
  for (size_t a = 0; a < w.nodes.size(); ++a) {
    for (size_t b = a + 1; b < w.nodes.size(); ++b) {
      auto ea = w.nodes[a]->entries(1, 1000);
      auto eb = w.nodes[b]->entries(1, 1000);
      bool matched = false;
      for (size_t k = std::min(ea.size(), eb.size()); k-- > 0;) {
        if (ea[k].term == eb[k].term) matched = true;
        if (matched && !(ea[k] == eb[k])) return "log matching violated";
      }
    }
  }
  return "";
}

TEST(RaftModelCheck, CompetingCandidatesAllInterleavings) {
  World init;
  auto snap = std::make_shared<Snapshot>();
  snap->meta.conf.voters = {1, 2, 3};
  for (NodeId id = 1; id <= 3; ++id) {
    Config c;
    c.id = id;
    c.pre_vote = false;
    c.check_quorum = false;
    c.election_tick = 2;
    init.nodes.push_back(std::make_unique<Raft>(c, PersistentState{{}, snap, {}}));
  }
  init.nodes[0]->campaign();
  init.nodes[1]->campaign();
  for (size_t i = 0; i < 3; ++i) init.Drain(i);

  std::set<uint64_t> seen{init.Digest()};
  std::deque<World> frontier;
  frontier.push_back(std::move(init));
  size_t explored = 0, leaders_seen = 0;
  const size_t kMaxStates = 10000;
  while (!frontier.empty() && explored < kMaxStates) {
    World w = std::move(frontier.front());
    frontier.pop_front();
    ++explored;
    std::vector<World> next;
    for (size_t k = 0; k < w.net.size(); ++k) {
      World deliver = w.Clone();  // deliver message k
      Message m = deliver.net[k];
      deliver.net.erase(deliver.net.begin() + static_cast<std::ptrdiff_t>(k));
      World lose = deliver.Clone();  // or lose it
      (void)deliver.nodes[m.to - 1]->step(m);
      deliver.Drain(m.to - 1);
      next.push_back(std::move(deliver));
      next.push_back(std::move(lose));
    }
    for (size_t i = 0; i < 3; ++i) {
      World t = w.Clone();
      t.nodes[i]->tick();
      t.Drain(i);
      next.push_back(std::move(t));
      if (w.nodes[i]->role() == Role::kLeader) {
        World p = w.Clone();
        ASSERT_TRUE(p.nodes[i]->propose("x").ok());
        p.Drain(i);
        next.push_back(std::move(p));
        ++leaders_seen;
      }
    }
    for (World& n : next) {
      // Bound the search: a few terms, a short log, a small network.
      bool small = n.net.size() <= 6;
      for (const auto& r : n.nodes) small = small && r->term() <= 3 && r->last_index() <= 3;
      if (!small || !seen.insert(n.Digest()).second) continue;
      const std::string err = CheckSafety(n);
      ASSERT_EQ(err, "") << "after " << explored << " states";
      frontier.push_back(std::move(n));
    }
  }
  EXPECT_GT(explored, 1000u);
  EXPECT_GT(leaders_seen, 0u);
}

}  // namespace
}  // namespace blixard::raft
