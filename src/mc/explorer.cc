#include "mc/explorer.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <unordered_set>
#include <utility>

namespace blixard::mc {
namespace {

double CpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// Hashes are already well mixed.
struct Identity {
  size_t operator()(uint64_t h) const { return static_cast<size_t>(h); }
};

// How a state was first reached: enough to rebuild its path.
struct Origin {
  uint32_t parent;
  Transition via;
};

std::vector<Transition> PathTo(const std::vector<Origin>& origins, uint32_t id) {
  std::vector<Transition> path;
  for (; id != 0; id = origins[id].parent) path.push_back(origins[id].via);
  std::reverse(path.begin(), path.end());
  return path;
}

}  // namespace

Status Replay(const Model& model, const std::vector<Transition>& path, std::vector<std::string>* trace,
              State* end) {
  State s = model.Initial();
  for (size_t i = 0; i < path.size(); ++i) {
    std::string line = std::to_string(i + 1) + ". " + model.Describe(s, path[i]);
    State next;
    Status st = model.Apply(s, path[i], &next);
    s = std::move(next);
    if (trace) trace->push_back(line + "\n     => " + model.Summary(s));
    if (!st.ok()) {
      if (end) *end = std::move(s);
      return st;
    }
  }
  if (end) *end = std::move(s);
  return Status::Ok();
}

Report Explore(const Model& model, const Bounds& bounds) {
  Report report;
  Stats& stats = report.stats;
  const double start = CpuSeconds();

  std::unordered_set<uint64_t, Identity> seen;
  std::vector<Origin> origins{{0, {}}};
  std::vector<std::pair<State, uint32_t>> frontier, next;
  {
    State init = model.Initial();
    seen.insert(model.Hash(init));
    frontier.emplace_back(std::move(init), 0);
  }
  bool stop = false;
  for (int depth = 0; depth < bounds.depth && !frontier.empty() && !stop; ++depth) {
    for (auto& [state, id] : frontier) {
      if (stop) break;
      for (const Transition& t : model.Successors(state)) {
        State after;
        ++stats.transitions;
        Status st = model.Apply(state, t, &after);
        if (!st.ok()) {
          Violation v;
          v.property = st.message();
          v.path = PathTo(origins, id);
          v.path.push_back(t);
          (void)Replay(model, v.path, &v.trace);
          report.violation = std::move(v);
          stats.max_depth = std::max(stats.max_depth, depth + 1);
          stop = true;
          break;
        }
        if (!seen.insert(model.Hash(after)).second) continue;
        if (seen.size() > bounds.max_states) {
          stats.state_limit = true;
          stop = true;
          break;
        }
        origins.push_back({id, t});
        next.emplace_back(std::move(after), static_cast<uint32_t>(origins.size() - 1));
        stats.max_depth = depth + 1;
      }
      state = State();  // expanded: free its cores early
    }
    frontier.swap(next);
    next.clear();
  }
  stats.exhausted = !stop && frontier.empty();
  stats.states = std::min<uint64_t>(seen.size(), bounds.max_states);
  stats.seconds = CpuSeconds() - start;
  return report;
}

std::string Report::ToString() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "distinct states: %llu\ntransitions: %llu\nmax depth reached: %d%s\ncpu seconds: %.2f\n"
                "states/s: %.0f\nviolations: %d\n",
                static_cast<unsigned long long>(stats.states), static_cast<unsigned long long>(stats.transitions),
                stats.max_depth,
                stats.exhausted ? " (state space exhausted)" : stats.state_limit ? " (stopped at --max-states)" : "",
                stats.seconds, stats.states_per_second(), violation ? 1 : 0);
  std::string out = buf;
  if (violation) {
    out += "VIOLATION: " + violation->property + "\nshortest trace (" + std::to_string(violation->path.size()) +
           " transitions):\n";
    for (const std::string& line : violation->trace) out += "  " + line + "\n";
  }
  return out;
}

}  // namespace blixard::mc
