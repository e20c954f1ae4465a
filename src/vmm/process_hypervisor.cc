// The backends that run each VM as a host process (qemu, microvm-nix; see
// runner.h for what differs). Files in <runtime_root>/<name>/:
//   config.json     VmConfig, resolved kernel/initrd, argv, start time
//                   (written before the process starts)
//   console.log     serial console of this boot (console.log.1: previous boot)
//   <pidfile>       the process id (Runner::PidFile)
//   <logfile>       the process's own output (Runner::LogFile)
//   <qmp socket>    when the hypervisor speaks QMP (Runner::QmpSocket)
//   exit            the exit status, written by the /bin/sh that waits for
//                   the process, so it is known even if no daemon was running
//   stop-requested  why we stopped it (Stop/Kill): the VM is then kStopped
//   wedged          written before we kill a process whose monitor stopped
//                   answering (ProcessHypervisorOptions::qmp_wedged_after)
//   lock            flock held while starting (against a second daemon)
//
// Process tree: daemon -fork-> helper (setsid; fork; exit) -> sh -> process.
// sh and the process are in their own session, reparented away from the
// daemon, so they outlive it and a daemon restart does not kill VMs.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include "common/vm_trace.h"
#include "common/wall_clock.h"
#include "vmm/host_net.h"
#include "vmm/hypervisor.h"
#include "vmm/qmp_client.h"
#include "vmm/runner.h"
#include "vmm/vm_config.h"
#include "vmm/vm_process.h"

namespace blixard::vmm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class ProcessHypervisor : public Hypervisor {
 public:
  ProcessHypervisor(ProcessHypervisorOptions options, std::unique_ptr<Runner> runner)
      : options_(std::move(options)), runner_(std::move(runner)) {
    // Absolute, because the process's command line (which we match against a
    // pid to rule out pid reuse) names files by this path.
    if (!options_.runtime_root.empty()) options_.runtime_root = fs::absolute(options_.runtime_root).lexically_normal().string();
    while (options_.runtime_root.size() > 1 && options_.runtime_root.back() == '/') options_.runtime_root.pop_back();
  }

  std::string BackendName() const override { return runner_->BackendName(); }
  Result<VmInfo> Start(const VmConfig& config) override;
  Status Stop(const std::string& name, milliseconds grace) override;
  Status Kill(const std::string& name) override;
  Status Pause(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<VmInfo> Inspect(const std::string& name) override;
  Result<bool> Ready(const std::string& name) override;
  Result<std::vector<VmInfo>> List() override;
  Status Cleanup(const std::string& name) override;
  Result<ConsoleChunk> ConsoleLog(const std::string& name, uint64_t offset, size_t max_bytes) override;
  Result<bool> ProbePublishedPort(const std::string& name, uint16_t guest_port, milliseconds timeout) override;
  std::string ConsolePath(const std::string& name) const override {
    return IsValidVmName(name) ? Dir(name) + "/console.log" : "";
  }

 private:
  // Per-VM serialization and the readiness scan (in memory only: it is
  // recomputed from console.log after a restart).
  struct Slot {
    std::mutex mu;
    int64_t scanned_start = -1;  // started_at of the boot scanned so far
    uint64_t scanned = 0;        // bytes of console.log scanned
    std::string partial;         // last incomplete line
    bool ready = false;
    // The monitor of process `pid` has answered no Inspect since `since`,
    // when the process had used `cpu_ms` of CPU. Any answer, a new process
    // or a new Start clears it.
    struct Silence {
      int pid = 0;
      std::chrono::steady_clock::time_point since;
      uint64_t cpu_ms = 0;
      int probes = 0;
    };
    std::optional<Silence> silence;
  };
  // True when the live process `pid`'s monitor has been silent long enough,
  // and the process idle enough, to be wedged (see qmp_wedged_after);
  // records the silence otherwise.
  bool Wedged(Slot& slot, int pid);

  std::string Dir(const std::string& name) const { return options_.runtime_root + "/" + name; }
  std::shared_ptr<Slot> SlotFor(const std::string& name);
  Result<VmInfo> InspectLocked(const std::string& name, Slot& slot);
  bool ScanReady(const std::string& dir, const VmInfo& info, Slot& slot);
  int ReadPid(const std::string& dir) const;
  Status Spawn(const std::string& dir, const std::vector<std::string>& argv);
  Status WaitGoneAndExitFile(const std::string& dir, int pid, milliseconds timeout);
  // QMP of the VM in `dir`; kUnavailable if its hypervisor has none.
  Result<std::unique_ptr<QmpClient>> Qmp(const std::string& dir, const VmConfig& config) const;
  // Runs `command` on the control connection of a running VM, under the VM's
  // lock (FAILED_PRECONDITION when it is not running).
  Status WithRunningQmp(const std::string& name, const std::function<Status(QmpClient&)>& command);

  ProcessHypervisorOptions options_;
  std::unique_ptr<Runner> runner_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;
};

std::shared_ptr<ProcessHypervisor::Slot> ProcessHypervisor::SlotFor(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = slots_[name];
  if (!slot) slot = std::make_shared<Slot>();
  return slot;
}

int ProcessHypervisor::ReadPid(const std::string& dir) const {
  auto text = ReadFile(dir + "/" + runner_->PidFile());
  if (!text) return 0;
  try {
    return std::stoi(*text);
  } catch (...) {
    return 0;
  }
}

Result<std::unique_ptr<QmpClient>> ProcessHypervisor::Qmp(const std::string& dir, const VmConfig& config) const {
  std::string socket = runner_->QmpSocket(dir, config);
  if (socket.empty()) return Status::Unavailable(runner_->BackendName() + " VMs have no QMP socket");
  return QmpClient::Connect(socket, options_.qmp_timeout);
}

Status ProcessHypervisor::Spawn(const std::string& dir, const std::vector<std::string>& argv) {
  // Everything the children need is prepared before fork: after fork in a
  // threaded process only async-signal-safe calls are allowed.
  // $1: pidfile to write with the child's pid ("" = it writes its own);
  // $2: file for the child's stdout ("" = the log like stderr).
  static const char kScript[] =
      "echo $$ > monitor.pid; p=$1; c=$2; shift 2; "
      "if [ -n \"$c\" ]; then \"$@\" > \"$c\" & else \"$@\" & fi; k=$!; "
      "if [ -n \"$p\" ]; then echo $k > \"$p.tmp\" && mv -f \"$p.tmp\" \"$p\"; fi; "
      "wait $k; s=$?; echo $s > exit.tmp && mv -f exit.tmp exit";
  std::vector<std::string> args = {"sh", "-c", kScript, "sh", runner_->ShellWritesPid() ? runner_->PidFile() : "",
                                   runner_->StdoutIsConsole() ? "console.log" : ""};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::string log = dir + "/" + runner_->LogFile();

  pid_t helper = fork();
  if (helper < 0) return Status::Internal(std::string("fork: ") + strerror(errno));
  if (helper == 0) {
    setsid();
    pid_t child = fork();
    if (child != 0) _exit(child < 0 ? 1 : 0);
    if (chdir(dir.c_str()) != 0) _exit(127);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    execv("/bin/sh", cargs.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Status::Internal("could not start " + runner_->BackendName() + " (fork failed)");
  return Status::Ok();
}

Result<VmInfo> ProcessHypervisor::Start(const VmConfig& given) {
  Status s = ValidateVmConfig(given);
  if (!s.ok()) return s;
  const std::string& name = given.name;
  const std::string what = runner_->BackendName();

  auto slot = SlotFor(name);
  std::lock_guard vm_lock(slot->mu);
  const std::string dir = Dir(name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create runtime dir " + dir + ": " + ec.message());
  int lock_fd = open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return Status::Internal("cannot open " + dir + "/lock: " + strerror(errno));
  flock(lock_fd, LOCK_EX);
  struct Unlock {
    int fd;
    ~Unlock() { close(fd); }
  } unlock{lock_fd};

  int old_pid = ReadPid(dir);
  if (ProcessIsOurs(old_pid, dir, *runner_)) {
    return Status::AlreadyExists("VM " + name + " is already running (pid " + std::to_string(old_pid) + ")");
  }
  // A VM refused before its first start leaves no runtime dir behind.
  const bool first_start = !fs::exists(dir + "/config.json");
  auto refuse = [&](Status why) {
    if (first_start) fs::remove_all(dir, ec);
    return why;
  };
  auto launch = runner_->Prepare(given, dir);
  if (!launch.ok()) return refuse(launch.status());
  for (const auto& p : given.net.publish) {
    s = CheckHostPortFree(p);
    if (!s.ok()) return refuse(s);
  }
  const std::string qmp_socket = runner_->QmpSocket(dir, given);
  for (const std::string& f : {runner_->PidFile(), runner_->LogFile(), std::string("exit"), std::string("exit.tmp"),
                               std::string("stop-requested"), std::string("wedged")}) {
    fs::remove(dir + "/" + f, ec);
  }
  if (!qmp_socket.empty()) fs::remove(qmp_socket, ec);
  if (fs::exists(dir + "/console.log")) fs::rename(dir + "/console.log", dir + "/console.log.1", ec);

  nlohmann::json meta = {{"config", VmConfigToJson(given)},
                         {"resolved_kernel", launch->resolved.kernel},
                         {"resolved_initrd", launch->resolved.initrd},
                         {"started_at_unix_ms", NowUnixMs()},
                         {"argv", launch->argv}};
  if (!WriteFileAtomic(dir + "/config.json", meta.dump(2) + "\n")) {
    return Status::Internal("cannot write " + dir + "/config.json");
  }
  slot->scanned_start = -1;
  slot->silence.reset();
  vm_trace::Mark(name, "spawn");
  s = Spawn(dir, launch->argv);
  if (!s.ok()) return s;

  // Up: the pid is known and, for a hypervisor controlled over QMP from the
  // start, QMP answers.
  const bool wait_qmp = runner_->StartWaitsForQmp() && !qmp_socket.empty();
  auto deadline = Clock::now() + options_.start_timeout;
  for (;;) {
    if (fs::exists(dir + "/exit")) {
      // Why, as Inspect would say it (exit status, its messages, the console).
      auto ended = InspectLocked(name, *slot);
      return Status::Unavailable("VM " + name + ": " + what + " exited while starting: " +
                                 (ended.ok() ? ended->reason : ended.status().message()));
    }
    int pid = ReadPid(dir);
    if (pid > 0 && !wait_qmp) break;
    if (pid > 0 && fs::exists(qmp_socket) && Qmp(dir, given).ok()) break;
    if (Clock::now() > deadline) {
      if (pid > 0) kill(pid, SIGKILL);
      WriteFileAtomic(dir + "/stop-requested", "failed to start: " + what + " did not come up within " +
                                                   std::to_string(options_.start_timeout.count()) + " ms");
      return Status::DeadlineExceeded("VM " + name + ": " + what + " did not come up in time");
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return InspectLocked(name, *slot);
}

bool ProcessHypervisor::ScanReady(const std::string& dir, const VmInfo& info, Slot& slot) {
  if (info.config.ready_pattern.empty()) return true;
  if (slot.scanned_start != info.started_at_unix_ms) {
    slot.scanned_start = info.started_at_unix_ms;
    slot.scanned = 0;
    slot.partial.clear();
    slot.ready = false;
  }
  if (slot.ready) return true;
  std::ifstream in(dir + "/console.log", std::ios::binary);
  if (!in) return false;
  in.seekg(static_cast<std::streamoff>(slot.scanned));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  slot.scanned += data.size();
  slot.partial += data;
  std::regex re;
  try {
    re = std::regex(info.config.ready_pattern);
  } catch (const std::regex_error&) {
    return false;
  }
  size_t start = 0;
  for (size_t nl; (nl = slot.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
    if (std::regex_search(slot.partial.begin() + start, slot.partial.begin() + nl, re)) {
      slot.ready = true;
      break;
    }
  }
  slot.partial.erase(0, slot.ready ? slot.partial.size() : start);
  return slot.ready;
}


Result<VmInfo> ProcessHypervisor::InspectLocked(const std::string& name, Slot& slot) {
  const std::string dir = Dir(name);
  auto meta_text = ReadFile(dir + "/config.json");
  if (!meta_text) return Status::NotFound("no VM " + name + " on this host");
  auto meta = nlohmann::json::parse(*meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.contains("config")) return Status::Corruption(dir + "/config.json is not valid");
  auto config = VmConfigFromJson(meta["config"]);
  if (!config.ok()) return config.status();

  VmInfo info;
  info.name = name;
  info.config = *config;
  info.runtime_dir = dir;
  info.started_at_unix_ms = meta.value("started_at_unix_ms", int64_t{0});

  int pid = ReadPid(dir);
  if (ProcessIsOurs(pid, dir, *runner_)) {
    info.pid = pid;
    const std::string socket = runner_->QmpSocket(dir, info.config);
    auto qmp = socket.empty() || !fs::exists(socket) ? Result<std::unique_ptr<QmpClient>>(Status::Unavailable("no QMP"))
                                                     : Qmp(dir, info.config);
    Result<std::string> status = qmp.ok() ? (*qmp)->QueryStatus(options_.qmp_timeout) : Result<std::string>(qmp.status());
    if (socket.empty()) {
      info.state = VmInfo::State::kRunning;  // no QMP: alive is all there is to know
    } else if (!fs::exists(socket)) {
      // Not controllable yet (microvm-nix: nix is still building the runner).
      info.state = VmInfo::State::kStarting;
      info.reason = "starting (" + runner_->BackendName() + ")";
    } else if (!status.ok()) {
      if (Wedged(slot, pid)) {
        // A pidfd checked to be our process again: the pid is not reused
        // between the check and the signal.
        int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
        if (pidfd >= 0 && ProcessIsOurs(pid, dir, *runner_)) {
          const auto secs =
              std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - slot.silence->since).count();
          WriteFileAtomic(dir + "/wedged", runner_->BackendName() + " stopped answering its monitor and was killed after " +
                                               std::to_string(secs) + " s");
          syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
          WaitGoneAndExitFile(dir, pid, milliseconds(2000));
        }
        if (pidfd >= 0) close(pidfd);
        slot.silence.reset();
        return InspectLocked(name, slot);
      }
      info.state = VmInfo::State::kRunning;
      info.reason = "QMP not answering: " + status.status().message();
    } else if (*status == "running" || *status == "debug") {
      info.state = VmInfo::State::kRunning;
    } else if (*status == "paused" || *status == "suspended" || *status == "io-error" || *status == "watchdog") {
      info.state = VmInfo::State::kPaused;
      if (*status != "paused") info.reason = "qemu status " + *status;
    } else if (*status == "guest-panicked" || *status == "internal-error") {
      info.state = VmInfo::State::kFailed;
      info.reason = "qemu status " + *status;
    } else if (*status == "shutdown") {
      info.state = VmInfo::State::kRunning;
      info.reason = "shutting down";
    } else {
      info.state = VmInfo::State::kStarting;
    }
    if (status.ok()) slot.silence.reset();
    info.ready = info.alive() && ScanReady(dir, info, slot);
    // The guest announced itself, so its vCPUs run, whatever QMP says yet.
    if (info.ready && info.state == VmInfo::State::kStarting) info.state = VmInfo::State::kRunning;
    return info;
  }

  DescribeEnded(dir, pid, *runner_, info);
  return info;
}

bool ProcessHypervisor::Wedged(Slot& slot, int pid) {
  // A process that still uses CPU is slow (a starved host), not wedged:
  // qemu stuck in its exit path sleeps (no CPU at all), while a live guest,
  // even an idle one, keeps its vCPU thread busy with timer ticks (about 1%
  // of a core). So "busy" is more than a couple of clock ticks and more
  // than 0.2% of the time the monitor has been silent: a bound relative to
  // the silence, so that a short limit does not ask a starved process for
  // a large share of a core.
  constexpr uint64_t kMinBusyCpuMs = 20;
  constexpr int64_t kBusyShare = 500;  // 1/500 of the silence
  constexpr int kMinProbes = 3;
  const auto now = std::chrono::steady_clock::now();
  const uint64_t cpu = ProcessCpuMs(pid).value_or(0);
  if (!slot.silence || slot.silence->pid != pid) {
    slot.silence = Slot::Silence{pid, now, cpu, 1};
    return false;
  }
  Slot::Silence& s = *slot.silence;
  ++s.probes;
  const int64_t silent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.since).count();
  const uint64_t busy_cpu_ms = std::max<uint64_t>(kMinBusyCpuMs, static_cast<uint64_t>(silent_ms / kBusyShare));
  if (cpu > s.cpu_ms + busy_cpu_ms) {  // busy: the silence so far says nothing
    s = Slot::Silence{pid, now, cpu, 1};
    return false;
  }
  return options_.qmp_wedged_after.count() > 0 && s.probes >= kMinProbes && now - s.since >= options_.qmp_wedged_after;
}

Result<VmInfo> ProcessHypervisor::Inspect(const std::string& name) {
  if (!IsValidVmName(name)) return Status::NotFound("no VM " + name + " on this host");
  auto slot = SlotFor(name);
  std::lock_guard lock(slot->mu);
  return InspectLocked(name, *slot);
}

Result<bool> ProcessHypervisor::Ready(const std::string& name) {
  if (!IsValidVmName(name)) return Status::NotFound("no VM " + name + " on this host");
  auto slot = SlotFor(name);
  std::lock_guard lock(slot->mu);
  const std::string dir = Dir(name);
  auto meta_text = ReadFile(dir + "/config.json");
  if (!meta_text) return Status::NotFound("no VM " + name + " on this host");
  auto meta = nlohmann::json::parse(*meta_text, nullptr, false);
  if (meta.is_discarded() || !meta.contains("config")) return Status::Corruption(dir + "/config.json is not valid");
  VmInfo info;
  info.config.ready_pattern = meta["config"].value("ready_pattern", "");
  info.started_at_unix_ms = meta.value("started_at_unix_ms", int64_t{0});
  return ProcessIsOurs(ReadPid(dir), dir, *runner_) && ScanReady(dir, info, *slot);
}

// Whether qemu's "info usernet" table shows a connection from host port
// `host_port` to guest port `guest_port` that the guest has accepted:
//   TCP[ESTABLISHED]   17   127.0.0.1 18481   10.0.2.15   80   0   0
bool UsernetShowsEstablished(const std::string& table, uint16_t host_port, uint16_t guest_port) {
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream cols(line);
    std::string state, fd, src, src_port, dst, dst_port;
    if (!(cols >> state >> fd >> src >> src_port >> dst >> dst_port)) continue;
    if (state == "TCP[ESTABLISHED]" && src_port == std::to_string(host_port) &&
        dst_port == std::to_string(guest_port)) {
      return true;
    }
  }
  return false;
}

Result<bool> ProcessHypervisor::ProbePublishedPort(const std::string& name, uint16_t guest_port, milliseconds timeout) {
  if (!IsValidVmName(name)) return Status::NotFound("no VM " + name + " on this host");
  auto slot = SlotFor(name);
  std::lock_guard lock(slot->mu);
  auto info = InspectLocked(name, *slot);
  if (!info.ok()) return info.status();
  const PortForward* fwd = nullptr;
  for (const auto& p : info->config.net.publish) {
    if (p.protocol == PortForward::Protocol::kTcp && p.guest_port == guest_port) fwd = &p;
  }
  if (!fwd || info->config.net.mode != NetworkConfig::Mode::kUser) {
    return Status::InvalidArgument("VM " + name + " publishes no TCP port to guest port " + std::to_string(guest_port));
  }
  if (!info->alive()) return false;
  in_addr host{};
  if (inet_pton(AF_INET, fwd->host_address.c_str(), &host) != 1) {
    return Status::InvalidArgument("published host address '" + fwd->host_address + "' is not an IPv4 address");
  }
  uint32_t ip = ntohl(host.s_addr);
  if (ip == 0) ip = INADDR_LOOPBACK;  // published on every address: loopback is one of them
  const auto deadline = Clock::now() + timeout;
  auto fd = ConnectTcp(ip, fwd->host_port, timeout);
  if (!fd.ok()) return false;
  struct Close {
    int fd;
    ~Close() { close(fd); }
  } closer{*fd};
  auto qmp = Qmp(Dir(name), info->config);
  if (!qmp.ok()) return qmp.status();
  for (;;) {
    // The guest refusing (RST) makes qemu close the host side at once.
    pollfd p{*fd, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      char byte;
      ssize_t n = recv(*fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0) return true;  // the guest's service spoke first
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
    }
    auto table = (*qmp)->Execute("human-monitor-command", {{"command-line", "info usernet"}}, options_.qmp_timeout);
    if (!table.ok()) return table.status();
    if (table->is_string() && UsernetShowsEstablished(table->get<std::string>(), fwd->host_port, guest_port)) {
      return true;
    }
    if (Clock::now() >= deadline) return false;
  }
}

Result<std::vector<VmInfo>> ProcessHypervisor::List() {
  std::vector<VmInfo> out;
  std::error_code ec;
  if (!fs::exists(options_.runtime_root)) return out;
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(options_.runtime_root, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && IsValidVmName(name) && fs::exists(entry.path() / "config.json")) names.push_back(name);
  }
  if (ec) return Status::IoError("list " + options_.runtime_root + ": " + ec.message());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    auto info = Inspect(name);
    if (info.ok()) out.push_back(std::move(*info));
  }
  return out;
}

Status ProcessHypervisor::WaitGoneAndExitFile(const std::string& dir, int pid, milliseconds timeout) {
  if (!WaitGone(pid, timeout)) {
    return Status::DeadlineExceeded(runner_->BackendName() + " pid " + std::to_string(pid) + " still running");
  }
  // The sh that waits for qemu writes `exit` right after; give it a moment.
  auto deadline = Clock::now() + milliseconds(2000);
  while (!fs::exists(dir + "/exit") && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  return Status::Ok();
}

Status ProcessHypervisor::Stop(const std::string& name, milliseconds grace) {
  auto slot = SlotFor(name);
  std::lock_guard lock(slot->mu);
  auto info = InspectLocked(name, *slot);
  if (!info.ok()) return info.status();
  if (info->pid == 0) return Status::Ok();
  const std::string dir = Dir(name);
  const int pid = info->pid;
  const std::string what = runner_->BackendName();
  const std::string grace_text = "guest did not power off within " + std::to_string(grace.count()) + " ms";
  WriteFileAtomic(dir + "/stop-requested", "stopped (guest powered off)");
  // 1. The power button, when the hypervisor has a way to press it.
  bool pressed = false;
  {
    auto qmp = Qmp(dir, info->config);
    if (qmp.ok()) {
      if (info->state == VmInfo::State::kPaused) (*qmp)->Cont(options_.qmp_timeout);
      pressed = runner_->PowerButton(**qmp, options_.qmp_timeout).ok();
    }
  }
  if (pressed && WaitGoneAndExitFile(dir, pid, grace).ok()) return Status::Ok();

  // 2. Ask the hypervisor to exit: QMP quit, else SIGTERM (qemu,
  // cloud-hypervisor and firecracker all exit on it).
  WriteFileAtomic(dir + "/stop-requested",
                  pressed ? "stopped: " + grace_text + "; " + what + " quit" : "stopped: " + what + " terminated");
  {
    auto qmp = Qmp(dir, info->config);
    if (!qmp.ok() || !(*qmp)->Quit(options_.qmp_timeout).ok()) kill(pid, SIGTERM);
  }
  if (WaitGoneAndExitFile(dir, pid, milliseconds(3000)).ok()) return Status::Ok();

  // 3. SIGKILL.
  WriteFileAtomic(dir + "/stop-requested",
                  "stopped: " + (pressed ? grace_text + "; " : std::string()) + what + " killed");
  kill(pid, SIGKILL);
  return WaitGoneAndExitFile(dir, pid, milliseconds(5000));
}

Status ProcessHypervisor::Kill(const std::string& name) {
  auto slot = SlotFor(name);
  std::lock_guard lock(slot->mu);
  auto info = InspectLocked(name, *slot);
  if (!info.ok()) return info.status();
  if (info->pid == 0) return Status::Ok();
  const std::string dir = Dir(name);
  WriteFileAtomic(dir + "/stop-requested", "stopped: killed");
  if (kill(info->pid, SIGKILL) != 0 && errno != ESRCH) {
    return Status::Internal("kill " + std::to_string(info->pid) + ": " + strerror(errno));
  }
  return WaitGoneAndExitFile(dir, info->pid, milliseconds(5000));
}

Status ProcessHypervisor::WithRunningQmp(const std::string& name,
                                         const std::function<Status(QmpClient&)>& command) {
  auto slot = SlotFor(name);
  std::lock_guard lock(slot->mu);
  auto info = InspectLocked(name, *slot);
  if (!info.ok()) return info.status();
  if (!info->alive()) return Status::FailedPrecondition("VM " + name + " is not running (" + VmStateName(info->state) + ")");
  auto qmp = Qmp(Dir(name), info->config);
  if (!qmp.ok()) return qmp.status();
  return command(**qmp);
}

Status ProcessHypervisor::Pause(const std::string& name) {
  return WithRunningQmp(name, [&](QmpClient& qmp) { return qmp.Stop(options_.qmp_timeout); });
}

Status ProcessHypervisor::Resume(const std::string& name) {
  return WithRunningQmp(name, [&](QmpClient& qmp) { return qmp.Cont(options_.qmp_timeout); });
}

Status ProcessHypervisor::Cleanup(const std::string& name) {
  if (!IsValidVmName(name)) return Status::Ok();
  auto slot = SlotFor(name);
  {
    std::lock_guard lock(slot->mu);
    const std::string dir = Dir(name);
    if (ProcessIsOurs(ReadPid(dir), dir, *runner_)) {
      return Status::FailedPrecondition("VM " + name + " is still running; stop it first");
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (ec) return Status::IoError("remove " + dir + ": " + ec.message());
  }
  std::lock_guard lock(mu_);
  slots_.erase(name);
  return Status::Ok();
}

Result<ConsoleChunk> ProcessHypervisor::ConsoleLog(const std::string& name, uint64_t offset, size_t max_bytes) {
  if (!IsValidVmName(name)) return Status::NotFound("no VM " + name + " on this host");
  const std::string dir = Dir(name);
  if (!fs::exists(dir + "/config.json")) return Status::NotFound("no VM " + name + " on this host");
  ConsoleChunk chunk;
  chunk.next_offset = offset;
  int fd = open((dir + "/console.log").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return chunk;  // not written yet
  chunk.data.resize(max_bytes);
  ssize_t n = pread(fd, chunk.data.data(), max_bytes, static_cast<off_t>(offset));
  int err = errno;
  close(fd);
  if (n < 0) return Status::IoError("read console of " + name + ": " + strerror(err));
  chunk.data.resize(static_cast<size_t>(n));
  chunk.next_offset = offset + static_cast<uint64_t>(n);
  return chunk;
}

}  // namespace

std::unique_ptr<Hypervisor> NewProcessHypervisor(ProcessHypervisorOptions options, std::unique_ptr<Runner> runner) {
  return std::make_unique<ProcessHypervisor>(std::move(options), std::move(runner));
}

}  // namespace blixard::vmm
