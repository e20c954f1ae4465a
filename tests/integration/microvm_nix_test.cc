// A node with --backend microvm-nix, with a stand-in for `nix` first on PATH
// that records its argv and behaves like a microvm.nix runner (prints the
// guest console with the readiness line, runs until SIGTERM). The real
// runner needs a Nix store; the flakes themselves are checked by Nix in
// src/vmm/microvm_flake_eval_test.cc.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kRunnerStub[] = R"sh(#!/bin/sh
printf '%s\n' "$@" > nix-argv
echo "Welcome to NixOS"
echo "BLIXARD-GUEST-READY"
trap 'exit 0' TERM
while :; do sleep 1 & wait $!; done
)sh";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Pid(const std::string& path) { return atoi(ReadAll(path).c_str()); }

class MicrovmNixNode : public ::testing::Test {
 protected:
  void SetUp() override {
    // The daemon inherits this process's PATH.
    fs::create_directories(bin_.path());
    std::ofstream(bin_.path() + "/nix") << kRunnerStub;
    chmod((bin_.path() + "/nix").c_str(), 0755);
    setenv("PATH", (bin_.path() + ":" + getenv("PATH")).c_str(), 1);
  }

  static TestDaemon::Options Node() {
    TestDaemon::Options o;
    o.backend = "microvm-nix";
    o.extra_args = {"--microvm-hypervisor", "cloud-hypervisor"};
    return o;
  }

  static v1::Vm Get(TestDaemon& d, const std::string& name) {
    v1::GetVmRequest req;
    req.set_name(name);
    v1::VmResponse resp;
    d.Vms()->GetVm(Ctx(5).get(), req, &resp);
    return resp.vm();
  }

  static void Create(TestDaemon& d, const std::string& name, const std::string& hypervisor_label = "") {
    v1::CreateVmRequest req;
    *req.mutable_spec() = Spec(name, 2, 256);
    // cloud-hypervisor and firecracker have no user networking.
    req.mutable_spec()->set_network(v1::NETWORK_MODE_NONE);
    if (!hypervisor_label.empty()) (*req.mutable_spec()->mutable_labels())["microvm.hypervisor"] = hypervisor_label;
    req.set_start(true);
    v1::CreateVmResponse resp;
    ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &resp).ok());
  }

  TempDir bin_;
};

TEST_F(MicrovmNixNode, AVmRunsItsFlakeWithNixIsAdoptedAfterKillNineAndDeleteRemovesItsDir) {
  TestDaemon d(Node());
  ASSERT_TRUE(d.Start());
  Create(d, "nix-1");
  Create(d, "nix-2", "firecracker");
  for (const char* name : {"nix-1", "nix-2"}) {
    ASSERT_TRUE(WaitUntil([&] { return Get(d, name).status().phase() == v1::VM_PHASE_READY; },
                          std::chrono::seconds(30)))
        << name << ": " << Get(d, name).status().message() << "\n" << d.log();
  }
  const std::string vm1 = d.data_dir() + "/vms/nix-1";
  EXPECT_EQ(ReadAll(vm1 + "/nix-argv"),
            "--extra-experimental-features\nnix-command flakes\nrun\npath:" + fs::absolute(vm1).string() +
                "#default\n");
  std::string flake = ReadAll(vm1 + "/flake.nix");
  EXPECT_NE(flake.find("hypervisor = \"cloud-hypervisor\";"), std::string::npos) << flake;  // the node's
  EXPECT_NE(flake.find("vcpu = 2;"), std::string::npos) << flake;
  EXPECT_NE(flake.find("mem = 256;"), std::string::npos) << flake;
  EXPECT_NE(ReadAll(d.data_dir() + "/vms/nix-2/flake.nix").find("hypervisor = \"firecracker\";"),
            std::string::npos);  // the VM's label

  const int pid1 = Pid(vm1 + "/runner.pid");
  const int pid2 = Pid(d.data_dir() + "/vms/nix-2/runner.pid");
  ASSERT_GT(pid1, 0);
  ASSERT_GT(pid2, 0);
  ASSERT_EQ(d.Stop(SIGKILL), 128 + SIGKILL);
  EXPECT_EQ(kill(pid1, 0), 0);
  ASSERT_TRUE(d.Start());
  // Adopted: still ready, same runner processes, nix not run again.
  for (const char* name : {"nix-1", "nix-2"}) EXPECT_EQ(Get(d, name).status().phase(), v1::VM_PHASE_READY);
  EXPECT_EQ(Pid(vm1 + "/runner.pid"), pid1);
  EXPECT_EQ(Pid(d.data_dir() + "/vms/nix-2/runner.pid"), pid2);

  CommandResult logs = d.Cli({"vm", "logs", "nix-1"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("Welcome to NixOS"), std::string::npos) << logs.out;

  CommandResult deleted = d.Cli({"vm", "delete", "nix-1"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  ASSERT_TRUE(WaitUntil([&] { return !fs::exists(vm1); }, std::chrono::seconds(30))) << d.log();
  EXPECT_TRUE(WaitUntil([&] { return kill(pid1, 0) != 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(kill(pid2, 0), 0);
}

TEST_F(MicrovmNixNode, AKernelOfTheUsersIsFailedWithWhatToChange) {
  TestDaemon d(Node());
  ASSERT_TRUE(d.Start());
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec("own-kernel");
  req.mutable_spec()->set_kernel("/boot/vmlinuz");
  req.set_start(true);
  v1::CreateVmResponse resp;
  ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &resp).ok());
  ASSERT_TRUE(WaitUntil([&] { return Get(d, "own-kernel").status().phase() == v1::VM_PHASE_FAILED; },
                        std::chrono::seconds(30)))
      << d.log();
  EXPECT_NE(Get(d, "own-kernel").status().message().find("leave --kernel and --initrd out"), std::string::npos)
      << Get(d, "own-kernel").status().message();
}

TEST(MicrovmNixFlags, AnUnknownHypervisorIsRefusedNamingTheKnownOnes) {
  TempDir dir;
  CommandResult r = RunCommand({BlixardBin(), "node", "--id", "1", "--bind", "unix:" + dir.path() + "/s",
                                "--data-dir", dir.path() + "/d", "--backend", "microvm-nix",
                                "--microvm-hypervisor", "vmware"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE((r.out + r.err).find("vmware"), std::string::npos) << r.err;
  EXPECT_NE((r.out + r.err).find("qemu, cloud-hypervisor, firecracker"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace blixard::testing
