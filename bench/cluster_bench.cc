// Cluster benchmarks on loopback, driven through the public gRPC APIs.
//
//   cluster_bench load --target blixard --addrs A,B,C --pids P,Q,R --in-flight 64 --seconds 5
//   cluster_bench load --target etcd --addrs A --pids P,Q,R --in-flight 64 --seconds 5
//       Closed-loop replicated writes (Blixard VmService.CreateVm to the leader,
//       found from A,B,C; etcd KV.Put to A) with N requests in flight, one async
//       completion queue. Prints one line: ops/s, p50/p99 latency, errors, and
//       CPU time (utime+stime from /proc/PID/stat) of the server processes and
//       of this client per write.
//   cluster_bench failover [--rounds 20] [--tick-ms T --election-ticks E]
//       Starts its own 3-node Blixard cluster; per round kills the leader with
//       SIGKILL and times until a write sent to a surviving member succeeds,
//       then restarts the killed node and waits until it has caught up.
//   cluster_bench join [--records 10000]
//       Starts its own 3-node cluster, creates the records, starts node 4 with
//       --join and times until it is a member whose applied index reaches the
//       leader's commit index.
//   cluster_bench dead-node [--vms 30] [--rounds 10]
//       Starts its own 3-node cluster (fake VM backend, default --node-ttl 3);
//       per round creates the VMs (spread over the nodes), kills a follower
//       that runs some with SIGKILL and times until every VM is RUNNING on a
//       surviving node; then restarts it, waits until it is READY again and
//       deletes the VMs.
//   cluster_bench ports N              prints N distinct free loopback ports
//   cluster_bench wait-voters --addrs A,B,C --voters N
//       waits until the cluster's leader lists N voters (for scripts).
//
// Processes started by failover/join are children of this process in its
// process group; scripts/bench-cluster runs it under setsid and kills the
// group on exit, so an interrupted run leaves nothing behind.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "blixard/v1/blixard.grpc.pb.h"
#include "etcd/rpc.grpc.pb.h"
#include "common/file.h"
#include "rpc/channels.h"
#include "support/daemon.h"
#include "support/process.h"

namespace v1 = blixard::v1;
using blixard::testing::Child;
using blixard::testing::TempDir;
using blixard::testing::WaitUntil;
using Clock = std::chrono::steady_clock;

namespace {

// ---------------- small helpers ----------------

using Flags = std::map<std::string, std::string>;

Flags ParseFlags(int argc, char** argv, int first) {
  Flags f;
  for (int i = first; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      std::fprintf(stderr, "cluster_bench: expected --flag value, got %s\n", k.c_str());
      std::exit(2);
    }
    f[k.substr(2)] = argv[++i];
  }
  return f;
}

std::string Get(const Flags& f, const std::string& k, const std::string& def) {
  auto it = f.find(k);
  return it == f.end() ? def : it->second;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Value at quantile q of sorted `v` (nearest rank); 0 for an empty vector.
double Quantile(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size()));
  return v[std::min(v.size() - 1, i)];
}

// utime+stime of a process in seconds (all its threads), from /proc/PID/stat;
// 0 when the process is gone.
double ProcCpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return 0;
  // The command name (field 2) may hold spaces: fields are counted after ')'.
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Bytes the process caused to be written to storage (/proc/PID/io write_bytes).
double ProcWriteBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  double value = 0;
  while (f >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// The admin credential of the Blixard cluster under test (its first node's
// data dir: the Cluster below, or BLIXARD_DATA_DIR for a cluster the script
// started), once it exists; etcd's channels are plaintext.
blixard::rpc::RpcSecurity g_blixard_security;

blixard::rpc::RpcSecurity BlixardSecurity() {
  if (!g_blixard_security.is_tls()) {
    if (const char* dir = std::getenv("BLIXARD_DATA_DIR")) g_blixard_security = blixard::testing::AdminSecurity(dir);
  }
  return g_blixard_security;
}

// etcd's client certificate when the script started it with TLS
// (ETCD_TLS_DIR: ca.crt, client.crt, client.key), else plaintext.
blixard::rpc::RpcSecurity EtcdSecurity() {
  const char* dir = std::getenv("ETCD_TLS_DIR");
  if (dir == nullptr || *dir == '\0') return {};
  const auto read = [&](const char* name) {
    auto r = blixard::ReadWholeFile(std::string(dir) + "/" + name);
    return r.ok() && *r ? **r : std::string();
  };
  return blixard::rpc::RpcSecurity::Tls(std::make_shared<blixard::rpc::TlsMaterial>(
      blixard::rpc::TlsMaterial{read("ca.crt"), read("client.crt"), read("client.key")}));
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& addr,
                                           const blixard::rpc::RpcSecurity& security = BlixardSecurity()) {
  blixard::rpc::ChannelOptions o;
  o.security = security;
  o.max_receive_bytes = 64 << 20;
  // Nodes restart during failover rounds: reconnect quickly, not with gRPC's
  // multi-second default backoff. Each channel gets its own connection.
  o.initial_backoff_ms = 10;
  o.connect_timeout_ms = 1000;
  o.max_backoff_ms = 100;
  o.own_connection = true;
  return blixard::rpc::NewChannel(addr, o);
}

std::optional<v1::GetClusterStatusResponse> Status(v1::ClusterService::Stub& stub, bool stale,
                                                   int timeout_ms = 1000) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  v1::GetClusterStatusRequest req;
  req.set_stale(stale);
  v1::GetClusterStatusResponse resp;
  if (!stub.GetClusterStatus(&ctx, req, &resp).ok()) return std::nullopt;
  return resp;
}

int CountVoters(const v1::GetClusterStatusResponse& s) {
  return static_cast<int>(std::count_if(s.members().begin(), s.members().end(), [](const v1::Member& m) {
    return m.role() == v1::NODE_ROLE_VOTER;
  }));
}

// Address of the leader as the answering member knows it; empty if none.
std::string LeaderAddress(const v1::GetClusterStatusResponse& s) {
  for (const auto& m : s.members()) {
    if (m.id() == s.leader_id() && s.leader_id() != 0) return m.address();
  }
  return "";
}

// The leader's own status, asked of the leader (found through any of
// `addrs`), once it lists at least `voters` voters; nullopt after `timeout`.
std::optional<v1::GetClusterStatusResponse> WaitForLeader(const std::vector<std::string>& addrs,
                                                          int voters, std::chrono::milliseconds timeout) {
  std::optional<v1::GetClusterStatusResponse> leader;
  WaitUntil(
      [&] {
        for (const auto& a : addrs) {
          auto s = Status(*v1::ClusterService::NewStub(MakeChannel(a)), true);
          if (!s || s->leader_id() == 0) continue;
          std::string la = LeaderAddress(*s);
          if (la.empty()) continue;
          auto ls = Status(*v1::ClusterService::NewStub(MakeChannel(la)), false);
          if (ls && ls->node_id() == ls->leader_id() && CountVoters(*ls) >= voters) {
            leader = ls;
            return true;
          }
        }
        return false;
      },
      timeout);
  return leader;
}

// ---------------- closed-loop load over one completion queue ----------------

// One outstanding RPC; the completion-queue tag.
struct Pending {
  virtual ~Pending() = default;
  grpc::ClientContext ctx;
  grpc::Status status;
  Clock::time_point start;
  int target = 0;  // which endpoint it went to (failover rounds)
};

template <class Response>
struct PendingCall : Pending {
  Response resp;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
};

// Something that sends one write, asynchronously, onto `cq`.
class Writer {
 public:
  virtual ~Writer() = default;
  // Starts write number `seq` to endpoint `endpoint`; the returned tag comes
  // out of `cq` when it completes. REQUIRES: endpoint < endpoints().
  virtual Pending* Start(grpc::CompletionQueue* cq, uint64_t seq, int endpoint,
                         std::chrono::milliseconds deadline) = 0;
  virtual int endpoints() const = 0;
  // Size of the payload a write carries, for the record.
  virtual size_t payload_bytes() const = 0;
};

// Blixard: VmService.CreateVm of a stopped VM named <prefix><seq>.
class BlixardWriter : public Writer {
 public:
  BlixardWriter(const std::vector<std::string>& addrs, std::string prefix) : prefix_(std::move(prefix)) {
    for (const auto& a : addrs) stubs_.push_back(v1::VmService::NewStub(MakeChannel(a)));
  }
  Pending* Start(grpc::CompletionQueue* cq, uint64_t seq, int endpoint,
                 std::chrono::milliseconds deadline) override {
    auto* p = new PendingCall<v1::CreateVmResponse>();
    v1::CreateVmRequest req = Request(seq);
    p->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    p->target = endpoint;
    p->start = Clock::now();
    p->reader = stubs_[endpoint]->AsyncCreateVm(&p->ctx, req, cq);
    p->reader->Finish(&p->resp, &p->status, p);
    return p;
  }
  int endpoints() const override { return static_cast<int>(stubs_.size()); }
  size_t payload_bytes() const override { return Request(0).spec().ByteSizeLong(); }

 private:
  v1::CreateVmRequest Request(uint64_t seq) const {
    v1::CreateVmRequest req;
    auto* s = req.mutable_spec();
    s->set_name(prefix_ + std::to_string(seq));
    s->set_vcpus(1);
    s->set_memory_mib(128);
    return req;
  }
  std::string prefix_;
  std::vector<std::unique_ptr<v1::VmService::Stub>> stubs_;
};

// etcd: KV.Put of <prefix><seq> with a value the size of Blixard's VmSpec.
class EtcdWriter : public Writer {
 public:
  EtcdWriter(const std::vector<std::string>& addrs, std::string prefix, size_t value_bytes)
      : prefix_(std::move(prefix)), value_(value_bytes, 'v') {
    for (const auto& a : addrs) stubs_.push_back(etcdserverpb::KV::NewStub(MakeChannel(a, EtcdSecurity())));
  }
  Pending* Start(grpc::CompletionQueue* cq, uint64_t seq, int endpoint,
                 std::chrono::milliseconds deadline) override {
    auto* p = new PendingCall<etcdserverpb::PutResponse>();
    etcdserverpb::PutRequest req;
    req.set_key(prefix_ + std::to_string(seq));
    req.set_value(value_);
    p->ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    p->target = endpoint;
    p->start = Clock::now();
    p->reader = stubs_[endpoint]->AsyncPut(&p->ctx, req, cq);
    p->reader->Finish(&p->resp, &p->status, p);
    return p;
  }
  int endpoints() const override { return static_cast<int>(stubs_.size()); }
  size_t payload_bytes() const override { return value_.size(); }

 private:
  std::string prefix_;
  std::string value_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs_;
};

struct LoadResult {
  uint64_t ops = 0;
  uint64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  std::vector<double> latencies_ms;  // sorted
  double server_cpu_s = 0, client_cpu_s = 0, server_write_bytes = 0;
};

// Keeps `in_flight` writes outstanding against endpoint 0 until `duration`
// has passed or `max_ops` writes were started, then waits for the rest.
LoadResult RunLoad(Writer& w, uint64_t& seq, int in_flight, Clock::duration duration, uint64_t max_ops,
                   const std::vector<pid_t>& pids) {
  auto server_cpu = [&] {
    double s = 0;
    for (pid_t p : pids) s += ProcCpuSeconds(p);
    return s;
  };
  auto server_io = [&] {
    double s = 0;
    for (pid_t p : pids) s += ProcWriteBytes(p);
    return s;
  };
  LoadResult r;
  r.latencies_ms.reserve(1 << 16);
  grpc::CompletionQueue cq;
  const double cpu0 = server_cpu(), io0 = server_io(), self0 = SelfCpuSeconds();
  const auto start = Clock::now(), end = start + duration;
  uint64_t started = 0;
  int outstanding = 0;
  for (; outstanding < in_flight && started < max_ops; ++outstanding, ++started) {
    w.Start(&cq, seq++, 0, std::chrono::seconds(30));
  }
  void* tag = nullptr;
  bool ok = false;
  Clock::time_point now = start;
  while (outstanding > 0 && cq.Next(&tag, &ok)) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(tag));
    --outstanding;
    now = Clock::now();
    if (p->status.ok()) {
      ++r.ops;
      r.latencies_ms.push_back(Ms(now - p->start));
    } else {
      if (r.errors++ == 0) r.first_error = p->status.error_message();
    }
    if (now < end && started < max_ops) {
      w.Start(&cq, seq++, 0, std::chrono::seconds(30));
      ++outstanding;
      ++started;
    }
  }
  r.seconds = std::chrono::duration<double>(now - start).count();
  r.server_cpu_s = server_cpu() - cpu0;
  r.server_write_bytes = server_io() - io0;
  r.client_cpu_s = SelfCpuSeconds() - self0;
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  return r;
}

std::vector<pid_t> ParsePids(const std::string& s) {
  std::vector<pid_t> pids;
  for (const auto& p : Split(s)) pids.push_back(static_cast<pid_t>(std::stol(p)));
  return pids;
}

std::string RunPrefix(const std::string& kind) {
  // Unique per run so repeated runs against the same cluster never collide.
  return kind + "-" + std::to_string(getpid()) + "-" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000) + "-";
}

int Load(const Flags& f) {
  const std::string target = Get(f, "target", "blixard");
  std::vector<std::string> addrs = Split(Get(f, "addrs", ""));
  const std::vector<pid_t> pids = ParsePids(Get(f, "pids", ""));
  const double seconds = std::stod(Get(f, "seconds", "5"));
  const double warmup = std::stod(Get(f, "warmup-seconds", "1"));
  if (addrs.empty()) {
    std::fprintf(stderr, "cluster_bench load: --addrs is required\n");
    return 2;
  }
  // Blixard's VmSpec for a name like the ones below is ~20 bytes; etcd gets
  // a value of the same size.
  BlixardWriter probe({addrs[0]}, RunPrefix("b"));
  std::unique_ptr<Writer> w;
  if (target == "blixard") {
    auto leader = WaitForLeader(addrs, 1, std::chrono::seconds(30));
    if (!leader) {
      std::fprintf(stderr, "cluster_bench load: no Blixard leader reachable via %s\n", Get(f, "addrs", "").c_str());
      return 1;
    }
    w = std::make_unique<BlixardWriter>(std::vector<std::string>{LeaderAddress(*leader)}, RunPrefix("b"));
  } else if (target == "etcd") {
    w = std::make_unique<EtcdWriter>(std::vector<std::string>{addrs[0]}, RunPrefix("bench/e"),
                                     probe.payload_bytes());
  } else {
    std::fprintf(stderr, "cluster_bench load: --target must be blixard or etcd\n");
    return 2;
  }
  uint64_t seq = 0;
  int rc = 0;
  for (const auto& level : Split(Get(f, "in-flight", "1,16,64,256"))) {
    const int in_flight = std::stoi(level);
    RunLoad(*w, seq, in_flight, std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup)),
            UINT64_MAX, pids);
    LoadResult r = RunLoad(*w, seq, in_flight,
                           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)),
                           UINT64_MAX, pids);
    const double n = static_cast<double>(std::max<uint64_t>(r.ops, 1));
    std::printf(
        "cluster_bench: target=%s in_flight=%d ops=%lu ops_per_s=%.0f p50_ms=%.2f p99_ms=%.2f errors=%lu "
        "server_cpu_us_per_write=%.0f client_cpu_us_per_write=%.0f server_disk_bytes_per_write=%.0f "
        "payload_bytes=%zu\n",
        target.c_str(), in_flight, static_cast<unsigned long>(r.ops), r.ops / r.seconds,
        Quantile(r.latencies_ms, 0.5), Quantile(r.latencies_ms, 0.99), static_cast<unsigned long>(r.errors),
        r.server_cpu_s * 1e6 / n, r.client_cpu_s * 1e6 / n, r.server_write_bytes / n, w->payload_bytes());
    std::fflush(stdout);
    if (r.errors > 0) {
      std::fprintf(stderr, "cluster_bench: %s: %lu writes failed, first: %s\n", target.c_str(),
                   static_cast<unsigned long>(r.errors), r.first_error.c_str());
      rc = 1;
    }
  }
  return rc;
}

// ---------------- a Blixard cluster owned by this process ----------------

class Cluster {
 public:
  explicit Cluster(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {}
  Cluster(const Cluster&) = delete;

  // Starts node `id`, joining through `join` unless empty (bootstrap).
  void Spawn(uint64_t id, const std::string& join) {
    Node& n = nodes_[id];
    if (n.addr.empty()) {
      n.addr = "127.0.0.1:" + std::to_string(blixard::testing::FreeTcpPort());
      n.args = {blixard::testing::BlixardBin(), "node", "--id", std::to_string(id), "--bind", n.addr,
                "--data-dir", dir_.path() + "/node" + std::to_string(id), "--backend", "fake"};
      n.args.insert(n.args.end(), extra_args_.begin(), extra_args_.end());
      if (!join.empty()) {
        n.args.push_back("--join");
        n.args.push_back(join);
        if (!Insecure()) n.args.insert(n.args.end(), {"--token", JoinToken(join)});
      }
    }
    n.child = std::make_unique<Child>(n.args, dir_.path() + "/node" + std::to_string(id) + "-" +
                                                  std::to_string(++n.starts) + ".log");
    if (id == 1 && !Insecure()) {
      // Every channel to the cluster shows the admin credential node 1 makes.
      const std::string dir = dir_.path() + "/node1";
      WaitUntil([&] { return blixard::testing::AdminSecurity(dir).is_tls(); }, std::chrono::seconds(30));
      g_blixard_security = blixard::testing::AdminSecurity(dir);
    }
    n.cluster = v1::ClusterService::NewStub(MakeChannel(n.addr));
  }
  bool Insecure() const {
    return std::find(extra_args_.begin(), extra_args_.end(), "--insecure") != extra_args_.end();
  }
  // A server join token made through the member at `via`.
  std::string JoinToken(const std::string& via) {
    std::string token;
    WaitUntil(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          v1::CreateJoinTokenResponse resp;
          if (!v1::ClusterService::NewStub(MakeChannel(via))->CreateJoinToken(&ctx, {}, &resp).ok()) return false;
          token = resp.token();
          return true;
        },
        std::chrono::seconds(30));
    return token;
  }
  // Restarts a stopped node with its data dir (its --join, if any, is
  // ignored by a node that already has state).
  void Restart(uint64_t id) { Spawn(id, ""); }
  void Kill(uint64_t id) {
    nodes_[id].child->Signal(SIGKILL);
    nodes_[id].child->Wait(std::chrono::seconds(10));
  }

  // Starts nodes 1..n one after another, each joining through node 1, and
  // waits until the leader lists n voters.
  bool Start(int n) {
    Spawn(1, "");
    if (!WaitForLeader({nodes_[1].addr}, 1, std::chrono::seconds(30))) return Fail("node 1 never led");
    for (int id = 2; id <= n; ++id) {
      Spawn(static_cast<uint64_t>(id), nodes_[1].addr);
      if (!WaitForLeader(Addrs(), id, std::chrono::seconds(60))) {
        return Fail("node " + std::to_string(id) + " never became a voter");
      }
    }
    return true;
  }

  std::vector<std::string> Addrs() const {
    std::vector<std::string> a;
    for (const auto& [id, n] : nodes_) a.push_back(n.addr);
    return a;
  }
  const std::string& addr(uint64_t id) { return nodes_[id].addr; }
  pid_t pid(uint64_t id) { return nodes_[id].child->pid(); }
  std::optional<v1::GetClusterStatusResponse> StatusOf(uint64_t id, bool stale) {
    return Status(*nodes_[id].cluster, stale);
  }
  bool Fail(const std::string& why) {
    std::fprintf(stderr, "cluster_bench: %s; node logs:\n", why.c_str());
    for (auto& [id, n] : nodes_) {
      std::string log = n.child ? n.child->Log() : "";
      if (log.size() > 4000) log = log.substr(log.size() - 4000);
      std::fprintf(stderr, "--- node %lu\n%s\n", static_cast<unsigned long>(id), log.c_str());
    }
    return false;
  }

 private:
  struct Node {
    std::string addr;
    std::vector<std::string> args;
    int starts = 0;
    std::unique_ptr<Child> child;
    std::unique_ptr<v1::ClusterService::Stub> cluster;
  };
  std::vector<std::string> extra_args_;
  TempDir dir_;
  std::map<uint64_t, Node> nodes_;
};

// Kills the leader and returns ms until a write sent to a survivor
// succeeded; a new write goes out every `period`, alternating survivors,
// so the figure's resolution is `period` whatever a node does with writes
// it cannot forward yet. -1 if none succeeded within 60 s.
double KillLeaderAndTimeWrite(Cluster& c, uint64_t leader, const std::vector<uint64_t>& survivors, int round) {
  std::vector<std::string> addrs;
  for (uint64_t id : survivors) addrs.push_back(c.addr(id));
  BlixardWriter w(addrs, "fo-" + std::to_string(round) + "-");
  grpc::CompletionQueue cq;
  const auto period = std::chrono::milliseconds(5);
  std::vector<Pending*> outstanding;
  uint64_t seq = 0;
  const auto t0 = Clock::now();
  c.Kill(leader);
  double result = -1;
  auto next = Clock::now();
  while (Clock::now() - t0 < std::chrono::seconds(60)) {
    if (Clock::now() >= next) {
      outstanding.push_back(w.Start(&cq, seq, static_cast<int>(seq % addrs.size()), std::chrono::seconds(10)));
      ++seq;
      next += period;
    }
    void* tag = nullptr;
    bool ok = false;
    auto st = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + (next - Clock::now()));
    if (st != grpc::CompletionQueue::GOT_EVENT) continue;
    auto* p = static_cast<Pending*>(tag);
    outstanding.erase(std::find(outstanding.begin(), outstanding.end(), p));
    const bool success = p->status.ok();
    delete p;
    if (success) {
      result = Ms(Clock::now() - t0);
      break;
    }
  }
  for (Pending* p : outstanding) p->ctx.TryCancel();
  while (!outstanding.empty()) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    auto* p = static_cast<Pending*>(tag);
    outstanding.erase(std::find(outstanding.begin(), outstanding.end(), p));
    delete p;
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

// True once node `id` knows the current leader and has applied everything the
// leader had committed when asked.
bool CaughtUp(Cluster& c, uint64_t id, const std::vector<uint64_t>& all) {
  for (uint64_t other : all) {
    if (other == id) continue;
    auto s = c.StatusOf(other, true);
    if (!s || s->leader_id() == 0 || s->leader_id() == id) continue;
    auto ls = c.StatusOf(s->leader_id(), false);
    if (!ls || ls->leader_id() != ls->node_id() || CountVoters(*ls) < static_cast<int>(all.size())) continue;
    auto mine = c.StatusOf(id, true);
    return mine && mine->leader_id() == ls->node_id() && mine->applied_index() >= ls->commit_index();
  }
  return false;
}

int Failover(const Flags& f) {
  const int rounds = std::stoi(Get(f, "rounds", "20"));
  std::vector<std::string> extra;
  std::string label = "default timeouts";
  if (f.count("tick-ms")) {
    extra = {"--tick-ms", Get(f, "tick-ms", "100"), "--election-ticks", Get(f, "election-ticks", "10")};
    label = "--tick-ms " + extra[1] + " --election-ticks " + extra[3];
  }
  Cluster c(extra);
  if (!c.Start(3)) return 1;
  const std::vector<uint64_t> all = {1, 2, 3};
  std::vector<double> times;
  for (int round = 0; round < rounds; ++round) {
    auto leader = WaitForLeader(c.Addrs(), 3, std::chrono::seconds(30));
    if (!leader) return c.Fail("no leader with 3 voters before round " + std::to_string(round));
    const uint64_t old = leader->leader_id();
    std::vector<uint64_t> survivors;
    for (uint64_t id : all) {
      if (id != old) survivors.push_back(id);
    }
    double ms = KillLeaderAndTimeWrite(c, old, survivors, round);
    if (ms < 0) return c.Fail("no write committed within 60 s of killing node " + std::to_string(old));
    times.push_back(ms);
    c.Restart(old);
    if (!WaitUntil([&] { return CaughtUp(c, old, all); }, std::chrono::seconds(60))) {
      return c.Fail("node " + std::to_string(old) + " did not catch up after restart");
    }
  }
  std::sort(times.begin(), times.end());
  std::printf("cluster_bench: failover (%s) rounds=%d p50_ms=%.0f p99_ms=%.0f min_ms=%.0f max_ms=%.0f\n",
              label.c_str(), rounds, Quantile(times, 0.5), Quantile(times, 0.99), times.front(), times.back());
  return 0;
}

int Join(const Flags& f) {
  const uint64_t records = std::stoull(Get(f, "records", "10000"));
  Cluster c({});
  if (!c.Start(3)) return 1;
  auto leader = WaitForLeader(c.Addrs(), 3, std::chrono::seconds(30));
  if (!leader) return c.Fail("no leader");
  const uint64_t lid = leader->leader_id();
  BlixardWriter w({c.addr(lid)}, "j-");
  uint64_t seq = 0;
  LoadResult fill = RunLoad(w, seq, 64, std::chrono::hours(1), records, {});
  if (fill.errors > 0) return c.Fail("creating records failed: " + fill.first_error);
  const auto t0 = Clock::now();
  c.Spawn(4, c.addr(lid));
  std::optional<v1::GetClusterStatusResponse> joined;
  bool ok = WaitUntil(
      [&] {
        auto ls = c.StatusOf(lid, false);
        if (!ls) return false;
        bool member = std::any_of(ls->members().begin(), ls->members().end(),
                                  [](const v1::Member& m) { return m.id() == 4; });
        if (!member) return false;
        auto mine = c.StatusOf(4, true);
        if (!mine || mine->applied_index() < ls->commit_index()) return false;
        joined = mine;
        return true;
      },
      std::chrono::seconds(120));
  if (!ok) return c.Fail("node 4 did not catch up within 120 s");
  const double ms = Ms(Clock::now() - t0);
  std::printf(
      "cluster_bench: join records=%lu join_ms=%.0f applied_index=%lu snapshot_index=%lu role=%s "
      "(records created at %.0f/s)\n",
      static_cast<unsigned long>(records), ms, static_cast<unsigned long>(joined->applied_index()),
      static_cast<unsigned long>(joined->snapshot_index()), joined->role().c_str(), fill.ops / fill.seconds);
  return 0;
}

// ---------------- dead node -> its VMs running elsewhere ----------------

std::unique_ptr<grpc::ClientContext> CallCtx(std::chrono::seconds s = std::chrono::seconds(5)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + s);
  return ctx;
}

std::optional<std::vector<v1::Vm>> ListVmsAt(const std::string& addr) {
  v1::ListVmsResponse resp;
  if (!v1::VmService::NewStub(MakeChannel(addr))->ListVms(CallCtx().get(), v1::ListVmsRequest(), &resp).ok()) {
    return std::nullopt;
  }
  return std::vector<v1::Vm>(resp.vms().begin(), resp.vms().end());
}

v1::NodeHealth HealthAt(const std::string& addr, uint64_t node) {
  v1::ListNodesResponse resp;
  if (!v1::NodeService::NewStub(MakeChannel(addr))->ListNodes(CallCtx().get(), v1::ListNodesRequest(), &resp).ok()) {
    return v1::NODE_HEALTH_UNSPECIFIED;
  }
  for (const auto& n : resp.nodes()) {
    if (n.id() == node) return n.health();
  }
  return v1::NODE_HEALTH_UNSPECIFIED;
}

// Every one of `count` VMs RUNNING or READY on a node other than `not_on`.
bool AllRunning(const std::vector<v1::Vm>& vms, size_t count, uint64_t not_on) {
  if (vms.size() != count) return false;
  for (const auto& vm : vms) {
    const auto p = vm.status().phase();
    if (vm.node_id() == 0 || vm.node_id() == not_on || (p != v1::VM_PHASE_RUNNING && p != v1::VM_PHASE_READY)) {
      return false;
    }
  }
  return true;
}

int DeadNode(const Flags& f) {
  const int vms = std::stoi(Get(f, "vms", "30"));
  const int rounds = std::stoi(Get(f, "rounds", "10"));
  // Room for every VM on the two survivors (the fake backend runs none for
  // real), whatever this host's CPU count.
  const std::string vcpus = std::to_string(vms);
  Cluster c({"--capacity-vcpus", vcpus, "--capacity-memory", std::to_string(vms * 128)});
  if (!c.Start(3)) return 1;
  std::vector<double> times;
  size_t moved_total = 0;
  for (int round = 0; round < rounds; ++round) {
    auto leader = WaitForLeader(c.Addrs(), 3, std::chrono::seconds(30));
    if (!leader) return c.Fail("no leader with 3 voters before round " + std::to_string(round));
    const uint64_t lid = leader->leader_id();
    const std::string la = c.addr(lid);
    auto vm_stub = v1::VmService::NewStub(MakeChannel(la));
    for (int i = 0; i < vms; ++i) {
      v1::CreateVmRequest req;
      req.mutable_spec()->set_name("dn-" + std::to_string(round) + "-" + std::to_string(i));
      req.mutable_spec()->set_vcpus(1);
      req.mutable_spec()->set_memory_mib(128);
      req.set_start(true);
      v1::CreateVmResponse resp;
      grpc::Status s = vm_stub->CreateVm(CallCtx(std::chrono::seconds(20)).get(), req, &resp);
      if (!s.ok()) return c.Fail("create failed: " + s.error_message());
    }
    std::vector<v1::Vm> placed;
    if (!WaitUntil(
            [&] {
              auto l = ListVmsAt(la);
              if (!l || !AllRunning(*l, static_cast<size_t>(vms), 0)) return false;
              placed = *l;
              return true;
            },
            std::chrono::seconds(60))) {
      return c.Fail("VMs not all running before round " + std::to_string(round));
    }
    std::map<uint64_t, size_t> per_node;
    for (const auto& vm : placed) per_node[vm.node_id()]++;
    uint64_t victim = 0;
    for (const auto& [id, n] : per_node) {
      if (id != lid && (victim == 0 || n > per_node[victim])) victim = id;
    }
    if (victim == 0) return c.Fail("no follower runs a VM");
    moved_total += per_node[victim];
    const auto t0 = Clock::now();
    c.Kill(victim);
    bool moved = WaitUntil(
        [&] {
          auto l = ListVmsAt(la);
          return l && AllRunning(*l, static_cast<size_t>(vms), victim);
        },
        std::chrono::seconds(60));
    if (!moved) return c.Fail("VMs of node " + std::to_string(victim) + " not running elsewhere within 60 s");
    times.push_back(Ms(Clock::now() - t0));
    c.Restart(victim);
    if (!WaitUntil([&] { return HealthAt(la, victim) == v1::NODE_HEALTH_READY; }, std::chrono::seconds(60))) {
      return c.Fail("node " + std::to_string(victim) + " not READY after restart");
    }
    for (const auto& vm : placed) {
      v1::VmNameRequest req;
      req.set_name(vm.spec().name());
      v1::DeleteVmResponse resp;
      vm_stub->DeleteVm(CallCtx(std::chrono::seconds(20)).get(), req, &resp);
    }
  }
  std::sort(times.begin(), times.end());
  std::printf(
      "cluster_bench: dead-node (kill -9 -> its VMs RUNNING elsewhere, --node-ttl 3) vms=%d "
      "moved_per_round=%.1f rounds=%d p50_ms=%.0f p99_ms=%.0f min_ms=%.0f max_ms=%.0f\n",
      vms, static_cast<double>(moved_total) / rounds, rounds, Quantile(times, 0.5), Quantile(times, 0.99),
      times.front(), times.back());
  return 0;
}

int Ports(int n) {
  std::set<int> ports;
  while (static_cast<int>(ports.size()) < n) ports.insert(blixard::testing::FreeTcpPort());
  for (int p : ports) std::printf("%d\n", p);
  return 0;
}

int WaitVoters(const Flags& f) {
  auto leader = WaitForLeader(Split(Get(f, "addrs", "")), std::stoi(Get(f, "voters", "1")),
                              std::chrono::seconds(std::stoi(Get(f, "timeout-seconds", "60"))));
  if (!leader) {
    std::fprintf(stderr, "cluster_bench: no leader with %s voters\n", Get(f, "voters", "1").c_str());
    return 1;
  }
  std::printf("%s\n", LeaderAddress(*leader).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "ports" && argc == 3) return Ports(std::stoi(argv[2]));
  const Flags f = ParseFlags(argc, argv, 2);
  if (mode == "load") return Load(f);
  if (mode == "failover") return Failover(f);
  if (mode == "join") return Join(f);
  if (mode == "dead-node") return DeadNode(f);
  if (mode == "wait-voters") return WaitVoters(f);
  std::fprintf(stderr, "usage: cluster_bench load|failover|join|dead-node|ports|wait-voters [--flag value ...]\n");
  return 2;
}
