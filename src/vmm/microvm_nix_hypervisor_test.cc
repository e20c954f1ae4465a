// The microvm-nix backend's process handling, with a stand-in for `nix`
// that records its argv and then behaves like a microvm.nix runner (prints
// the guest console, runs until SIGTERM). A real runner needs a Nix store
// and a nixpkgs checkout, which this host has not; the flake it would build
// is checked by microvm_flake_eval_test.cc.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/process.h"
#include "vmm/hypervisor.h"

namespace blixard::vmm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRunnerStub[] = R"sh(#!/bin/sh
# Stand-in for nix: records argv (cwd is the VM's runtime dir), then acts
# like a microvm runner whose guest comes up and runs until SIGTERM.
printf '%s\n' "$@" > nix-argv
echo "building the runner" >&2
echo "Welcome to NixOS"
echo "BLIXARD-GUEST-READY"
trap 'echo "runner: terminated"; exit 0' TERM
while :; do sleep 1 & wait $!; done
)sh";

constexpr char kFailingStub[] = R"sh(#!/bin/sh
echo "error: flake 'path:$PWD' does not provide attribute 'packages.x86_64-linux.default'" >&2
exit 1
)sh";

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

class MicrovmNixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("blixard-mvn-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "bin");
    WriteExecutable(dir_ / "bin/nix", kRunnerStub);
    WriteExecutable(dir_ / "bin/nix-failing", kFailingStub);
    hv_ = Make("nix");
  }
  void TearDown() override {
    for (Hypervisor* hv : {hv_.get()}) {
      auto all = hv->List();
      if (all.ok()) {
        for (const auto& vm : *all) hv->Kill(vm.name);
      }
    }
    fs::remove_all(dir_);
  }
  static void WriteExecutable(const fs::path& p, const std::string& text) {
    std::ofstream(p) << text;
    chmod(p.c_str(), 0755);
  }
  std::unique_ptr<Hypervisor> Make(const std::string& nix) {
    MicrovmNixOptions o;
    o.runtime_root = (dir_ / "vms").string();
    o.nix_binary = (dir_ / "bin" / nix).string();
    return NewMicrovmNixHypervisor(o);
  }
  VmConfig Config(const std::string& name) {
    VmConfig c;
    c.name = name;
    c.vcpus = 2;
    c.memory_mib = 256;
    c.ready_pattern = kDefaultGuestReadyPattern;
    return c;
  }
  bool WaitReady(Hypervisor& hv, const std::string& name) {
    return blixard::testing::WaitUntil([&] { auto i = hv.Inspect(name); return i.ok() && i->ready; }, seconds(20));
  }
  bool WaitNotAlive(Hypervisor& hv, const std::string& name) {
    return blixard::testing::WaitUntil([&] { auto i = hv.Inspect(name); return i.ok() && !i->alive(); }, seconds(20));
  }

  fs::path dir_;
  std::unique_ptr<Hypervisor> hv_;
};

TEST_F(MicrovmNixTest, StartWritesTheFlakeAndRunsItWithNixRun) {
  EXPECT_EQ(hv_->BackendName(), "microvm-nix");
  auto info = hv_->Start(Config("web-1"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  const fs::path vm = dir_ / "vms/web-1";
  EXPECT_EQ(info->runtime_dir, vm.string());
  EXPECT_GT(info->pid, 0);
  EXPECT_EQ(ReadAll(vm / "runner.pid"), std::to_string(info->pid) + "\n");

  std::string flake = ReadAll(vm / "flake.nix");
  EXPECT_THAT(flake, HasSubstr("vcpu = 2;"));
  EXPECT_THAT(flake, HasSubstr("mem = 256;"));
  EXPECT_THAT(flake, HasSubstr("hypervisor = \"qemu\";"));
  EXPECT_THAT(flake, HasSubstr("socket = \"" + vm.string() + "/control.sock\";"));

  ASSERT_TRUE(WaitReady(*hv_, "web-1"));
  EXPECT_THAT(Lines(ReadAll(vm / "nix-argv")),
              ElementsAre("--extra-experimental-features", "nix-command flakes", "run",
                          "path:" + vm.string() + "#default"));
  auto now = hv_->Inspect("web-1");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->state, VmInfo::State::kRunning);
  EXPECT_EQ(now->pid, info->pid);
  // The runner's stdout is the guest console; nix's own output is apart.
  auto console = hv_->ConsoleLog("web-1", 0);
  ASSERT_TRUE(console.ok());
  EXPECT_THAT(console->data, HasSubstr("Welcome to NixOS"));
  EXPECT_THAT(ReadAll(vm / "runner.log"), HasSubstr("building the runner"));
}

TEST_F(MicrovmNixTest, ALabelPicksTheHypervisorOfOneVm) {
  VmConfig c = Config("fc-1");
  c.labels["microvm.hypervisor"] = "firecracker";
  ASSERT_TRUE(hv_->Start(c).ok());
  EXPECT_THAT(ReadAll(dir_ / "vms/fc-1/flake.nix"), HasSubstr("hypervisor = \"firecracker\";"));
  ASSERT_TRUE(WaitReady(*hv_, "fc-1"));
}

TEST_F(MicrovmNixTest, ASecondInstanceAdoptsTheRunningRunner) {
  auto info = hv_->Start(Config("web-1"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(WaitReady(*hv_, "web-1"));

  auto restarted = Make("nix");  // a new daemon over the same runtime root
  auto list = restarted->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].alive());
  EXPECT_EQ((*list)[0].pid, info->pid);
  EXPECT_TRUE((*list)[0].ready);
  EXPECT_EQ(restarted->Start(Config("web-1")).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(MicrovmNixTest, StopEndsTheRunnerAndCleanupRemovesTheRuntimeDir) {
  auto info = hv_->Start(Config("web-1"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(WaitReady(*hv_, "web-1"));
  ASSERT_TRUE(hv_->Stop("web-1", milliseconds(2000)).ok());
  auto after = hv_->Inspect("web-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, VmInfo::State::kStopped) << after->reason;
  EXPECT_EQ(after->pid, 0);
  EXPECT_NE(kill(info->pid, 0), 0);
  EXPECT_THAT(ReadAll(dir_ / "vms/web-1/console.log"), HasSubstr("runner: terminated"));

  ASSERT_TRUE(hv_->Cleanup("web-1").ok());
  EXPECT_FALSE(fs::exists(dir_ / "vms/web-1"));
  EXPECT_EQ(hv_->Inspect("web-1").status().code(), StatusCode::kNotFound);
}

TEST_F(MicrovmNixTest, RunnerKilledFromOutsideIsFailedWithTheSignal) {
  auto info = hv_->Start(Config("web-1"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(WaitReady(*hv_, "web-1"));
  kill(info->pid, SIGKILL);
  ASSERT_TRUE(WaitNotAlive(*hv_, "web-1"));
  auto after = hv_->Inspect("web-1");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state, VmInfo::State::kFailed);
  EXPECT_THAT(after->reason, HasSubstr("killed by signal 9"));
  // And it can be started again, as a new process.
  auto again = hv_->Start(Config("web-1"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(again->pid, info->pid);
}

TEST_F(MicrovmNixTest, AFailedNixBuildIsFailedWithNixsMessage) {
  auto failing = Make("nix-failing");
  auto started = failing->Start(Config("web-1"));
  if (started.ok()) {
    ASSERT_TRUE(WaitNotAlive(*failing, "web-1"));
    auto after = failing->Inspect("web-1");
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->state, VmInfo::State::kFailed);
    EXPECT_THAT(after->reason, HasSubstr("exited with status 1"));
    EXPECT_THAT(after->reason, HasSubstr("does not provide attribute"));
  } else {  // it may already be gone when Start looks
    EXPECT_EQ(started.status().code(), StatusCode::kUnavailable);
    EXPECT_THAT(started.status().message(), HasSubstr("does not provide attribute"));
  }
}

TEST_F(MicrovmNixTest, BadInputIsRefusedBeforeNixRuns) {
  VmConfig kernel = Config("k");
  kernel.kernel = "/boot/vmlinuz";
  EXPECT_THAT(hv_->Start(kernel).status().message(), HasSubstr("leave --kernel and --initrd out"));

  VmConfig unknown = Config("u");
  unknown.labels["microvm.hypervisor"] = "vmware";
  EXPECT_EQ(hv_->Start(unknown).status().code(), StatusCode::kInvalidArgument);

  VmConfig disk = Config("d");
  disk.disks = {(dir_ / "missing.img").string()};
  Status s = hv_->Start(disk).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr((dir_ / "missing.img").string()));

  auto no_nix = Make("no-such-nix");
  s = no_nix->Start(Config("n")).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("needs Nix"));
  // Nothing ran, and nothing is left behind.
  for (const char* name : {"k", "u", "d", "n"}) EXPECT_FALSE(fs::exists(dir_ / "vms" / name)) << name;
}

}  // namespace
}  // namespace blixard::vmm
