#include "agent/agent.h"

#include <gtest/gtest.h>

#include <map>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "state/cluster_state.h"
#include "state/commands.h"
#include "vmm/fake_hypervisor.h"

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
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message,
              uint64_t /*seq*/, uint64_t observed_generation) override {
    reports_.push_back(name + ":" + v1::VmPhase_Name(phase));
    auto it = vms_.find(name);
    if (it != vms_.end()) {
      it->second.mutable_status()->set_observed_generation(observed_generation);
      it->second.mutable_status()->set_phase(phase);
      it->second.mutable_status()->set_message(message);
    }
    return true;
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    reports_.push_back(name + ":stopped-for-move@" + std::to_string(move_index));
    auto it = vms_.find(name);
    if (it != vms_.end() && it->second.move_index() == move_index) it->second.set_stopped_for_move(true);
    return true;
  }
  v1::Vm& Get(const std::string& name) { return vms_[name]; }
  v1::VmPhase Phase(const std::string& name) { return vms_[name].status().phase(); }
  std::vector<std::string> reports_;
  bool caught_up_ = true;

 private:
  std::map<std::string, v1::Vm> vms_;
};

class AgentTest : public ::testing::Test {
 protected:
  AgentTest() : hv_(vmm::NewFakeHypervisor()), agent_(Options(&net_), *hv_, host_) {}
  static AgentOptions Options(vmm::HostNetwork* net = nullptr) {
    AgentOptions o;
    o.stop_grace = std::chrono::milliseconds(10);
    o.host_net = net;
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
  vmm::FakeHypervisor& fake() { return static_cast<vmm::FakeHypervisor&>(*hv_); }
  std::unique_ptr<vmm::Hypervisor> hv_;
  FakeHost host_;
  vmm::FakeHostNetwork net_;
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

TEST_F(AgentTest, PauseAndResumeActOnTheRunningVmAndSayWhatToRecord) {
  host_.Add("web-1");
  Settle();
  const int pid = hv_->Inspect("web-1")->pid;
  auto paused = agent_.Pause("web-1");
  ASSERT_TRUE(paused.ok()) << paused.status().ToString();
  EXPECT_EQ(paused->phase, v1::VM_PHASE_PAUSED);
  EXPECT_EQ(paused->message, "paused");
  EXPECT_EQ(hv_->Inspect("web-1")->state, vmm::VmInfo::State::kPaused);
  Settle();
  EXPECT_EQ(host_.Phase("web-1"), v1::VM_PHASE_PAUSED) << "the passes say the same";
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);

  auto resumed = agent_.Resume("web-1");
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->phase, v1::VM_PHASE_READY);  // the fake boots at once
  EXPECT_EQ(resumed->message, "ready");
  EXPECT_EQ(hv_->Inspect("web-1")->state, vmm::VmInfo::State::kRunning);
  Settle();
  EXPECT_EQ(host_.Phase("web-1"), v1::VM_PHASE_READY);
  EXPECT_EQ(hv_->Inspect("web-1")->pid, pid);
}

TEST_F(AgentTest, PausingAVmNotStartedHereIsNotFound) {
  EXPECT_EQ(agent_.Pause("ghost").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(agent_.Resume("ghost").status().code(), StatusCode::kNotFound);
}

TEST_F(AgentTest, AHeldOrFencedAgentNeitherPausesNorResumes) {
  host_.Add("web-1");
  Settle();
  agent_.Hold();
  auto refused = agent_.Pause("web-1");
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("web-1"), std::string::npos) << refused.status().message();
  EXPECT_NE(hv_->Inspect("web-1")->state, vmm::VmInfo::State::kPaused);
  agent_.Open();
  ASSERT_TRUE(agent_.Pause("web-1").ok());

  // A fence kills the paused VM; a resume after it must not bring it back.
  agent_.Fence("no heartbeat ack");
  EXPECT_EQ(agent_.Resume("web-1").status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(Alive("web-1"));
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

v1::Vm BridgeVm(const std::string& name, const std::string& address, const std::string& gateway) {
  v1::Vm vm;
  vm.mutable_spec()->set_name(name);
  vm.mutable_spec()->set_vcpus(1);
  vm.mutable_spec()->set_memory_mib(128);
  vm.mutable_spec()->set_network(v1::NETWORK_MODE_BRIDGE);
  vm.set_ipv4_address(address);
  vm.set_ipv4_gateway(gateway);
  return vm;
}

TEST_F(AgentTest, ConfigFromSpecMapsEachNetworkMode) {
  v1::Vm vm;
  vm.mutable_spec()->set_name("web");
  EXPECT_EQ(ToVmConfig(vm).net.mode, vmm::NetworkConfig::Mode::kUser) << "user networking is the default";
  v1::PortPublish* p = vm.mutable_spec()->add_publish();
  p->set_host_port(8080);
  p->set_guest_port(80);
  p = vm.mutable_spec()->add_publish();
  p->set_host_ip("0.0.0.0");
  p->set_host_port(5353);
  p->set_guest_port(53);
  p->set_protocol(v1::PORT_PROTOCOL_UDP);
  vmm::VmConfig c = ToVmConfig(vm);
  ASSERT_EQ(c.net.publish.size(), 2u);
  EXPECT_EQ(c.net.publish[0], (vmm::PortForward{vmm::PortForward::Protocol::kTcp, "127.0.0.1", 8080, 80}));
  EXPECT_EQ(c.net.publish[1], (vmm::PortForward{vmm::PortForward::Protocol::kUdp, "0.0.0.0", 5353, 53}));
  vm.mutable_spec()->set_network(v1::NETWORK_MODE_NONE);
  vm.mutable_spec()->clear_publish();
  EXPECT_EQ(ToVmConfig(vm).net.mode, vmm::NetworkConfig::Mode::kNone);

  v1::Vm br = BridgeVm("br-1", "10.77.0.2/16", "10.77.0.1");
  br.mutable_spec()->set_cmdline("blixard.httpd=80");
  c = ToVmConfig(br, "blx7");
  EXPECT_EQ(c.net.mode, vmm::NetworkConfig::Mode::kTap);
  EXPECT_EQ(c.net.tap, vmm::TapName("blx7", "br-1"));
  EXPECT_EQ(c.net.tap.size(), 15u);
  EXPECT_NE(c.net.tap, vmm::TapName("blx0", "br-1")) << "another bridge, another tap";
  EXPECT_EQ(c.net.mac, "52:54:0a:4d:00:02");
  EXPECT_EQ(c.cmdline, "blixard.httpd=80 ip=10.77.0.2::10.77.0.1:255.255.0.0:br-1:eth0:off");
  EXPECT_EQ(c.ready_pattern, vmm::kDefaultGuestReadyPattern);
  br.mutable_spec()->set_ready_port(80);
  EXPECT_TRUE(ToVmConfig(br).ready_pattern.empty()) << "the agent probes the port itself";
}

TEST_F(AgentTest, ABridgeVmGetsATapOnTheNodeBridgeThatGoesWithTheVm) {
  host_.Add("br-1") = BridgeVm("br-1", "10.77.0.2/16", "10.77.0.1");
  host_.SetDesired("br-1", v1::DESIRED_STATE_RUNNING);
  Settle();
  EXPECT_TRUE(Alive("br-1"));
  EXPECT_EQ(net_.bridges(), (std::set<std::string>{"blx0"}));
  EXPECT_EQ(net_.taps(), (std::map<std::string, std::string>{{vmm::TapName("blx0", "br-1"), "blx0"}}));
  host_.Remove("br-1");
  Settle();
  EXPECT_FALSE(Alive("br-1"));
  EXPECT_TRUE(net_.taps().empty());
}

TEST_F(AgentTest, ABridgeVmOnANodeWithoutBridgeNetworkingFailsSayingSo) {
  FakeHost host;
  host.Add("br-1") = BridgeVm("br-1", "10.77.0.2/16", "10.77.0.1");
  host.SetDesired("br-1", v1::DESIRED_STATE_RUNNING);
  Agent agent(Options(nullptr), *hv_, host);
  agent.Reconcile(now_);
  EXPECT_EQ(host.Phase("br-1"), v1::VM_PHASE_FAILED);
  EXPECT_FALSE(Alive("br-1"));
}

TEST_F(AgentTest, AStartRefusedByTheHostBacksOffInsteadOfRetryingEveryPass) {
  host_.Add("busy");
  fake().FailNextStart("busy", Status::FailedPrecondition("host port 127.0.0.1:8080 cannot be published"));
  agent_.Reconcile(now_);
  EXPECT_EQ(host_.Phase("busy"), v1::VM_PHASE_FAILED);
  const size_t reports = host_.reports_.size();
  Settle();
  EXPECT_FALSE(Alive("busy"));
  EXPECT_EQ(host_.reports_.size(), reports) << "retried (and reported) within the backoff";
  now_ += std::chrono::seconds(2);
  agent_.Reconcile(now_);
  EXPECT_TRUE(Alive("busy"));
}

TEST_F(AgentTest, AReadyPortMakesTheVmReadyOnlyOnceTheGuestAcceptsTcp) {
  // A bridge "guest" at a loopback address: the agent connects to it.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  v1::Vm& vm = host_.Add("svc");
  vm = BridgeVm("svc", "127.0.0.1/8", "127.0.0.2");
  vm.set_desired_state(v1::DESIRED_STATE_RUNNING);
  vm.set_generation(1);
  vm.mutable_spec()->set_ready_port(ntohs(addr.sin_port));
  Settle();
  EXPECT_TRUE(Alive("svc"));
  EXPECT_EQ(host_.Phase("svc"), v1::VM_PHASE_RUNNING) << "nothing listens yet";
  ASSERT_EQ(listen(fd, 4), 0);
  Settle();
  EXPECT_EQ(host_.Phase("svc"), v1::VM_PHASE_READY);
  close(fd);
}

// A drain marks running VM `name` on node 1 as moving off it (mark at `index`).
void MarkMoving(FakeHost& host, const std::string& name, uint64_t index) {
  v1::Vm& vm = host.Get(name);
  vm.set_node_id(1);
  vm.set_moving_off_node(1);
  vm.set_move_index(index);
}

TEST_F(AgentTest, AVmMovingOffThisNodeIsStoppedThenConfirmedAndNeverStartedHere) {
  host_.Add("a");
  Settle();
  ASSERT_TRUE(Alive("a"));
  MarkMoving(host_, "a", 42);
  Settle();
  EXPECT_FALSE(Alive("a"));
  ASSERT_FALSE(host_.reports_.empty());
  EXPECT_EQ(host_.reports_.back(), "a:stopped-for-move@42");
  EXPECT_TRUE(host_.Get("a").stopped_for_move());
  const size_t reports = host_.reports_.size();
  Settle();  // confirmed: nothing more, and it stays stopped
  EXPECT_FALSE(Alive("a"));
  EXPECT_EQ(host_.reports_.size(), reports);
}

TEST_F(AgentTest, ACancelledMoveStartsTheVmAgain) {
  host_.Add("a");
  Settle();
  MarkMoving(host_, "a", 7);
  Settle();
  ASSERT_FALSE(Alive("a"));
  // Undrain before the leader placed it elsewhere: the mark goes away.
  host_.Get("a").clear_moving_off_node();
  host_.Get("a").clear_move_index();
  host_.Get("a").clear_stopped_for_move();
  Settle();
  EXPECT_TRUE(Alive("a"));
}


// The node over a real cluster state, applying each report with its seq.
class StateHost : public AgentHost {
 public:
  std::optional<std::vector<v1::Vm>> PlacedHere() override {
    std::vector<v1::Vm> out;
    if (const v1::Vm* vm = state.FindVm("a"); vm && vm->node_id() == kNode) out.push_back(*vm);
    return out;
  }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation) override {
    return Run(state::MakeReportVmStatus(name, kNode, phase, message, kNow, seq, observed_generation));
  }
  bool StoppedForMove(const std::string&, uint64_t) override { return true; }
  bool Run(const v1::Command& cmd) { return state.Apply(cmd, ++index).status.ok(); }
  static constexpr uint64_t kNode = 1;
  static constexpr int64_t kNow = 1'700'000'000'000;
  state::ClusterState state;
  uint64_t index = 0;
};

// Pause and resume record the phase outside the agent's passes (the API on
// the node, vm_service.cc and worker_vm_service.cc) with the agent's next
// report seq.
// Delivered late (a retried write), such a report must not take back what
// the agent reported since, nor the generation it reported on.
TEST(AgentReportSeq, ALatePauseReportDoesNotOverwriteTheAgentsNewerStop) {
  StateHost host;
  v1::Node node;
  node.set_id(StateHost::kNode);
  node.set_address("127.0.0.1:7001");
  node.set_health(v1::NODE_HEALTH_READY);
  node.mutable_capacity()->set_vcpus(8);
  node.mutable_capacity()->set_memory_mib(16384);
  ASSERT_TRUE(host.Run(state::MakeRegisterNode(node, StateHost::kNow)));
  v1::VmSpec spec;
  spec.set_name("a");
  spec.set_vcpus(1);
  spec.set_memory_mib(128);
  ASSERT_TRUE(host.Run(state::MakeCreateVm(spec, true, StateHost::kNow)));
  ASSERT_TRUE(host.Run(state::MakePlaceVms({{"a", StateHost::kNode, 0}}, StateHost::kNow)));
  std::unique_ptr<vmm::Hypervisor> hv = vmm::NewFakeHypervisor();
  AgentOptions options;
  options.stop_grace = std::chrono::milliseconds(10);
  Agent agent(options, *hv, host);
  const Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) agent.Reconcile(now);
  ASSERT_TRUE(hv->Inspect("a").ok() && hv->Inspect("a")->alive());

  // Paused through the API; its report is numbered now but arrives late.
  const v1::Vm before = *host.state.FindVm("a");
  const v1::Command late_pause =
      state::MakeReportVmStatus("a", StateHost::kNode, v1::VM_PHASE_PAUSED, "paused",
                                StateHost::kNow, agent.NextReportSeq(), before.generation());
  ASSERT_TRUE(host.Run(state::MakeStopVm("a", StateHost::kNow)));
  for (int i = 0; i < 3; ++i) agent.Reconcile(now);
  const v1::Vm stopped = *host.state.FindVm("a");
  ASSERT_EQ(stopped.status().phase(), v1::VM_PHASE_STOPPED);
  ASSERT_EQ(stopped.status().observed_generation(), stopped.generation());

  ASSERT_TRUE(host.Run(late_pause)) << "a late report is ignored, not refused";
  const v1::Vm after = *host.state.FindVm("a");
  EXPECT_EQ(after.status().phase(), v1::VM_PHASE_STOPPED);
  EXPECT_EQ(after.status().observed_generation(), stopped.generation());
}

}  // namespace
}  // namespace blixard::agent
