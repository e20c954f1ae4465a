// Workers at scale, whole system: 3 real server processes (fake VM backend)
// and many workers simulated in this process over the real worker path
// (node::WorkerLink: RegisterWorker, Heartbeat to the leader, one
// WatchAssignments stream per worker). VMs are created through the public
// API (CreateVm, 64 in flight, constrained to workers); a VM counts as placed
// when the stream of the worker it was placed on delivers it (committed,
// applied by a server, streamed).
//
// Prints:
//   worker_bench: workers=W registered_s=… ready_s=…
//   worker_bench: latency idle n=… p50_ms=… p99_ms=…        (create -> on its worker's stream)
//   worker_bench: burst vms=N create_s=… placed_s=… placements_per_s=… latency_p50_ms=… latency_p99_ms=…
// placements_per_s = N / (time from the first create to the last VM on a
// stream): the creates' own throughput bounds it, so create_s is printed too.
// Flags: --workers W (1000) --bursts N,N (10000,100000) --probes K (50)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/spdlog.h>

#include "blixard/v1/blixard.grpc.pb.h"
#include "node/peer_clients.h"
#include "node/worker.h"
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
  void Seen(const std::vector<v1::Vm>& vms) {
    const auto now = Clock::now();
    std::lock_guard lk(mu_);
    for (const v1::Vm& vm : vms) seen_.emplace(vm.spec().name(), now);
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
    Clock::time_point last{};
    for (const auto& [n, t] : seen_) last = std::max(last, t);
    return last;
  }
  size_t size() {
    std::lock_guard lk(mu_);
    return seen_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Clock::time_point> seen_;
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

}  // namespace

int main(int argc, char** argv) {
  size_t workers = 1000, probes = 50;
  std::vector<size_t> bursts = {10000, 100000};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--workers")) workers = std::stoul(argv[i + 1]);
    if (!strcmp(argv[i], "--bursts")) bursts = ParseList(argv[i + 1]);
    if (!strcmp(argv[i], "--probes")) probes = std::stoul(argv[i + 1]);
  }

  spdlog::set_level(spdlog::level::warn);  // one line per stream otherwise
  // Three servers; VMs are constrained to workers, so none lands on them.
  std::vector<std::unique_ptr<TestDaemon>> servers;
  TestDaemon::Options first;
  first.id = 1;
  first.tcp = true;
  servers.push_back(std::make_unique<TestDaemon>(first));
  if (!servers[0]->Start()) return 1;
  for (uint64_t id : {2, 3}) {
    TestDaemon::Options o;
    o.id = id;
    o.tcp = true;
    o.extra_args = {"--join", servers[0]->addr()};
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

  // Register the workers (16 at a time), then open their streams.
  Arrivals arrivals;
  std::vector<std::unique_ptr<node::WorkerLink>> links(workers);
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
          links[i] = std::make_unique<node::WorkerLink>(1000 + i, mine, "");
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
  for (auto& l : links) {
    node::WorkerLink* link = l.get();
    link->Watch([link, &arrivals] {
      if (auto placed = link->Placed()) arrivals.Seen(*placed);
    });
  }

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
  auto nodes_stub = v1::NodeService::NewStub(grpc::CreateChannel(addrs[0], grpc::InsecureChannelCredentials()));
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
  printf("worker_bench: workers=%zu registered_s=%.2f ready_s=%.2f\n", workers, registered_s,
         Secs(Clock::now() - t_reg));
  fflush(stdout);

  // One create, waited for on the streams.
  auto probe = [&](const std::string& name, std::vector<double>& out) {
    auto stub = v1::VmService::NewStub(grpc::CreateChannel(addrs[0], grpc::InsecureChannelCredentials()));
    v1::CreateVmResponse resp;
    const auto t0 = Clock::now();
    if (!stub->CreateVm(Ctx(30).get(), Create(name), &resp).ok()) return;
    Clock::time_point at;
    if (arrivals.WaitFor(name, Clock::now() + std::chrono::seconds(60), &at)) out.push_back(Ms(at - t0));
  };
  {
    std::vector<double> lat;
    for (size_t i = 0; i < probes; ++i) probe("idle-" + std::to_string(i), lat);
    printf("worker_bench: latency idle n=%zu p50_ms=%.1f p99_ms=%.1f\n", lat.size(), Pct(lat, 0.5),
           Pct(lat, 0.99));
    fflush(stdout);
  }

  int burst_no = 0;
  for (size_t n : bursts) {
    ++burst_no;
    const size_t before = arrivals.size();
    std::atomic<size_t> next{0};
    std::atomic<int> errors{0};
    std::atomic<bool> creating{true};
    std::vector<double> lat;
    const auto t0 = Clock::now();
    std::thread prober([&] {
      for (size_t i = 0; creating; ++i) {
        probe("probe-" + std::to_string(burst_no) + "-" + std::to_string(i), lat);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
    std::vector<std::thread> th;
    for (int t = 0; t < 64; ++t) {
      th.emplace_back([&, t] {
        auto stub = v1::VmService::NewStub(
            grpc::CreateChannel(addrs[t % addrs.size()], grpc::InsecureChannelCredentials()));
        for (size_t i; (i = next++) < n;) {
          v1::CreateVmResponse resp;
          if (!stub->CreateVm(Ctx(60).get(), Create("b" + std::to_string(burst_no) + "-" + std::to_string(i)),
                              &resp)
                   .ok()) {
            ++errors;
          }
        }
      });
    }
    for (auto& t : th) t.join();
    const auto t_created = Clock::now();
    creating = false;
    prober.join();
    const size_t want = before + n - errors + lat.size();
    if (!arrivals.WaitCount(want, Clock::now() + std::chrono::seconds(600))) {
      fprintf(stderr, "burst %zu: only %zu of %zu VMs reached a worker's stream\n", n,
              arrivals.size() - before, n);
      return 1;
    }
    const double placed_s = Secs(arrivals.Last() - t0);
    printf("worker_bench: burst vms=%zu create_s=%.2f placed_s=%.2f placements_per_s=%.0f "
           "create_errors=%d latency_n=%zu latency_p50_ms=%.1f latency_p99_ms=%.1f\n",
           n, Secs(t_created - t0), placed_s, n / placed_s, errors.load(), lat.size(), Pct(lat, 0.5),
           Pct(lat, 0.99));
    fflush(stdout);
  }
  stop = true;
  for (auto& t : beaters) t.join();
  for (auto& l : links) l->Stop();
  return 0;
}
