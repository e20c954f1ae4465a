#include "faults/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "support/process.h"

namespace blixard::faults {
namespace {

using testing::CommandResult;
using testing::RunCommand;

constexpr char kSubnet[] = "10.213.0.";
constexpr int kClientHost = 250;

Status Ip(std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/sbin/ip");
  CommandResult r = RunCommand(args);
  if (r.exit_code == 0) return Status::Ok();
  std::string cmd;
  for (const auto& a : args) cmd += a + " ";
  return Status::Internal("`" + cmd + "` failed (" + std::to_string(r.exit_code) + "): " + r.err);
}

std::vector<std::string> ListNamespaces() {
  CommandResult r = RunCommand({"/usr/sbin/ip", "netns", "list"});
  std::vector<std::string> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

// Kills every process inside namespace `ns`, then deletes it.
void RemoveNamespace(const std::string& ns) {
  CommandResult r = RunCommand({"/usr/sbin/ip", "netns", "pids", ns});
  std::istringstream in(r.out);
  pid_t pid;
  while (in >> pid) {
    if (pid > 1 && pid != getpid()) ::kill(pid, SIGKILL);
  }
  RunCommand({"/usr/sbin/ip", "netns", "del", ns});
}

}  // namespace

Result<std::unique_ptr<NetnsLab>> NetnsLab::Create(int nodes) {
  if (::geteuid() != 0) {
    return Status::FailedPrecondition("network namespaces need root (CAP_NET_ADMIN)");
  }
  CleanupDeadRuns();
  static std::atomic<int> counter{0};
  std::string base = std::string(kNetnsPrefix) + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++);
  std::unique_ptr<NetnsLab> lab(new NetnsLab(base, nodes));
  if (Status s = lab->Build(); !s.ok()) return s;  // the destructor removes what was made
  return lab;
}

NetnsLab::~NetnsLab() { Destroy(); }

std::string NetnsLab::NodeNs(int i) const { return base_ + "-n" + std::to_string(i); }
std::string NetnsLab::ClientNs() const { return base_ + "-c"; }
std::string NetnsLab::NodeIp(int i) { return kSubnet + std::to_string(i); }

std::vector<std::string> NetnsLab::Exec(int i) const {
  return {"/usr/sbin/ip", "netns", "exec", NodeNs(i)};
}

Status NetnsLab::Build() {
  const std::string hub = base_ + "-hub";
  auto add_ns = [&](const std::string& ns) -> Status {
    if (Status s = Ip({"netns", "add", ns}); !s.ok()) return s;
    created_.push_back(ns);
    return Ip({"-n", ns, "link", "set", "lo", "up"});
  };
  if (Status s = add_ns(hub); !s.ok()) return s;
  if (Status s = Ip({"-n", hub, "link", "add", "br0", "type", "bridge"}); !s.ok()) return s;
  if (Status s = Ip({"-n", hub, "link", "set", "br0", "up"}); !s.ok()) return s;
  auto attach = [&](const std::string& ns, const std::string& port, int host) -> Status {
    if (Status s = add_ns(ns); !s.ok()) return s;
    if (Status s = Ip({"-n", hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                       "netns", ns});
        !s.ok()) {
      return s;
    }
    if (Status s = Ip({"-n", hub, "link", "set", port, "master", "br0", "up"}); !s.ok()) return s;
    if (Status s = Ip({"-n", ns, "addr", "add", kSubnet + std::to_string(host) + "/24", "dev", "eth0"});
        !s.ok()) {
      return s;
    }
    return Ip({"-n", ns, "link", "set", "eth0", "up"});
  };
  for (int i = 1; i <= nodes_; ++i) {
    if (Status s = attach(NodeNs(i), "p" + std::to_string(i), i); !s.ok()) return s;
  }
  return attach(ClientNs(), "pc", kClientHost);
}

void NetnsLab::Destroy() {
  for (auto it = created_.rbegin(); it != created_.rend(); ++it) RemoveNamespace(*it);
  created_.clear();
}

Status NetnsLab::EnterClientNamespace() const {
  const std::string path = "/run/netns/" + ClientNs();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("open " + path + ": " + std::strerror(errno));
  int rc = ::setns(fd, CLONE_NEWNET);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::Internal("setns " + path + ": " + std::strerror(err));
  return Status::Ok();
}

Status NetnsLab::Route(bool add, int from, int to) {
  std::vector<std::string> args = {"-n", NodeNs(from), "route", add ? "replace" : "del",
                                   "blackhole", NodeIp(to) + "/32"};
  Status s = Ip(args);
  if (!add && !s.ok()) return Status::Ok();  // nothing to delete
  return s;
}

Status NetnsLab::Cut(int i, int j) {
  if (i == j) return Status::Ok();
  std::lock_guard lk(mu_);
  if (Status s = Route(true, i, j); !s.ok()) return s;
  if (Status s = Route(true, j, i); !s.ok()) return s;
  cuts_.insert({std::min(i, j), std::max(i, j)});
  return Status::Ok();
}

Status NetnsLab::Heal(int i, int j) {
  if (i == j) return Status::Ok();
  std::lock_guard lk(mu_);
  if (!cuts_.count({std::min(i, j), std::max(i, j)})) return Status::Ok();
  if (Status s = Route(false, i, j); !s.ok()) return s;
  if (Status s = Route(false, j, i); !s.ok()) return s;
  cuts_.erase({std::min(i, j), std::max(i, j)});
  return Status::Ok();
}

Status NetnsLab::HealAll() {
  for (auto [i, j] : cuts()) {
    if (Status s = Heal(i, j); !s.ok()) return s;
  }
  return Status::Ok();
}

std::set<std::pair<int, int>> NetnsLab::cuts() const {
  std::lock_guard lk(mu_);
  return cuts_;
}

int NetnsLab::CleanupDeadRuns() {
  int removed = 0;
  for (const std::string& ns : ListNamespaces()) {
    if (ns.rfind(kNetnsPrefix, 0) != 0) continue;
    const std::string rest = ns.substr(std::strlen(kNetnsPrefix));
    pid_t pid = static_cast<pid_t>(std::atol(rest.substr(0, rest.find('-')).c_str()));
    if (pid <= 0) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its run is alive
    RemoveNamespace(ns);
    ++removed;
  }
  return removed;
}

}  // namespace blixard::faults
