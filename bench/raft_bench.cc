// Micro benchmarks of the Raft core alone (no I/O): how many proposals per
// second the state machine itself can commit, so the node's overheads
// (storage fsync, gRPC) can be compared against it.
#include <benchmark/benchmark.h>

#include "raft/testing/network.h"

namespace blixard::raft {
namespace {
using testing::Network;

// One voter: propose, ready, advance (the core's per-entry cost).
void BM_SingleNodeProposeCommit(benchmark::State& state) {
  Network net(1);
  net.check_invariants = false;
  net.Elect(1);
  const std::string payload(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    auto r = net.raft(1).propose(payload);
    benchmark::DoNotOptimize(r);
    net.Process(1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SingleNodeProposeCommit)->Arg(16)->Arg(1024);

// Three voters over the in-memory network; `range(0)` proposals per round
// trip show the effect of batching.
void BM_ThreeNodeReplicate(benchmark::State& state) {
  Network net(3);
  net.check_invariants = false;
  net.Elect(1);
  const int batch = static_cast<int>(state.range(0));
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) (void)net.raft(1).propose("payload-of-some-bytes");
    net.Process(1);
    net.Stabilize();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_ThreeNodeReplicate)->Arg(1)->Arg(64);

}  // namespace
}  // namespace blixard::raft

BENCHMARK_MAIN();
