// blixard-mc: bounded exhaustive model checking of the Raft core (README.md).
//   blixard-mc --depth 12 --proposals 1 --crashes 1
// Prints the figures and "violations: N"; on a violation, the shortest trace,
// and exits 1.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "mc/explorer.h"

int main(int argc, char** argv) {
  blixard::mc::ModelConfig cfg;
  blixard::mc::Bounds bounds;
  bool no_pre_vote = false, no_check_quorum = false, bfs = false;
  CLI::App app{"Bounded exhaustive model checker for the Blixard Raft core (3 nodes)"};
  app.add_option("--depth", bounds.depth, "transitions from the initial state")->capture_default_str();
  app.add_option("--max-states", bounds.max_states, "distinct states before stopping")->capture_default_str();
  app.add_option("--proposals", cfg.proposals, "client proposals per path")->capture_default_str();
  app.add_option("--crashes", cfg.crashes, "crash-restarts per path")->capture_default_str();
  app.add_flag("--drops{1}", cfg.drops, "allow message loss (--drops=N: N per path)");
  app.add_flag("--dups{1}", cfg.dups, "allow duplicate delivery (--dups=N: N per path)");
  app.add_option("--election-tick", cfg.election_tick)->capture_default_str();
  app.add_option("--heartbeat-tick", cfg.heartbeat_tick)->capture_default_str();
  app.add_flag("--bfs", bfs, "breadth-first (memory: a whole level of states) instead of depth-first");
  app.add_flag("--no-pre-vote", no_pre_vote);
  app.add_flag("--no-check-quorum", no_check_quorum);
  CLI11_PARSE(app, argc, argv);
  cfg.pre_vote = !no_pre_vote;
  cfg.check_quorum = !no_check_quorum;
  bounds.depth_first = !bfs;

  std::printf("model: 3 voters, depth<=%d, max-states=%llu, proposals=%d, crashes=%d, drops=%d, dups=%d, "
              "election_tick=%d, heartbeat_tick=%d, pre_vote=%s, check_quorum=%s, %s\n",
              bounds.depth, static_cast<unsigned long long>(bounds.max_states), cfg.proposals, cfg.crashes,
              cfg.drops, cfg.dups, cfg.election_tick, cfg.heartbeat_tick, cfg.pre_vote ? "on" : "off",
              cfg.check_quorum ? "on" : "off", bounds.depth_first ? "depth-first" : "breadth-first");
  blixard::mc::Model model(cfg);
  const blixard::mc::Report report = blixard::mc::Explore(model, bounds);
  std::fputs(report.ToString().c_str(), stdout);
  return report.violation ? 1 : 0;
}
