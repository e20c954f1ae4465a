#include "faults/cluster.h"

#include <signal.h>
#include <sys/wait.h>

#include <deque>
#include <fstream>
#include <sstream>

#include "support/daemon.h"

namespace blixard::faults {
namespace {

constexpr int kPort = 7001;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

NetCluster::NetCluster(NetnsLab& lab, Options options) : lab_(lab), options_(std::move(options)) {
  for (int i = 1; i <= options_.nodes; ++i) {
    Node& n = nodes_[i];
    n.id = i;
    n.data_dir = options_.dir + "/data-" + std::to_string(i);
  }
}

NetCluster::~NetCluster() { KillAll(); }

std::string NetCluster::Addr(int id) const {
  return NetnsLab::NodeIp(id) + ":" + std::to_string(kPort);
}

const std::string& NetCluster::DataDir(int id) const { return nodes_.at(id).data_dir; }

std::string NetCluster::LogPath(int id, int start) const {
  return options_.dir + "/node-" + std::to_string(id) + "-" + std::to_string(start) + ".log";
}

std::vector<std::string> NetCluster::Argv(int id, bool join) const {
  std::vector<std::string> argv = lab_.Exec(id);
  std::vector<std::string> env = options_.node_env;
  if (options_.fault_points) env.push_back("BLIXARD_FAULTS_FIFO=" + FifoBase(id));
  if (!env.empty()) {
    argv.push_back("/usr/bin/env");
    argv.insert(argv.end(), env.begin(), env.end());
  }
  std::vector<std::string> node = {testing::BlixardBin(), "node", "--id", std::to_string(id),
                                   "--bind", Addr(id), "--data-dir", nodes_.at(id).data_dir,
                                   "--backend", "fake", "--voters", std::to_string(options_.nodes)};
  argv.insert(argv.end(), node.begin(), node.end());
  if (join) {
    argv.push_back("--join");
    argv.push_back(Addr(1));
    if (!nodes_.at(id).token.empty()) argv.insert(argv.end(), {"--token", nodes_.at(id).token});
  }
  argv.insert(argv.end(), options_.node_args.begin(), options_.node_args.end());
  testing::AddFakeCapacity(argv);  // room for the workload's VMs on every node
  return argv;
}

void NetCluster::Spawn(Node& n, bool join) {
  {
    std::lock_guard lk(channel_mu_);
    n.channel.reset();
  }
  if (join && n.token.empty()) n.token = JoinToken("server");
  ++n.starts;
  n.paused = false;
  n.last_exit = -1;
  n.child = std::make_unique<testing::Child>(Argv(n.id, join), LogPath(n.id, n.starts));
}

bool NetCluster::Start(std::string* error) {
  for (int i = 1; i <= options_.nodes; ++i) {
    Spawn(nodes_[i], i > 1);
    bool ready = testing::WaitUntil(
        [&] {
          if (!Running(i)) return true;
          auto st = Status(i, /*stale=*/false, milliseconds(2000));
          if (!st) {
            ResetChannel(i);  // do not wait out gRPC's reconnect backoff
            return false;
          }
          for (const auto& m : st->members()) {
            if (m.id() == static_cast<uint64_t>(i)) return true;
          }
          return false;
        },
        milliseconds(60000));
    if (!ready || !Running(i)) {
      *error = "node " + std::to_string(i) + " did not become ready:\n" + LogTail(i, 50);
      return false;
    }
  }
  return true;
}

std::string NetCluster::FifoBase(int id) const {
  return options_.dir + "/fiu-n" + std::to_string(id);
}

bool NetCluster::FaultControl(int id, const std::string& command, std::string* error) {
  const int pid = Pid(id);
  if (pid == 0 || Paused(id)) {
    if (error) *error = "n" + std::to_string(id) + " is not running";
    return false;
  }
  // A fifo without a reader (the node died meanwhile) would block forever.
  testing::CommandResult r = testing::RunCommand({"/usr/bin/timeout", "5", "/usr/bin/fiu-ctrl", "-f",
                                                  FifoBase(id), "-c", command, std::to_string(pid)});
  const bool ok = r.exit_code == 0 && r.out.find("error") == std::string::npos;
  if (!ok && error) *error = "fiu-ctrl on n" + std::to_string(id) + ": " + r.out + r.err;
  return ok;
}

void NetCluster::Kill9(int id) {
  Node& n = nodes_.at(id);
  if (!n.child || !Running(id)) return;
  n.child->Signal(SIGKILL);
  n.last_exit = n.child->Wait(milliseconds(30000));
  n.paused = false;
}

void NetCluster::WaitExit(int id, milliseconds timeout) {
  Node& n = nodes_.at(id);
  if (!n.child) return;
  int code = n.child->Wait(timeout);
  if (code != -1) n.last_exit = code;
}

void NetCluster::Restart(int id) {
  Node& n = nodes_.at(id);
  if (n.child && Running(id)) return;
  Spawn(n, false);
}

void NetCluster::Pause(int id) {
  Node& n = nodes_.at(id);
  if (!n.child || !Running(id) || n.paused) return;
  n.child->Signal(SIGSTOP);
  n.paused = true;
  // kill() returns before the process has stopped (WNOWAIT: Child reaps).
  testing::WaitUntil(
      [&] {
        siginfo_t info{};
        if (waitid(P_PID, n.child->pid(), &info, WSTOPPED | WEXITED | WNOHANG | WNOWAIT) != 0) {
          return true;
        }
        return info.si_pid == n.child->pid();
      },
      milliseconds(10000));
}

void NetCluster::Resume(int id) {
  Node& n = nodes_.at(id);
  if (!n.child || !n.paused) return;
  n.child->Signal(SIGCONT);
  n.paused = false;
}

void NetCluster::KillAll() {
  for (auto& [id, n] : nodes_) {
    if (n.child && n.child->Running()) n.child->Signal(SIGKILL);
  }
  for (auto& [id, n] : nodes_) {
    if (n.child) {
      int code = n.child->Wait(milliseconds(30000));
      if (code != -1) n.last_exit = code;
    }
    n.paused = false;
  }
}

bool NetCluster::Running(int id) {
  Node& n = nodes_.at(id);
  if (!n.child) return false;
  if (n.child->Running()) return true;
  if (n.last_exit == -1) n.last_exit = n.child->Wait(milliseconds(0));
  return false;
}

bool NetCluster::Paused(int id) const { return nodes_.at(id).paused; }

int NetCluster::Pid(int id) {
  return Running(id) ? nodes_.at(id).child->pid() : 0;
}

int NetCluster::ExitCode(int id) {
  if (Running(id)) return -1;
  return nodes_.at(id).last_exit;
}

std::string NetCluster::Log(int id) const {
  std::string out;
  for (int s = 1; s <= nodes_.at(id).starts; ++s) out += ReadAll(LogPath(id, s));
  return out;
}

std::string NetCluster::LogTail(int id, size_t lines) const {
  std::istringstream in(Log(id));
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "  n" + std::to_string(id) + "| " + l + "\n";
  return out;
}

void NetCluster::ResetChannel(int id) {
  std::lock_guard lk(channel_mu_);
  nodes_.at(id).channel.reset();
}

std::shared_ptr<grpc::Channel> NetCluster::NewChannel(int id) const {
  return testing::RestartFriendlyChannel(Addr(id), testing::AdminSecurity(DataDir(1)));
}

std::string NetCluster::JoinToken(const std::string& role) const {
  std::string token;
  testing::WaitUntil(
      [&] {
        auto stub = v1::ClusterService::NewStub(NewChannel(1));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::CreateJoinTokenRequest req;
        req.set_role(role);
        v1::CreateJoinTokenResponse resp;
        if (!stub->CreateJoinToken(&ctx, req, &resp).ok()) return false;
        token = resp.token();
        return true;
      },
      milliseconds(30000));
  return token;
}

std::shared_ptr<grpc::Channel> NetCluster::Channel(int id) {
  std::lock_guard lk(channel_mu_);
  Node& n = nodes_.at(id);
  if (!n.channel) n.channel = NewChannel(id);
  return n.channel;
}

std::optional<v1::GetClusterStatusResponse> NetCluster::Status(int id, bool stale,
                                                              milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::GetClusterStatusRequest req;
  req.set_stale(stale);
  v1::GetClusterStatusResponse resp;
  if (!v1::ClusterService::NewStub(Channel(id))->GetClusterStatus(&ctx, req, &resp).ok()) {
    return std::nullopt;
  }
  return resp;
}

int NetCluster::CurrentLeader() {
  std::map<int, int> votes;
  for (int id = 1; id <= options_.nodes; ++id) {
    if (!Running(id) || Paused(id)) continue;
    auto st = Status(id, /*stale=*/true, milliseconds(1000));
    if (st && st->leader_id() != 0) ++votes[static_cast<int>(st->leader_id())];
  }
  int best = 0, count = 0;
  for (auto [id, n] : votes) {
    if (n > count) best = id, count = n;
  }
  return best;
}

int NetCluster::WaitForLeader(milliseconds timeout) {
  int leader = 0;
  testing::WaitUntil(
      [&] {
        int candidate = CurrentLeader();
        if (candidate == 0 || !Running(candidate) || Paused(candidate)) return false;
        auto st = Status(candidate, /*stale=*/false, milliseconds(2000));
        if (st && st->leader_id() == static_cast<uint64_t>(candidate)) {
          leader = candidate;
          return true;
        }
        return false;
      },
      timeout);
  return leader;
}

}  // namespace blixard::faults
