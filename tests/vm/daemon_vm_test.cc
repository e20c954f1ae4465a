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
