// Workers at scale, whole system: 3 real server processes (fake VM backend)
// and many workers simulated in this process over the real worker path:
// daemon::WorkerLink's RegisterWorker, a Heartbeat per worker per second to
// the leader, and one WatchAssignments stream per worker. The streams are
// cheap here (one thread and one completion queue for all of them, over
// --channels connections per server) so that the bench process does not
// bound what it measures.
//
// What is measured, apart:
//   - the create rate: CreateVm calls (--in-flight at a time over the 3
//     servers, constrained to workers) while the scheduler is paused
//     (cluster setting scheduler.paused), so nothing is placed meanwhile;
//   - the placement commit rate: the scheduler is resumed, and the time
//     until every VM of the burst is placed in the leader's applied state
//     (committed in the Raft log: counted from ListNodes' per-node VM
//     counts, polled every 10 ms) and until every one has arrived on its
//     worker's stream;
//   - with --e2e N: a burst of N created with the scheduler running, as a
//     user would see it (bounded by the create rate).
// Latency: one CreateVm at a time until the VM arrives on its worker's
// stream (committed, applied by a server, streamed), idle and while a burst
// is placed.
//
// Prints (see bench/README.md):
//   worker_bench: workers=W registered_s=… ready_s=…
//   worker_bench: latency idle n=… p50_ms=… p99_ms=…
//   worker_bench: burst vms=N create_s=… creates_per_s=… (scheduler paused)
//   worker_bench: burst vms=N placements_committed_s=… placements_committed_per_s=… on_streams_s=… ...
//   worker_bench: state vms_total=… leader_newest_snapshot=… snapshot_bytes=…
//   worker_bench: e2e vms=N ...
// Flags: --workers W (1000) --bursts N,N (10000) --e2e N (10000; 0: none)
//        --in-flight C (64) --channels K (8) --probes P (50)
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "blixard/v1/blixard.grpc.pb.h"
#include "blixard/v1/internal.grpc.pb.h"
#include "node/peer_clients.h"
#include "daemon/worker_link.h"
#include "rpc/channels.h"
#include "state/assignments.h"
#include "support/daemon.h"

using namespace blixard;
using blixard::testing::Ctx;
using blixard::testing::TestDaemon;
using Clock = std::chrono::steady_clock;

namespace {

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// When each VM name first appeared on some worker's stream.
class Arrivals {
 public:
  void Seen(const v1::AssignmentUpdate& u, uint64_t worker) {
    const auto now = Clock::now();
    std::lock_guard lk(mu_);
    for (const v1::Vm& vm : u.vms()) {
      if (vm.node_id() == worker && seen_.emplace(vm.spec().name(), now).second) last_ = now;
    }
    cv_.notify_all();
  }
  bool WaitFor(const std::string& name, Clock::time_point deadline, Clock::time_point* at) {
    std::unique_lock lk(mu_);
    if (!cv_.wait_until(lk, deadline, [&] { return seen_.count(name) > 0; })) return false;
    *at = seen_[name];
    return true;
  }
  bool WaitCount(size_t n, Clock::time_point deadline) {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, deadline, [&] { return seen_.size() >= n; });
  }
  Clock::time_point Last() {
    std::lock_guard lk(mu_);
    return last_;
  }
  size_t size() {
    std::lock_guard lk(mu_);
    return seen_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Clock::time_point> seen_;
  Clock::time_point last_{};
};

// Every simulated worker's WatchAssignments stream on one completion queue,
// served by one thread: each keeps an AssignmentView (a diff that does not
// apply is an error here: the bench does not reconnect).
class Streams {
 public:
  explicit Streams(Arrivals& arrivals) : arrivals_(arrivals) {}
  ~Streams() { Stop(); }

  void Open(const std::shared_ptr<grpc::Channel>& channel, uint64_t id, const std::string& cluster_id) {
    auto s = std::make_unique<Stream>();
    s->id = id;
    v1::WatchAssignmentsRequest req;
    req.set_cluster_id(cluster_id);
    req.set_node_id(id);
    s->reader = v1::WorkerService::NewStub(channel)->PrepareAsyncWatchAssignments(&s->ctx, req, &cq_);
    s->reader->StartCall(s.get());
    streams_.push_back(std::move(s));
  }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    for (auto& s : streams_) s->ctx.TryCancel();
    thread_.join();
  }
  int failed() const { return failed_; }
  // Updates received, in all.
  uint64_t updates() const { return updates_; }

 private:
  struct Stream {
    uint64_t id = 0;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientAsyncReader<v1::AssignmentUpdate>> reader;
    v1::AssignmentUpdate u;
    state::AssignmentView view;
    grpc::Status status;
    bool finishing = false;
  };

  void Run() {
    void* tag;
    bool ok;
    size_t open = streams_.size();
    while (open > 0 && cq_.Next(&tag, &ok)) {
      Stream* s = static_cast<Stream*>(tag);
      if (s->finishing) {
        if (!stopping_) {
          fprintf(stderr, "worker %lu: stream ended: %s\n", static_cast<unsigned long>(s->id),
                  s->status.error_message().c_str());
          ++failed_;
        }
        --open;
        continue;
      }
      if (ok && s->u.version() != 0) {  // a message (not the StartCall completion)
        ++updates_;
        if (Status st = s->view.Apply(s->u); !st.ok()) {
          fprintf(stderr, "worker %lu: %s\n", static_cast<unsigned long>(s->id), st.message().c_str());
          ++failed_;
        }
        arrivals_.Seen(s->u, s->id);
      }
      if (ok) {
        s->u.Clear();
        s->reader->Read(&s->u, s);
      } else {
        s->finishing = true;
        s->reader->Finish(&s->status, s);
      }
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

  Arrivals& arrivals_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> failed_{0};
  std::atomic<uint64_t> updates_{0};
  std::thread thread_;
};

v1::CreateVmRequest Create(const std::string& name) {
  v1::CreateVmRequest req;
  req.mutable_spec()->set_name(name);
  req.mutable_spec()->set_vcpus(1);
  req.mutable_spec()->set_memory_mib(64);
  req.mutable_spec()->add_constraints("kind=worker");
  req.set_start(true);
  return req;
}

std::vector<size_t> ParseList(const std::string& s) {
  std::vector<size_t> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) out.push_back(std::stoul(part));
  return out;
}

// Resident memory of a process, in KiB (0 if unknown).
long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// CPU seconds used so far by a process (user + system).
double CpuSecs(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return 0;
  std::stringstream rest(all.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) break;
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

double SelfCpuSecs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The newest snapshot file under a data dir (snapshots/snap-<index>-<term>.bin):
// its size, or 0 if none yet.
uintmax_t NewestSnapshotBytes(const std::string& data_dir, std::string* name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_time_type newest{};
  uintmax_t bytes = 0;
  for (auto it = fs::recursive_directory_iterator(data_dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string f = it->path().filename().string();
    if (f.rfind("snap-", 0) != 0 || it->path().extension() != ".bin") continue;
    const auto t = fs::last_write_time(it->path(), ec);
    if (!ec && t >= newest) {
      newest = t;
      bytes = fs::file_size(it->path(), ec);
      *name = f;
    }
  }
  return bytes;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + "," + b + "," + c;
}

}  // namespace

// Makes this process show server 999's certificate of the cluster whose
// first node keeps its CA in `data_dir`.
bool ActAsServer(const std::string& data_dir) {
  rpc::RpcSecurity me = testing::NodeSecurity(data_dir, 999);
  if (!me.is_tls()) return false;
  rpc::SetProcessSecurity(std::move(me));
  return true;
}

int main(int argc, char** argv) {
  size_t workers = 1000, probes = 50, e2e = 10000, in_flight = 64, channels_per_server = 8;
  std::vector<size_t> bursts = {10000};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--workers")) workers = std::stoul(argv[i + 1]);
    if (!strcmp(argv[i], "--bursts")) bursts = ParseList(argv[i + 1]);
    if (!strcmp(argv[i], "--probes")) probes = std::stoul(argv[i + 1]);
    if (!strcmp(argv[i], "--e2e")) e2e = std::stoul(argv[i + 1]);
    if (!strcmp(argv[i], "--in-flight")) in_flight = std::stoul(argv[i + 1]);
    if (!strcmp(argv[i], "--channels")) channels_per_server = std::stoul(argv[i + 1]);
  }

  spdlog::set_level(spdlog::level::warn);  // one line per stream otherwise
  // Three servers; VMs are constrained to workers, so none lands on them.
  std::vector<std::unique_ptr<TestDaemon>> servers;
  TestDaemon::Options first;
  first.id = 1;
  first.tcp = true;
  servers.push_back(std::make_unique<TestDaemon>(first));
  if (!servers[0]->Start()) return 1;
  // The bench's simulated workers and their links speak for many nodes, as
  // a server relaying for them may: it shows a server certificate of its
  // own, signed with the cluster CA from node 1's data dir.
  if (!ActAsServer(servers[0]->data_dir())) return 1;
  v1::CreateJoinTokenResponse token;
  if (!servers[0]->Cluster()->CreateJoinToken(Ctx(5).get(), v1::CreateJoinTokenRequest(), &token).ok()) {
    fprintf(stderr, "node 1 made no join token\n");
    return 1;
  }
  for (uint64_t id : {2, 3}) {
    TestDaemon::Options o;
    o.id = id;
    o.tcp = true;
    o.extra_args = {"--join", servers[0]->addr(), "--token", token.token()};
    servers.push_back(std::make_unique<TestDaemon>(o));
    servers.back()->Spawn();  // Start() waits for it to lead; wait for 3 voters below instead
  }
  {
    const auto until = Clock::now() + std::chrono::seconds(60);
    while (true) {
      v1::GetClusterStatusResponse st;
      size_t voters = 0;
      if (servers[0]->Cluster()->GetClusterStatus(Ctx(2).get(), v1::GetClusterStatusRequest(), &st).ok()) {
        for (const auto& m : st.members()) voters += m.role() == v1::NODE_ROLE_VOTER;
      }
      if (voters == 3) break;
      if (Clock::now() > until) {
        fprintf(stderr, "the 3 servers did not form a cluster:\n%s\n%s\n", servers[1]->log().c_str(),
                servers[2]->log().c_str());
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::vector<std::string> addrs;
  for (auto& s : servers) addrs.push_back(s->addr());
  const pid_t leader_pid = servers[0]->child()->pid();

  // Register the workers (16 at a time), then open their streams.
  Arrivals arrivals;
  std::vector<std::unique_ptr<daemon::WorkerLink>> links(workers);
  const auto t_reg = Clock::now();
  {
    std::atomic<size_t> next{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> th;
    for (int t = 0; t < 16; ++t) {
      th.emplace_back([&] {
        for (size_t i; (i = next++) < workers;) {
          std::vector<std::string> mine = addrs;
          std::rotate(mine.begin(), mine.begin() + i % mine.size(), mine.end());
          links[i] = std::make_unique<daemon::WorkerLink>(1000 + i, mine, "");
          v1::Node offer;
          offer.set_address("127.0.0.2:" + std::to_string(10000 + i));  // simulated: nothing listens
          offer.mutable_capacity()->set_vcpus(1000);
          offer.mutable_capacity()->set_memory_mib(1 << 20);
          offer.mutable_capacity()->set_disk_mib(1 << 20);
          (*offer.mutable_labels())["kind"] = "worker";
          auto r = links[i]->Register(offer, Clock::now() + std::chrono::seconds(60));
          if (!r.ok()) {
            fprintf(stderr, "worker %zu: %s\n", i, r.status().message().c_str());
            ++failed;
          }
        }
      });
    }
    for (auto& t : th) t.join();
    if (failed) return 1;
  }
  const double registered_s = Secs(Clock::now() - t_reg);
  // Each worker watches through a server of its own (round robin), over
  // channels_per_server connections to each server, each its own.
  std::vector<std::vector<std::shared_ptr<grpc::Channel>>> channels(addrs.size());
  for (size_t s = 0; s < addrs.size(); ++s) {
    for (size_t c = 0; c < std::max<size_t>(channels_per_server, 1); ++c) {
      rpc::ChannelOptions o;
      o.security = rpc::ProcessSecurity();
      o.max_receive_bytes = 64 << 20;
      o.own_connection = true;
      channels[s].push_back(rpc::NewChannel(addrs[s], o));
    }
  }
  Streams streams(arrivals);
  for (size_t i = 0; i < workers; ++i) {
    const auto& mine = channels[i % addrs.size()];
    streams.Open(mine[(i / addrs.size()) % mine.size()], links[i]->id(), links[i]->cluster_id());
  }
  streams.Start();

  // Heartbeats: every worker once a second (TTL 3 s), to the leader.
  std::atomic<bool> stop{false};
  std::vector<std::thread> beaters;
  for (int t = 0; t < 16; ++t) {
    beaters.emplace_back([&, t] {
      node::PeerClients clients;
      std::string leader = addrs[0];
      while (!stop) {
        const auto round = Clock::now();
        for (size_t i = t; i < workers && !stop; i += 16) {
          v1::HeartbeatRequest req;
          req.set_cluster_id(links[i]->cluster_id());
          req.set_node_id(links[i]->id());
          auto r = clients.Heartbeat(leader, req, Clock::now() + std::chrono::seconds(2));
          if (r.ok() && !r->ok() && !r->leader_address().empty()) leader = r->leader_address();
        }
        std::this_thread::sleep_until(round + std::chrono::seconds(1));
      }
    });
  }
  // Ready: every worker READY in the servers' state.
  auto nodes_stub = v1::NodeService::NewStub(rpc::NewChannel(addrs[0], {}));
  // VMs placed on workers, in the leader's applied state.
  auto placed_on_workers = [&]() -> long {
    v1::ListNodesResponse resp;
    if (!nodes_stub->ListNodes(Ctx(10).get(), v1::ListNodesRequest(), &resp).ok()) return -1;
    long n = 0;
    for (int i = 0; i < resp.nodes_size() && i < resp.usage_size(); ++i) {
      if (resp.nodes(i).role() == v1::NODE_ROLE_WORKER) n += resp.usage(i).vm_count();
    }
    return n;
  };
  auto set_paused = [&](bool paused) {
    v1::SetClusterSettingRequest req;
    req.set_key("scheduler.paused");
    req.set_value(paused ? "true" : "false");
    v1::SetClusterSettingResponse resp;
    grpc::Status s = nodes_stub->SetClusterSetting(Ctx(10).get(), req, &resp);
    if (!s.ok()) fprintf(stderr, "scheduler.paused=%d: %s\n", paused, s.error_message().c_str());
    return s.ok();
  };
  const auto t_ready0 = Clock::now();
  while (true) {
    v1::ListNodesResponse resp;
    size_t ready = 0;
    if (nodes_stub->ListNodes(Ctx(10).get(), v1::ListNodesRequest(), &resp).ok()) {
      for (const auto& n : resp.nodes()) {
        ready += n.role() == v1::NODE_ROLE_WORKER && n.health() == v1::NODE_HEALTH_READY;
      }
    }
    if (ready == workers) break;
    if (Clock::now() - t_ready0 > std::chrono::seconds(120)) {
      fprintf(stderr, "only %zu of %zu workers ready\n", ready, workers);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  printf("worker_bench: workers=%zu registered_s=%.2f ready_s=%.2f load=%s\n", workers, registered_s,
         Secs(Clock::now() - t_reg), LoadAvg().c_str());
  fflush(stdout);

  // One create, waited for on the streams.
  auto probe = [&](const std::string& name, std::vector<double>& out) {
    auto stub = v1::VmService::NewStub(rpc::NewChannel(addrs[0], {}));
    v1::CreateVmResponse resp;
    const auto t0 = Clock::now();
    if (!stub->CreateVm(Ctx(30).get(), Create(name), &resp).ok()) return;
    Clock::time_point at;
    if (arrivals.WaitFor(name, Clock::now() + std::chrono::seconds(60), &at)) out.push_back(Ms(at - t0));
  };
  size_t expected = 0;  // VMs that should be on the workers' streams
  {
    std::vector<double> lat;
    for (size_t i = 0; i < probes; ++i) probe("idle-" + std::to_string(i), lat);
    expected += lat.size();
    printf("worker_bench: latency idle n=%zu p50_ms=%.1f p99_ms=%.1f\n", lat.size(), Pct(lat, 0.5),
           Pct(lat, 0.99));
    fflush(stdout);
  }

  // Creates `n` VMs named prefix-i, in_flight at a time over the servers.
  auto create_all = [&](const std::string& prefix, size_t n) {
    std::atomic<size_t> next{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> th;
    for (size_t t = 0; t < in_flight; ++t) {
      th.emplace_back([&, t] {
        auto stub = v1::VmService::NewStub(
            rpc::NewChannel(addrs[t % addrs.size()], {}));
        for (size_t i; (i = next++) < n;) {
          v1::CreateVmResponse resp;
          grpc::Status s = stub->CreateVm(Ctx(60).get(), Create(prefix + std::to_string(i)), &resp);
          if (!s.ok() && errors++ == 0) fprintf(stderr, "create: %s\n", s.error_message().c_str());
        }
      });
    }
    for (auto& t : th) t.join();
    return errors.load();
  };
  // Probes one create at a time (100 ms apart) while `running`.
  auto probing = [&](const std::string& prefix, std::atomic<bool>& running, std::vector<double>& lat) {
    return std::thread([&, prefix] {
      for (size_t i = 0; running; ++i) {
        probe(prefix + std::to_string(i), lat);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  };

  int burst_no = 0;
  for (size_t n : bursts) {
    ++burst_no;
    const long rss0 = RssKib(leader_pid);
    if (!set_paused(true)) return 1;
    const long placed0 = placed_on_workers();
    const double cpu0 = CpuSecs(leader_pid), self0 = SelfCpuSecs();
    const auto t0 = Clock::now();
    const int errors = create_all("b" + std::to_string(burst_no) + "-", n);
    const double create_s = Secs(Clock::now() - t0);
    printf("worker_bench: burst vms=%zu create_s=%.2f creates_per_s=%.0f create_errors=%d in_flight=%zu "
           "(scheduler paused: creates only) leader_cpu_s=%.1f load=%s\n",
           n, create_s, (n - errors) / create_s, errors, in_flight, CpuSecs(leader_pid) - cpu0,
           LoadAvg().c_str());
    fflush(stdout);
    expected += n - errors;

    // Release: placement only, timed until committed and until streamed.
    std::atomic<bool> placing{true};
    std::vector<double> lat;
    const double cpu1 = CpuSecs(leader_pid), self1 = SelfCpuSecs();
    const auto t1 = Clock::now();
    if (!set_paused(false)) return 1;
    std::thread prober = probing("probe-" + std::to_string(burst_no) + "-", placing, lat);
    Clock::time_point t_committed{};
    const auto until = Clock::now() + std::chrono::seconds(900);
    while (Clock::now() < until) {
      const long placed = placed_on_workers();
      if (placed >= placed0 + static_cast<long>(n - errors)) {
        t_committed = Clock::now();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const bool streamed = arrivals.WaitCount(expected, until);
    const auto t_streamed = arrivals.Last();
    placing = false;
    prober.join();
    expected += lat.size();
    if (t_committed == Clock::time_point{} || !streamed) {
      fprintf(stderr, "burst %zu: only %zu of %zu VMs reached a worker's stream\n", n, arrivals.size(),
              expected);
      return 1;
    }
    const double committed_s = Secs(t_committed - t1), streamed_s = Secs(t_streamed - t1);
    const long rss1 = RssKib(leader_pid);
    printf("worker_bench: burst vms=%zu placements_committed_s=%.2f placements_committed_per_s=%.0f "
           "on_streams_s=%.2f on_streams_per_s=%.0f latency_n=%zu latency_p50_ms=%.1f latency_p99_ms=%.1f "
           "leader_cpu_s=%.1f bench_cpu_s=%.1f leader_rss_mib=%.0f rss_growth_bytes_per_vm=%.0f load=%s\n",
           n, committed_s, (n - errors) / committed_s, streamed_s, (n - errors) / streamed_s, lat.size(),
           Pct(lat, 0.5), Pct(lat, 0.99), CpuSecs(leader_pid) - cpu1, SelfCpuSecs() - self1, rss1 / 1024.0,
           (rss1 - rss0) * 1024.0 / n, LoadAvg().c_str());
    (void)cpu0;
    (void)self0;
    std::string snap_name;
    const uintmax_t snap_bytes = NewestSnapshotBytes(servers[0]->data_dir(), &snap_name);
    printf("worker_bench: state vms_total=%zu leader_newest_snapshot=%s snapshot_bytes=%ju\n", expected,
           snap_name.empty() ? "none" : snap_name.c_str(), snap_bytes);
    fflush(stdout);
  }

  if (e2e > 0) {
    // As a user sees it: creates with the scheduler running.
    std::atomic<bool> creating{true};
    std::vector<double> lat;
    const auto t0 = Clock::now();
    std::thread prober = probing("probe-e2e-", creating, lat);
    const int errors = create_all("e-", e2e);
    const auto t_created = Clock::now();
    creating = false;
    prober.join();
    expected += e2e - errors + lat.size();
    if (!arrivals.WaitCount(expected, Clock::now() + std::chrono::seconds(600))) {
      fprintf(stderr, "e2e: only %zu of %zu VMs reached a worker's stream\n", arrivals.size(), expected);
      return 1;
    }
    const double placed_s = Secs(arrivals.Last() - t0);
    printf("worker_bench: e2e vms=%zu create_s=%.2f placed_s=%.2f vms_per_s=%.0f create_errors=%d "
           "latency_n=%zu latency_p50_ms=%.1f latency_p99_ms=%.1f load=%s\n",
           e2e, Secs(t_created - t0), placed_s, e2e / placed_s, errors, lat.size(), Pct(lat, 0.5),
           Pct(lat, 0.99), LoadAvg().c_str());
    fflush(stdout);
  }
  printf("worker_bench: stream_updates=%lu stream_errors=%d\n", static_cast<unsigned long>(streams.updates()),
         streams.failed());
  stop = true;
  for (auto& t : beaters) t.join();
  streams.Stop();
  for (auto& l : links) l->Stop();
  return streams.failed() ? 1 : 0;
}
