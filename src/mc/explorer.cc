#include "mc/explorer.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <utility>

namespace blixard::mc {
namespace {

double CpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

// Visited states: open addressing on the (already well mixed) state hash,
// with the smallest depth the state was reached at. 10 bytes a slot, at
// most half the slots used.
class Visited {
 public:
  enum class Seen { kNew, kShallower, kAlready };
  Visited() { Resize(1 << 16); }
  // Records `h` at `depth`: kNew the first time, kShallower when `depth` is
  // smaller than recorded (the state must be expanded again), else kAlready.
  Seen Insert(uint64_t h, int depth) {
    if (h == 0) h = 1;  // 0 marks an empty slot
    if (2 * (size_ + 1) > keys_.size()) Resize(keys_.size() * 2);
    size_t i = Find(h);
    if (keys_[i] == 0) {
      keys_[i] = h;
      depth_[i] = static_cast<uint16_t>(depth);
      ++size_;
      return Seen::kNew;
    }
    if (depth < depth_[i]) {
      depth_[i] = static_cast<uint16_t>(depth);
      return Seen::kShallower;
    }
    return Seen::kAlready;
  }
  uint64_t size() const { return size_; }
  int max_depth() const {
    int d = 0;
    for (size_t i = 0; i < keys_.size(); ++i) {
      if (keys_[i] != 0) d = std::max<int>(d, depth_[i]);
    }
    return d;
  }

 private:
  size_t Find(uint64_t h) const {
    size_t i = static_cast<size_t>(h) & (keys_.size() - 1);
    while (keys_[i] != 0 && keys_[i] != h) i = (i + 1) & (keys_.size() - 1);
    return i;
  }
  void Resize(size_t n) {
    std::vector<uint64_t> keys(n, 0);
    std::vector<uint16_t> depth(n, 0);
    keys.swap(keys_);
    depth.swap(depth_);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == 0) continue;
      const size_t j = Find(keys[i]);
      keys_[j] = keys[i];
      depth_[j] = depth[i];
    }
  }
  std::vector<uint64_t> keys_;
  std::vector<uint16_t> depth_;
  uint64_t size_ = 0;
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

void Cover(const State& s, Stats* stats) {
  bool leader = false;
  for (NodeId id = 1; id <= kNodes; ++id) {
    const raft::Raft& r = s.core(id);
    leader = leader || r.role() == raft::Role::kLeader;
    stats->max_term = std::max(stats->max_term, r.term());
    stats->max_commit = std::max(stats->max_commit, r.commit_index());
  }
  stats->leader_states += leader ? 1 : 0;
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

namespace {

Violation MakeViolation(const Model& model, const Status& st, std::vector<Transition> path) {
  Violation v;
  v.property = st.message();
  v.path = std::move(path);
  (void)Replay(model, v.path, &v.trace);
  return v;
}

void BreadthFirst(const Model& model, const Bounds& bounds, Report* report) {
  Stats& stats = report->stats;
  Visited seen;
  std::vector<Origin> origins{{0, {}}};
  std::vector<std::pair<State, uint32_t>> frontier, next;
  {
    State init = model.Initial();
    seen.Insert(model.Hash(init), 0);
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
          std::vector<Transition> path = PathTo(origins, id);
          path.push_back(t);
          report->violation = MakeViolation(model, st, std::move(path));
          stats.max_depth = std::max(stats.max_depth, depth + 1);
          stop = true;
          break;
        }
        if (seen.Insert(model.Hash(after), depth + 1) != Visited::Seen::kNew) continue;
        if (seen.size() > bounds.max_states) {
          stats.state_limit = true;
          stop = true;
          break;
        }
        Cover(after, &stats);
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
}

class DepthFirst {
 public:
  DepthFirst(const Model& model, const Bounds& bounds, Report* report)
      : model_(model), bounds_(bounds), report_(report) {}

  void Run() {
    State init = model_.Initial();
    seen_.Insert(model_.Hash(init), 0);
    Visit(init, 0);
    Stats& stats = report_->stats;
    stats.states = std::min<uint64_t>(seen_.size(), bounds_.max_states);
    stats.max_depth = seen_.max_depth();
    stats.exhausted = !stop_ && !cut_;
  }

 private:
  void Visit(const State& s, int depth) {
    if (depth == bounds_.depth) {
      cut_ = true;
      return;
    }
    Stats& stats = report_->stats;
    for (const Transition& t : model_.Successors(s)) {
      State after;
      ++stats.transitions;
      Status st = model_.Apply(s, t, &after);
      path_.push_back(t);
      if (!st.ok()) {
        report_->violation = MakeViolation(model_, st, path_);
        stop_ = true;
        return;
      }
      const Visited::Seen seen = seen_.Insert(model_.Hash(after), depth + 1);
      if (seen == Visited::Seen::kNew) {
        if (seen_.size() > bounds_.max_states) {
          stats.state_limit = true;
          stop_ = true;
          return;
        }
        Cover(after, &stats);
      }
      if (seen != Visited::Seen::kAlready) Visit(after, depth + 1);
      if (stop_) return;
      path_.pop_back();
    }
  }

  const Model& model_;
  const Bounds& bounds_;
  Report* report_;
  Visited seen_;
  std::vector<Transition> path_;
  bool stop_ = false;
  bool cut_ = false;  // some state sat at the depth bound (its successors unexplored)
};

}  // namespace

Report Explore(const Model& model, const Bounds& bounds) {
  Report report;
  const double start = CpuSeconds();
  if (bounds.depth_first) {
    DepthFirst(model, bounds, &report).Run();
    if (report.violation) {
      // Shorten the trace: breadth-first up to the violation's depth.
      Bounds shorter = bounds;
      shorter.depth = static_cast<int>(report.violation->path.size());
      Report bfs;
      BreadthFirst(model, shorter, &bfs);
      if (bfs.violation) report.violation = std::move(bfs.violation);
    }
  } else {
    BreadthFirst(model, bounds, &report);
  }
  report.stats.seconds = CpuSeconds() - start;
  return report;
}

std::string Report::ToString() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "distinct states: %llu\ntransitions: %llu\nmax depth reached: %d%s\ncpu seconds: %.2f\n"
                "states/s: %.0f\ncoverage: %llu states with a leader, max term %llu, max commit index %llu\n"
                "violations: %d\n",
                static_cast<unsigned long long>(stats.states), static_cast<unsigned long long>(stats.transitions),
                stats.max_depth,
                stats.exhausted ? " (state space exhausted)" : stats.state_limit ? " (stopped at --max-states)" : "",
                stats.seconds, stats.states_per_second(), static_cast<unsigned long long>(stats.leader_states),
                static_cast<unsigned long long>(stats.max_term), static_cast<unsigned long long>(stats.max_commit),
                violation ? 1 : 0);
  std::string out = buf;
  if (violation) {
    out += "VIOLATION: " + violation->property + "\nshortest trace (" + std::to_string(violation->path.size()) +
           " transitions):\n";
    for (const std::string& line : violation->trace) out += "  " + line + "\n";
  }
  return out;
}

}  // namespace blixard::mc
