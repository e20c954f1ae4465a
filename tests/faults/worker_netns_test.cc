// The worker partition of issue 6 with network namespaces (needs root; the
// proxy variants, tests/cluster/worker_partition_test.cc, need none): 3
// servers and 2 workers, each in its own namespace of a NetnsLab
// (faults/netns.h); worker 11 is cut from every server by blackhole routes,
// so its packets are dropped both ways. It must fence on its own TTL before
// worker 12 runs its VMs, and after the routes are removed it is READY again
// and runs none of them twice (support/worker_view.h, CheckCutAndHeal).
#include <gtest/gtest.h>
#include <unistd.h>

#include "faults/cluster.h"
#include "faults/netns.h"
#include "support/process.h"
#include "support/worker_view.h"

namespace blixard::faults {
namespace {

using testing::Child;
using testing::WaitUntil;

constexpr int kServers = 3;
constexpr int kVms = 6;
// Worker id -> its namespace in the lab (after the servers').
const std::map<uint64_t, int> kWorkerNs = {{11, 4}, {12, 5}};

TEST(WorkerNetns, WorkerCutOffByBlackholeRoutesFencesAndAfterTheHealNoneRunsTwice) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root for network namespaces (ip netns); WorkerPartition.* covers the "
                    "same partition with TCP proxies and no root";
  }
  NetnsLab::CleanupDeadRuns();
  auto lab = NetnsLab::Create(kServers + static_cast<int>(kWorkerNs.size()));
  ASSERT_TRUE(lab.ok()) << lab.status().message();
  ASSERT_TRUE((*lab)->EnterClientNamespace().ok());

  testing::TempDir dir;
  const std::string record = dir.path() + "/record";
  NetCluster::Options options;
  options.nodes = kServers;
  options.dir = dir.path();
  options.node_args = {"--fake-record", record};
  NetCluster servers(**lab, options);
  std::string error;
  ASSERT_TRUE(servers.Start(&error)) << error;
  testing::WorkerView view([&](uint64_t id) { return servers.Channel(static_cast<int>(id)); }, kVms);

  const std::string worker_token = servers.JoinToken("worker");
  ASSERT_FALSE(worker_token.empty());
  std::map<uint64_t, std::unique_ptr<Child>> workers;
  auto start_worker = [&](uint64_t id) {
    const int ns = kWorkerNs.at(id);
    std::vector<std::string> argv = (*lab)->Exec(ns);
    const std::vector<std::string> node = {
        testing::BlixardBin(), "node", "--role", "worker", "--id", std::to_string(id),
        "--bind", NetnsLab::NodeIp(ns) + ":7001", "--data-dir", dir.path() + "/worker-" + std::to_string(id),
        "--backend", "fake", "--fake-record", record, "--label", "kind=worker",
        "--label", "worker=" + std::to_string(id)};
    argv.insert(argv.end(), node.begin(), node.end());
    for (int s = 1; s <= kServers; ++s) argv.insert(argv.end(), {"--join", servers.Addr(s)});
    argv.insert(argv.end(), {"--token", worker_token});
    testing::AddFakeCapacity(argv);
    workers[id] = std::make_unique<Child>(argv, dir.path() + "/worker-" + std::to_string(id) + ".log");
    return WaitUntil([&] { return view.NodeOf(1, id).health() == v1::NODE_HEALTH_READY; },
                     testing::seconds(30));
  };
  ASSERT_TRUE(start_worker(11)) << workers[11]->Log();
  ASSERT_TRUE(view.CreateWorkerVms());  // all on worker 11, the only worker yet
  ASSERT_TRUE(start_worker(12)) << workers[12]->Log();

  const int cut_ns = kWorkerNs.at(11);
  testing::CheckCutAndHeal(
      view, record, 11, 12, *workers[11],
      [&]() -> std::string {
        for (int s = 1; s <= kServers; ++s) {
          if (Status st = (*lab)->Cut(cut_ns, s); !st.ok()) return st.ToString();
        }
        return "";
      },
      [&]() -> std::string {
        Status st = (*lab)->HealAll();
        return st.ok() ? "" : st.ToString();
      });
}

}  // namespace
}  // namespace blixard::faults
