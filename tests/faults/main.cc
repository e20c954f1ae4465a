// blixard-faults: runs a cluster of real `blixard node` processes in network
// namespaces under a seeded schedule of faults while clients create, delete,
// write and read VM records, then checks what the clients saw.
//
//   blixard-faults --nodes 3 --seed 1 --faults 6        # a short run (ctest)
//   blixard-faults --nodes 5 --duration 900             # faults until 15 min passed
//
// Prints the schedule, each fault as applied and healed (with the time until
// writes succeeded again), then: operations, faults, lost acknowledged
// writes, linearizability violations, availability while faults were active
// and recovery p50/p99. Exit 0 when nothing was found, 1 on a finding (the
// seed and the smallest history around it are printed), 77 when not root.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "faults/checker.h"
#include "faults/cluster.h"
#include "faults/history.h"
#include "faults/nemesis.h"
#include "faults/netns.h"
#include "faults/workload.h"
#include "support/process.h"

namespace blixard::faults {
namespace {

std::atomic<bool> g_interrupted{false};

struct Args {
  int nodes = 3;
  uint64_t seed = 1;
  int faults = 6;
  double duration_s = 0;  // > 0: faults until this much time passed
  int clients = 0;        // 0: two per node
  int min_hold_ms = 1500;
  int max_hold_ms = 4000;
  bool keep = false;
  bool fault_points = true;
  bool stale_reads = false;
  std::vector<std::string> node_args;
};

double Seconds(int64_t us) { return static_cast<double>(us) / 1e6; }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

class Run {
 public:
  explicit Run(const Args& a) : a_(a) {}

  int Main() {
    auto lab = NetnsLab::Create(a_.nodes);
    if (!lab.ok()) {
      std::cerr << "cannot build the test hosts: " << lab.status().ToString() << "\n";
      return 1;
    }
    lab_ = std::move(*lab);
    if (Status s = lab_->EnterClientNamespace(); !s.ok()) {
      std::cerr << s.ToString() << "\n";
      return 1;
    }
    NetCluster::Options co;
    co.nodes = a_.nodes;
    co.dir = dir_.path();
    co.node_args = a_.node_args;
    co.fault_points = a_.fault_points;
    cluster_ = std::make_unique<NetCluster>(*lab_, co);
    int code = Body();
    if (code != 0) {
      for (int id = 1; id <= a_.nodes; ++id) std::cout << cluster_->LogTail(id, 40);
    }
    cluster_.reset();  // nodes gone before their namespaces
    if (a_.keep) {
      // Out of the temp dir's reach, which removes itself.
      const std::string kept = dir_.path() + "-kept";
      std::error_code ec;
      std::filesystem::rename(dir_.path(), kept, ec);
      std::cout << "data dirs and logs kept in " << (ec ? dir_.path() : kept) << "\n";
    }
    return code;
  }

 private:
  void Say(const std::string& line) {
    std::printf("[%7.1f s] %s\n", Seconds(NowUs() - t0_), line.c_str());
    std::fflush(stdout);
  }

  int Fail(const std::string& why) {
    std::printf("FAILED (seed %llu, nodes %d): %s\n", static_cast<unsigned long long>(a_.seed),
                a_.nodes, why.c_str());
    a_.keep = true;
    return 1;
  }

  // Writes succeed again: a create of a fresh name through any node.
  // Returns the time it took, or -1 when none succeeded within `limit`.
  double Probe(int k, milliseconds limit) {
    const int64_t start = NowUs();
    for (int attempt = 0; NowUs() - start < limit.count() * 1000 && !g_interrupted; ++attempt) {
      const int node = attempt % a_.nodes + 1;
      if (workload_->Run(-2, node, OpType::kCreate,
                         "p-" + std::to_string(k) + "-" + std::to_string(attempt), "",
                         cluster_->NewChannel(node)) == Outcome::kOk) {
        return Seconds(NowUs() - start);
      }
      // A node that is down refuses at once: do not spin.
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

  // Every node runs and answers a linearizable read: the cluster is whole.
  // A node that died meanwhile is healed again (restarted; counted
  // unexpected unless a fault point caused it).
  bool WaitHealthy(Nemesis& nemesis, milliseconds limit) {
    return testing::WaitUntil(
        [&] {
          for (int id = 1; id <= a_.nodes; ++id) {
            if (!cluster_->Running(id)) Say("heal again: " + nemesis.Heal());
          }
          for (int id = 1; id <= a_.nodes; ++id) {
            if (!cluster_->Status(id, false, milliseconds(2000))) return false;
          }
          return true;
        },
        limit);
  }

  int Body() {
    std::printf("fault run: nodes=%d seed=%llu %s\n", a_.nodes,
                static_cast<unsigned long long>(a_.seed),
                a_.duration_s > 0 ? ("duration=" + std::to_string(static_cast<int>(a_.duration_s)) + " s").c_str()
                                  : ("faults=" + std::to_string(a_.faults)).c_str());
    std::string error;
    t0_ = NowUs();
    if (!cluster_->Start(&error)) return Fail(error);
    if (cluster_->WaitForLeader(milliseconds(30000)) == 0) return Fail("no leader after start");
    Say("cluster of " + std::to_string(a_.nodes) + " up");

    WorkloadOptions wo;
    wo.clients = a_.clients > 0 ? a_.clients : 2 * a_.nodes;
    wo.seed = a_.seed;
    wo.stale_reads = a_.stale_reads;
    workload_ = std::make_unique<Workload>(*cluster_, history_, wo);
    workload_->Start();
    Nemesis nemesis(*cluster_, *lab_);

    std::vector<double> recovery;
    std::vector<std::pair<int64_t, int64_t>> windows;
    int applied = 0;
    const int64_t end_us = t0_ + static_cast<int64_t>(a_.duration_s * 1e6);
    for (int chunk = 0; !g_interrupted; ++chunk) {
      const int count = a_.duration_s > 0 ? (a_.fault_points ? kAllFaultKinds : kBasicFaultKinds)
                                          : a_.faults;
      std::vector<Fault> schedule =
          PlanSchedule(a_.seed * 7919 + static_cast<uint64_t>(chunk), a_.nodes, count,
                       milliseconds(a_.min_hold_ms), milliseconds(a_.max_hold_ms), a_.fault_points);
      std::string plan = "schedule " + std::to_string(chunk + 1) + ":";
      for (size_t i = 0; i < schedule.size(); ++i) {
        plan += " " + std::to_string(i + 1) + ". " + Describe(schedule[i]) + ";";
      }
      Say(plan);
      for (const Fault& f : schedule) {
        if (g_interrupted || (a_.duration_s > 0 && NowUs() >= end_us)) break;
        const int64_t start = NowUs();
        Say("apply " + Describe(f) + ": " + nemesis.Apply(f));
        nemesis.Hold(f, std::chrono::steady_clock::now() + f.hold);
        const std::string healed = nemesis.Heal();
        const int64_t healed_at = NowUs();
        windows.push_back({start, healed_at});
        ++applied;
        const double r = Probe(applied, milliseconds(60000));
        if (r < 0) return Fail("writes did not succeed within 60 s after healing " + Describe(f));
        recovery.push_back(r);
        char line[160];
        std::snprintf(line, sizeof line, "heal: %s; writes succeed again after %.2f s", healed.c_str(), r);
        Say(line);
        if (!WaitHealthy(nemesis, milliseconds(60000))) return Fail("cluster not whole 60 s after a heal");
      }
      if (a_.duration_s <= 0 || NowUs() >= end_us) break;
      std::string why;
      const int running = VmsRunOnce(&why);
      if (running < 0) return Fail("VMs under faults: " + why);
      Say("after schedule " + std::to_string(chunk + 1) + ": " + std::to_string(running) +
          " VMs that should run, each on exactly one node");
    }
    workload_->Stop();
    Say("workload stopped; checking");
    return Check(applied, recovery, windows, nemesis);
  }

  // Each VM that should run runs on exactly one node, the one it is placed
  // on, and nothing else runs anywhere (what each node's hypervisor reports,
  // against the leader's linearizable records). Waits for the agents to
  // catch up after a heal. Returns how many VMs should run, or -1 (why in
  // *why).
  int VmsRunOnce(std::string* why) {
    int running = -1;
    // A restarted node starts its VMs again one by one (the fake backend's
    // VMs die with their daemon): wait while that makes progress, give up
    // after 60 s without any.
    int best = -1;
    int64_t progress_us = NowUs();
    testing::WaitUntil(
        [&] {
          int placed_right = 0;
          if (VmsCheckOnce(why, &placed_right, &running)) return true;
          if (placed_right > best) {
            best = placed_right;
            progress_us = NowUs();
          }
          return NowUs() - progress_us > 60'000'000;  // stalled
        },
        milliseconds(3'600'000));
    return running;
  }

  // One look: true when every VM runs where it should. *placed_right counts
  // the VMs that already do.
  bool VmsCheckOnce(std::string* why, int* placed_right, int* running) {
    *placed_right = 0;
    int leader = cluster_->WaitForLeader(milliseconds(10000));
    if (leader == 0) {
      *why = "no leader";
      return false;
    }
    v1::ListVmsResponse records;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      if (!v1::VmService::NewStub(cluster_->Channel(leader))->ListVms(&ctx, v1::ListVmsRequest(), &records).ok()) {
        *why = "cannot list VMs";
        return false;
      }
    }
    std::map<std::string, std::set<int>> hosts;  // VM -> nodes running it
    for (int id = 1; id <= a_.nodes; ++id) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::ListHostVmsResponse host;
      if (!v1::VmService::NewStub(cluster_->Channel(id))->ListHostVms(&ctx, v1::ListHostVmsRequest(), &host).ok()) {
        *why = "cannot list what n" + std::to_string(id) + " runs";
        return false;
      }
      for (const auto& vm : host.vms()) {
        if (vm.alive()) hosts[vm.name()].insert(id);
      }
    }
    int should = 0;
    std::string first_wrong;
    for (const auto& vm : records.vms()) {
      const std::string& name = vm.spec().name();
      const bool run = vm.desired_state() == v1::DESIRED_STATE_RUNNING;
      std::set<int> want;
      if (run) want.insert(static_cast<int>(vm.node_id()));
      should += run;
      std::set<int> have = hosts[name];
      hosts.erase(name);
      if (have == want) {
        ++*placed_right;
      } else if (first_wrong.empty()) {
        first_wrong = "vm " + name + " runs on " + std::to_string(have.size()) +
                      " node(s), placed on n" + std::to_string(vm.node_id()) +
                      (run ? ", should run" : ", should not run");
      }
    }
    if (!first_wrong.empty()) {
      *why = first_wrong + " (" + std::to_string(records.vms_size() - *placed_right) + " VMs not yet right)";
      return false;
    }
    if (!hosts.empty()) {
      *why = "vm " + hosts.begin()->first + " runs but has no record";
      return false;
    }
    *running = should;
    return true;
  }

  // The final state: every node has applied the same log; their VM lists
  // agree; the leader's linearizable list is the final state.
  bool FinalState(std::map<std::string, std::string>* out, std::string* why) {
    std::map<int, std::map<std::string, std::string>> views;
    bool ok = testing::WaitUntil(
        [&] {
          int leader = cluster_->WaitForLeader(milliseconds(10000));
          if (leader == 0) {
            *why = "no leader";
            return false;
          }
          auto lst = cluster_->Status(leader, true, milliseconds(2000));
          if (!lst) return false;
          for (int id = 1; id <= a_.nodes; ++id) {
            auto st = cluster_->Status(id, true, milliseconds(2000));
            if (!st || st->applied_index() < lst->commit_index()) {
              *why = "n" + std::to_string(id) + " has not applied the leader's log";
              return false;
            }
          }
          views.clear();
          for (int id = 1; id <= a_.nodes; ++id) {
            auto stub = v1::VmService::NewStub(cluster_->Channel(id));
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
            v1::ListVmsRequest req;
            req.set_stale(id != leader);
            v1::ListVmsResponse resp;
            if (!stub->ListVms(&ctx, req, &resp).ok()) return false;
            for (const auto& vm : resp.vms()) {
              auto it = vm.spec().labels().find(kRegisterLabel);
              views[id][vm.spec().name()] = it == vm.spec().labels().end() ? "" : it->second;
            }
          }
          for (auto& [id, v] : views) {
            if (v != views[leader]) {
              *why = "n" + std::to_string(id) + "'s VMs differ from the leader's";
              return false;
            }
          }
          *out = views[leader];
          return true;
        },
        milliseconds(60000));
    return ok;
  }

  int Check(int applied, const std::vector<double>& recovery,
            const std::vector<std::pair<int64_t, int64_t>>& windows, const Nemesis& nemesis) {
    std::map<std::string, std::string> final_state;
    std::string why;
    if (!FinalState(&final_state, &why)) return Fail("replicas did not converge: " + why);
    const int running = VmsRunOnce(&why);
    if (running < 0) return Fail("VMs under faults: " + why);
    std::vector<Op> ops = history_.ops();
    CheckReport report = CheckHistory(ops, final_state, t0_);
    size_t ok = 0, fail = 0, unknown = 0, in_fault = 0, in_fault_ok = 0;
    for (const Op& op : ops) {
      ok += op.outcome == Outcome::kOk;
      fail += op.outcome == Outcome::kFail;
      unknown += op.outcome == Outcome::kUnknown;
      if (op.client < 0) continue;  // setup and probes
      for (auto [a, b] : windows) {
        if (op.invoke_us >= a && op.invoke_us < b) {
          ++in_fault;
          in_fault_ok += op.outcome == Outcome::kOk;
          break;
        }
      }
    }
    for (const std::string& m : report.messages) std::printf("%s\n", m.c_str());
    std::printf("fault schedules: %d faults on %d nodes (seed %llu)\n", applied, a_.nodes,
                static_cast<unsigned long long>(a_.seed));
    std::printf("operations: %zu (ok %zu, fail %zu, unknown %zu) on %zu keys; final VMs %zu\n",
                ops.size(), ok, fail, unknown, report.keys, final_state.size());
    std::printf("faults: %d\n", applied);
    std::printf("lost acknowledged writes: %zu\n", report.lost_writes);
    std::printf("VMs that should run: %d, each running on exactly one node\n", running);
    std::printf("linearizability violations: %zu\n", report.violations);
    if (report.undecided) std::printf("keys too large to decide: %zu\n", report.undecided);
    std::printf("availability during faults: %.1f%% (%zu of %zu operations ok)\n",
                in_fault ? 100.0 * static_cast<double>(in_fault_ok) / static_cast<double>(in_fault) : 100.0,
                in_fault_ok, in_fault);
    std::printf("recovery after heal: p50 %.2f s, p99 %.2f s, max %.2f s (%zu heals)\n",
                Percentile(recovery, 0.5), Percentile(recovery, 0.99), Percentile(recovery, 1.0),
                recovery.size());
    for (const std::string& e : nemesis.unexpected_exits()) std::printf("unexpected exit: %s\n", e.c_str());
    std::fflush(stdout);
    if (report.lost_writes || report.violations) return Fail("the history breaks the checks above");
    if (!nemesis.unexpected_exits().empty()) return Fail("a node exited that no fault killed");
    return 0;
  }

  Args a_;
  testing::TempDir dir_;
  std::unique_ptr<NetnsLab> lab_;
  std::unique_ptr<NetCluster> cluster_;
  History history_;
  std::unique_ptr<Workload> workload_;
  int64_t t0_ = 0;
};

}  // namespace
}  // namespace blixard::faults

int main(int argc, char** argv) {
  using namespace blixard::faults;
  Args a;
  CLI::App app("blixard-faults: real nodes in network namespaces under a seeded nemesis");
  app.add_option("--nodes", a.nodes, "cluster size")->check(CLI::Range(3, 7));
  app.add_option("--seed", a.seed, "seed of the fault schedule and the clients");
  app.add_option("--faults", a.faults, "faults to apply (without --duration)");
  app.add_option("--duration", a.duration_s, "keep applying faults for this many seconds");
  app.add_option("--clients", a.clients, "concurrent clients (default: two per node)");
  app.add_option("--min-hold-ms", a.min_hold_ms, "shortest fault");
  app.add_option("--max-hold-ms", a.max_hold_ms, "longest fault");
  app.add_flag("--keep", a.keep, "keep data dirs and logs");
  app.add_flag("!--no-fault-points", a.fault_points,
               "no lossy-network, disk-failure or crash-after-persist faults");
  app.add_flag("--stale-reads", a.stale_reads,
               "negative control: clients read with --stale, which the checker must catch");
  app.add_option("--node-arg", a.node_args, "extra flag for every node (repeatable)");
  CLI11_PARSE(app, argc, argv);
  if (::geteuid() != 0) {
    std::printf("skipped: network namespaces need root\n");
    return 77;
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_interrupted = true; };
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return Run(a).Main();
}
