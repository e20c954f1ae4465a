// Real microVMs: create -> READY through the API of a one-node daemon (qemu
// backend, default guest), side by side with raw qemu started by this
// program with the very same command line (the argv the daemon recorded in
// the VM's config.json, its runtime paths moved to a temp dir); raw
// readiness is the guest's readiness line appearing in the console file.
//
// Usage: vm_bench GUEST_DIR [SERIAL=20] [BURST=10]
// Prints (see bench/README.md):
//   vm_bench: serial n=… blixard_p50_ms=… blixard_p99_ms=… raw_p50_ms=… raw_p99_ms=… overhead_p50_ms=… ratio_p50=… ratio_p99=…
//   vm_bench: burst n=… blixard_all_ready_ms=… raw_all_ready_ms=… ratio=…
//   vm_bench: memory daemon_rss_idle_mib=… daemon_rss_per_vm_mib=… daemon_cpu_pct_per_vm=… qemu_rss_per_vm_mib=…
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/vm_trace.h"
#include "support/daemon.h"

namespace v1 = blixard::v1;
using blixard::testing::Ctx;
using blixard::testing::Spec;
using blixard::testing::TempDir;
using blixard::testing::TestDaemon;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr auto kPoll = std::chrono::milliseconds(5);
constexpr auto kBootDeadline = std::chrono::seconds(120);
constexpr char kReadyLine[] = "BLIXARD-GUEST-READY";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long StatusKiB(pid_t pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::string(field).size()));
  }
  return -1;
}

// utime + stime of a process (all threads), in clock ticks.
long CpuTicks(pid_t pid) {
  std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) {
      stime = std::stol(field);
      break;
    }
  }
  return utime + stime;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// Ends the run: thrown up to main, so the daemon, the VMs and the temp dirs
// are cleaned up on the way (their destructors kill what still runs).
[[noreturn]] void Die(const std::string& why) { throw std::runtime_error(why); }

v1::Vm Get(TestDaemon& d, v1::VmService::Stub& stub, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  auto s = stub.GetVm(Ctx(10).get(), req, &resp);
  if (!s.ok()) Die("GetVm " + name + ": " + s.error_message());
  return resp.vm();
}

// Watches a console file on a thread of its own (polled every kPoll, as
// the raw runs are) and marks in the trace when the readiness line appears.
class ConsoleWatch {
 public:
  ConsoleWatch(std::string vm, std::string path) : vm_(std::move(vm)), path_(std::move(path)) {
    thread_ = std::thread([this] {
      // One last look after the stop: READY may be seen (the agent is woken
      // by inotify) before this poll came round to the line.
      for (bool last = false; !last;) {
        last = stop_;
        if (ReadAll(path_).find(kReadyLine) != std::string::npos) {
          blixard::vm_trace::Mark(vm_, "console_line");
          return;
        }
        std::this_thread::sleep_for(kPoll);
      }
    });
  }
  ~ConsoleWatch() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::string vm_, path_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// CreateVm and wait for READY, polling GetVm every kPoll. Returns the time.
// Marks client_create and client_ready in the trace (and, with `watch`, the
// readiness line appearing in the VM's console file).
double CreateToReady(TestDaemon& d, const std::string& name, bool watch = false) {
  auto stub = d.Vms();
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec(name, 1, 128);
  req.set_start(true);
  v1::CreateVmResponse resp;
  std::optional<ConsoleWatch> console;
  if (watch) console.emplace(name, d.data_dir() + "/vms/" + name + "/console.log");
  const auto t0 = Clock::now();
  blixard::vm_trace::Mark(name, "client_create");
  auto s = stub->CreateVm(Ctx(10).get(), req, &resp);
  if (!s.ok()) Die("CreateVm " + name + ": " + s.error_message());
  while (true) {
    v1::Vm vm = Get(d, *stub, name);
    if (vm.status().phase() == v1::VM_PHASE_READY) {
      blixard::vm_trace::Mark(name, "client_ready");
      return Ms(Clock::now() - t0);
    }
    if (vm.status().phase() == v1::VM_PHASE_FAILED) Die(name + " failed: " + vm.status().message() + "\n" + d.log());
    if (Clock::now() - t0 > kBootDeadline) {
      Die(name + " not ready in time; its console ends with:\n" +
          ReadAll(d.data_dir() + "/vms/" + name + "/console.log") + "\n" + d.log());
    }
    std::this_thread::sleep_for(kPoll);
  }
}

// The steps of create -> READY, in order, as marked in the trace by the
// bench (client_*, console_line) and the daemon (common/vm_trace.h).
const std::vector<std::string> kSteps = {
    "client_create",     "api_create",  "create_applied", "place_applied",         "agent_start",
    "starting_reported", "spawn",       "qemu_up",        "running_reported",      "console_line",
    "ready_seen",        "ready_reported", "applied_VM_PHASE_READY", "client_ready"};

// Step -> time (unix us) of one VM, from the trace file (first mark wins).
std::map<std::string, int64_t> StepsOf(const std::string& trace, const std::string& vm) {
  std::map<std::string, int64_t> out;
  std::istringstream in(ReadAll(trace));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    int64_t at = 0;
    std::string name, step;
    if (f >> at >> name >> step && name == vm) out.emplace(step, at);
  }
  return out;
}

// Per step: the time from the previous step (p50 and max over the VMs).
// The guest's boot (spawn -> line) is compared with raw qemu started in this
// process's session and in a session of its own: with the scheduler's
// autogroups (/proc/sys/kernel/sched_autogroup_enabled) each session is
// one group with an equal share of the CPU, so on a loaded machine the
// session alone moves TCG boot times.
void PrintBreakdown(const std::vector<std::map<std::string, int64_t>>& runs, const std::vector<double>& raw,
                    const std::vector<double>& raw_own_session) {
  printf("vm_bench: breakdown n=%zu (ms from the previous step; p50 / max over the VMs)\n", runs.size());
  for (size_t i = 1; i < kSteps.size(); ++i) {
    std::vector<double> d;
    for (const auto& r : runs) {
      auto a = r.find(kSteps[i - 1]), b = r.find(kSteps[i]);
      if (a != r.end() && b != r.end()) d.push_back((b->second - a->second) / 1000.0);
    }
    if (d.empty()) {
      printf("vm_bench:   %-24s (not marked)\n", kSteps[i].c_str());
      continue;
    }
    printf("vm_bench:   %-24s p50=%8.1f max=%8.1f\n", kSteps[i].c_str(), Percentile(d, 50), Percentile(d, 100));
  }
  // Orchestration = everything but the guest's own boot (spawn -> line),
  // which raw qemu pays too.
  std::vector<double> before, boot, after;
  for (const auto& r : runs) {
    if (!r.count("client_create") || !r.count("spawn") || !r.count("console_line") || !r.count("client_ready")) continue;
    before.push_back((r.at("spawn") - r.at("client_create")) / 1000.0);
    boot.push_back((r.at("console_line") - r.at("spawn")) / 1000.0);
    after.push_back((r.at("client_ready") - r.at("console_line")) / 1000.0);
  }
  std::vector<double> total;
  for (size_t i = 0; i < before.size(); ++i) total.push_back(before[i] + after[i]);
  printf("vm_bench: steps n=%zu before_spawn_p50_ms=%.1f after_line_p50_ms=%.1f orchestration_p50_ms=%.1f "
         "orchestration_p99_ms=%.1f guest_boot_p50_ms=%.0f raw_boot_p50_ms=%.0f raw_own_session_boot_p50_ms=%.0f\n",
         before.size(), Percentile(before, 50), Percentile(after, 50), Percentile(total, 50), Percentile(total, 99),
         Percentile(boot, 50), Percentile(raw, 50), Percentile(raw_own_session, 50));
}

void DeleteAndWaitGone(TestDaemon& d, const std::string& name) {
  auto stub = d.Vms();
  v1::VmNameRequest req;
  req.set_name(name);
  v1::DeleteVmResponse resp;
  auto s = stub->DeleteVm(Ctx(10).get(), req, &resp);
  if (!s.ok()) Die("DeleteVm " + name + ": " + s.error_message());
  const std::string dir = d.data_dir() + "/vms/" + name;
  if (!blixard::testing::WaitUntil([&] { return !fs::exists(dir); }, std::chrono::seconds(60))) {
    Die(name + ": runtime dir not removed after delete");
  }
}

// The qemu argv the daemon ran for a VM, with its runtime dir moved to `to`.
std::vector<std::string> RawArgv(const std::string& runtime_dir, const std::string& to) {
  auto meta = nlohmann::json::parse(ReadAll(runtime_dir + "/config.json"), nullptr, false);
  if (meta.is_discarded() || !meta.contains("argv")) Die("no argv in " + runtime_dir + "/config.json");
  const std::string from = fs::absolute(runtime_dir).lexically_normal().string();
  std::vector<std::string> argv;
  for (std::string a : meta["argv"].get<std::vector<std::string>>()) {
    for (size_t at; (at = a.find(from)) != std::string::npos;) a.replace(at, from.size(), to);
    argv.push_back(a);
  }
  return argv;
}

// A raw qemu running `argv` in `dir`, a child of this process (in this
// session, or with `own_session` in a session of its own, as the daemon
// starts its VMs: see PrintBreakdown for why that is measured).
struct RawVm {
  std::string dir;
  pid_t pid = -1;
  bool reaped = false;
  bool Ready() const { return ReadAll(dir + "/console.log").find(kReadyLine) != std::string::npos; }
  bool Running() {
    if (!reaped && waitpid(pid, nullptr, WNOHANG) == pid) reaped = true;
    return !reaped;
  }
  void Kill() {
    if (reaped) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    reaped = true;
  }
};

RawVm SpawnRaw(const std::vector<std::string>& argv, const std::string& dir, bool own_session = false) {
  fs::create_directories(dir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, (dir + "/qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (own_session) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  RawVm vm{dir};
  if (posix_spawnp(&vm.pid, args[0], &fa, &attr, args.data(), environ) != 0) Die("cannot spawn " + argv[0]);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return vm;
}

void WaitRawReady(std::vector<RawVm>& vms, Clock::time_point t0) {
  for (auto& vm : vms) {
    while (!vm.Ready()) {
      if (!vm.Running()) {
        for (auto& other : vms) other.Kill();
        Die("raw qemu exited: " + ReadAll(vm.dir + "/qemu.log"));
      }
      if (Clock::now() - t0 > kBootDeadline) {
        for (auto& other : vms) other.Kill();
        Die("raw qemu not ready in time; its console ends with:\n" + ReadAll(vm.dir + "/console.log"));
      }
      std::this_thread::sleep_for(kPoll);
    }
  }
}

}  // namespace

int Run(int argc, char** argv) {
  if (argc < 2) Die("usage: vm_bench GUEST_DIR [SERIAL=20] [BURST=10]");
  const std::string guest = argv[1];
  const int serial = argc > 2 ? atoi(argv[2]) : 20;
  const int burst = argc > 3 ? atoi(argv[3]) : 10;

  // Every step of every VM is marked in this file, by the daemon and by us.
  TempDir trace_dir;
  const std::string trace = trace_dir.path() + "/vm-trace";
  setenv("BLIXARD_VM_TRACE", trace.c_str(), 1);
  TestDaemon::Options o;
  o.backend = "qemu";
  o.extra_args = {"--guest-dir", guest};
  TestDaemon d(o);
  if (!d.Start()) Die("daemon did not start:\n" + d.log());
  const pid_t daemon = d.child()->pid();
  TempDir raw_root;

  // Warm-up: one VM each way (page cache, qemu's first start).
  CreateToReady(d, "warmup");
  std::vector<std::string> argv_template = RawArgv(d.data_dir() + "/vms/warmup", raw_root.path() + "/RAW");
  DeleteAndWaitGone(d, "warmup");
  const long rss_idle = StatusKiB(daemon, "VmRSS:");

  auto raw_argv = [&](const std::string& dir) {
    std::vector<std::string> a = argv_template;
    for (auto& s : a) {
      for (size_t at; (at = s.find(raw_root.path() + "/RAW")) != std::string::npos;) {
        s.replace(at, raw_root.path().size() + 4, dir);
      }
    }
    return a;
  };

  // One at a time, alternating which goes first.
  std::vector<double> orchestrated, raw, raw_own_session;
  std::vector<std::map<std::string, int64_t>> steps;
  for (int i = 0; i < serial; ++i) {
    auto run_raw = [&](bool own_session) {
      const std::string dir = raw_root.path() + "/serial-" + std::to_string(i);
      const auto t0 = Clock::now();
      std::vector<RawVm> one;
      one.push_back(SpawnRaw(raw_argv(dir), dir, own_session));
      WaitRawReady(one, t0);
      (own_session ? raw_own_session : raw).push_back(Ms(Clock::now() - t0));
      one[0].Kill();
      fs::remove_all(dir);
    };
    auto run_blixard = [&] {
      const std::string name = "serial-" + std::to_string(i);
      orchestrated.push_back(CreateToReady(d, name, /*watch=*/true));
      steps.push_back(StepsOf(trace, name));
      DeleteAndWaitGone(d, name);
    };
    // Each of the three goes first, second and third equally often.
    std::vector<std::function<void()>> runs = {run_blixard, [&] { run_raw(false); }, [&] { run_raw(true); }};
    std::rotate(runs.begin(), runs.begin() + i % 3, runs.end());
    for (auto& run : runs) run();
  }
  const double b50 = Percentile(orchestrated, 50), b99 = Percentile(orchestrated, 99);
  const double r50 = Percentile(raw, 50), r99 = Percentile(raw, 99);
  const double s50 = Percentile(raw_own_session, 50), s99 = Percentile(raw_own_session, 99);
  printf("vm_bench: serial n=%d blixard_p50_ms=%.0f blixard_p99_ms=%.0f raw_p50_ms=%.0f raw_p99_ms=%.0f "
         "overhead_p50_ms=%.0f ratio_p50=%.3f ratio_p99=%.3f\n",
         serial, b50, b99, r50, r99, b50 - r50, b50 / r50, b99 / r99);
  printf("vm_bench: serial-own-session n=%d blixard_p50_ms=%.0f blixard_p99_ms=%.0f raw_p50_ms=%.0f raw_p99_ms=%.0f "
         "overhead_p50_ms=%.0f ratio_p50=%.3f ratio_p99=%.3f\n",
         serial, b50, b99, s50, s99, b50 - s50, b50 / s50, b99 / s99);
  PrintBreakdown(steps, raw, raw_own_session);
  fflush(stdout);

  // Burst: all at once.
  double burst_blixard = 0, burst_raw = 0;
  {
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    std::mutex failed_mu;
    std::string failed;
    for (int i = 0; i < burst; ++i) {
      threads.emplace_back([&, i] {
        try {
          CreateToReady(d, "burst-" + std::to_string(i));
        } catch (const std::exception& e) {
          std::lock_guard lk(failed_mu);
          failed = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    if (!failed.empty()) Die(failed);
    burst_blixard = Ms(Clock::now() - t0);
  }
  // With the burst's VMs up and idle: the daemon's memory and CPU per VM,
  // qemu's memory per VM.
  const long rss_loaded = StatusKiB(daemon, "VmRSS:");
  long qemu_rss = 0;
  for (int i = 0; i < burst; ++i) {
    const pid_t pid = atoi(ReadAll(d.data_dir() + "/vms/burst-" + std::to_string(i) + "/qemu.pid").c_str());
    qemu_rss += StatusKiB(pid, "VmRSS:");
  }
  const long ticks0 = CpuTicks(daemon);
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(5));  // a measurement window, not a wait for a condition
  const double cpu_s = static_cast<double>(CpuTicks(daemon) - ticks0) / static_cast<double>(sysconf(_SC_CLK_TCK));
  const double window_s = std::chrono::duration<double>(Clock::now() - w0).count();
  for (int i = 0; i < burst; ++i) DeleteAndWaitGone(d, "burst-" + std::to_string(i));
  {
    std::vector<RawVm> vms;
    const auto t0 = Clock::now();
    for (int i = 0; i < burst; ++i) {
      const std::string dir = raw_root.path() + "/burst-" + std::to_string(i);
      vms.push_back(SpawnRaw(raw_argv(dir), dir));
    }
    WaitRawReady(vms, t0);
    burst_raw = Ms(Clock::now() - t0);
    for (auto& vm : vms) vm.Kill();
  }
  printf("vm_bench: burst n=%d blixard_all_ready_ms=%.0f raw_all_ready_ms=%.0f ratio=%.3f\n", burst,
         burst_blixard, burst_raw, burst_blixard / burst_raw);
  printf("vm_bench: memory daemon_rss_idle_mib=%.1f daemon_rss_per_vm_mib=%.2f daemon_cpu_pct_per_vm=%.3f "
         "qemu_rss_per_vm_mib=%.1f\n",
         rss_idle / 1024.0, (rss_loaded - rss_idle) / 1024.0 / burst, 100.0 * cpu_s / window_s / burst,
         qemu_rss / 1024.0 / burst);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "vm_bench: %s\n", e.what());
    return 1;
  }
}
