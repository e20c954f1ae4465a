// Real microVMs through the daemon: qemu under TCG (KVM when it works), the
// default guest image built by the blixard_guest_image fixture.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

TestDaemon::Options QemuNode() {
  TestDaemon::Options o;
  o.backend = "qemu";
  o.extra_args = {"--guest-dir", BLIXARD_GUEST_DIR_DEFAULT};
  return o;
}

v1::VmPhase Phase(TestDaemon& d, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  if (!d.Vms()->GetVm(Ctx(5).get(), req, &resp).ok()) return v1::VM_PHASE_UNSPECIFIED;
  return resp.vm().status().phase();
}

int QemuPid(TestDaemon& d, const std::string& name) {
  std::ifstream f(d.data_dir() + "/vms/" + name + "/qemu.pid");
  int pid = 0;
  f >> pid;
  return pid;
}

bool ProcessAlive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

TEST(DaemonVm, CreateBootsARealVmThatSurvivesADaemonKillAndIsAdopted) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec("guest-1", 1, 128);
  req.set_start(true);
  v1::CreateVmResponse created;
  ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &created).ok());
  ASSERT_TRUE(WaitUntil([&] { return Phase(d, "guest-1") == v1::VM_PHASE_READY; },
                        std::chrono::seconds(90)))
      << d.log();
  const int pid = QemuPid(d, "guest-1");
  ASSERT_TRUE(ProcessAlive(pid));

  // kill -9 the daemon: the VM keeps running and the next daemon adopts it.
  ASSERT_EQ(d.Stop(SIGKILL), 128 + SIGKILL);
  EXPECT_TRUE(ProcessAlive(pid));
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(Phase(d, "guest-1"), v1::VM_PHASE_READY);
  EXPECT_EQ(QemuPid(d, "guest-1"), pid) << "a second qemu was started";

  // Stop is an orderly power-off; delete removes what is left.
  v1::VmNameRequest name;
  name.set_name("guest-1");
  v1::VmResponse stopped;
  ASSERT_TRUE(d.Vms()->StopVm(Ctx().get(), name, &stopped).ok());
  ASSERT_TRUE(WaitUntil([&] { return Phase(d, "guest-1") == v1::VM_PHASE_STOPPED; },
                        std::chrono::seconds(60)))
      << d.log();
  EXPECT_FALSE(ProcessAlive(pid));
  v1::DeleteVmResponse deleted;
  ASSERT_TRUE(d.Vms()->DeleteVm(Ctx().get(), name, &deleted).ok());
  ASSERT_TRUE(WaitUntil(
      [&] { return !std::ifstream(d.data_dir() + "/vms/guest-1/config.json").good(); },
      std::chrono::seconds(30)))
      << d.log();
}

TEST(DaemonVm, LogsPauseResumeAndRestartActOnTheRealGuest) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec("guest-2", 1, 128);
  req.set_start(true);
  v1::CreateVmResponse created;
  ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &created).ok());
  ASSERT_TRUE(WaitUntil([&] { return Phase(d, "guest-2") == v1::VM_PHASE_READY; },
                        std::chrono::seconds(90)))
      << d.log();

  CommandResult logs = d.Cli({"vm", "logs", "guest-2"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("BLIXARD-GUEST-READY"), std::string::npos) << logs.out;

  CommandResult paused = d.Cli({"vm", "pause", "guest-2"});
  ASSERT_EQ(paused.exit_code, 0) << paused.err;
  EXPECT_TRUE(WaitUntil([&] { return Phase(d, "guest-2") == v1::VM_PHASE_PAUSED; },
                        std::chrono::seconds(10)));
  CommandResult resumed = d.Cli({"vm", "resume", "guest-2"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(WaitUntil([&] { return Phase(d, "guest-2") == v1::VM_PHASE_READY; },
                        std::chrono::seconds(10)));

  // Restart: a new qemu process boots the guest again.
  const int pid = QemuPid(d, "guest-2");
  CommandResult restarted = d.Cli({"vm", "restart", "guest-2"});
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const int now = QemuPid(d, "guest-2");
        return now != 0 && now != pid && Phase(d, "guest-2") == v1::VM_PHASE_READY;
      },
      std::chrono::seconds(90)))
      << d.log();
  EXPECT_FALSE(ProcessAlive(pid));
  logs = d.Cli({"vm", "logs", "guest-2"});
  EXPECT_NE(logs.out.find("BLIXARD-GUEST-READY"), std::string::npos) << logs.out;

  v1::VmNameRequest name;
  name.set_name("guest-2");
  v1::DeleteVmResponse deleted;
  ASSERT_TRUE(d.Vms()->DeleteVm(Ctx().get(), name, &deleted).ok());
  ASSERT_TRUE(WaitUntil(
      [&] { return !std::ifstream(d.data_dir() + "/vms/guest-2/config.json").good(); },
      std::chrono::seconds(30)))
      << d.log();
}

TEST(DaemonVm, AVmThatCannotBootGoesFailedWithAReason) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec("no-kernel", 1, 128);
  req.mutable_spec()->set_kernel("/nonexistent/vmlinuz");
  req.set_start(true);
  v1::CreateVmResponse created;
  ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &created).ok());
  v1::GetVmRequest get;
  get.set_name("no-kernel");
  v1::VmResponse resp;
  ASSERT_TRUE(WaitUntil(
      [&] {
        return d.Vms()->GetVm(Ctx(5).get(), get, &resp).ok() &&
               resp.vm().status().phase() == v1::VM_PHASE_FAILED;
      },
      std::chrono::seconds(30)))
      << d.log();
  EXPECT_NE(resp.vm().status().message().find("/nonexistent/vmlinuz"), std::string::npos)
      << resp.vm().status().message();
}

}  // namespace
}  // namespace blixard::testing
