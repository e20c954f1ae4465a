#include "scheduler/scheduler.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "state/validation.h"

namespace blixard::scheduler {
namespace {

constexpr uint64_t kLoadScale = uint64_t{1} << 20;  // load 1.0
constexpr size_t kNone = std::numeric_limits<size_t>::max();

uint64_t Share(uint64_t used, uint64_t alloc) {
  if (alloc == 0) return used == 0 ? 0 : kLoadScale;
  return used * kLoadScale / alloc;
}

bool HasCapacity(const v1::Node& n) {
  return n.capacity().vcpus() > 0 || n.capacity().memory_mib() > 0;
}

struct Slot {
  const v1::Node* node = nullptr;
  Resources alloc;
  Resources used;
  std::set<std::string, std::less<>> groups;  // anti-affinity groups present
  uint64_t Load() const {
    return std::max(Share(used.vcpus, alloc.vcpus), Share(used.memory_mib, alloc.memory_mib));
  }
  Resources Free() const {
    Resources f = alloc;
    f -= used;
    return f;
  }
};

// One VM as the filters see it.
struct Request {
  const v1::Vm* vm = nullptr;
  Resources demand;
  std::vector<state::Constraint> constraints;
  const std::string* group = nullptr;  // null: none
  Strategy strategy = Strategy::kSpread;
};

bool ConstraintsHold(const Request& r, const v1::Node& n) {
  for (const state::Constraint& c : r.constraints) {
    auto it = n.labels().find(c.key);
    const bool has = it != n.labels().end() && it->second == c.value;
    if (has != c.equal) return false;
  }
  return true;
}

std::string Join(const std::vector<state::Constraint>& cs) {
  std::string out;
  for (const auto& c : cs) {
    if (!out.empty()) out += ", ";
    out += c.ToString();
  }
  return out;
}

class Batch {
 public:
  Batch(const state::ClusterState& st, const Options& options)
      : st_(st), options_(options) {
    strategy_ = options.default_strategy ? *options.default_strategy : ClusterStrategy(st);
    std::set<uint64_t> excluded(options.exclude_nodes.begin(), options.exclude_nodes.end());
    for (const auto& [id, node] : st.nodes()) {
      if (node.health() != v1::NODE_HEALTH_READY || node.draining() || !HasCapacity(node) ||
          excluded.contains(id)) {
        continue;
      }
      Slot s;
      s.node = &node;
      s.alloc = Allocatable(node);
      s.used = Used(st, id);
      for (const auto& [group, count] : st.UsageOn(id).groups) s.groups.insert(group);
      slots_.push_back(std::move(s));
    }
    for (size_t i = 0; i < slots_.size(); ++i) Index(i);
  }

  void Place(const v1::Vm& vm, Decision& out) {
    Request r;
    r.vm = &vm;
    r.demand = Demand(vm.spec());
    for (const std::string& c : vm.spec().constraints()) {
      // Specs in the state were validated; a constraint that does not parse
      // would match nothing, so it is kept as an impossible one.
      auto parsed = state::ParseConstraint(c);
      r.constraints.push_back(parsed.ok() ? *parsed : state::Constraint{c, "", true});
    }
    if (!vm.spec().anti_affinity_group().empty()) r.group = &vm.spec().anti_affinity_group();
    r.strategy = StrategyFromName(vm.spec().strategy(), strategy_);

    const std::string key = MemoKey(r);
    if (auto it = no_room_.find(key); it != no_room_.end()) {
      out.unplaced.push_back({vm.spec().name(), vm.generation(), it->second});
      return;
    }
    const size_t chosen = r.strategy == Strategy::kSpread ? Pick(r, spread_) : Pick(r, binpack_);
    if (chosen == kNone) {
      std::string reason = Explain(r);
      no_room_.emplace(key, reason);
      out.unplaced.push_back({vm.spec().name(), vm.generation(), std::move(reason)});
      return;
    }
    Slot& s = slots_[chosen];
    Unindex(chosen);
    s.used += r.demand;
    if (r.group) s.groups.insert(*r.group);
    Index(chosen);
    for (PlacementRule* rule : options_.rules) rule->Placed(vm, *s.node);
    out.placements.push_back({vm.spec().name(), s.node->id(), vm.generation()});
  }

 private:
  using LoadIndex = std::set<std::pair<uint64_t, size_t>>;  // (score key, slot); slots by id

  void Index(size_t i) {
    const uint64_t load = slots_[i].Load();
    spread_.emplace(load, i);
    binpack_.emplace(std::numeric_limits<uint64_t>::max() - load, i);
  }
  void Unindex(size_t i) {
    const uint64_t load = slots_[i].Load();
    spread_.erase({load, i});
    binpack_.erase({std::numeric_limits<uint64_t>::max() - load, i});
  }

  std::string MemoKey(const Request& r) const {
    std::string key = std::to_string(r.demand.vcpus) + "/" + std::to_string(r.demand.memory_mib) +
                      "/" + std::to_string(r.demand.disk_mib) + "/" + std::to_string(r.vm->node_id());
    for (const auto& c : r.constraints) key += "|" + c.ToString();
    key += "#";
    if (r.group) key += *r.group;
    for (const PlacementRule* rule : options_.rules) key += "\x1f" + rule->Key(*r.vm);
    return key;
  }

  bool Admits(const Request& r, const Slot& s) const {
    if (s.node->id() == r.vm->node_id()) return false;  // moving: somewhere else
    if (!r.demand.Fits(s.Free())) return false;
    if (!ConstraintsHold(r, *s.node)) return false;
    if (r.group && s.groups.contains(*r.group)) return false;
    for (const PlacementRule* rule : options_.rules) {
      if (!rule->Rejects(*r.vm, *s.node).empty()) return false;
    }
    return true;
  }

  size_t Pick(const Request& r, const LoadIndex& index) const {
    for (const auto& [score, i] : index) {
      if (Admits(r, slots_[i])) return i;
    }
    return kNone;
  }

  // Why no node admits `r`: the first filter that turns every node away.
  std::string Explain(const Request& r) const {
    size_t down = 0, draining = 0, no_capacity = 0;
    for (const auto& [id, n] : st_.nodes()) {
      if (n.health() != v1::NODE_HEALTH_READY) {
        ++down;
      } else if (n.draining()) {
        ++draining;
      } else if (!HasCapacity(n)) {
        ++no_capacity;
      }
    }
    if (st_.nodes().empty()) return "no node is registered yet";
    std::vector<const Slot*> pass;
    for (const Slot& s : slots_) {
      if (s.node->id() != r.vm->node_id()) pass.push_back(&s);
    }
    std::string others;  // nodes no VM may go to now
    auto add = [&others](size_t n, const char* what) {
      if (n == 0) return;
      if (!others.empty()) others += ", ";
      others += std::to_string(n) + " " + what;
    };
    add(down, "not ready");
    add(draining, "draining");
    add(no_capacity, "without a reported capacity");
    if (pass.empty()) {
      return "no node can take it" + (others.empty() ? std::string() : " (" + others + ")");
    }
    auto keep = [&pass](auto pred) {
      std::vector<const Slot*> next;
      for (const Slot* s : pass) {
        if (pred(*s)) next.push_back(s);
      }
      bool emptied = next.empty();
      if (!emptied) pass = std::move(next);
      return emptied;
    };
    if (!r.constraints.empty() &&
        keep([&](const Slot& s) { return ConstraintsHold(r, *s.node); })) {
      return "no ready node matches its constraints (" + Join(r.constraints) + ")" +
             (others.empty() ? std::string() : "; other nodes: " + others);
    }
    const std::string where = r.constraints.empty() ? "a ready node" : "a ready node that matches";
    if (r.group && keep([&](const Slot& s) { return !s.groups.contains(*r.group); })) {
      return "every ready node" + std::string(r.constraints.empty() ? "" : " that matches") +
             " already has a VM of anti-affinity group \"" + *r.group + "\" (" +
             std::to_string(pass.size()) + " nodes)";
    }
    for (const PlacementRule* rule : options_.rules) {
      std::string first;
      if (keep([&](const Slot& s) {
            std::string why = rule->Rejects(*r.vm, *s.node);
            if (first.empty()) first = why;
            return why.empty();
          })) {
        return "no ready node admits it: " + first;
      }
    }
    const Slot *most_cpu = pass.front(), *most_mem = pass.front(), *largest_cpu = pass.front(),
               *largest_mem = pass.front();
    for (const Slot* s : pass) {
      if (s->Free().vcpus > most_cpu->Free().vcpus) most_cpu = s;
      if (s->Free().memory_mib > most_mem->Free().memory_mib) most_mem = s;
      if (s->alloc.vcpus > largest_cpu->alloc.vcpus) largest_cpu = s;
      if (s->alloc.memory_mib > largest_mem->alloc.memory_mib) largest_mem = s;
    }
    auto node = [](const Slot* s) { return "(node " + std::to_string(s->node->id()) + ")"; };
    std::vector<std::string> parts;
    if (r.demand.vcpus > largest_cpu->alloc.vcpus) {
      parts.push_back("needs " + std::to_string(r.demand.vcpus) + " vCPUs; the largest on " + where +
                      " has " + std::to_string(largest_cpu->alloc.vcpus) + " in all " +
                      node(largest_cpu) + ", so it waits for a larger node");
    } else if (r.demand.vcpus > most_cpu->Free().vcpus) {
      parts.push_back("needs " + std::to_string(r.demand.vcpus) + " vCPUs; the most free on " +
                      where + " is " + std::to_string(most_cpu->Free().vcpus) + " " + node(most_cpu));
    }
    if (r.demand.memory_mib > largest_mem->alloc.memory_mib) {
      parts.push_back("needs " + std::to_string(r.demand.memory_mib) + " MiB of memory; the largest on " +
                      where + " has " + std::to_string(largest_mem->alloc.memory_mib) + " MiB in all " +
                      node(largest_mem) + ", so it waits for a larger node");
    } else if (r.demand.memory_mib > most_mem->Free().memory_mib) {
      parts.push_back("needs " + std::to_string(r.demand.memory_mib) + " MiB of memory; the most free on " +
                      where + " is " + std::to_string(most_mem->Free().memory_mib) + " MiB " +
                      node(most_mem));
    }
    if (parts.empty()) {
      return "needs " + std::to_string(r.demand.vcpus) + " vCPUs and " +
             std::to_string(r.demand.memory_mib) + " MiB together; no ready node has both free " +
             "(most vCPUs free: " + std::to_string(most_cpu->Free().vcpus) + " with " +
             std::to_string(most_cpu->Free().memory_mib) + " MiB " + node(most_cpu) + ")";
    }
    std::string out = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) out += "; and " + parts[i];
    return out;
  }

  const state::ClusterState& st_;
  const Options& options_;
  Strategy strategy_ = Strategy::kSpread;
  std::vector<Slot> slots_;  // schedulable nodes, by id
  LoadIndex spread_;         // (load, slot): lowest load first, then lowest id
  LoadIndex binpack_;        // (max - load, slot): highest load first, then lowest id
  std::map<std::string, std::string> no_room_;  // memo key -> reason
};

}  // namespace

Resources& Resources::operator+=(const Resources& o) {
  vcpus += o.vcpus;
  memory_mib += o.memory_mib;
  disk_mib += o.disk_mib;
  return *this;
}

Resources& Resources::operator-=(const Resources& o) {
  vcpus = vcpus > o.vcpus ? vcpus - o.vcpus : 0;
  memory_mib = memory_mib > o.memory_mib ? memory_mib - o.memory_mib : 0;
  disk_mib = disk_mib > o.disk_mib ? disk_mib - o.disk_mib : 0;
  return *this;
}

Strategy StrategyFromName(std::string_view name, Strategy fallback) {
  if (name == state::kStrategyBinpack) return Strategy::kBinpack;
  if (name == state::kStrategySpread) return Strategy::kSpread;
  return fallback;
}

std::string_view StrategyName(Strategy s) {
  return s == Strategy::kBinpack ? state::kStrategyBinpack : state::kStrategySpread;
}

Strategy ClusterStrategy(const state::ClusterState& st) {
  auto it = st.settings().find(state::kSettingSchedulerStrategy);
  return it == st.settings().end() ? Strategy::kSpread
                                   : StrategyFromName(it->second, Strategy::kSpread);
}

Resources Demand(const v1::VmSpec& spec) { return {spec.vcpus(), spec.memory_mib(), 0}; }

Resources Allocatable(const v1::Node& node) {
  return {node.capacity().vcpus(), node.capacity().memory_mib(), node.capacity().disk_mib()};
}

bool HoldsCapacity(const v1::Vm& vm) { return state::HoldsCapacity(vm); }

Resources Used(const state::ClusterState& st, uint64_t node_id) {
  const state::NodeUsage& u = st.UsageOn(node_id);
  return {u.vcpus, u.memory_mib, 0};
}

Decision Schedule(const state::ClusterState& st, const std::vector<const v1::Vm*>& vms,
                  const Options& options) {
  Decision out;
  Batch batch(st, options);
  for (const v1::Vm* vm : vms) batch.Place(*vm, out);
  return out;
}

std::vector<const v1::Vm*> PendingVms(const state::ClusterState& st, size_t limit,
                                      std::string_view after) {
  std::vector<const v1::Vm*> out;
  auto take = [&](const v1::Vm* vm) {
    out.push_back(vm);
    return out.size() < limit;
  };
  if (limit == 0) return out;
  // From `after` to the end, then from the start up to `after`.
  if (!st.ForEachPendingVm(after, {}, take)) return out;
  if (!after.empty()) st.ForEachPendingVm({}, after, take);
  return out;
}

}  // namespace blixard::scheduler
