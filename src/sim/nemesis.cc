#include <string>
#include <vector>

#include "sim/world.h"

namespace blixard::sim::detail {

// ---------------------------------------------------------------- nemesis

bool World::MayTakeDown() {
  size_t voters = 0, down = 0;
  for (const auto& [id, n] : nodes_) {
    if (n->removed) continue;
    ++voters;
    down += !Working(*n);
  }
  // Usually keep a majority working, so the cluster makes progress; now and
  // then take down more, to see that nothing breaks without a quorum.
  return down + 1 <= (voters - 1) / 2 || prng_.OneIn(10);
}

void World::NemesisStep() {
  if (failed() || settling_) return;
  std::vector<void (World::*)()> acts;
  const auto add = [&](uint32_t kind, void (World::*act)(), int weight) {
    if (faults(kind)) acts.insert(acts.end(), weight, act);
  };
  add(kFaultNet, &World::ActNetChaos, 2);
  add(kFaultPartition, &World::ActPartition, 4);
  add(kFaultCrash, &World::ActCrash, 4);
  add(kFaultPause, &World::ActPause, 2);
  add(kFaultDisk, &World::ActDisk, 1);
  add(kFaultMembership, &World::ActMembership, 2);
  add(kFaultTransfer, &World::ActTransfer, 1);
  if (workers_) {
    add(kFaultCrash, &World::ActWorkerCrash, 3);
    add(kFaultPartition, &World::ActWorkerPartition, 3);
  }
  if (acts.empty()) return;
  measure_clean_ = false;  // a fault during a failover: not a clean measurement
  (this->*prng_.Pick(acts))();
  events_.After(prng_.Range(100, nemesis_interval_), [this] { NemesisStep(); });
}

void World::ActNetChaos() {
  NetworkConfig c = net_.config();
  static const std::vector<uint32_t> kDrop = {0, 0, 10, 50, 100, 300};
  static const std::vector<uint32_t> kDup = {0, 0, 10, 50, 100};
  static const std::vector<uint32_t> kLong = {0, 5, 20, 50};
  c.drop_per_mille = prng_.Pick(kDrop);
  c.dup_per_mille = prng_.Pick(kDup);
  c.long_delay_per_mille = prng_.Pick(kLong);
  // Now and then a message surfaces many election timeouts later.
  c.long_delay_max = prng_.OneIn(3) ? 10'000 : 2'000;
  net_.set_config(c);
  Trace(Ev::kNetConfig, c.drop_per_mille, c.dup_per_mille, c.long_delay_per_mille);
  const uint64_t gen = ++net_gen_;
  events_.After(prng_.Range(500, 5000), [this, gen] {
    if (gen != net_gen_ || settling_) return;
    net_.set_config(NetworkConfig{});
    Trace(Ev::kNetConfig, 0, 0, 0);
  });
}

void World::HealServerLinks() {
  if (!workers_) {
    net_.HealAll();
    return;
  }
  net_.UnblockIf([this](Endpoint a, Endpoint b) { return !workers_->IsWorker(a) && !workers_->IsWorker(b); });
}

void World::ActPartition() {
  HealServerLinks();
  const uint64_t gen = ++partition_gen_;
  std::vector<NodeId> m = Members();
  prng_.Shuffle(m);
  const auto mask = [](const std::vector<NodeId>& ids) {
    uint64_t x = 0;
    for (NodeId id : ids) x |= 1ull << (id % 64);
    return x;
  };
  SimNode* leader = Leader();
  const uint64_t kind = prng_.Below(6);
  if (m.size() < 2) return;
  switch (kind) {
    case 0: {  // split into two sides
      const size_t k = static_cast<size_t>(prng_.Range(1, static_cast<int64_t>(m.size()) - 1));
      std::vector<NodeId> a(m.begin(), m.begin() + static_cast<ptrdiff_t>(k)), b(m.begin() + static_cast<ptrdiff_t>(k), m.end());
      for (NodeId x : a)
        for (NodeId y : b) net_.BlockBoth(x, y);
      Trace(Ev::kPartition, 0, 0, mask(a));
      break;
    }
    case 1: {  // the leader alone
      const NodeId l = leader != nullptr ? leader->id : m[0];
      for (NodeId y : m)
        if (y != l) net_.BlockBoth(l, y);
      Trace(Ev::kPartition, 1, l, 0);
      break;
    }
    case 2:
    case 3: {  // one-way: a node (often the leader) can only send, or only receive
      const NodeId x = (leader != nullptr && prng_.OneIn(2)) ? leader->id : m[0];
      for (NodeId y : m) {
        if (y == x) continue;
        if (kind == 2) net_.Block(x, y); else net_.Block(y, x);
      }
      Trace(Ev::kPartition, kind, x, 0);
      break;
    }
    case 4: {  // bridge: m[0] sees everyone, the two halves of the rest do not see each other
      if (m.size() < 3) return;
      const size_t k = 1 + static_cast<size_t>(prng_.Range(1, static_cast<int64_t>(m.size()) - 2));
      for (size_t i = 1; i < k; ++i)
        for (size_t j = k; j < m.size(); ++j) net_.BlockBoth(m[i], m[j]);
      Trace(Ev::kPartition, 4, m[0], mask(std::vector<NodeId>(m.begin() + 1, m.begin() + static_cast<ptrdiff_t>(k))));
      break;
    }
    case 5: {  // a flapping link
      const Time until = events_.now() + prng_.Range(1000, 8000);
      Flap(m[0], m[1], gen, until);
      return;  // healed when flapping stops
    }
  }
  events_.After(prng_.Range(300, 6000), [this, gen] {
    if (gen != partition_gen_ || settling_) return;
    HealServerLinks();
    Trace(Ev::kHeal);
  });
}

void World::Flap(NodeId a, NodeId b, uint64_t gen, Time until) {
  if (gen != partition_gen_ || settling_) return;
  if (events_.now() >= until) {
    net_.UnblockBoth(a, b);
    Trace(Ev::kHeal);
    return;
  }
  const bool cut = !net_.Blocked(a, b);
  if (cut) net_.BlockBoth(a, b); else net_.UnblockBoth(a, b);
  Trace(Ev::kPartition, cut ? 5 : 6, a, (1ull << (a % 64)) | (1ull << (b % 64)));
  events_.After(prng_.Range(30, 600), [this, a, b, gen, until] { Flap(a, b, gen, until); });
}

void World::ActCrash() {
  if (!MayTakeDown()) return;
  SimNode* target = nullptr;
  if (prng_.OneIn(2)) target = Leader();
  if (target == nullptr) {
    std::vector<NodeId> up;
    for (const auto& [id, n] : nodes_)
      if (n->up) up.push_back(id);
    if (up.empty()) return;
    target = Find(prng_.Pick(up));
  }
  if (prng_.OneIn(3)) {
    target->crash_point = static_cast<int>(prng_.Range(1, 4));
    Trace(Ev::kCrashArmed, target->id, static_cast<uint64_t>(target->crash_point));
    return;
  }
  Crash(*target);
  ScheduleRestart(*target, prng_.Range(50, 4000));
}

void World::ActPause() {
  if (!MayTakeDown()) return;
  SimNode* target = nullptr;
  if (prng_.OneIn(2)) target = Leader();
  if (target == nullptr) {
    std::vector<NodeId> ok;
    for (const auto& [id, n] : nodes_)
      if (Working(*n)) ok.push_back(id);
    if (ok.empty()) return;
    target = Find(prng_.Pick(ok));
  }
  target->paused = true;
  const uint64_t gen = ++target->pause_gen;
  const uint64_t inc = target->incarnation;
  const NodeId id = target->id;
  Trace(Ev::kPause, id);
  events_.After(prng_.Range(100, 5000), [this, id, gen, inc] {
    SimNode* n = Find(id);
    if (n == nullptr || !n->up || n->incarnation != inc || n->pause_gen != gen || !n->paused) return;
    n->paused = false;
    std::vector<std::function<void()>> held = std::move(n->held);
    n->held.clear();
    Trace(Ev::kResume, id, held.size());
    for (auto& fn : held) fn();
  });
}

void World::ActDisk() {
  std::vector<NodeId> up;
  for (const auto& [id, n] : nodes_)
    if (n->up) up.push_back(id);
  if (up.empty() || !MayTakeDown()) return;
  SimNode* n = Find(prng_.Pick(up));
  const int64_t after = prng_.Range(0, 5);
  Trace(Ev::kDiskFault, n->id, static_cast<uint64_t>(after));
  n->store->SetFaultHook([left = after]() mutable {
    if (left-- > 0) return Status::Ok();
    return Status::IoError("injected: fsync failed");
  });
}

void World::ActMembership() {
  SimNode* l = Leader();
  if (l == nullptr) return;
  const raft::ConfState conf = l->raft().conf();
  raft::ConfChange cc;
  const size_t voters = conf.voters.size();
  const size_t target = static_cast<size_t>(cfg_.nodes);
  std::vector<NodeId> other_voters;
  for (NodeId v : conf.voters)
    if (v != l->id) other_voters.push_back(v);
  if (prng_.OneIn(12)) {
    // The leader may not remove itself (raft.h): it must refuse.
    cc.node = l->id;
    cc.type = raft::ConfChangeType::kRemove;
    auto r = l->raft().propose_conf_change(cc);
    Trace(Ev::kConfPropose, l->id, static_cast<uint64_t>(cc.type), cc.node, r.ok());
    if (r.ok()) Fail("raft contract", "leader " + std::to_string(l->id) + " accepted its own removal");
    return;
  }
  if (!conf.learners.empty()) {
    cc.node = prng_.Pick(conf.learners);
    cc.type = (voters < 7 && !prng_.OneIn(3)) ? raft::ConfChangeType::kPromote : raft::ConfChangeType::kRemove;
  } else if (voters > 3 && (voters > target || prng_.OneIn(3)) && !other_voters.empty()) {
    cc.node = prng_.Pick(other_voters);
    cc.type = prng_.OneIn(2) ? raft::ConfChangeType::kDemote : raft::ConfChangeType::kRemove;
  } else {
    if (nodes_.size() >= target + 6) return;  // enough fresh ids used
    cc.node = next_node_id_;
    cc.type = raft::ConfChangeType::kAddLearner;
  }
  cc.context = "10.0.0." + std::to_string(cc.node) + ":7001";
  auto r = l->raft().propose_conf_change(cc);
  Trace(Ev::kConfPropose, l->id, static_cast<uint64_t>(cc.type), cc.node, r.ok());
  if (r.ok() && cc.type == raft::ConfChangeType::kAddLearner) {
    Start(AddNode(cc.node, {}));
  }
  AfterInput(*l);
}

void World::ActTransfer() {
  SimNode* l = Leader();
  if (l == nullptr) return;
  std::vector<NodeId> others;
  for (NodeId v : l->raft().conf().voters)
    if (v != l->id) others.push_back(v);
  if (others.empty()) return;
  const NodeId to = prng_.Pick(others);
  Status s = l->raft().transfer_leader(to);
  Trace(Ev::kTransfer, l->id, to, s.ok());
  AfterInput(*l);
}

void World::Settle() {
  settling_ = true;
  Trace(Ev::kSettle);
  ++partition_gen_;
  ++net_gen_;
  net_.HealAll();
  net_.set_config(NetworkConfig{});
  for (const auto& [id, n] : nodes_) {
    if (n->removed) continue;
    n->store->SetFaultHook(nullptr);
    n->crash_point = 0;
    if (!n->up) {
      Start(*n);
    } else if (n->paused) {
      n->paused = false;
      std::vector<std::function<void()>> held = std::move(n->held);
      n->held.clear();
      Trace(Ev::kResume, id, held.size());
      for (auto& fn : held) fn();
    }
    if (failed()) return;
  }
  if (workers_) workers_->Settle();
}

}  // namespace blixard::sim::detail
