// Liveness, rescheduling and fencing with real processes (fake VM backend,
// default 3 s node TTL): a node killed with SIGKILL has its VMs running
// elsewhere; a node stopped with SIGSTOP (silent, as if partitioned) loses
// them to the others and, when it runs again, kills its own copies before
// anything else. Every node's fake backend appends what ran where and when
// to one shared record, from which the tests check that no VM ever ran on
// two nodes at once (kill -9, drain) and that none runs twice after healing.
// A drained node's VMs move stop-then-start: each ends on the drained node
// before it starts elsewhere, and the drain finishes.
#include <gtest/gtest.h>

#include <grpcpp/create_channel.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "blixard/v1/internal.grpc.pb.h"

#include "support/cluster.h"
#include "support/fake_record.h"

namespace blixard::testing {
namespace {

constexpr int kVms = 6;

std::unique_ptr<grpc::ClientContext> Ctx(seconds s = seconds(5)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + s);
  return ctx;
}

class LivenessCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    record_ = dir_.path() + "/record";
    cluster_ = std::make_unique<TestCluster>(
        TestCluster::Options{.node_args = {"--fake-record", record_}});
    ASSERT_TRUE(cluster_->Start(3));
    ASSERT_TRUE(cluster_->WaitForMembers({.voters = 3}));
    for (int i = 0; i < kVms; ++i) {
      v1::CreateVmRequest req;
      req.mutable_spec()->set_name("vm-" + std::to_string(i));
      req.mutable_spec()->set_vcpus(1);
      req.mutable_spec()->set_memory_mib(128);
      req.set_start(true);
      v1::CreateVmResponse resp;
      grpc::Status s = cluster_->Vms(1)->CreateVm(Ctx(seconds(20)).get(), req, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    ASSERT_TRUE(WaitUntil([&] { return AllRunning(1, 0); }, seconds(60))) << cluster_->AllLogs();
  }

  // Every VM RUNNING or READY, placed on a node other than `not_on`, as
  // member `via` sees it (linearizable read).
  bool AllRunning(uint64_t via, uint64_t not_on) {
    v1::ListVmsResponse list;
    if (!cluster_->Vms(via)->ListVms(Ctx().get(), v1::ListVmsRequest(), &list).ok()) return false;
    if (list.vms_size() != kVms) return false;
    for (const v1::Vm& vm : list.vms()) {
      const auto phase = vm.status().phase();
      if (vm.node_id() == 0 || vm.node_id() == not_on ||
          (phase != v1::VM_PHASE_RUNNING && phase != v1::VM_PHASE_READY)) {
        return false;
      }
    }
    return true;
  }

  std::set<std::string> VmsOn(uint64_t via, uint64_t node) {
    std::set<std::string> out;
    v1::ListVmsResponse list;
    if (!cluster_->Vms(via)->ListVms(Ctx().get(), v1::ListVmsRequest(), &list).ok()) return out;
    for (const v1::Vm& vm : list.vms()) {
      if (vm.node_id() == node) out.insert(vm.spec().name());
    }
    return out;
  }

  v1::NodeHealth HealthOf(uint64_t via, uint64_t node) {
    auto stub = v1::NodeService::NewStub(
        cluster_->NewChannel(via));
    v1::ListNodesResponse resp;
    if (!stub->ListNodes(Ctx().get(), v1::ListNodesRequest(), &resp).ok()) {
      return v1::NODE_HEALTH_UNSPECIFIED;
    }
    for (const v1::Node& n : resp.nodes()) {
      if (n.id() == node) return n.health();
    }
    return v1::NODE_HEALTH_UNSPECIFIED;
  }

  // A member other than the leader that runs at least one VM, and a member
  // that stays up to read through.
  std::pair<uint64_t, uint64_t> PickVictim() {
    const uint64_t leader = cluster_->WaitForLeader();
    EXPECT_NE(leader, 0u);
    for (uint64_t id : {1, 2, 3}) {
      if (id != leader && !VmsOn(leader, id).empty()) return {id, leader};
    }
    ADD_FAILURE() << "no follower runs a VM";
    return {0, leader};
  }

  TempDir dir_;
  std::string record_;
  std::unique_ptr<TestCluster> cluster_;
};

TEST_F(LivenessCluster, KilledNodesVmsRunElsewhereAndNeverOnTwoNodesAtOnce) {
  auto [victim, via] = PickVictim();
  ASSERT_NE(victim, 0u);
  const std::set<std::string> moved = VmsOn(via, victim);
  const int64_t killed_at = UnixNowMs();
  cluster_->Kill9(victim);
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(via, victim); }, seconds(30)))
      << cluster_->AllLogs();
  const int64_t recovered_ms = UnixNowMs() - killed_at;
  EXPECT_EQ(HealthOf(via, victim), v1::NODE_HEALTH_DOWN);
  // The TTL is 3 s from the last heartbeat, sent at most TTL/3 before the
  // kill: nothing moved earlier than 2 s after it.
  EXPECT_GE(recovered_ms, 2'000) << "VMs moved before the node's TTL ran out";
  std::printf("liveness: %zu VMs of killed node %llu running elsewhere after %lld ms\n",
              moved.size(), static_cast<unsigned long long>(victim),
              static_cast<long long>(recovered_ms));

  const auto iv = Intervals(ReadRecord(record_), {{victim, killed_at}});
  EXPECT_EQ(Overlaps(iv), "");
  EXPECT_EQ(NotStartedElsewhere(iv, moved, victim, killed_at), "");
}

TEST_F(LivenessCluster, StoppedNodeFencesItsVmsAndTheOthersRunThemOnce) {
  auto [victim, via] = PickVictim();
  ASSERT_NE(victim, 0u);
  const std::set<std::string> moved = VmsOn(via, victim);
  cluster_->Pause(victim);  // SIGSTOP: silent, as if cut off
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(via, victim); }, seconds(30)))
      << cluster_->AllLogs();
  EXPECT_EQ(HealthOf(via, victim), v1::NODE_HEALTH_DOWN);
  const int64_t resumed_at = UnixNowMs();
  cluster_->Resume(victim);

  // It fences: its own copies end (killed by the fence, or stopped by the
  // agent if the moved placements reached it first), none is started there
  // again, and it comes back READY.
  auto ended_on_victim = [&] {
    std::set<std::string> ended;
    for (const RecordEvent& e : ReadRecord(record_)) {
      if (e.node == victim && (e.what == "kill" || e.what == "stop") && e.at >= resumed_at) {
        ended.insert(e.vm);
      }
    }
    return ended;
  };
  ASSERT_TRUE(WaitUntil([&] { return ended_on_victim() == moved; }, seconds(20)))
      << cluster_->Log(victim);
  ASSERT_TRUE(WaitUntil([&] { return HealthOf(via, victim) == v1::NODE_HEALTH_READY; },
                        seconds(20)))
      << cluster_->AllLogs();
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(via, victim); }, seconds(20)));

  // Healed: each VM alive on exactly one node, and none restarted on the
  // victim after it resumed.
  const auto events = ReadRecord(record_);
  for (const RecordEvent& e : events) {
    EXPECT_FALSE(e.node == victim && e.what == "start" && e.at >= resumed_at)
        << e.vm << " was started again on the fenced node";
  }
  const auto iv = Intervals(events, {});
  EXPECT_EQ(NotAliveOnce(iv, NumberedVms(kVms)), "");
  EXPECT_NE(cluster_->Log(victim).find("fenced"), std::string::npos);
}

TEST_F(LivenessCluster, DrainedNodesVmsStopThenStartElsewhereAndTheDrainFinishes) {
  const uint64_t via = cluster_->WaitForLeader();
  ASSERT_NE(via, 0u);
  uint64_t drained = 0;
  for (uint64_t id : {1, 2, 3}) {
    if (!VmsOn(via, id).empty()) drained = id;
  }
  ASSERT_NE(drained, 0u);
  const std::set<std::string> moved = VmsOn(via, drained);
  const int64_t drained_at = UnixNowMs();
  CommandResult drain = cluster_->Cli(via, {"node", "drain", std::to_string(drained), "--deadline", "5m"});
  ASSERT_EQ(drain.exit_code, 0) << drain.err;
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(via, drained); }, seconds(30)))
      << cluster_->AllLogs();
  // The drain is done once every VM left: `node list` says so.
  ASSERT_TRUE(WaitUntil(
      [&] {
        CommandResult nodes = cluster_->Cli(via, {"node", "list"});
        return nodes.out.find(" done ") != std::string::npos;
      },
      seconds(10)))
      << cluster_->Cli(via, {"node", "list"}).out;

  const auto events = ReadRecord(record_);
  EXPECT_EQ(Overlaps(Intervals(events, {})), "");
  for (const std::string& vm : moved) {
    int64_t stopped = -1, started = -1;
    for (const RecordEvent& e : events) {
      if (e.vm != vm || e.at < drained_at) continue;
      if (e.node == drained && e.what == "stop" && stopped < 0) stopped = e.at;
      if (e.node != drained && e.what == "start" && started < 0) started = e.at;
    }
    EXPECT_GE(stopped, 0) << vm << " was not stopped on the drained node";
    EXPECT_GE(started, stopped) << vm << " started elsewhere before it stopped on node " << drained;
  }
}

// A follower passes a heartbeat on to the leader and holds a handler thread
// until the leader answers (at most TTL/10). With the leader silent
// (SIGSTOP, before anyone elects another: long election timeout), 48
// heartbeats sent to one follower at once: it holds at most 16 and turns
// the rest away at once, without a leader address, so the senders try
// another server and a hung leader cannot take all the follower's threads.
TEST(HeartbeatForwarding, AFollowerHoldsAtMostSixteenForwardsToASilentLeaderAndTurnsTheRestAway) {
  TestCluster cluster(TestCluster::Options{.node_args = {"--election-ticks", "300", "--node-ttl", "20"}});
  ASSERT_TRUE(cluster.Start(3));
  ASSERT_TRUE(cluster.WaitForMembers({.voters = 3}));
  const uint64_t leader = cluster.WaitForLeader();
  ASSERT_NE(leader, 0u);
  const uint64_t follower = leader == 1 ? 2 : 1;
  auto stub = v1::InternalService::NewStub(
      cluster.NewNodeChannel(follower));
  auto beat = [&](v1::HeartbeatResponse* resp) {
    v1::HeartbeatRequest req;
    req.set_node_id(follower);
    return stub->Heartbeat(Ctx(seconds(30)).get(), req, resp).ok();
  };
  // The forward path works while the leader runs.
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::HeartbeatResponse resp;
        return beat(&resp) && resp.ok();
      },
      seconds(20)))
      << cluster.AllLogs();

  cluster.Pause(leader);
  constexpr int kSenders = 48;
  std::vector<v1::HeartbeatResponse> answers(kSenders);
  std::vector<char> answered(kSenders, 0);
  std::vector<std::thread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] { answered[i] = beat(&answers[i]); });
  }
  for (auto& t : senders) t.join();
  cluster.Resume(leader);

  int turned_away = 0, held = 0;
  for (int i = 0; i < kSenders; ++i) {
    ASSERT_TRUE(answered[i]) << "heartbeat " << i << " got no answer";
    EXPECT_FALSE(answers[i].ok()) << "a silent leader acknowledged heartbeat " << i;
    if (answers[i].message().find("too many heartbeats") != std::string::npos) {
      ++turned_away;
      EXPECT_TRUE(answers[i].leader_address().empty()) << "a turned-away sender is sent elsewhere";
    } else {
      ++held;
      EXPECT_NE(answers[i].message().find("the leader did not answer"), std::string::npos)
          << answers[i].message();
    }
  }
  EXPECT_LE(held, 16);
  EXPECT_GE(turned_away, kSenders - 16);
}

}  // namespace
}  // namespace blixard::testing
