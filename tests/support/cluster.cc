#include "support/cluster.h"

#include "support/daemon.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace blixard::testing {
namespace {

constexpr int kPortRaceRetries = 5;
constexpr size_t kLogTailLines = 300;

std::string ReadTail(const std::string& path, size_t max_lines) {
  std::ifstream f(path);
  std::deque<std::string> lines;
  std::string line;
  size_t dropped = 0;
  while (std::getline(f, line)) {
    lines.push_back(std::move(line));
    if (lines.size() > max_lines) {
      lines.pop_front();
      ++dropped;
    }
  }
  std::string out;
  if (dropped) out = "... (" + std::to_string(dropped) + " earlier lines)\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  // No SO_REUSEADDR: a port with connections in TIME_WAIT counts as taken.
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Extra node flags from the environment (space-separated), e.g.
// BLIXARD_TEST_NODE_ARGS="--tick-ms 50" for repeated runs.
std::vector<std::string> EnvNodeArgs() {
  std::vector<std::string> out;
  if (const char* e = getenv("BLIXARD_TEST_NODE_ARGS")) {
    std::istringstream in(e);
    std::string w;
    while (in >> w) out.push_back(w);
  }
  return out;
}

// Harness steps with timestamps on stderr when BLIXARD_TEST_TRACE is set:
// where the time of a slow or failed run went.
void Trace(const std::string& what) {
  static const bool on = getenv("BLIXARD_TEST_TRACE") != nullptr;
  if (!on) return;
  static const auto t0 = std::chrono::steady_clock::now();
  auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "[harness +" << ms << " ms] " << what << std::endl;
}

}  // namespace

int FreeListenPort() {
  static std::mutex mu;
  static std::mt19937 rng(std::random_device{}());
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  const int lo = 10000, hi = std::min(low, 32768) - 1;
  if (hi - lo < 1000) return FreeTcpPort();
  std::lock_guard lk(mu);
  for (int i = 0; i < 1000; ++i) {
    int port = std::uniform_int_distribution<int>(lo, hi)(rng);
    if (PortFree(port)) return port;
  }
  return FreeTcpPort();
}

RoleCount CountRoles(const v1::GetClusterStatusResponse& st) {
  RoleCount c;
  for (const auto& m : st.members()) {
    switch (m.role()) {
      case v1::NODE_ROLE_VOTER: ++c.voters; break;
      case v1::NODE_ROLE_STANDBY: ++c.standbys; break;
      default: ++c.learners; break;
    }
  }
  return c;
}

TestCluster::TestCluster(Options options)
    : options_(std::move(options)), rng_(std::random_device{}()) {
  auto env = EnvNodeArgs();
  options_.node_args.insert(options_.node_args.end(), env.begin(), env.end());
}

TestCluster::~TestCluster() {
  if (::testing::Test::HasFailure()) std::cerr << AllLogs();
  for (auto& [id, m] : members_) {
    if (m->child && m->child->Running()) {
      m->child->Signal(SIGKILL);
      m->child->Wait(seconds(30));
    }
  }
}

TestCluster::Member& TestCluster::Get(uint64_t id) {
  auto it = members_.find(id);
  if (it == members_.end()) throw std::out_of_range("no node " + std::to_string(id));
  return *it->second;
}

const TestCluster::Member& TestCluster::Get(uint64_t id) const {
  auto it = members_.find(id);
  if (it == members_.end()) throw std::out_of_range("no node " + std::to_string(id));
  return *it->second;
}

std::vector<std::string> TestCluster::NodeArgs(uint64_t id) const {
  const Member& m = Get(id);
  std::vector<std::string> args = {BlixardBin(), "node", "--id", std::to_string(id),
                                   "--bind", m.addr, "--data-dir", m.data_dir};
  for (const auto& j : m.join) {
    args.push_back("--join");
    args.push_back(j);
  }
  if (!m.token.empty()) args.insert(args.end(), {"--token", m.token});
  args.insert(args.end(), options_.node_args.begin(), options_.node_args.end());
  args.insert(args.end(), m.extra_args.begin(), m.extra_args.end());
  // Control-plane tests simulate VMs unless a node asks for a backend.
  if (std::find(args.begin(), args.end(), "--backend") == args.end()) {
    args.insert(args.end(), {"--backend", "fake"});
    AddFakeCapacity(args);
  }
  return args;
}

void TestCluster::Spawn(Member& m) {
  {
    std::lock_guard lk(m.channel_mu);
    m.channel.reset();
  }
  ++m.starts;
  m.child = std::make_unique<Child>(NodeArgs(m.id), dir_.path() + "/node-" + std::to_string(m.id) +
                                                        "-" + std::to_string(m.starts) + ".log");
}

bool TestCluster::LostPortRace(Member& m) {
  return m.child && !m.child->Running() &&
         m.child->Log().find("cannot listen on") != std::string::npos;
}

uint64_t TestCluster::RandomRunning(uint64_t except) {
  std::vector<uint64_t> ids;
  for (uint64_t id : RunningIds()) {
    if (id != except) ids.push_back(id);
  }
  if (ids.empty()) return 0;
  return ids[std::uniform_int_distribution<size_t>(0, ids.size() - 1)(rng_)];
}

bool TestCluster::Start(size_t n) {
  for (uint64_t id = 1; id <= n; ++id) {
    if (!Add(id)) return false;
  }
  return true;
}

bool TestCluster::Add(uint64_t id, std::vector<std::string> extra_args) {
  auto owned = std::make_unique<Member>();
  Member& m = *owned;
  members_[id] = std::move(owned);
  m.id = id;
  m.extra_args = std::move(extra_args);
  const uint64_t via = RandomRunning(id);
  for (int attempt = 0;; ++attempt) {
    m.addr = "127.0.0.1:" + std::to_string(FreeListenPort());
    m.data_dir = dir_.path() + "/data-" + std::to_string(id) + "-" + std::to_string(attempt);
    m.join.clear();
    m.token.clear();
    if (via != 0) {
      m.join.push_back(Addr(via));
      if (!Insecure()) m.token = JoinToken();
    } else if (admin_data_dir_.empty()) {
      admin_data_dir_ = m.data_dir;
    }
    Spawn(m);
    Trace("node " + std::to_string(id) + " started on " + m.addr);
    if (WaitReady(id)) {
      Trace("node " + std::to_string(id) + " ready");
      return true;
    }
    if (attempt >= kPortRaceRetries || !LostPortRace(m)) break;
    // Another process took the port between our check and the node's bind.
    // A joiner was already added under the lost address: remove it, then
    // join again from a fresh data dir on another port.
    std::cerr << "node " << id << " lost the race for " << m.addr << "; retrying on another port\n";
    if (via != 0) {
      auto ctx = std::make_unique<grpc::ClientContext>();
      ctx->set_deadline(std::chrono::system_clock::now() + seconds(30));
      v1::RemoveMemberRequest req;
      req.set_node_id(id);
      v1::RemoveMemberResponse resp;
      grpc::Status s = Cluster(via)->RemoveMember(ctx.get(), req, &resp);
      if (!s.ok()) {
        std::cerr << "cannot remove node " << id << " after a lost port race: " << s.error_message()
                  << "\n";
        break;
      }
    }
  }
  std::cerr << "node " << id << " did not become ready\n" << AllLogs();
  return false;
}

bool TestCluster::WaitReady(uint64_t id, milliseconds timeout) {
  Member& m = Get(id);
  bool ready = false;
  WaitUntil(
      [&] {
        if (!m.child->Running()) return true;  // exited: give up
        auto st = Status(id, /*stale=*/false, seconds(2));
        if (!st) {
          // A channel that failed before the node listened waits out gRPC's
          // reconnect backoff (seconds, whatever the channel arguments say):
          // start over with a fresh one.
          std::lock_guard lk(m.channel_mu);
          m.channel.reset();
          return false;
        }
        for (const auto& mem : st->members()) {
          if (mem.id() == id) return ready = true;
        }
        return false;
      },
      timeout);
  return ready;
}

uint64_t TestCluster::WaitForLeader(milliseconds timeout) {
  uint64_t leader = 0;
  WaitUntil(
      [&] {
        // Local views first (they answer at once, even on a removed member,
        // whose quorum reads hang), then the leader confirms itself with a
        // linearizable read.
        std::set<uint64_t> candidates;
        for (uint64_t id : RunningIds()) {
          if (paused_.count(id)) continue;
          auto st = Status(id, /*stale=*/true, seconds(2));
          if (st && st->leader_id() != 0 && members_.count(st->leader_id()) &&
              Running(st->leader_id()) && !paused_.count(st->leader_id())) {
            candidates.insert(st->leader_id());
          }
        }
        for (uint64_t id : candidates) {
          auto st = Status(id, /*stale=*/false, seconds(2));
          if (st && st->leader_id() == id) {
            leader = id;
            return true;
          }
        }
        return false;
      },
      timeout);
  Trace("leader: " + std::to_string(leader));
  return leader;
}

bool TestCluster::WaitForMembers(RoleCount want, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  RoleCount last;
  bool ok = WaitUntil(
      [&] {
        auto remaining = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
        uint64_t leader = WaitForLeader(std::max(remaining, milliseconds(1)));
        if (leader == 0) return false;
        auto st = Status(leader, /*stale=*/false, seconds(2));
        if (!st) return false;
        last = CountRoles(*st);
        if (!(last == want)) return false;
        std::map<uint64_t, v1::NodeRole> roles;
        for (const auto& m : st->members()) roles[m.id()] = m.role();
        for (uint64_t id : RunningIds()) {
          if (!roles.count(id) || paused_.count(id)) continue;  // not a member (e.g. removed but still running)
          auto mine = Status(id, /*stale=*/true, seconds(2));
          if (!mine) return false;
          std::map<uint64_t, v1::NodeRole> seen;
          for (const auto& m : mine->members()) seen[m.id()] = m.role();
          if (seen != roles) return false;
        }
        return true;
      },
      timeout);
  Trace("members " + std::to_string(last.voters) + "/" + std::to_string(last.standbys) + "/" +
        std::to_string(last.learners) + (ok ? "" : " (not as wanted)"));
  if (!ok) {
    std::cerr << "members not as expected: want " << want.voters << " voters, " << want.standbys
              << " standbys, " << want.learners << " learners; last seen " << last.voters << "/"
              << last.standbys << "/" << last.learners << "\n";
  }
  return ok;
}

void TestCluster::Kill9(uint64_t id) { Stop(id, SIGKILL); }

int TestCluster::Stop(uint64_t id, int sig) {
  Member& m = Get(id);
  {
    std::lock_guard lk(m.channel_mu);
    m.channel.reset();
  }
  Trace("signal " + std::to_string(sig) + " to node " + std::to_string(id));
  m.child->Signal(sig);
  if (sig != SIGKILL) m.child->Signal(SIGCONT);  // a paused node must run to handle it
  paused_.erase(id);
  int code = m.child->Wait(seconds(30));
  Trace("node " + std::to_string(id) + " exited with " + std::to_string(code));
  return code;
}

void TestCluster::StopAll(int sig) {
  std::vector<uint64_t> ids = RunningIds();
  for (uint64_t id : ids) {
    Member& m = Get(id);
    {
      std::lock_guard lk(m.channel_mu);
      m.channel.reset();
    }
    m.child->Signal(sig);
    m.child->Signal(SIGCONT);
  }
  paused_.clear();
  Trace("signal " + std::to_string(sig) + " to every node");
  for (uint64_t id : ids) {
    int code = Get(id).child->Wait(seconds(30));
    Trace("node " + std::to_string(id) + " exited with " + std::to_string(code));
    if (code != 0 && sig != SIGKILL) {
      ADD_FAILURE() << "node " << id << " exited with " << code << " after signal " << sig;
    }
  }
}

void TestCluster::Pause(uint64_t id) {
  Child& child = *Get(id).child;
  child.Signal(SIGSTOP);
  paused_.insert(id);
  // kill() returns before the process has stopped: a request sent at once
  // could still be served. Wait for the stop (WNOWAIT: Child still reaps).
  bool stopped = WaitUntil(
      [&] {
        siginfo_t info{};
        if (waitid(P_PID, child.pid(), &info, WSTOPPED | WEXITED | WNOHANG | WNOWAIT) != 0) {
          return true;  // not our child any more: nothing to wait for
        }
        return info.si_pid == child.pid();
      },
      seconds(10));
  if (!stopped) ADD_FAILURE() << "node " << id << " did not stop after SIGSTOP";
}

void TestCluster::Resume(uint64_t id) {
  Get(id).child->Signal(SIGCONT);
  paused_.erase(id);
}

bool TestCluster::Restart(uint64_t id, bool wait) {
  Member& m = Get(id);
  if (m.child && m.child->Running()) {
    std::cerr << "node " << id << " is still running; not restarting\n";
    return false;
  }
  Spawn(m);
  Trace("node " + std::to_string(id) + " restarted");
  if (!wait) return true;
  if (WaitReady(id)) {
    Trace("node " + std::to_string(id) + " ready");
    return true;
  }
  std::cerr << "node " << id << " did not become ready after a restart\n" << AllLogs();
  return false;
}

bool TestCluster::Running(uint64_t id) {
  auto it = members_.find(id);
  return it != members_.end() && it->second->child && it->second->child->Running();
}

std::vector<uint64_t> TestCluster::Ids() const {
  std::vector<uint64_t> ids;
  for (const auto& [id, m] : members_) ids.push_back(id);
  return ids;
}

std::vector<uint64_t> TestCluster::RunningIds() {
  std::vector<uint64_t> ids;
  for (const auto& [id, m] : members_) {
    if (Running(id)) ids.push_back(id);
  }
  return ids;
}

const std::string& TestCluster::Addr(uint64_t id) const { return Get(id).addr; }
const std::string& TestCluster::DataDir(uint64_t id) const { return Get(id).data_dir; }

int TestCluster::Pid(uint64_t id) const { return Get(id).child->pid(); }

std::string TestCluster::Log(uint64_t id) const {
  const Member& m = Get(id);
  std::string out;
  for (int s = 1; s <= m.starts; ++s) {
    out += ReadAll(dir_.path() + "/node-" + std::to_string(id) + "-" + std::to_string(s) + ".log");
  }
  return out;
}

std::string TestCluster::AllLogs() const {
  std::string out;
  for (const auto& [id, m] : members_) {
    for (int s = 1; s <= m->starts; ++s) {
      out += "==== node " + std::to_string(id) + " (" + m->addr + "), start " + std::to_string(s) +
             " ====\n";
      out += ReadTail(dir_.path() + "/node-" + std::to_string(id) + "-" + std::to_string(s) + ".log",
                      kLogTailLines);
    }
  }
  return out;
}

std::shared_ptr<grpc::Channel> TestCluster::Channel(Member& m) {
  std::lock_guard lk(m.channel_mu);
  if (m.channel) return m.channel;
  rpc::RpcSecurity security = Security();
  // Until the first node wrote its credential, a channel is not kept.
  if (!security.is_tls() && !Insecure()) return RestartFriendlyChannel(m.addr, security);
  m.channel = RestartFriendlyChannel(m.addr, security);  // members restart in place
  return m.channel;
}

bool TestCluster::Insecure() const {
  return std::find(options_.node_args.begin(), options_.node_args.end(), "--insecure") != options_.node_args.end();
}

rpc::RpcSecurity TestCluster::Security() const {
  if (Insecure() || admin_data_dir_.empty()) return rpc::RpcSecurity::Insecure();
  return AdminSecurity(admin_data_dir_);
}

std::shared_ptr<grpc::Channel> TestCluster::NewChannel(uint64_t id) const {
  return RestartFriendlyChannel(Addr(id), Security());
}

std::shared_ptr<grpc::Channel> TestCluster::NewNodeChannel(uint64_t id) const {
  rpc::RpcSecurity admin = Security();
  if (!admin.is_tls()) return RestartFriendlyChannel(Addr(id), admin);
  rpc::RpcSecurity node = NodeSecurity(admin_data_dir_, 999);
  if (!node.is_tls()) ADD_FAILURE() << "cannot make a node certificate from " << admin_data_dir_;
  return RestartFriendlyChannel(Addr(id), node);
}

std::string TestCluster::JoinToken(const std::string& role) {
  std::string token;
  std::string last;
  WaitUntil(
      [&] {
        const uint64_t via = RandomRunning(0);
        if (via == 0) return false;
        auto ctx = std::make_unique<grpc::ClientContext>();
        ctx->set_deadline(std::chrono::system_clock::now() + seconds(5));
        v1::CreateJoinTokenRequest req;
        req.set_role(role);
        v1::CreateJoinTokenResponse resp;
        grpc::Status s = Cluster(via)->CreateJoinToken(ctx.get(), req, &resp);
        if (!s.ok()) {
          last = s.error_message();
          return false;
        }
        token = resp.token();
        return true;
      },
      seconds(30));
  if (token.empty()) ADD_FAILURE() << "no member made a join token: " << last;
  return token;
}

std::unique_ptr<v1::VmService::Stub> TestCluster::Vms(uint64_t id) {
  return v1::VmService::NewStub(Channel(Get(id)));
}

std::unique_ptr<v1::ClusterService::Stub> TestCluster::Cluster(uint64_t id) {
  return v1::ClusterService::NewStub(Channel(Get(id)));
}

std::optional<v1::GetClusterStatusResponse> TestCluster::Status(uint64_t id, bool stale,
                                                                milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::GetClusterStatusRequest req;
  req.set_stale(stale);
  v1::GetClusterStatusResponse resp;
  if (!Cluster(id)->GetClusterStatus(&ctx, req, &resp).ok()) return std::nullopt;
  return resp;
}

grpc::Status TestCluster::CreateVm(uint64_t id, const std::string& name, milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::CreateVmRequest req;
  req.mutable_spec()->set_name(name);
  req.mutable_spec()->set_vcpus(1);
  req.mutable_spec()->set_memory_mib(128);
  v1::CreateVmResponse resp;
  return Vms(id)->CreateVm(&ctx, req, &resp);
}

std::optional<std::set<std::string>> TestCluster::VmNames(uint64_t id, bool stale,
                                                          milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::ListVmsRequest req;
  req.set_stale(stale);
  v1::ListVmsResponse resp;
  if (!Vms(id)->ListVms(&ctx, req, &resp).ok()) return std::nullopt;
  std::set<std::string> names;
  for (const auto& vm : resp.vms()) names.insert(vm.spec().name());
  return names;
}

bool TestCluster::WaitForVms(uint64_t id, const std::set<std::string>& names, milliseconds timeout) {
  std::vector<std::string> missing;
  bool ok = WaitUntil(
      [&] {
        auto have = VmNames(id, /*stale=*/true);
        if (!have) return false;
        missing.clear();
        std::set_difference(names.begin(), names.end(), have->begin(), have->end(),
                            std::back_inserter(missing));
        return missing.empty();
      },
      timeout);
  if (!ok) {
    std::cerr << "node " << id << " lacks " << missing.size() << " of " << names.size() << " VMs";
    if (!missing.empty()) std::cerr << " (e.g. " << missing.front() << ")";
    std::cerr << "\n";
  }
  return ok;
}

CommandResult TestCluster::Cli(uint64_t id, std::vector<std::string> args) const {
  args.insert(args.begin(), BlixardBin());
  args.push_back("--addr");
  args.push_back(Addr(id));
  // Before the subcommands: `node` has a --data-dir (and --insecure) of its own.
  if (Insecure()) {
    args.insert(args.begin() + 1, "--insecure");
  } else {
    args.insert(args.begin() + 1, {"--data-dir", admin_data_dir_});
  }
  return RunCommand(args);
}

std::string TestCluster::FreshAddr() { return "127.0.0.1:" + std::to_string(FreeListenPort()); }

std::string TestCluster::FreshDataDir() {
  return dir_.path() + "/extra-data-" + std::to_string(++fresh_);
}

BackgroundWriter::BackgroundWriter(TestCluster& cluster, std::vector<uint64_t> via,
                                   std::string prefix, milliseconds write_timeout)
    : cluster_(cluster), via_(std::move(via)), prefix_(std::move(prefix)),
      write_timeout_(write_timeout) {
  thread_ = std::thread([this] { Run(); });
}

BackgroundWriter::~BackgroundWriter() { Stop(); }

void BackgroundWriter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void BackgroundWriter::Run() {
  for (size_t k = 1; !stop_; ++k) {
    const std::string name = prefix_ + "-" + std::to_string(k);
    grpc::Status s = cluster_.CreateVm(via_[k % via_.size()], name, write_timeout_);
    std::lock_guard lk(mu_);
    if (s.ok()) {
      acked_.insert(name);
    } else {
      ++failed_;
      last_error_ = "code " + std::to_string(s.error_code()) + ": " + s.error_message();
    }
  }
}

std::set<std::string> BackgroundWriter::Acked() const {
  std::lock_guard lk(mu_);
  return acked_;
}

size_t BackgroundWriter::acked() const {
  std::lock_guard lk(mu_);
  return acked_.size();
}

size_t BackgroundWriter::failed() const {
  std::lock_guard lk(mu_);
  return failed_;
}

std::string BackgroundWriter::last_error() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

bool BackgroundWriter::WaitForAcked(size_t n, milliseconds timeout) {
  return WaitUntil([&] { return acked() >= n; }, timeout);
}

}  // namespace blixard::testing
