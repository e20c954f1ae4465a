// The scheduler, node capacity and labels, and drain, through the CLI of a
// 3-node cluster of real daemons (fake backend).
#include <gtest/gtest.h>

#include <map>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

std::map<std::string, v1::Vm> ListVms(TestCluster& c, uint64_t id) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + seconds(5));
  v1::ListVmsResponse list;
  std::map<std::string, v1::Vm> out;
  if (!c.Vms(id)->ListVms(ctx.get(), v1::ListVmsRequest(), &list).ok()) return out;
  for (const v1::Vm& vm : list.vms()) out[vm.spec().name()] = vm;
  return out;
}

bool Running(const v1::Vm& vm) {
  return vm.node_id() != 0 && (vm.status().phase() == v1::VM_PHASE_READY ||
                               vm.status().phase() == v1::VM_PHASE_RUNNING);
}

class SchedulingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(c_.Start(1));
    ASSERT_TRUE(c_.Add(2, {"--label", "zone=b", "--label", "ssd=yes"}));
    ASSERT_TRUE(c_.Add(3, {"--label", "zone=b", "--capacity-vcpus", "4"}));
    // Every node has reported its capacity and labels.
    ASSERT_TRUE(WaitUntil(
        [&] {
          CommandResult r = c_.Cli(1, {"node", "list"});
          return r.exit_code == 0 && r.out.find("ssd=yes,zone=b") != std::string::npos &&
                 r.out.find("0/4 ") != std::string::npos &&
                 r.out.find("0/64 ") != std::string::npos;
        },
        seconds(30)))
        << c_.Cli(1, {"node", "list"}).out << c_.AllLogs();
  }
  void Create(std::vector<std::string> args) {
    args.insert(args.begin(), {"vm", "create"});
    args.insert(args.end(), {"--timeout", "20"});
    CommandResult r = c_.Cli(1, args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Waits until `pred` holds for the VM list.
  bool WaitVms(const std::function<bool(const std::map<std::string, v1::Vm>&)>& pred) {
    return WaitUntil([&] { return pred(ListVms(c_, 1)); }, seconds(30));
  }
  TestCluster c_;
};

TEST_F(SchedulingTest, ConstraintsAntiAffinityAndReasons) {
  Create({"on-b", "--constraint", "zone=b", "--constraint", "ssd!=yes"});
  Create({"not-b", "--constraint", "zone!=b"});
  for (const char* n : {"g-1", "g-2", "g-3", "g-4"}) Create({n, "--anti-affinity-group", "g"});
  Create({"huge", "--vcpus", "100"});
  ASSERT_TRUE(WaitVms([](const auto& vms) {
    if (vms.size() != 7) return false;
    for (const char* n : {"on-b", "not-b", "g-1", "g-2", "g-3"}) {
      if (!Running(vms.at(n))) return false;
    }
    // Each pending VM's reason is its own write (SetPendingReasons), which
    // may come a pass after another's: wait for both.
    return vms.at("g-4").status().message().find("anti-affinity") != std::string::npos &&
           vms.at("huge").status().message().find("needs 100 vCPUs") != std::string::npos;
  })) << c_.Cli(1, {"vm", "list"}).out;
  auto vms = ListVms(c_, 1);
  EXPECT_EQ(vms["on-b"].node_id(), 3u);
  EXPECT_EQ(vms["not-b"].node_id(), 1u);
  std::set<uint64_t> group_nodes;
  for (const char* n : {"g-1", "g-2", "g-3"}) group_nodes.insert(vms[n].node_id());
  EXPECT_EQ(group_nodes, (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(vms["g-4"].node_id(), 0u);

  CommandResult list = c_.Cli(1, {"vm", "list"});
  EXPECT_NE(list.out.find("REASON"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("every ready node already has a VM of anti-affinity group \"g\""),
            std::string::npos)
      << list.out;
  CommandResult get = c_.Cli(1, {"vm", "get", "huge"});
  EXPECT_NE(get.out.find("needs 100 vCPUs; the largest on a ready node has 64 in all"),
            std::string::npos)
      << get.out;

  // Room appears: g-4 is placed as soon as a group VM goes.
  ASSERT_EQ(c_.Cli(1, {"vm", "delete", "g-2"}).exit_code, 0);
  EXPECT_TRUE(WaitVms([](const auto& vms) { return Running(vms.at("g-4")); }))
      << c_.Cli(1, {"vm", "list"}).out;

  // Bad input is refused with what to change.
  CommandResult bad = c_.Cli(1, {"vm", "create", "bad", "--constraint", "zone"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("use KEY=VALUE or KEY!=VALUE"), std::string::npos) << bad.err;
}

TEST_F(SchedulingTest, BinpackSettingAndDrainMovesVmsAway) {
  ASSERT_EQ(c_.Cli(1, {"cluster", "set", "scheduler.strategy", "binpack"}).exit_code, 0);
  CommandResult settings = c_.Cli(2, {"cluster", "settings"});
  EXPECT_EQ(settings.out, "scheduler.paused = false\nscheduler.strategy = binpack\n");
  // binpack: every VM goes to the fullest node that fits; the first fills
  // node 1 (ties: lowest id), so all land there.
  for (int i = 0; i < 6; ++i) Create({"v" + std::to_string(i)});
  ASSERT_TRUE(WaitVms([](const auto& vms) {
    for (const auto& [n, vm] : vms) {
      if (!Running(vm)) return false;
    }
    return vms.size() == 6;
  }));
  for (const auto& [n, vm] : ListVms(c_, 1)) EXPECT_EQ(vm.node_id(), 1u) << n;

  CommandResult drain = c_.Cli(2, {"node", "drain", "1", "--deadline", "5m"});
  ASSERT_EQ(drain.exit_code, 0) << drain.err;
  ASSERT_TRUE(WaitVms([](const auto& vms) {
    for (const auto& [n, vm] : vms) {
      if (vm.node_id() == 1 || !Running(vm)) return false;
    }
    return vms.size() == 6;
  })) << c_.Cli(1, {"vm", "list"}).out;
  CommandResult nodes = c_.Cli(1, {"node", "list"});
  EXPECT_NE(nodes.out.find(" done "), std::string::npos) << nodes.out;  // every VM left
  CommandResult json = c_.Cli(1, {"node", "list", "-o", "json"});
  EXPECT_NE(json.out.find("\"draining\": true"), std::string::npos) << json.out;

  // While drained nothing new lands on node 1; after undrain it does.
  Create({"after-drain", "--constraint", "zone!=b"});
  ASSERT_TRUE(WaitVms([](const auto& vms) {
    return vms.count("after-drain") &&
           vms.at("after-drain").status().message() ==
               "no ready node matches its constraints (zone!=b); other nodes: 1 draining";
  })) << c_.Cli(1, {"vm", "list"}).out;
  ASSERT_EQ(c_.Cli(3, {"node", "undrain", "1"}).exit_code, 0);
  EXPECT_TRUE(WaitVms([](const auto& vms) {
    return Running(vms.at("after-drain")) && vms.at("after-drain").node_id() == 1;
  }));

  CommandResult unknown = c_.Cli(1, {"node", "drain", "9"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("node 9 not found"), std::string::npos) << unknown.err;
}

// What changes under a running server reaches its record too (the same
// reporter as a worker's, daemon/capacity.h): here the CPUs it may run on.
TEST(ServerOffer, RunningServerWhoseCpusNarrowReportsItsNewCapacity) {
  const int cpus = OwnCpuCount();
  if (cpus < 2) GTEST_SKIP() << "needs 2 or more CPUs to narrow a server to one; this test runs on " << cpus;
  TestCluster c({.node_args = {"--capacity-vcpus", "0"}});  // 0: as many as the host gives it
  ASSERT_TRUE(c.Start(1));
  auto node = [&]() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + seconds(5));
    v1::ListNodesResponse resp;
    std::shared_ptr<grpc::Channel> ch = c.NewChannel(1);
    if (v1::NodeService::NewStub(ch)->ListNodes(ctx.get(), v1::ListNodesRequest(), &resp).ok()) {
      for (const v1::Node& n : resp.nodes()) {
        if (n.id() == 1) return n;
      }
    }
    return v1::Node();
  };
  ASSERT_TRUE(WaitUntil([&] { return node().host_capacity().vcpus() == static_cast<uint32_t>(cpus); },
                        seconds(20)))
      << node().DebugString();

  ASSERT_TRUE(NarrowToOneCpu(c.Pid(1)));
  ASSERT_TRUE(WaitUntil(
      [&] {
        const v1::Node n = node();
        return n.host_capacity().vcpus() == 1 && n.capacity().vcpus() == 1;
      },
      seconds(20)))
      << node().DebugString() << c.Log(1);
  // Logged once the write returned, which may be after the record shows it.
  EXPECT_TRUE(WaitUntil([&] { return c.Log(1).find("node 1 now offers 1 vCPUs") != std::string::npos; },
                        seconds(10)))
      << c.Log(1);
}

}  // namespace
}  // namespace blixard::testing
