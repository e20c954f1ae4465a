#include "agent/agent.h"

#include <gtest/gtest.h>

#include <map>

namespace blixard::agent {
namespace {

// The cluster as the agent sees it: VM records placed on this node, and the
// phases it reported.
class FakeHost : public AgentHost {
 public:
  v1::Vm& Add(const std::string& name, v1::DesiredState desired = v1::DESIRED_STATE_RUNNING) {
    v1::Vm& vm = vms_[name];
    vm.mutable_spec()->set_name(name);
    vm.mutable_spec()->set_vcpus(1);
    vm.mutable_spec()->set_memory_mib(128);
    vm.set_desired_state(desired);
    vm.set_generation(1);
    vm.mutable_status()->set_phase(v1::VM_PHASE_PENDING);
    return vm;
  }
  void SetDesired(const std::string& name, v1::DesiredState d) {
    vms_[name].set_desired_state(d);
    vms_[name].set_generation(vms_[name].generation() + 1);
  }
  void Remove(const std::string& name) { vms_.erase(name); }
  std::optional<std::vector<v1::Vm>> PlacedHere() override {
    if (!caught_up_) return std::nullopt;
    std::vector<v1::Vm> out;
    for (auto& [n, vm] : vms_) out.push_back(vm);
    return out;
  }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message) override {
    reports_.push_back(name + ":" + v1::VmPhase_Name(phase));
    auto it = vms_.find(name);
    if (it != vms_.end()) {
      it->second.mutable_status()->set_phase(phase);
      it->second.mutable_status()->set_message(message);
    }
    return true;
  }
  v1::VmPhase Phase(const std::string& name) { return vms_[name].status().phase(); }
  std::vector<std::string> reports_;
  bool caught_up_ = true;

 private:
  std::map<std::string, v1::Vm> vms_;
};

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : hv_(vmm::NewFakeHypervisor()), agent_(Options(), *hv_, host_) {}
  static AgentOptions Options() {
    AgentOptions o;
    o.stop_grace = std::chrono::milliseconds(10);
    return o;
  }
  // Passes until nothing changes, as the agent's loop would run them.
  void Settle(int passes = 5) {
    for (int i = 0; i < passes; ++i) agent_.Reconcile(now_);
  }
  bool Alive(const std::string& name) {
    auto info = hv_->Inspect(name);
    return info.ok() && info->alive();
  }
  std::unique_ptr<vmm::Hypervisor> hv_;
  FakeHost host_;
  Agent agent_;
  Clock::time_point now_ = Clock::time_point{} + std::chrono::hours(1);
};

TEST_F(AgentTest, StartsAVmPlacedHereAndReportsItsPhase) {
  host_.Add("web-1");
  Settle();
  EXPECT_TRUE(Alive("web-1"));
  EXPECT_NE(host_.Phase("web-1"), v1::VM_PHASE_PENDING);
  EXPECT_NE(host_.Phase("web-1"), v1::VM_PHASE_FAILED);
}

TEST_F(AgentTest, NeverStartsASecondProcessForOneVm) {
  host_.Add("web-1");
  Settle();
  int pid = hv_->Inspect("web-1")->pid;
  Settle(10);
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
  EXPECT_EQ(hv_->List()->size(), 1u);
}

TEST_F(AgentTest, StopsWhenDesiredStoppedAndStartsAgainOnStart) {
  host_.Add("web-1");
  Settle();
  host_.SetDesired("web-1", v1::DESIRED_STATE_STOPPED);
  Settle();
  EXPECT_FALSE(Alive("web-1"));
  EXPECT_EQ(host_.Phase("web-1"), v1::VM_PHASE_STOPPED);
  host_.SetDesired("web-1", v1::DESIRED_STATE_RUNNING);
  Settle();
  EXPECT_TRUE(Alive("web-1"));
}

TEST_F(AgentTest, ANewGenerationOfARunningVmRestartsIt) {
  host_.Add("web-1");
  Settle();
  int pid = hv_->Inspect("web-1")->pid;
  host_.SetDesired("web-1", v1::DESIRED_STATE_RUNNING);  // vm restart: same state, new generation
  host_.reports_.clear();
  Settle();
  ASSERT_TRUE(Alive("web-1"));
  EXPECT_NE(hv_->Inspect("web-1")->pid, pid);
  ASSERT_FALSE(host_.reports_.empty());
  EXPECT_EQ(host_.reports_.front(), "web-1:VM_PHASE_STOPPING");
  // Once restarted, further passes leave it alone.
  pid = hv_->Inspect("web-1")->pid;
  Settle();
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
}

TEST_F(AgentTest, AnAdoptedVmIsNotRestartedForItsGeneration) {
  host_.Add("web-1");
  Settle();
  int pid = hv_->Inspect("web-1")->pid;
  FakeHost fresh;
  v1::Vm& vm = fresh.Add("web-1");
  vm.set_generation(7);
  vm.mutable_status()->set_phase(v1::VM_PHASE_READY);
  Agent again(Options(), *hv_, fresh);
  for (int i = 0; i < 3; ++i) again.Reconcile(now_);
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
}

TEST_F(AgentTest, APausedVmIsReportedPausedAndLeftRunning) {
  host_.Add("web-1");
  Settle();
  int pid = hv_->Inspect("web-1")->pid;
  ASSERT_TRUE(hv_->Pause("web-1").ok());
  Settle();
  EXPECT_EQ(host_.Phase("web-1"), v1::VM_PHASE_PAUSED);
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
  ASSERT_TRUE(hv_->Resume("web-1").ok());
  Settle();
  EXPECT_NE(host_.Phase("web-1"), v1::VM_PHASE_PAUSED);
}

TEST_F(AgentTest, CreatedStoppedIsNotStarted) {
  host_.Add("cold", v1::DESIRED_STATE_STOPPED);
  Settle();
  EXPECT_FALSE(Alive("cold"));
  EXPECT_EQ(host_.Phase("cold"), v1::VM_PHASE_STOPPED);
}

TEST_F(AgentTest, DeletedVmIsStoppedAndCleanedUp) {
  host_.Add("gone");
  Settle();
  host_.Remove("gone");
  Settle();
  EXPECT_EQ(hv_->Inspect("gone").status().code(), StatusCode::kNotFound);
}

TEST_F(AgentTest, AdoptsWhatAlreadyRunsAfterARestart) {
  host_.Add("web-1");
  Settle();
  int pid = hv_->Inspect("web-1")->pid;
  // A new agent over the same hypervisor (the daemon restarted).
  FakeHost fresh;
  fresh.Add("web-1").mutable_status()->set_phase(v1::VM_PHASE_READY);
  Agent again(Options(), *hv_, fresh);
  for (int i = 0; i < 5; ++i) again.Reconcile(now_);
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
  EXPECT_EQ(hv_->List()->size(), 1u);
}

TEST_F(AgentTest, DoesNothingUntilTheLocalStateHasCaughtUp) {
  host_.Add("web-1");
  Settle();
  int pid = hv_->Inspect("web-1")->pid;
  // After a daemon restart the records are not replayed yet: the running VM
  // must not be taken for a deleted one.
  FakeHost replaying;
  replaying.caught_up_ = false;
  Agent again(Options(), *hv_, replaying);
  again.Reconcile(now_);
  ASSERT_TRUE(Alive("web-1"));
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
  EXPECT_TRUE(replaying.reports_.empty());
}

TEST_F(AgentTest, RestartPolicyNeverLeavesAStoppedGuestDown) {
  host_.Add("once").mutable_spec()->set_restart_policy(v1::RESTART_POLICY_NEVER);
  Settle();
  ASSERT_TRUE(hv_->Kill("once").ok());  // ended without the cluster asking
  Settle();
  EXPECT_FALSE(Alive("once"));
}

TEST_F(AgentTest, RestartPolicyAlwaysRestartsWithBackoff) {
  host_.Add("always").mutable_spec()->set_restart_policy(v1::RESTART_POLICY_ALWAYS);
  Settle();
  // After a healthy run the first restart is immediate...
  ASSERT_TRUE(hv_->Kill("always").ok());
  agent_.Reconcile(now_);
  EXPECT_TRUE(Alive("always"));
  // ...a second death right after waits out the backoff.
  ASSERT_TRUE(hv_->Kill("always").ok());
  agent_.Reconcile(now_);
  EXPECT_FALSE(Alive("always"));
  now_ += std::chrono::seconds(2);
  agent_.Reconcile(now_);
  EXPECT_TRUE(Alive("always"));
}

TEST_F(AgentTest, ConfigFromSpecUsesTheDefaultGuestReadiness) {
  v1::Vm vm;
  vm.mutable_spec()->set_name("a");
  vm.mutable_spec()->set_vcpus(2);
  vm.mutable_spec()->set_memory_mib(256);
  EXPECT_EQ(ToVmConfig(vm).ready_pattern, vmm::kDefaultGuestReadyPattern);
  vm.mutable_spec()->set_kernel("/boot/vmlinuz");
  EXPECT_TRUE(ToVmConfig(vm).ready_pattern.empty());
  EXPECT_EQ(ToVmConfig(vm).vcpus, 2u);
  EXPECT_EQ(ToVmConfig(vm).memory_mib, 256u);
}

}  // namespace
}  // namespace blixard::agent
