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
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/daemon.h"

namespace v1 = blixard::v1;
using blixard::testing::Child;
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

[[noreturn]] void Die(const std::string& why) {
  fprintf(stderr, "vm_bench: %s\n", why.c_str());
  exit(1);
}

v1::Vm Get(TestDaemon& d, v1::VmService::Stub& stub, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  auto s = stub.GetVm(Ctx(10).get(), req, &resp);
  if (!s.ok()) Die("GetVm " + name + ": " + s.error_message());
  return resp.vm();
}

// CreateVm and wait for READY, polling GetVm every kPoll. Returns the time.
double CreateToReady(TestDaemon& d, const std::string& name) {
  auto stub = d.Vms();
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec(name, 1, 128);
  req.set_start(true);
  v1::CreateVmResponse resp;
  const auto t0 = Clock::now();
  auto s = stub->CreateVm(Ctx(10).get(), req, &resp);
  if (!s.ok()) Die("CreateVm " + name + ": " + s.error_message());
  while (true) {
    v1::Vm vm = Get(d, *stub, name);
    if (vm.status().phase() == v1::VM_PHASE_READY) return Ms(Clock::now() - t0);
    if (vm.status().phase() == v1::VM_PHASE_FAILED) Die(name + " failed: " + vm.status().message() + "\n" + d.log());
    if (Clock::now() - t0 > kBootDeadline) Die(name + " not ready in time\n" + d.log());
    std::this_thread::sleep_for(kPoll);
  }
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

// A raw qemu running `argv` in `dir`.
struct RawVm {
  std::string dir;
  std::unique_ptr<Child> child;
  bool Ready() const { return ReadAll(dir + "/console.log").find(kReadyLine) != std::string::npos; }
};

RawVm SpawnRaw(const std::vector<std::string>& argv, const std::string& dir) {
  fs::create_directories(dir);
  return RawVm{dir, std::make_unique<Child>(argv, dir + "/qemu.log")};
}

void WaitRawReady(std::vector<RawVm>& vms, Clock::time_point t0) {
  for (auto& vm : vms) {
    while (!vm.Ready()) {
      if (!vm.child->Running()) Die("raw qemu exited: " + vm.child->Log());
      if (Clock::now() - t0 > kBootDeadline) Die("raw qemu not ready in time");
      std::this_thread::sleep_for(kPoll);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Die("usage: vm_bench GUEST_DIR [SERIAL=20] [BURST=10]");
  const std::string guest = argv[1];
  const int serial = argc > 2 ? atoi(argv[2]) : 20;
  const int burst = argc > 3 ? atoi(argv[3]) : 10;

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
  std::vector<double> orchestrated, raw;
  for (int i = 0; i < serial; ++i) {
    auto run_raw = [&] {
      const std::string dir = raw_root.path() + "/serial-" + std::to_string(i);
      const auto t0 = Clock::now();
      std::vector<RawVm> one;
      one.push_back(SpawnRaw(raw_argv(dir), dir));
      WaitRawReady(one, t0);
      raw.push_back(Ms(Clock::now() - t0));
      one[0].child->Signal(SIGKILL);
      one[0].child->Wait(std::chrono::seconds(10));
      fs::remove_all(dir);
    };
    auto run_blixard = [&] {
      const std::string name = "serial-" + std::to_string(i);
      orchestrated.push_back(CreateToReady(d, name));
      DeleteAndWaitGone(d, name);
    };
    if (i % 2 == 0) {
      run_blixard();
      run_raw();
    } else {
      run_raw();
      run_blixard();
    }
  }
  const double b50 = Percentile(orchestrated, 50), b99 = Percentile(orchestrated, 99);
  const double r50 = Percentile(raw, 50), r99 = Percentile(raw, 99);
  printf("vm_bench: serial n=%d blixard_p50_ms=%.0f blixard_p99_ms=%.0f raw_p50_ms=%.0f raw_p99_ms=%.0f "
         "overhead_p50_ms=%.0f ratio_p50=%.3f ratio_p99=%.3f\n",
         serial, b50, b99, r50, r99, b50 - r50, b50 / r50, b99 / r99);
  fflush(stdout);

  // Burst: all at once.
  double burst_blixard = 0, burst_raw = 0;
  {
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < burst; ++i) {
      threads.emplace_back([&, i] { CreateToReady(d, "burst-" + std::to_string(i)); });
    }
    for (auto& t : threads) t.join();
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
    for (auto& vm : vms) vm.child->Signal(SIGKILL);
    for (auto& vm : vms) vm.child->Wait(std::chrono::seconds(10));
  }
  printf("vm_bench: burst n=%d blixard_all_ready_ms=%.0f raw_all_ready_ms=%.0f ratio=%.3f\n", burst,
         burst_blixard, burst_raw, burst_blixard / burst_raw);
  printf("vm_bench: memory daemon_rss_idle_mib=%.1f daemon_rss_per_vm_mib=%.2f daemon_cpu_pct_per_vm=%.3f "
         "qemu_rss_per_vm_mib=%.1f\n",
         rss_idle / 1024.0, (rss_loaded - rss_idle) / 1024.0 / burst, 100.0 * cpu_s / window_s / burst,
         qemu_rss / 1024.0 / burst);
  return 0;
}
