// A worker cut off from the servers at the socket level, with no root: worker
// 11 reaches the servers only through TCP proxies the test controls
// (support/tcp_proxy.h; its --join names the proxies, and heartbeats follow
// only --join addresses). The test cuts every path at once, either holding
// the connections open and forwarding nothing (as a network that drops every
// packet) or resetting them. The worker must fence on its own TTL (kill its
// VMs) before the leader marks it DOWN and worker 12 runs them; after the
// heal it is READY again, starts none of the VMs that now run elsewhere, and
// runs a new one placed on it. The shared --fake-record ledger shows no VM
// alive on two nodes at any time.
#include <gtest/gtest.h>

#include "cluster/worker_cluster.h"
#include "support/tcp_proxy.h"

namespace blixard::testing {
namespace {

constexpr uint64_t kCut = 11, kOther = 12;

class WorkerPartition : public WorkerCluster {
 protected:
  void SetUp() override {
    StartServers();
    if (HasFatalFailure()) return;
    // The leader last: the worker's first heartbeats reach a server that
    // is not the leader, whose answer names the leader's own address.
    const uint64_t leader = cluster_->WaitForLeader();
    ASSERT_NE(leader, 0u);
    std::vector<uint64_t> servers;
    for (uint64_t s : {1, 2, 3}) {
      if (s != leader) servers.push_back(s);
    }
    servers.push_back(leader);
    for (uint64_t s : servers) {
      proxies_.push_back(std::make_unique<TcpProxy>(cluster_->Addr(s)));
      join_[kCut].push_back(proxies_.back()->address());
    }
    ASSERT_TRUE(StartWorker(kCut));
    CreateWorkerVms();  // all on worker 11, the only worker yet
    if (HasFatalFailure()) return;
    ASSERT_TRUE(StartWorker(kOther));
  }

  void SetMode(TcpProxy::Mode mode) {
    for (auto& p : proxies_) p->SetMode(mode);
  }

  // Cuts worker 11 off with `cut`, then heals (support/worker_view.h says
  // what must hold).
  void CutAndHeal(TcpProxy::Mode cut) {
    size_t through_proxies = 0;
    for (auto& p : proxies_) through_proxies += p->accepted();
    ASSERT_GT(through_proxies, 0u) << "worker 11 should reach the servers only through the proxies";
    ASSERT_EQ(VmsOn(kCut).size(), static_cast<size_t>(kVms));
    CheckCutAndHeal(
        *view_, record_, kCut, kOther, *workers_[kCut].child,
        [&] {
          SetMode(cut);
          return std::string();
        },
        [&] {
          SetMode(TcpProxy::Mode::kForward);
          return std::string();
        });
  }

  std::vector<std::unique_ptr<TcpProxy>> proxies_;
};

TEST_F(WorkerPartition, BlackholedWorkerFencesItsVmsRunElsewhereAndAfterTheHealNoneRunsTwice) {
  CutAndHeal(TcpProxy::Mode::kBlackhole);
}

TEST_F(WorkerPartition, WorkerWhoseConnectionsAreResetFencesAndAfterTheHealNoneRunsTwice) {
  CutAndHeal(TcpProxy::Mode::kReset);
}

}  // namespace
}  // namespace blixard::testing
