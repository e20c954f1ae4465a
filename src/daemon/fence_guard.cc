#include "daemon/fence_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "daemon/ack_file.h"
#include "daemon/liveness.h"

extern char** environ;

namespace blixard::daemon {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC, as the daemon's ack times

constexpr auto kPoll = std::chrono::milliseconds(50);
constexpr auto kSweepEvery = std::chrono::milliseconds(200);  // while past the deadline
constexpr auto kExitCheckEvery = std::chrono::seconds(1);
constexpr auto kLockWait = std::chrono::milliseconds(100);    // then decide without the lock
constexpr auto kStartupLockWait = std::chrono::seconds(2);    // an exiting guard's lock

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

std::string SelfExe() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

// The daemon of this data dir runs: the pid in blixard.pid is alive and runs
// this binary.
bool DaemonRunning(const std::string& data_dir) {
  std::ifstream in(data_dir + "/blixard.pid");
  pid_t pid = 0;
  if (!(in >> pid) || pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return !ec && exe.string() == SelfExe();
}

// Kills every live VM of the node; returns how many were alive.
int Sweep(vmm::Hypervisor& hv, const AckRecord& ack, int64_t now) {
  auto listed = hv.List();
  if (!listed.ok()) {
    spdlog::error("fence guard: cannot list VMs: {}", listed.status().ToString());
    return 0;
  }
  int alive = 0;
  for (const vmm::VmInfo& info : *listed) {
    if (!info.alive()) continue;
    ++alive;
    Status s = hv.Kill(info.name);
    if (s.ok()) {
      spdlog::warn("fence guard: killed {} (pid {}): no heartbeat ack for {} ms and the daemon "
                   "did not fence it",
                   info.name, info.pid, ack.sent_ms < 0 ? -1 : now - ack.sent_ms);
    } else {
      spdlog::error("fence guard: kill {}: {}", info.name, s.ToString());
    }
  }
  return alive;
}

bool AnyAlive(vmm::Hypervisor& hv) {
  auto listed = hv.List();
  if (!listed.ok()) return true;  // cannot tell: keep guarding
  for (const vmm::VmInfo& info : *listed) {
    if (info.alive()) return true;
  }
  return false;
}

}  // namespace

Status SpawnFenceGuard(const DaemonOptions& o) {
  const std::string exe = SelfExe();
  if (exe.empty()) return Status::Internal("cannot read /proc/self/exe");
  std::vector<std::string> args = {exe, "node", "--fence-guard", "--id", std::to_string(o.id),
                                   "--bind", o.bind, "--data-dir", o.data_dir,
                                   "--backend", o.backend, "--node-ttl", std::to_string(o.node_ttl_s),
                                   "--log-level", o.log_level, "--log-format", o.log_format,
                                   "--accel", o.accel, "--microvm-hypervisor", o.microvm_hypervisor};
  for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{"--runtime-dir", o.runtime_dir},
                                    {"--guest-dir", o.guest_dir}}) {
    if (!value.empty()) args.insert(args.end(), {flag, value});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string log = o.data_dir + "/fence-guard.log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own session (a terminal's Ctrl-C does not reach it) and no blocked
  // signals (the daemon blocks SIGINT/SIGTERM for sigwait).
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::Internal(std::string("cannot start the fence guard: ") + std::strerror(rc));
  // Reaped by init once the daemon exits; while it runs, a zombie is
  // avoided by not caring: SIGCHLD's default action leaves it, so reap
  // without blocking when it exits early (another guard runs).
  std::thread([pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }).detach();
  return Status::Ok();
}

bool EnsureFenceGuard(const DaemonOptions& o) {
  if (o.backend == "fake") return true;
  if (Status s = SpawnFenceGuard(o); !s.ok()) {
    spdlog::error("{}: VMs here would keep running after this daemon dies", s.message());
    return false;
  }
  return true;
}

int RunFenceGuard(const DaemonOptions& o, std::unique_ptr<vmm::Hypervisor> hypervisor) {
  // One guard per data dir. A guard that is exiting (daemon gone, no VM)
  // may still hold the lock for a moment: wait for it a little.
  const std::string lock_path = o.data_dir + "/fence-guard.pid";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    spdlog::error("fence guard: cannot open {}: {}", lock_path, std::strerror(errno));
    return 1;
  }
  const auto give_up = Clock::now() + kStartupLockWait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (Clock::now() >= give_up) return 0;  // another guard runs
    std::this_thread::sleep_for(kPoll);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("fence guard: cannot write {}", lock_path);
  }

  const int64_t ttl_ms = static_cast<int64_t>(o.node_ttl_s * 1000);
  const control::FenceConfig config = FenceConfigForTtl(ttl_ms);
  const AckFile acks(o.data_dir + "/liveness");
  const int64_t started = NowMs();
  spdlog::info("fence guard for node {} ({}): VMs are killed {} ms after the newest heartbeat ack "
               "unless the node is the cluster's only voter",
               o.id, o.data_dir, ttl_ms - config.margin_ms);
  auto next_sweep = Clock::now();
  auto next_exit_check = Clock::now() + kExitCheckEvery;
  bool lock_wanted = false;  // the lock was busy at the last poll(s), since lock_wanted_since
  Clock::time_point lock_wanted_since = Clock::now();
  for (;; std::this_thread::sleep_for(kPoll)) {
    std::error_code ec;
    if (!fs::exists(o.data_dir, ec)) return 0;
    {
      // Under the ack file's lock, so that a daemon saving a fresh ack (and
      // then starting VMs) waits for a sweep decided on an older one. A
      // daemon stopped while holding the lock has not started anything
      // after that save: decide without it after a short wait.
      AckFile::Lock lock = acks.Locked(false);
      if (!lock.held()) {
        if (!lock_wanted) lock_wanted_since = Clock::now();
        lock_wanted = true;
        if (Clock::now() - lock_wanted_since < kLockWait) continue;
      }
      lock_wanted = false;
      const AckRecord ack = acks.Load();
      const int64_t now = NowMs();
      const int64_t deadline = (ack.sent_ms < 0 ? started : ack.sent_ms) + ttl_ms - config.margin_ms;
      if (!ack.sole_voter && now >= deadline && Clock::now() >= next_sweep) {
        next_sweep = Clock::now() + kSweepEvery;
        Sweep(*hypervisor, ack, now);
      }
    }
    if (Clock::now() >= next_exit_check) {
      next_exit_check = Clock::now() + kExitCheckEvery;
      if (!DaemonRunning(o.data_dir) && !AnyAlive(*hypervisor)) {
        spdlog::info("fence guard: the daemon is not running and no VM is alive: exiting");
        return 0;
      }
    }
  }
}

}  // namespace blixard::daemon
