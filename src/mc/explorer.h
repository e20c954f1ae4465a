// Exhaustive exploration of a Model up to a depth and a distinct-state
// bound. States are pruned by Model::Hash (64 bits; a collision would only
// prune a state, never report a false violation).
//
// Two strategies reach exactly the same states within the depth bound:
// - breadth-first: a violation found has a shortest trace; memory holds a
//   whole level of states (a few KB each), so it suits shallow bounds;
// - depth-first: memory is the visited table (20-50 bytes a state) plus one
//   path; a state reached again at a smaller depth is expanded again, so
//   nothing within the bound is missed. A violation found is then searched
//   for breadth-first up to its depth to report a shortest trace.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mc/model.h"

namespace blixard::mc {

struct Bounds {
  int depth = 8;                 // transitions from the initial state
  uint64_t max_states = 1000000;  // distinct states kept, initial included
  bool depth_first = true;
};

struct Stats {
  uint64_t states = 0;       // distinct states reached (initial included)
  uint64_t transitions = 0;  // transitions applied (revisits included)
  int max_depth = 0;         // depth of the deepest new state
  bool exhausted = false;    // nothing new left within the depth bound
  bool state_limit = false;  // stopped at max_states
  double seconds = 0;        // CPU time
  // Coverage: how far the explored behaviours got.
  uint64_t leader_states = 0;  // states with a leader
  Term max_term = 0;
  Index max_commit = 0;        // highest commit index of any node
  double states_per_second() const { return seconds > 0 ? static_cast<double>(states) / seconds : 0; }
};

struct Violation {
  std::string property;            // what was violated
  std::vector<Transition> path;    // from the initial state
  std::vector<std::string> trace;  // one line per transition, with the state after it
};

struct Report {
  Stats stats;
  std::optional<Violation> violation;
  // Multi-line human summary: the figures, "violations: N", and the trace.
  std::string ToString() const;
};

Report Explore(const Model& model, const Bounds& bounds);

// Replays `path` from the initial state, describing each step; the status of
// the last step that failed (or ok).
Status Replay(const Model& model, const std::vector<Transition>& path, std::vector<std::string>* trace,
              State* end = nullptr);

}  // namespace blixard::mc
