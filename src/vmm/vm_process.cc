#include "vmm/vm_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

namespace blixard::vmm {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string LastLines(const std::string& path, int n) {
  auto text = ReadFile(path);
  if (!text) return "";
  std::vector<std::string> lines;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  for (size_t i = lines.size() > static_cast<size_t>(n) ? lines.size() - n : 0; i < lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += lines[i];
  }
  return out;
}

Status CheckHostPortFree(const PortForward& p) {
  int fd = socket(AF_INET, (p.protocol == PortForward::Protocol::kUdp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(p.host_port);
  if (inet_pton(AF_INET, p.host_address.c_str(), &addr.sin_addr) != 1) {
    close(fd);
    return Status::InvalidArgument("published host address '" + p.host_address + "' is not an IPv4 address");
  }
  int r = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  close(fd);
  if (r == 0) return Status::Ok();
  return Status::FailedPrecondition("host port " + p.host_address + ":" + std::to_string(p.host_port) +
                                    " cannot be published: " + strerror(err));
}

std::optional<std::string> LiveCmdline(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return std::nullopt;
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  auto paren = stat->rfind(')');
  if (paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z') return std::nullopt;
  return ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
}

bool ProcessIsOurs(int pid, const std::string& dir, const Runner& runner) {
  auto cmdline = LiveCmdline(pid);
  return cmdline && runner.CmdlineIsOurs(*cmdline, dir);
}

bool ProcessMentions(int pid, const std::string& text) {
  auto cmdline = LiveCmdline(pid);
  return cmdline && cmdline->find(text) != std::string::npos;
}

std::optional<uint64_t> ProcessCpuMs(int pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  auto paren = stat->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  // After the command: state (field 3) ... utime (14), stime (15).
  std::istringstream fields(stat->substr(paren + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  static const long ticks = sysconf(_SC_CLK_TCK);
  return (utime + stime) * 1000 / static_cast<uint64_t>(ticks > 0 ? ticks : 100);
}

bool WaitGone(int pid, std::chrono::milliseconds timeout) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    int r;
    do {
      r = poll(&p, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    close(pidfd);
    return r > 0;
  }
  if (errno == ESRCH) return true;
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (kill(pid, 0) != 0) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return kill(pid, 0) != 0;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : std::to_string(sig);
}

std::string NothingOnConsole(const VmConfig& c) {
  return "nothing on its console (is " + std::to_string(c.memory_mib) +
         " MiB of memory enough for its kernel and initrd?)";
}

void DescribeEnded(const std::string& dir, int pid, const Runner& runner, VmInfo& info) {
  // The monitor shell writes `exit` just after the
  // process ends; while it still lives, wait for it.
  if (!fs::exists(dir + "/exit")) {
    int monitor = 0;
    if (auto text = ReadFile(dir + "/monitor.pid")) monitor = atoi(text->c_str());
    if (monitor > 0 && ProcessMentions(monitor, "exit.tmp")) WaitGone(monitor, milliseconds(2000));
  }
  auto exit_text = ReadFile(dir + "/exit");
  auto stop_text = ReadFile(dir + "/stop-requested");
  if (exit_text) {
    try {
      info.exit_status = std::stoi(*exit_text);
    } catch (...) {
    }
    if (info.exit_status > 128) info.term_signal = info.exit_status - 128;
  }
  if (stop_text) {
    info.state = VmInfo::State::kStopped;
    info.reason = Trim(*stop_text);
  } else if (auto wedged = ReadFile(dir + "/wedged")) {
    info.state = VmInfo::State::kFailed;
    info.reason = Trim(*wedged);
    if (LastLines(dir + "/console.log", 20).empty()) info.reason += ", with " + NothingOnConsole(info.config);
  } else if (!exit_text && pid == 0 && !fs::exists(dir + "/qmp.sock")) {
    info.state = VmInfo::State::kFailed;
    info.reason = runner.BackendName() + " never started";
  } else if (!exit_text) {
    info.state = VmInfo::State::kFailed;
    info.reason = runner.BackendName() + " is gone and left no exit status (host rebooted or its monitor was killed)";
  } else if (info.term_signal) {
    info.state = VmInfo::State::kFailed;
    info.reason = runner.BackendName() + " was killed by signal " + std::to_string(info.term_signal) + " (" + SignalName(info.term_signal) + ")";
  } else if (info.exit_status != 0) {
    info.state = VmInfo::State::kFailed;
    std::string last = LastLines(dir + "/" + runner.LogFile(), 2);
    info.reason = runner.BackendName() + " exited with status " + std::to_string(info.exit_status) + (last.empty() ? "" : ": " + last);
  } else {
    // The hypervisor exits 0 on guest power-off, and (qemu with -no-reboot)
    // on a guest reboot, which panic=-1 turns a kernel panic into.
    std::string tail = LastLines(dir + "/console.log", 20);
    auto panic = tail.find("Kernel panic");
    if (panic != std::string::npos) {
      info.state = VmInfo::State::kFailed;
      auto end = tail.find(" | ", panic);
      info.reason = "guest kernel panic: " + tail.substr(panic, end == std::string::npos ? std::string::npos : end - panic);
    } else if (tail.empty()) {
      // A guest that resets before its console is up: with too little
      // memory the kernel cannot even unpack itself and its initrd.
      info.state = VmInfo::State::kFailed;
      info.reason = "the guest stopped before printing anything: " + NothingOnConsole(info.config);
    } else {
      info.state = VmInfo::State::kStopped;
      info.reason = "guest powered off";
    }
  }
}

bool CmdlineMentionsPath(const std::string& cmdline, const std::string& path) {
  for (size_t at = cmdline.find(path); at != std::string::npos; at = cmdline.find(path, at + 1)) {
    size_t end = at + path.size();
    if (end == cmdline.size() || std::string_view("/#,", 4).find(cmdline[end]) != std::string_view::npos) return true;
  }
  return false;
}

bool WriteFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << data;
    if (!out.flush()) return false;
  }
  return rename(tmp.c_str(), path.c_str()) == 0;
}

std::string FindInPath(const std::string& binary) {
  if (binary.find('/') != std::string::npos) return access(binary.c_str(), X_OK) == 0 ? binary : "";
  const char* path = getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + binary;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

Status CheckReadable(const std::string& what, const std::string& path, const std::string& hint) {
  if (access(path.c_str(), R_OK) == 0 && fs::is_regular_file(path)) return Status::Ok();
  return Status::InvalidArgument(what + " " + path + " does not exist or is not a readable file" + hint);
}


}  // namespace blixard::vmm
