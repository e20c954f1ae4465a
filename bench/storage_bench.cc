// Durable log write throughput of the on-disk stores, side by side: one
// Save() per Raft Ready. LMDB: each Save a synced commit (LMDB fdatasyncs the
// data pages, then the meta page). WAL: each Save one record appended to a
// preallocated segment and one fdatasync. Batch size 1 is a node under light
// load (one entry per Ready); 64 is what batching buys under load.
//
//   storage_bench [--benchmark_filter=...]
// Data goes to a fresh directory under $TMPDIR (default /tmp): point TMPDIR
// at the disk you want to measure.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "storage/log_store.h"
#include "storage/mem_log_store.h"
#include "storage/test_util.h"
#include "storage/wal_log_store.h"

namespace blixard::storage {
namespace {

constexpr size_t kEntryBytes = 256;         // a typical VM command
constexpr raft::Index kCompactEvery = 20000;  // keep the log the size a node would

void RunSaves(benchmark::State& state, LogStore* store) {
  const auto batch = static_cast<raft::Index>(state.range(0));
  const std::string payload(kEntryBytes, 'x');
  raft::Index next = 1;
  raft::Index snap = 0;
  std::vector<raft::Entry> entries(batch);
  for (auto _ : state) {
    for (raft::Index k = 0; k < batch; ++k) {
      entries[k] = raft::Entry{.term = 1, .index = next + k, .type = raft::EntryType::kNormal,
                               .data = payload};
    }
    next += batch;
    Status s = store->Save(raft::HardState{.term = 1, .vote = 1, .commit = next - 1}, entries,
                           nullptr);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    if (next - 1 - snap >= kCompactEvery) {
      state.PauseTiming();
      snap = next - 1 - batch;
      raft::Snapshot sn;
      sn.meta = {.index = snap, .term = 1, .conf = {.voters = {1}, .learners = {}}};
      sn.data = "state";
      if (Status c = store->Compact(sn); !c.ok()) state.SkipWithError(c.ToString().c_str());
      state.ResumeTiming();
    }
  }
  const auto iters = static_cast<double>(state.iterations());
  state.counters["entries/s"] =
      benchmark::Counter(iters * static_cast<double>(batch), benchmark::Counter::kIsRate);
  state.counters["saves/s"] = benchmark::Counter(iters, benchmark::Counter::kIsRate);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(batch * kEntryBytes));
}

void BM_LmdbSave(benchmark::State& state) {
  testing::TempDir dir;
  Result<std::unique_ptr<LogStore>> store = OpenLmdbLogStore(dir.path());
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  RunSaves(state, store->get());
}
BENCHMARK(BM_LmdbSave)->ArgName("entries_per_txn")->Arg(1)->Arg(64)->UseRealTime()->Unit(
    benchmark::kMicrosecond);

void BM_WalSave(benchmark::State& state) {
  testing::TempDir dir;
  Result<std::unique_ptr<LogStore>> store = OpenWalLogStore(dir.path());
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  RunSaves(state, store->get());
}
BENCHMARK(BM_WalSave)->ArgName("entries_per_txn")->Arg(1)->Arg(64)->UseRealTime()->Unit(
    benchmark::kMicrosecond);

// The same calls on the in-memory store: the cost of everything but the disk.
void BM_MemSave(benchmark::State& state) {
  MemLogStore store;
  RunSaves(state, &store);
}
BENCHMARK(BM_MemSave)->ArgName("entries_per_txn")->Arg(1)->Arg(64)->UseRealTime()->Unit(
    benchmark::kMicrosecond);

}  // namespace
}  // namespace blixard::storage

BENCHMARK_MAIN();
