// Properties of the scheduler over random clusters and batches: no node is
// overcommitted, constraints and anti-affinity hold, a VM is left unplaced
// only when no node admits it, spread and binpack choose as defined, and the
// answer is deterministic. Each placement is checked against a brute-force
// evaluation of the definition on the state as it was when that VM's turn
// came.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "scheduler/scheduler.h"
#include "scheduler/test_cluster.h"
#include "state/validation.h"

namespace blixard::scheduler {
namespace {

using testing::TestCluster;

const std::vector<std::string> kConstraintPool = {"zone=a", "zone=b",   "zone!=a",
                                                  "ssd=yes", "ssd!=yes", "zone=c"};

struct NodeGen {
  uint32_t vcpus;
  uint64_t memory_mib;
  std::string zone;
  bool ssd;
  bool ready;
  bool draining;
};

struct VmGen {
  uint32_t vcpus;
  uint64_t memory_mib;
  std::vector<std::string> constraints;
  std::string group;
  std::string strategy;
};

rc::Gen<NodeGen> GenNode() {
  return rc::gen::build<NodeGen>(
      rc::gen::set(&NodeGen::vcpus, rc::gen::inRange<uint32_t>(0, 17)),
      rc::gen::set(&NodeGen::memory_mib,
                   rc::gen::map(rc::gen::inRange<uint64_t>(0, 33), [](uint64_t x) { return x * 256; })),
      rc::gen::set(&NodeGen::zone, rc::gen::element<std::string>("", "a", "b")),
      rc::gen::set(&NodeGen::ssd, rc::gen::arbitrary<bool>()),
      rc::gen::set(&NodeGen::ready, rc::gen::weightedOneOf<bool>({{5, rc::gen::just(true)},
                                                                  {1, rc::gen::just(false)}})),
      rc::gen::set(&NodeGen::draining, rc::gen::weightedOneOf<bool>({{6, rc::gen::just(false)},
                                                                     {1, rc::gen::just(true)}})));
}

rc::Gen<VmGen> GenVm() {
  return rc::gen::build<VmGen>(
      rc::gen::set(&VmGen::vcpus, rc::gen::inRange<uint32_t>(1, 9)),
      rc::gen::set(&VmGen::memory_mib, rc::gen::inRange<uint64_t>(16, 4097)),
      rc::gen::set(&VmGen::constraints,
                   rc::gen::mapcat(rc::gen::inRange<size_t>(0, 3), [](size_t n) {
                     return rc::gen::container<std::vector<std::string>>(
                         n, rc::gen::elementOf(kConstraintPool));
                   })),
      rc::gen::set(&VmGen::group, rc::gen::element<std::string>("", "", "g1", "g2")),
      rc::gen::set(&VmGen::strategy, rc::gen::element<std::string>("", "binpack", "spread")));
}

// What the VMs on node `id` hold, counted from them (not from
// ClusterState::UsageOn, which the scheduler reads): the oracle.
Resources Counted(const state::ClusterState& st, uint64_t id) {
  Resources used;
  for (const v1::Vm* vm : st.VmsOnNode(id)) {
    if (HoldsCapacity(*vm)) used += Demand(vm->spec());
  }
  return used;
}

uint64_t Load(const Resources& used, const Resources& alloc) {
  auto share = [](uint64_t u, uint64_t a) -> uint64_t {
    if (a == 0) return u == 0 ? 0 : (uint64_t{1} << 20);
    return u * (uint64_t{1} << 20) / a;
  };
  return std::max(share(used.vcpus, alloc.vcpus), share(used.memory_mib, alloc.memory_mib));
}

bool Admissible(const state::ClusterState& st, const v1::Vm& vm, const v1::Node& n) {
  if (n.health() != v1::NODE_HEALTH_READY || n.draining()) return false;
  if (n.capacity().vcpus() == 0 && n.capacity().memory_mib() == 0) return false;
  Resources free = Allocatable(n);
  Resources used = Counted(st, n.id());
  if (used.vcpus + vm.spec().vcpus() > free.vcpus ||
      used.memory_mib + vm.spec().memory_mib() > free.memory_mib) {
    return false;
  }
  for (const std::string& text : vm.spec().constraints()) {
    state::Constraint c = *state::ParseConstraint(text);
    auto it = n.labels().find(c.key);
    if ((it != n.labels().end() && it->second == c.value) != c.equal) return false;
  }
  if (!vm.spec().anti_affinity_group().empty()) {
    for (const v1::Vm* other : st.VmsOnNode(n.id())) {
      if (HoldsCapacity(*other) &&
          other->spec().anti_affinity_group() == vm.spec().anti_affinity_group()) {
        return false;
      }
    }
  }
  return true;
}

void CheckNoOvercommitAndAntiAffinity(const state::ClusterState& st) {
  for (const auto& [id, n] : st.nodes()) {
    Resources used = Counted(st, id);
    RC_ASSERT(used.vcpus <= n.capacity().vcpus());
    RC_ASSERT(used.memory_mib <= n.capacity().memory_mib());
    std::set<std::string> groups;
    for (const v1::Vm* vm : st.VmsOnNode(id)) {
      const std::string& g = vm->spec().anti_affinity_group();
      if (HoldsCapacity(*vm) && !g.empty()) RC_ASSERT(groups.insert(g).second);
    }
  }
}

RC_GTEST_PROP(SchedulerProperties, PlacementsFollowTheRulesAndTheStrategy, ()) {
  const auto nodes = *rc::gen::container<std::vector<NodeGen>>(
      *rc::gen::inRange<size_t>(0, 9), GenNode());
  TestCluster c;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeGen& g = nodes[i];
    std::map<std::string, std::string> labels;
    if (!g.zone.empty()) labels["zone"] = g.zone;
    labels["ssd"] = g.ssd ? "yes" : "no";
    c.AddNode(i + 1, g.vcpus, g.memory_mib, labels,
              g.ready ? v1::NODE_HEALTH_READY : v1::NODE_HEALTH_DOWN);
    if (g.draining) c.Apply(state::MakeSetNodeDrain(i + 1, true, 0, 1));
  }
  if (*rc::gen::arbitrary<bool>()) c.Apply(state::MakeSetClusterSetting("scheduler.strategy", "binpack", 1));
  // Two rounds: the second batch lands on nodes the first one filled.
  for (int round = 0; round < 2; ++round) {
    const auto vms = *rc::gen::container<std::vector<VmGen>>(*rc::gen::inRange<size_t>(0, 30), GenVm());
    std::vector<std::string> names;
    for (size_t i = 0; i < vms.size(); ++i) {
      v1::VmSpec s = c.Spec("r" + std::to_string(round) + "-" + std::to_string(i), vms[i].vcpus,
                            vms[i].memory_mib);
      for (const auto& k : vms[i].constraints) s.add_constraints(k);
      s.set_anti_affinity_group(vms[i].group);
      s.set_strategy(vms[i].strategy);
      c.AddVm(s);
      names.push_back(s.name());
    }
    std::vector<const v1::Vm*> batch;
    for (const auto& n : names) batch.push_back(c.st.FindVm(n));
    const Decision d = Schedule(c.st, batch);
    const Decision again = Schedule(c.st, batch);  // deterministic
    RC_ASSERT(d.placements.size() == again.placements.size());
    for (size_t i = 0; i < d.placements.size(); ++i) {
      RC_ASSERT(d.placements[i].name == again.placements[i].name);
      RC_ASSERT(d.placements[i].node_id == again.placements[i].node_id);
    }
    RC_ASSERT(d.placements.size() + d.unplaced.size() == names.size());

    std::map<std::string, uint64_t> chosen;
    for (const auto& p : d.placements) chosen[p.name] = p.node_id;
    const Strategy cluster = ClusterStrategy(c.st);
    // Replay the batch one VM at a time against the definition.
    for (const std::string& name : names) {
      const v1::Vm& vm = *c.st.FindVm(name);
      std::vector<const v1::Node*> ok;
      for (const auto& [id, n] : c.st.nodes()) {
        if (Admissible(c.st, vm, n)) ok.push_back(&n);
      }
      auto it = chosen.find(name);
      if (it == chosen.end()) {
        RC_ASSERT(ok.empty());
        continue;
      }
      const v1::Node* n = c.st.FindNode(it->second);
      RC_ASSERT(n != nullptr);
      RC_ASSERT(Admissible(c.st, vm, *n));
      const Strategy s = StrategyFromName(vm.spec().strategy(), cluster);
      const uint64_t load = Load(Counted(c.st, n->id()), Allocatable(*n));
      for (const v1::Node* o : ok) {
        const uint64_t other = Load(Counted(c.st, o->id()), Allocatable(*o));
        if (s == Strategy::kSpread) {
          RC_ASSERT(load < other || (load == other && n->id() <= o->id()));
        } else {
          RC_ASSERT(load > other || (load == other && n->id() <= o->id()));
        }
      }
      c.Place({{name, n->id(), vm.generation()}});
    }
    CheckNoOvercommitAndAntiAffinity(c.st);
  }
}

}  // namespace
}  // namespace blixard::scheduler
