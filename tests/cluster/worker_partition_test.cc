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

  // Cuts worker 11 off with `cut`, checks that it fenced before its VMs ran
  // on worker 12, heals, and checks that it comes back without running any
  // of them twice.
  void CutAndHeal(TcpProxy::Mode cut) {
    const std::set<std::string> moved = VmsOn(kCut);
    ASSERT_EQ(moved.size(), static_cast<size_t>(kVms));
    size_t through_proxies = 0;
    for (auto& p : proxies_) through_proxies += p->accepted();
    ASSERT_GT(through_proxies, 0u) << "worker 11 should reach the servers only through the proxies";
    Child& child = *workers_[kCut].child;

    const int64_t cut_at = UnixNowMs();
    SetMode(cut);
    ASSERT_TRUE(WaitUntil([&] { return AllRunning(kCut); }, seconds(30))) << cluster_->AllLogs();
    const int64_t moved_ms = UnixNowMs() - cut_at;
    EXPECT_EQ(NodeOf(1, kCut).health(), v1::NODE_HEALTH_DOWN);
    // The TTL is 3 s from the last ack, sent at most TTL/3 before the cut.
    EXPECT_GE(moved_ms, 2'000) << "VMs moved before the worker's TTL ran out";
    std::printf("partition: the %zu VMs of the cut-off worker run on worker %llu after %lld ms\n",
                moved.size(), static_cast<unsigned long long>(kOther), static_cast<long long>(moved_ms));
    // It fenced while cut off: each of its VMs was killed there, and each
    // started on worker 12 only after that.
    std::set<std::string> killed;
    for (const RecordEvent& e : ReadRecord(record_)) {
      if (e.node == kCut && e.what == "kill" && e.at >= cut_at) killed.insert(e.vm);
    }
    EXPECT_EQ(killed, moved) << child.Log();
    {
      const auto iv = Intervals(ReadRecord(record_), {});
      EXPECT_EQ(Overlaps(iv), "");
      EXPECT_EQ(NotStartedElsewhere(iv, moved, kCut, cut_at), "");
    }

    SetMode(TcpProxy::Mode::kForward);
    ASSERT_TRUE(WaitUntil([&] { return NodeOf(1, kCut).health() == v1::NODE_HEALTH_READY; },
                          seconds(20)))
        << child.Log();
    // Its assignment stream works again: a VM placed on it now runs there.
    grpc::Status s = CreateVm("after-heal", "worker=" + std::to_string(kCut));
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_TRUE(WaitUntil([&] { return Running("after-heal", kCut); }, seconds(20))) << child.Log();
    ASSERT_TRUE(AllRunning(kCut)) << "the moved VMs stay on worker " << kOther;

    const auto events = ReadRecord(record_);
    for (const RecordEvent& e : events) {
      EXPECT_FALSE(e.node == kCut && e.what == "start" && e.at >= cut_at && e.vm != "after-heal")
          << e.vm << " was started again on the worker that was cut off";
    }
    const auto iv = Intervals(events, {});
    EXPECT_EQ(Overlaps(iv), "");
    EXPECT_EQ(NotAliveOnce(iv, moved), "");
    EXPECT_NE(child.Log().find("fenced"), std::string::npos) << child.Log();
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
