// What was acknowledged survives restarts and kill -9; nothing half-written.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

std::map<std::string, v1::Vm> ListAll(TestDaemon& d) {
  v1::ListVmsResponse list;
  grpc::Status s = d.Vms()->ListVms(Ctx().get(), v1::ListVmsRequest(), &list);
  EXPECT_TRUE(s.ok()) << s.error_message();
  std::map<std::string, v1::Vm> out;
  for (const auto& vm : list.vms()) out[vm.spec().name()] = vm;
  return out;
}

grpc::Status CreateVm(TestDaemon& d, const std::string& name) {
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec(name, 1, 128);
  (*req.mutable_spec()->mutable_labels())["idx"] = name;
  req.set_start(true);
  v1::CreateVmResponse resp;
  return d.Vms()->CreateVm(Ctx(5).get(), req, &resp);
}

TEST(Durability, RestartKeepsEveryRecord) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(CreateVm(d, "vm-" + std::to_string(i)).ok());
  v1::VmNameRequest stop;
  stop.set_name("vm-3");
  v1::VmResponse r;
  ASSERT_TRUE(d.Vms()->StopVm(Ctx().get(), stop, &r).ok());
  auto before = ListAll(d);
  ASSERT_EQ(d.Stop(), 0);
  ASSERT_TRUE(d.Start());
  auto after = ListAll(d);
  ASSERT_EQ(after.size(), 30u);
  // The user's record survives as written (placement may move on meanwhile).
  for (const auto& [name, vm] : before) {
    EXPECT_EQ(after[name].spec().DebugString(), vm.spec().DebugString()) << name;
    EXPECT_EQ(after[name].desired_state(), vm.desired_state()) << name;
    EXPECT_EQ(after[name].created_index(), vm.created_index()) << name;
  }
  EXPECT_EQ(after["vm-3"].desired_state(), v1::DESIRED_STATE_STOPPED);
}

// 200 writes from 4 concurrent clients; SIGKILL at a random point. Every
// acknowledged create is there after restart; an unacknowledged one is
// either wholly there or absent.
TEST(Durability, KillNineKeepsEveryAcknowledgedWrite) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  std::mt19937 rng(std::random_device{}());
  const int kill_after = std::uniform_int_distribution<int>(20, 180)(rng);
  std::atomic<int> next{0}, acked_count{0};
  std::mutex mu;
  std::set<std::string> acked, attempted;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (true) {
        int i = next++;
        if (i >= 200) return;
        std::string name = "k-" + std::to_string(i);
        {
          std::lock_guard lk(mu);
          attempted.insert(name);
        }
        if (CreateVm(d, name).ok()) {
          std::lock_guard lk(mu);
          acked.insert(name);
          ++acked_count;
        } else {
          return;  // the daemon died
        }
      }
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return acked_count >= kill_after; }, std::chrono::seconds(60)));
  d.Stop(SIGKILL);
  for (auto& t : clients) t.join();
  ASSERT_TRUE(d.Start());
  auto after = ListAll(d);
  for (const auto& name : acked) EXPECT_TRUE(after.count(name)) << "lost acknowledged " << name;
  for (const auto& [name, vm] : after) {
    EXPECT_TRUE(attempted.count(name)) << name;
    EXPECT_EQ(vm.spec().labels().at("idx"), name);  // whole record, not half of one
    EXPECT_EQ(vm.spec().memory_mib(), 128u);
  }
  RecordProperty("acknowledged", static_cast<int>(acked.size()));
}

TEST(Durability, SnapshotAndCompactionThenRestartReplaysTheTail) {
  TestDaemon d({.extra_args = {"--snapshot-threshold", "25"}});
  ASSERT_TRUE(d.Start());
  for (int i = 0; i < 110; ++i) ASSERT_TRUE(CreateVm(d, "s-" + std::to_string(i)).ok());
  v1::GetClusterStatusResponse st;
  ASSERT_TRUE(d.Cluster()->GetClusterStatus(Ctx().get(), {}, &st).ok());
  EXPECT_GE(st.snapshot_index(), 100u);
  EXPECT_GT(st.applied_index(), st.snapshot_index());  // a tail to replay
  ASSERT_EQ(d.Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(ListAll(d).size(), 110u);
  v1::GetClusterStatusResponse st2;
  ASSERT_TRUE(d.Cluster()->GetClusterStatus(Ctx().get(), {}, &st2).ok());
  EXPECT_EQ(st2.cluster_id(), st.cluster_id());
  EXPECT_GE(st2.snapshot_index(), st.snapshot_index());
}

}  // namespace
}  // namespace blixard::testing
