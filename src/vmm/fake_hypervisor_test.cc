#include "vmm/fake_hypervisor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace blixard::vmm {
namespace {

using std::chrono::milliseconds;

VmConfig Vm(const std::string& name) {
  VmConfig c;
  c.name = name;
  c.ready_pattern = kDefaultGuestReadyPattern;
  return c;
}

TEST(FakeHypervisor, StartRunsAndIsReadyAfterTheBootDelay) {
  FakeHypervisor hv({.host = "node-1", .now_ms = {}, .boot_ms = 2000, .on_event = {}});
  auto info = hv.Start(Vm("web-1"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, VmInfo::State::kRunning);
  EXPECT_EQ(info->pid, 1000);
  EXPECT_FALSE(info->ready);
  hv.AdvanceTime(1999);
  EXPECT_FALSE(hv.Inspect("web-1")->ready);
  hv.AdvanceTime(1);
  EXPECT_TRUE(hv.Inspect("web-1")->ready);
  auto console = hv.ConsoleLog("web-1", 0, 4096);
  ASSERT_TRUE(console.ok());
  EXPECT_THAT(console->data, testing::HasSubstr("BLIXARD-GUEST-READY web-1"));
  auto rest = hv.ConsoleLog("web-1", console->next_offset, 4096);
  EXPECT_TRUE(rest->data.empty());
  EXPECT_EQ(rest->next_offset, console->next_offset);
}

TEST(FakeHypervisor, NeverASecondProcessForOneVm) {
  FakeHypervisor hv;
  ASSERT_TRUE(hv.Start(Vm("a")).ok());
  EXPECT_EQ(hv.Start(Vm("a")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(hv.alive_count(), 1);
}

TEST(FakeHypervisor, InvalidConfigIsRejected) {
  FakeHypervisor hv;
  auto c = Vm("a");
  c.memory_mib = 8;
  EXPECT_EQ(hv.Start(c).status().code(), StatusCode::kInvalidArgument);
}

TEST(FakeHypervisor, StopPowersOffOrEscalatesWhenTheButtonIsIgnored) {
  FakeHypervisor hv;
  ASSERT_TRUE(hv.Start(Vm("a")).ok());
  ASSERT_TRUE(hv.Start(Vm("b")).ok());
  hv.SetIgnorePowerButton("b", true);
  ASSERT_TRUE(hv.Stop("a", milliseconds(5000)).ok());
  ASSERT_TRUE(hv.Stop("b", milliseconds(5000)).ok());
  auto a = hv.Inspect("a");
  EXPECT_EQ(a->state, VmInfo::State::kStopped);
  EXPECT_EQ(a->pid, 0);
  EXPECT_EQ(a->exit_status, 0);
  EXPECT_THAT(hv.Inspect("b")->reason, testing::HasSubstr("did not power off"));
  EXPECT_TRUE(hv.Stop("a", milliseconds(1)).ok());  // already stopped
}

TEST(FakeHypervisor, CrashIsFailedWithTheReasonAndCanBeRestarted) {
  FakeHypervisor hv;
  ASSERT_TRUE(hv.Start(Vm("a")).ok());
  ASSERT_TRUE(hv.Crash("a", "qemu was killed by signal 9 (SIGKILL)", 0, 9).ok());
  auto info = hv.Inspect("a");
  EXPECT_EQ(info->state, VmInfo::State::kFailed);
  EXPECT_EQ(info->term_signal, 9);
  EXPECT_EQ(info->exit_status, 137);
  EXPECT_THAT(info->reason, testing::HasSubstr("signal 9"));
  auto again = hv.Start(Vm("a"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pid, 1001);
  EXPECT_TRUE(again->reason.empty());
}

TEST(FakeHypervisor, FailNextStartFailsOnce) {
  FakeHypervisor hv;
  hv.FailNextStart("a", Status::Unavailable("qemu exited while starting: could not load kernel"));
  EXPECT_EQ(hv.Start(Vm("a")).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(hv.Inspect("a").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(hv.Start(Vm("a")).ok());
}

TEST(FakeHypervisor, PauseResumeAndPreconditions) {
  FakeHypervisor hv;
  ASSERT_TRUE(hv.Start(Vm("a")).ok());
  ASSERT_TRUE(hv.Pause("a").ok());
  EXPECT_EQ(hv.Inspect("a")->state, VmInfo::State::kPaused);
  ASSERT_TRUE(hv.Resume("a").ok());
  EXPECT_EQ(hv.Inspect("a")->state, VmInfo::State::kRunning);
  ASSERT_TRUE(hv.Kill("a").ok());
  EXPECT_EQ(hv.Pause("a").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(hv.Pause("nope").code(), StatusCode::kNotFound);
}

TEST(FakeHypervisor, CleanupOnlyWhenNotAliveAndListShowsTheRest) {
  FakeHypervisor hv;
  ASSERT_TRUE(hv.Start(Vm("b")).ok());
  ASSERT_TRUE(hv.Start(Vm("a")).ok());
  EXPECT_EQ(hv.Cleanup("a").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(hv.GuestPowerOff("a").ok());
  EXPECT_EQ(hv.Inspect("a")->reason, "guest powered off");
  ASSERT_TRUE(hv.Cleanup("a").ok());
  ASSERT_TRUE(hv.Cleanup("a").ok());
  auto list = hv.List();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "b");
}

TEST(FakeHypervisor, RecordsWhatRanWhereAndWhenOnTheInjectedClock) {
  int64_t now = 500;
  std::vector<std::string> seen;  // what on_event was told, e.g. for a record on disk
  FakeHypervisor hv({.host = "node-2",
                     .now_ms = [&now] { return now; },
                     .boot_ms = 0,
                     .on_event = [&seen](int64_t at, const std::string& vm, const std::string& what) {
                       seen.push_back(std::to_string(at) + " " + vm + " " + what);
                     }});
  ASSERT_TRUE(hv.Start(Vm("a")).ok());
  now = 700;
  ASSERT_TRUE(hv.Kill("a").ok());
  using E = FakeHypervisor::Event;
  EXPECT_THAT(hv.events(), testing::ElementsAre(E{500, "node-2", "a", "start"}, E{700, "node-2", "a", "kill"}));
  EXPECT_THAT(seen, testing::ElementsAre("500 a start", "700 a kill"));
}

TEST(FakeHypervisor, FactoryGivesAFake) { EXPECT_EQ(NewFakeHypervisor()->BackendName(), "fake"); }

}  // namespace
}  // namespace blixard::vmm
