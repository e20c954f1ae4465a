// Whole-system benchmark: replicated writes through the real gRPC path into a
// real daemon (LMDB, fsync), and the daemon's memory.
// Prints: writes/s and p50/p99 latency with 1 and 64 requests in flight;
// RSS idle and with 10,000 VM records.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemon.h"

using blixard::testing::Ctx;
using blixard::testing::Spec;
using blixard::testing::TestDaemon;
using Clock = std::chrono::steady_clock;

namespace {

long RssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct RunResult {
  double writes_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  int errors = 0;
};

RunResult Run(TestDaemon& d, int in_flight, int total, const std::string& prefix) {
  std::atomic<int> next{0}, errors{0};
  std::vector<std::vector<double>> lat(in_flight);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < in_flight; ++t) {
    threads.emplace_back([&, t] {
      auto stub = d.Vms();
      while (true) {
        int i = next++;
        if (i >= total) return;
        blixard::v1::CreateVmRequest req;
        *req.mutable_spec() = Spec(prefix + std::to_string(i));
        blixard::v1::CreateVmResponse resp;
        auto t0 = Clock::now();
        if (!stub->CreateVm(Ctx(30).get(), req, &resp).ok()) ++errors;
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  RunResult r;
  r.writes_per_s = total / secs;
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  r.errors = errors;
  return r;
}

}  // namespace

int main() {
  TestDaemon d;
  if (!d.Start()) return 1;
  // Warm up channel and disk.
  Run(d, 4, 200, "warm-");
  long idle_rss = RssKiB(d.child()->pid());
  for (int in_flight : {1, 64}) {
    int total = in_flight == 1 ? 1000 : 5000;
    RunResult r = Run(d, in_flight, total, "w" + std::to_string(in_flight) + "-");
    std::printf("write_bench: in_flight=%d writes=%d writes/s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
                in_flight, total, r.writes_per_s, r.p50_ms, r.p99_ms, r.errors);
  }
  // Bring the record count to 10,000 and measure memory.
  int have = 200 + 1000 + 5000;
  Run(d, 64, 10000 - have, "fill-");
  long full_rss = RssKiB(d.child()->pid());
  std::printf("write_bench: rss_idle_mib=%.1f rss_10000_vms_mib=%.1f\n", idle_rss / 1024.0,
              full_rss / 1024.0);
  return d.Stop() == 0 ? 0 : 1;
}
