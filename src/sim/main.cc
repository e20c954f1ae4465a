// blixard-sim: runs the deterministic simulator over one seed or a sweep.
//   blixard-sim --seed 42 --verbose           replay one seed, every event printed
//   blixard-sim --seed 1 --seeds 10000        sweep seeds 1..10000
// Prints one digest line per seed and a summary; exits 1 if any seed failed.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "sim/simulator.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: blixard-sim [--seed S] [--seeds N] [--nodes 3|5|7] [--virtual-seconds T]\n"
               "                   [--faults all|none|net,partition,crash,pause,disk,membership,transfer]\n"
               "                   [--clients C] [--vms] [--workers W] [--max-voters N] [--verbose] [--keep-going]\n"
               "                   [--inject-bug ack-on-propose|local-read|lying-disk|no-fence|no-capacity-refusal|\n"
               "                                 no-drain-moves|no-anti-affinity|worker-no-fence|no-voter-promotion|\n"
               "                                 forward-gives-up]\n");
}

bool ParseU64(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return false;
  *out = v;
  return true;
}

blixard::sim::Time Percentile(std::vector<blixard::sim::Time> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  using namespace blixard::sim;
  SimConfig base;
  uint64_t seeds = 1;
  bool keep_going = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&](uint64_t* out) {
      if (i + 1 >= argc || !ParseU64(argv[i + 1], out)) {
        std::fprintf(stderr, "%s needs a non-negative integer\n", a.c_str());
        std::exit(2);
      }
      ++i;
    };
    uint64_t v = 0;
    if (a == "--seed") {
      value(&base.seed);
    } else if (a == "--seeds") {
      value(&seeds);
    } else if (a == "--nodes") {
      value(&v);
      if (v != 3 && v != 5 && v != 7) {
        std::fprintf(stderr, "--nodes must be 3, 5 or 7\n");
        return 2;
      }
      base.nodes = static_cast<int>(v);
    } else if (a == "--virtual-seconds") {
      value(&v);
      base.duration_ms = static_cast<Time>(v) * 1000;
    } else if (a == "--clients") {
      value(&v);
      base.clients = static_cast<int>(std::max<uint64_t>(v, 1));
    } else if (a == "--faults") {
      if (i + 1 >= argc) {
        Usage();
        return 2;
      }
      auto f = ParseFaults(argv[++i]);
      if (!f.ok()) {
        std::fprintf(stderr, "%s\n", f.status().message().c_str());
        return 2;
      }
      base.faults = *f;
    } else if (a == "--verbose" || a == "-v") {
      base.verbose = true;
      base.out = &std::cout;
    } else if (a == "--inject-bug") {
      // Proves the checks bite: a deliberately broken node.
      auto bug = ParseBug(i + 1 < argc ? argv[++i] : "");
      if (!bug.ok()) {
        std::fprintf(stderr, "%s\n", bug.status().message().c_str());
        return 2;
      }
      base.bug = *bug;
    } else if (a == "--max-voters") {
      value(&v);
      if (v < 1 || v > 7) {
        std::fprintf(stderr, "--max-voters must be 1-7 (the rest of --nodes start as learners)\n");
        return 2;
      }
      base.max_voters = static_cast<int>(v);
    } else if (a == "--workers") {
      value(&v);
      if (v > 10000) {
        std::fprintf(stderr, "--workers must be at most 10000\n");
        return 2;
      }
      base.workers = static_cast<int>(v);  // implies --vms (src/sim/workers.h)
    } else if (a == "--vms") {
      base.vms = true;  // the VM workload: agents, liveness, fencing (src/sim/vms.h)
    } else if (a == "--keep-going") {
      keep_going = true;
    } else if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      Usage();
      return 2;
    }
  }

  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  std::vector<Time> elections, clean_elections;
  uint64_t failures = 0, ran = 0;
  uint64_t vm_starts = 0, worker_vm_starts = 0;
  uint64_t writes = 0, reads = 0, crashes = 0, snapshots = 0, conf_changes = 0, unknown = 0;
  uint64_t forwarded = 0, retried = 0, relayed = 0, relay_refused = 0;
  Time virtual_total = 0;
  for (uint64_t k = 0; k < seeds; ++k) {
    SimConfig c = base;
    c.seed = base.seed + k;
    const SimResult r = RunSimulation(c);
    ++ran;
    virtual_total += r.virtual_ms;
    elections.insert(elections.end(), r.election_ms.begin(), r.election_ms.end());
    clean_elections.insert(clean_elections.end(), r.election_clean_ms.begin(), r.election_clean_ms.end());
    writes += r.writes_ok;
    vm_starts += r.vm_starts;
    worker_vm_starts += r.worker_vm_starts;
    unknown += r.writes_unknown;
    forwarded += r.writes_forwarded;
    retried += r.writes_retried;
    relayed += r.heartbeats_passed_on;
    relay_refused += r.heartbeats_refused_busy;
    reads += r.reads_ok;
    crashes += r.crashes;
    snapshots += r.snapshots_sent;
    conf_changes += r.conf_changes;
    std::printf("seed=%llu nodes=%d%s digest=%s committed=%llu elections=%llu%s\n",
                static_cast<unsigned long long>(c.seed), c.nodes,
                c.workers > 0 ? (" workers=" + std::to_string(c.workers)).c_str() : "", r.DigestHex().c_str(),
                static_cast<unsigned long long>(r.committed), static_cast<unsigned long long>(r.elections),
                r.ok ? "" : " FAILED");
    if (c.verbose) {
      std::printf(
          "stats: events=%llu virtual=%lldms writes ok=%llu failed=%llu unknown=%llu reads ok=%llu crashes=%llu "
          "snapshots-sent=%llu conf-changes=%llu vm-starts=%llu (on workers %llu)\n",
          static_cast<unsigned long long>(r.events), static_cast<long long>(r.virtual_ms),
          static_cast<unsigned long long>(r.writes_ok), static_cast<unsigned long long>(r.writes_failed),
          static_cast<unsigned long long>(r.writes_unknown), static_cast<unsigned long long>(r.reads_ok),
          static_cast<unsigned long long>(r.crashes), static_cast<unsigned long long>(r.snapshots_sent),
          static_cast<unsigned long long>(r.conf_changes), static_cast<unsigned long long>(r.vm_starts),
          static_cast<unsigned long long>(r.worker_vm_starts));
    }
    if (!r.ok) {
      ++failures;
      std::fputs(r.failure.c_str(), stdout);
      if (!keep_going) break;
    }
    std::fflush(stdout);
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double cpu_s = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf(
      "summary: seeds=%llu failed=%llu wall=%.2fs cpu=%.2fs seeds/s=%.1f virtual:wall=%.0f:1 "
      "election (leader crash -> new leader commits) p50=%lldms p99=%lldms n=%zu; "
      "with the rest healthy p50=%lldms p99=%lldms n=%zu\n",
      static_cast<unsigned long long>(ran), static_cast<unsigned long long>(failures), wall_s, cpu_s,
      wall_s > 0 ? static_cast<double>(ran) / wall_s : 0.0,
      wall_s > 0 ? static_cast<double>(virtual_total) / 1000.0 / wall_s : 0.0,
      static_cast<long long>(Percentile(elections, 0.50)), static_cast<long long>(Percentile(elections, 0.99)),
      elections.size(), static_cast<long long>(Percentile(clean_elections, 0.50)),
      static_cast<long long>(Percentile(clean_elections, 0.99)), clean_elections.size());
  std::printf("totals: acknowledged writes=%llu (unknown %llu; forwarded %llu, tried again %llu) reads=%llu "
              "crashes=%llu snapshots sent=%llu membership changes=%llu vm starts=%llu (on workers %llu)\n",
              static_cast<unsigned long long>(writes), static_cast<unsigned long long>(unknown),
              static_cast<unsigned long long>(forwarded), static_cast<unsigned long long>(retried),
              static_cast<unsigned long long>(reads), static_cast<unsigned long long>(crashes),
              static_cast<unsigned long long>(snapshots), static_cast<unsigned long long>(conf_changes),
              static_cast<unsigned long long>(vm_starts), static_cast<unsigned long long>(worker_vm_starts));
  if (base.workers > 0) {
    std::printf("workers' heartbeats passed on by followers=%llu (refused at the cap %llu)\n",
                static_cast<unsigned long long>(relayed), static_cast<unsigned long long>(relay_refused));
  }
  return failures == 0 ? 0 : 1;
}
