// A VM whose hypervisor process lives on but whose QMP monitor stopped
// answering (qemu 7.2 hangs so in its exit path) is killed once the monitor
// has been silent for qmp_wedged_after, and the VM is FAILED saying why.
// The process is stuck_monitor_qemu (a stand-in that wedges on demand).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/process.h"
#include "vmm/hypervisor.h"

namespace blixard::vmm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class MonitorWedgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/blx-wedge-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    std::ofstream(root_ + "/vmlinuz") << "not booted by the stand-in\n";
  }
  void TearDown() override {
    if (hv_) {
      if (auto all = hv_->List(); all.ok()) {
        for (const auto& vm : *all) hv_->Kill(vm.name);
      }
    }
    fs::remove_all(root_);
  }
  std::unique_ptr<Hypervisor> Make(std::chrono::milliseconds wedged_after) {
    QemuOptions o;
    o.runtime_root = root_ + "/vms";
    o.qemu_binary = BLIXARD_STUCK_MONITOR_QEMU;
    o.accel = Accel::kTcg;
    o.default_kernel = root_ + "/vmlinuz";
    o.qmp_timeout = 500ms;
    o.qmp_wedged_after = wedged_after;
    return NewQemuHypervisor(o);
  }
  static VmConfig Config(const std::string& name) {
    VmConfig c;
    c.name = name;
    c.memory_mib = 64;
    return c;
  }

  std::string root_;
  std::unique_ptr<Hypervisor> hv_;
};

TEST_F(MonitorWedgeTest, AProcessWhoseMonitorStaysSilentIsKilledAndTheVmFailed) {
  hv_ = Make(2s);
  auto started = hv_->Start(Config("stuck"));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto running = hv_->Inspect("stuck");
  ASSERT_TRUE(running.ok()) << running.status().ToString();
  ASSERT_EQ(running->state, VmInfo::State::kRunning);
  std::ofstream(started->runtime_dir + "/wedge") << "";

  VmInfo info;
  ASSERT_TRUE(blixard::testing::WaitUntil([&] {
    auto i = hv_->Inspect("stuck");
    if (i.ok()) info = *i;
    return i.ok() && !info.alive();
  }, 30s))
      << "still " << info.reason;
  EXPECT_EQ(info.state, VmInfo::State::kFailed);
  EXPECT_THAT(info.reason, ::testing::HasSubstr("qemu stopped answering its monitor and was killed after"));
  EXPECT_THAT(info.reason, ::testing::HasSubstr("nothing on its console (is 64 MiB"));
  EXPECT_NE(::kill(started->pid, 0), 0) << "the process still exists";

  // Started again, the VM is watched afresh: a monitor that answers keeps it.
  fs::remove(started->runtime_dir + "/wedge");
  auto again = hv_->Start(Config("stuck"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto now = hv_->Inspect("stuck");
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_EQ(now->state, VmInfo::State::kRunning);
}

// A process that keeps using CPU is slow (a starved host), not wedged.
TEST_F(MonitorWedgeTest, ABusyProcessWhoseMonitorIsSilentIsNotKilled) {
  hv_ = Make(1s);
  auto started = hv_->Start(Config("busy"));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::ofstream(started->runtime_dir + "/busy") << "";
  std::ofstream(started->runtime_dir + "/wedge") << "";
  const auto until = Clock::now() + 3s;  // three times the limit
  while (Clock::now() < until) {
    auto info = hv_->Inspect("busy");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ASSERT_EQ(info->state, VmInfo::State::kRunning) << info->reason;
    EXPECT_THAT(info->reason, ::testing::HasSubstr("QMP not answering"));
  }
  EXPECT_EQ(::kill(started->pid, 0), 0);
}

TEST_F(MonitorWedgeTest, WithALimitOfZeroASilentMonitorIsNeverKilled) {
  hv_ = Make(0ms);
  auto started = hv_->Start(Config("patient"));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::ofstream(started->runtime_dir + "/wedge") << "";
  for (int i = 0; i < 4; ++i) {
    auto info = hv_->Inspect("patient");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->state, VmInfo::State::kRunning);
  }
  EXPECT_EQ(::kill(started->pid, 0), 0);
}

// The silence seen for one process is not held against the next one the
// VM is started with: a fresh process is watched from its own start.
TEST_F(MonitorWedgeTest, ASilenceSeenBeforeARestartDoesNotCountAgainstTheNewProcess) {
  hv_ = Make(1s);
  auto first = hv_->Start(Config("again"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::ofstream(first->runtime_dir + "/wedge") << "";
  const auto silent_from = Clock::now();
  for (int i = 0; i < 2; ++i) {  // silent twice: one probe short of a kill
    auto info = hv_->Inspect("again");
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ASSERT_EQ(info->state, VmInfo::State::kRunning) << info->reason;
  }
  ASSERT_EQ(::kill(first->pid, SIGKILL), 0);
  ASSERT_TRUE(blixard::testing::WaitUntil([&] { auto i = hv_->Inspect("again"); return i.ok() && !i->alive(); }, 10s));
  fs::remove(first->runtime_dir + "/wedge");
  // Past the limit since that silence began, so it would count if kept.
  std::this_thread::sleep_until(silent_from + 1500ms);

  // The new process answers Start's first connection only: Start's own
  // Inspect is then a silent probe, and so is the next.
  std::ofstream(first->runtime_dir + "/answer-connections") << "1";
  auto second = hv_->Start(Config("again"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto info = hv_->Inspect("again");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, VmInfo::State::kRunning) << info->reason;
  EXPECT_EQ(::kill(second->pid, 0), 0) << "the new process was killed";
}

}  // namespace
}  // namespace blixard::vmm
