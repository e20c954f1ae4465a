#include "control/liveness.h"

#include <gtest/gtest.h>

namespace blixard::control {
namespace {

using Action = FenceRule::Action;
using Mode = FenceRule::Mode;

constexpr int64_t kTtl = 3000;

class LivenessTest : public ::testing::Test {
 protected:
  void Apply(const v1::Command& cmd) {
    auto r = st_.Apply(cmd, ++index_);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }
  void AddNode(uint64_t id) {
    v1::Node n;
    n.set_id(id);
    n.set_address("127.0.0.1:" + std::to_string(7000 + id));
    n.set_role(v1::NODE_ROLE_VOTER);
    n.set_health(v1::NODE_HEALTH_READY);
    Apply(state::MakeRegisterNode(n, 1));
  }
  void AddVm(const std::string& name, uint64_t node,
             v1::RestartPolicy policy = v1::RESTART_POLICY_UNSPECIFIED, bool start = true) {
    v1::VmSpec spec;
    spec.set_name(name);
    spec.set_vcpus(1);
    spec.set_memory_mib(128);
    spec.set_restart_policy(policy);
    Apply(state::MakeCreateVm(spec, start, 1));
    Apply(state::MakePlaceVms({{name, node, 0}}, 2));
  }
  void SetHealth(std::vector<state::HealthChange> c) { Apply(state::MakeSetNodesHealth(c, 5)); }
  v1::NodeHealth HealthOf(uint64_t id) { return st_.FindNode(id)->health(); }

  state::ClusterState st_;
  uint64_t index_ = 0;
};

TEST_F(LivenessTest, NodeSilentPastTtlIsMarkedDownAndNotBefore) {
  AddNode(1);
  AddNode(2);
  LivenessTracker t({kTtl, 100});
  t.BecomeLeader(10'000);
  t.Heard(1, 11'000);
  t.Heard(2, 11'000);
  EXPECT_TRUE(t.Step(st_, 13'999).empty());
  t.Heard(1, 13'500);
  auto c = t.Step(st_, 14'000);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], (state::HealthChange{2, v1::NODE_HEALTH_DOWN}));
  EXPECT_FALSE(t.Silent(1, 14'000));
  EXPECT_TRUE(t.Silent(2, 14'000));
}

TEST_F(LivenessTest, NewLeaderWaitsAFullTtlBeforeMarkingAnyoneDown) {
  AddNode(1);
  AddNode(2);
  LivenessTracker t({kTtl, 100});
  t.Heard(2, 1'000);        // heard by an earlier leadership: forgotten
  t.BecomeLeader(50'000);   // never heard node 2 in this leadership
  EXPECT_TRUE(t.Step(st_, 52'999).empty());
  EXPECT_FALSE(t.Silent(2, 52'999));
  t.Heard(1, 52'000);
  auto c = t.Step(st_, 53'000);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].node_id, 2u);
  EXPECT_TRUE(t.Silent(2, 53'000));
}

TEST_F(LivenessTest, DownNodeComesBackOnlyOnARealHeartbeat) {
  AddNode(1);
  SetHealth({{1, v1::NODE_HEALTH_DOWN}});
  EXPECT_EQ(HealthOf(1), v1::NODE_HEALTH_DOWN);
  LivenessTracker t({kTtl, 100});
  t.BecomeLeader(0);
  EXPECT_TRUE(t.Step(st_, 100).empty());  // the new-leader grace is not a heartbeat
  t.Heard(1, 200);
  auto c = t.Step(st_, 300);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0], (state::HealthChange{1, v1::NODE_HEALTH_READY}));
  SetHealth(c);
  EXPECT_EQ(HealthOf(1), v1::NODE_HEALTH_READY);
  EXPECT_EQ(st_.FindNode(1)->health_changed_unix_ms(), 5);
  // A heartbeat older than the TTL does not bring a DOWN node back.
  SetHealth({{1, v1::NODE_HEALTH_DOWN}});
  EXPECT_TRUE(t.Step(st_, 200 + kTtl).empty());
}

TEST_F(LivenessTest, ManyDeadNodesGoDownInBatchesOfOneCommand) {
  for (uint64_t id = 1; id <= 250; ++id) AddNode(id);
  LivenessTracker t({kTtl, 100});
  t.BecomeLeader(0);
  for (uint64_t id = 1; id <= 250; id += 2) t.Heard(id, 2'000);  // the odd ones live
  int commands = 0;
  while (true) {
    auto c = t.Step(st_, kTtl + 1);
    if (c.empty()) break;
    EXPECT_LE(c.size(), 100u);
    SetHealth(c);
    ++commands;
  }
  EXPECT_EQ(commands, 2);  // 125 dead nodes, batches of 100
  for (uint64_t id = 1; id <= 250; ++id) {
    EXPECT_EQ(HealthOf(id), id % 2 ? v1::NODE_HEALTH_READY : v1::NODE_HEALTH_DOWN) << id;
  }
}

TEST_F(LivenessTest, SetNodesHealthSkipsUnknownNodesAndRejectsOtherHealth) {
  AddNode(1);
  SetHealth({{7, v1::NODE_HEALTH_DOWN}, {1, v1::NODE_HEALTH_DOWN}});
  EXPECT_EQ(HealthOf(1), v1::NODE_HEALTH_DOWN);
  auto r = st_.Apply(state::MakeSetNodesHealth({{1, v1::NODE_HEALTH_DRAINING}}, 6), ++index_);
  EXPECT_EQ(r.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HealthOf(1), v1::NODE_HEALTH_DOWN);
}

TEST_F(LivenessTest, VmsOfDownNodesMoveOrFailByRestartPolicy) {
  AddNode(1);
  AddNode(2);
  AddVm("always", 1, v1::RESTART_POLICY_ALWAYS);
  AddVm("default", 1);
  AddVm("never", 1, v1::RESTART_POLICY_NEVER);
  AddVm("never-stopped", 1, v1::RESTART_POLICY_NEVER, /*start=*/false);
  AddVm("elsewhere", 2);
  auto all_silent = [](uint64_t) { return true; };
  EXPECT_TRUE(RescheduleFromDownNodes(st_, all_silent, 100).empty());  // node 1 still READY
  SetHealth({{1, v1::NODE_HEALTH_DOWN}});
  // Not silent in this leader's own view: nothing moves yet.
  EXPECT_TRUE(RescheduleFromDownNodes(st_, [](uint64_t) { return false; }, 100).empty());

  Reschedule r = RescheduleFromDownNodes(st_, all_silent, 100);
  std::set<std::string> moved;
  for (const auto& p : r.unplace) {
    EXPECT_EQ(p.node_id, 0u);
    EXPECT_EQ(p.expected_generation, st_.FindVm(p.name)->generation());
    moved.insert(p.name);
  }
  EXPECT_EQ(moved, (std::set<std::string>{"always", "default", "never-stopped"}));
  ASSERT_EQ(r.fail.size(), 1u);
  EXPECT_EQ(r.fail[0].name, "never");
  EXPECT_EQ(r.fail[0].node_id, 1u);
  EXPECT_EQ(r.fail[0].message, "node 1 down");

  Apply(state::MakePlaceVms(r.unplace, 7));
  Apply(state::MakeReportVmStatus("never", 1, v1::VM_PHASE_FAILED, r.fail[0].message, 7));
  EXPECT_TRUE(RescheduleFromDownNodes(st_, all_silent, 100).empty());  // done, not repeated
  EXPECT_EQ(st_.FindVm("never")->node_id(), 1u);
  EXPECT_EQ(st_.FindVm("always")->node_id(), 0u);
  EXPECT_EQ(st_.FindVm("elsewhere")->node_id(), 2u);
}

TEST_F(LivenessTest, RescheduleIsBoundedPerBatch) {
  AddNode(1);
  for (int i = 0; i < 30; ++i) AddVm("v" + std::to_string(i), 1);
  SetHealth({{1, v1::NODE_HEALTH_DOWN}});
  Reschedule r = RescheduleFromDownNodes(st_, [](uint64_t) { return true; }, 8);
  EXPECT_EQ(r.unplace.size(), 8u);
}

// ---- the node's fencing rule ----

TEST(FenceRule, FencesAtLastAckedSendPlusTtlMinusMargin) {
  FenceRule f({kTtl, 600}, /*start_ms=*/0);
  f.OnAck(/*sent_ms=*/1'000, /*leader_last_index=*/5, /*now_ms=*/1'050);
  EXPECT_EQ(f.Step(1'100, 5), Action::kOpen);
  f.OnAck(2'000, 6, 2'000);
  f.OnAck(1'500, 6, 2'100);  // an older ack arriving late does not move the deadline back
  EXPECT_EQ(f.deadline_ms(), 2'000 + kTtl - 600);
  EXPECT_EQ(f.Step(4'399, 6), Action::kNone);
  EXPECT_EQ(f.mode(), Mode::kOpen);
  EXPECT_EQ(f.Step(4'400, 6), Action::kFence);
  EXPECT_EQ(f.mode(), Mode::kFenced);
  EXPECT_EQ(f.Step(4'500, 6), Action::kNone);  // fences once
}

TEST(FenceRule, FencesBeforeTheLeaderCanMarkTheNodeDown) {
  // Whatever the delay between send and receive, the leader marks down at
  // receive + TTL >= send + TTL, after the fence plus its margin.
  for (int64_t delay : {0, 1, 250, 2'999}) {
    const int64_t send = 10'000;
    FenceRule f({kTtl, 600}, /*start_ms=*/send - 100);
    f.OnAck(send, 1, send);
    ASSERT_EQ(f.Step(send + 1, 1), Action::kOpen);
    LivenessTracker t({kTtl, 100});
    t.BecomeLeader(0);
    t.Heard(9, send + delay);
    int64_t fenced_at = -1, silent_at = -1;
    for (int64_t now = send; now < send + 3 * kTtl && (fenced_at < 0 || silent_at < 0); ++now) {
      if (fenced_at < 0 && f.Step(now, 1) == Action::kFence) fenced_at = now;
      if (silent_at < 0 && t.Silent(9, now)) silent_at = now;
    }
    EXPECT_GE(silent_at - fenced_at, 600) << "delay " << delay;
  }
}

TEST(FenceRule, ReopensOnlyWithAFreshAckAndTheStateCaughtUp) {
  FenceRule f({kTtl, 600}, 0);
  f.OnAck(0, 3, 0);
  ASSERT_EQ(f.Step(10, 3), Action::kOpen);
  ASSERT_EQ(f.Step(2'400, 3), Action::kFence);
  f.OnAck(5'000, 42, 5'000);  // back: the leader is at index 42
  EXPECT_EQ(f.Step(5'010, 41), Action::kNone);
  EXPECT_EQ(f.mode(), Mode::kFenced);
  EXPECT_EQ(f.Step(5'020, 42), Action::kOpen);
  // A stale ack (sent too long ago) does not reopen.
  FenceRule g({kTtl, 600}, 0);
  g.OnAck(0, 1, 0);
  ASSERT_EQ(g.Step(1, 1), Action::kOpen);
  ASSERT_EQ(g.Step(2'400, 1), Action::kFence);
  g.OnAck(100, 1, 2'450);
  EXPECT_EQ(g.Step(2'500, 1), Action::kNone);
}

TEST(FenceRule, AfterARestartWaitsForAnAckAndFencesAtTheOldDeadline) {
  // No ack at all: adopted VMs are killed at start + TTL - margin.
  FenceRule a({kTtl, 600}, 1'000);
  EXPECT_EQ(a.mode(), Mode::kWaiting);
  EXPECT_EQ(a.Step(3'399, 0), Action::kNone);
  EXPECT_EQ(a.Step(3'400, 0), Action::kFence);
  // The previous run's last ack was long ago: fence at once.
  FenceRule b({kTtl, 600}, 100'000, /*last_ack_send_ms=*/50'000);
  EXPECT_EQ(b.Step(100'000, 0), Action::kFence);
  // A recent one: the deadline it implies, earlier than start + TTL - margin.
  FenceRule c({kTtl, 600}, 10'000, /*last_ack_send_ms=*/9'000);
  EXPECT_EQ(c.Step(11'399, 0), Action::kNone);
  EXPECT_EQ(c.Step(11'400, 0), Action::kFence);
  // An ack in time opens once caught up.
  FenceRule d({kTtl, 600}, 0);
  d.OnAck(500, 9, 500);
  EXPECT_EQ(d.Step(600, 8), Action::kNone);
  EXPECT_EQ(d.mode(), Mode::kWaiting);
  EXPECT_EQ(d.Step(700, 9), Action::kOpen);
}

TEST(FenceRule, AnAckAfterTheDeadlineStillFences) {
  // The process was stopped past its deadline; on resume the first thing to
  // happen is a fresh ack. The VMs ran unguarded meanwhile: kill them anyway.
  FenceRule f({kTtl, 600}, 0);
  f.OnAck(0, 1, 5);
  ASSERT_EQ(f.Step(10, 1), Action::kOpen);
  f.OnAck(9'000, 7, /*now_ms=*/9'010);  // deadline was 2'400
  EXPECT_EQ(f.Step(9'011, 7), Action::kFence);
  EXPECT_EQ(f.Step(9'012, 7), Action::kOpen);  // then back, being fresh and caught up
  // The same in the waiting state after a restart: adopted VMs are killed.
  FenceRule w({kTtl, 600}, 0);
  w.OnAck(5'000, 2, 5'001);
  EXPECT_EQ(w.Step(5'002, 2), Action::kFence);
}

}  // namespace
TEST(HeartbeatRelay, TheLeaderRecordsAFollowerPassesOnOnceWithinItsCap) {
  EXPECT_EQ(DecideHeartbeat({.leads = true}), HeartbeatAction::kRecord);
  EXPECT_EQ(DecideHeartbeat({.leader_known = true}), HeartbeatAction::kPassOn);
  EXPECT_EQ(DecideHeartbeat({.leader_known = true, .passed_on = true}), HeartbeatAction::kRefuse);
  EXPECT_EQ(DecideHeartbeat({.leader_known = false}), HeartbeatAction::kRefuse);
  EXPECT_EQ(DecideHeartbeat({.leader_known = true, .relays_in_flight = kMaxHeartbeatRelays - 1}),
            HeartbeatAction::kPassOn);
  EXPECT_EQ(DecideHeartbeat({.leader_known = true, .relays_in_flight = kMaxHeartbeatRelays}),
            HeartbeatAction::kRefuseBusy);
  EXPECT_EQ(HeartbeatRelayTimeoutMs(3000), 300);
  EXPECT_EQ(HeartbeatRelayTimeoutMs(5), 1);
}

}  // namespace blixard::control
