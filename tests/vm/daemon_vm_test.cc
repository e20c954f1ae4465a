// Real microVMs through the daemon: qemu under TCG (KVM when it works), the
// default guest image built by the blixard_guest_image fixture.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <functional>

#include <dirent.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

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

// Milliseconds since the send time of the node's newest acknowledged
// heartbeat (src/daemon/ack_file.h: CLOCK_MONOTONIC ms); -1 if none.
int64_t MsSinceNewestAck(TestDaemon& d) {
  std::ifstream f(d.data_dir() + "/liveness");
  int64_t sent = -1;
  if (!(f >> sent) || sent < 0) return -1;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  return now - sent;
}

namespace fs = std::filesystem;

// Live qemu processes of VMs under `runtime_root`, by what their command
// line names: counts every qemu, not only the ones in pidfiles.
std::vector<int> QemusUnder(const std::string& runtime_root) {
  std::vector<int> pids;
  const std::string root = fs::absolute(runtime_root).lexically_normal().string() + "/";
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(entry.path() / "cmdline");
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string cmdline = ss.str();
    const std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
    if (argv0.find("qemu-system") == std::string::npos) continue;  // not the monitor sh, not us
    if (cmdline.find(root) != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

void CreateRunning(TestDaemon& d, const std::string& name,
                   v1::RestartPolicy policy = v1::RESTART_POLICY_UNSPECIFIED, uint64_t memory_mib = 128) {
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec(name, 1, memory_mib);
  req.mutable_spec()->set_restart_policy(policy);
  req.set_start(true);
  v1::CreateVmResponse created;
  ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &created).ok());
}

v1::Vm GetVm(TestDaemon& d, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  d.Vms()->GetVm(Ctx(5).get(), req, &resp);
  return resp.vm();
}

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
  ASSERT_TRUE(WaitUntil([&] { return !fs::exists(d.data_dir() + "/vms/guest-1"); },
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
  ASSERT_TRUE(WaitUntil([&] { return !fs::exists(d.data_dir() + "/vms/guest-2"); },
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

TEST(DaemonVm, QemuKilledFromOutsideIsRestartedPerPolicyWithANewPid) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  CreateRunning(d, "on-failure", v1::RESTART_POLICY_ON_FAILURE);
  CreateRunning(d, "always", v1::RESTART_POLICY_ALWAYS);
  CreateRunning(d, "never", v1::RESTART_POLICY_NEVER);
  std::map<std::string, int> pids;
  for (const char* name : {"on-failure", "always", "never"}) {
    ASSERT_TRUE(WaitUntil([&] { return Phase(d, name) == v1::VM_PHASE_READY; }, std::chrono::seconds(120)))
        << name << "\n" << d.log();
    pids[name] = QemuPid(d, name);
    ASSERT_TRUE(ProcessAlive(pids[name]));
  }
  for (const auto& [name, pid] : pids) ASSERT_EQ(kill(pid, SIGKILL), 0) << name;

  // A crash is a failure: on-failure and always boot a new qemu.
  for (const char* name : {"on-failure", "always"}) {
    ASSERT_TRUE(WaitUntil(
        [&] {
          const int now = QemuPid(d, name);
          return now != 0 && now != pids[name] && Phase(d, name) == v1::VM_PHASE_READY;
        },
        std::chrono::seconds(120)))
        << name << ": " << GetVm(d, name).status().message() << "\n" << d.log();
    EXPECT_TRUE(ProcessAlive(QemuPid(d, name)));
  }
  // never: stays down, and says why.
  ASSERT_TRUE(WaitUntil([&] { return Phase(d, "never") == v1::VM_PHASE_FAILED; }, std::chrono::seconds(30)));
  EXPECT_NE(GetVm(d, "never").status().message().find("killed by signal 9"), std::string::npos)
      << GetVm(d, "never").status().message();
  EXPECT_EQ(QemusUnder(d.data_dir() + "/vms").size(), 2u);
}

TEST(DaemonVm, KillNineWithThreeVmsRunningAdoptsTheSameThreeQemus) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  const std::vector<std::string> names = {"adopt-1", "adopt-2", "adopt-3"};
  for (const auto& name : names) CreateRunning(d, name);
  std::map<std::string, int> pids;
  for (const auto& name : names) {
    ASSERT_TRUE(WaitUntil([&] { return Phase(d, name) == v1::VM_PHASE_READY; }, std::chrono::seconds(120)))
        << name << "\n" << d.log();
    pids[name] = QemuPid(d, name);
  }
  ASSERT_EQ(QemusUnder(d.data_dir() + "/vms").size(), 3u);

  ASSERT_EQ(d.Stop(SIGKILL), 128 + SIGKILL);
  // Down longer than the node TTL (3 s): a node of a larger cluster would
  // have its VMs fenced by now (its fence guard, or the daemon when it comes
  // back); the only voter of a one-node cluster keeps them, since no other
  // node can take them over.
  ASSERT_TRUE(WaitUntil([&] { return MsSinceNewestAck(d) > 3500; }, std::chrono::seconds(30)));
  for (const auto& name : names) EXPECT_TRUE(ProcessAlive(pids[name])) << name;
  ASSERT_TRUE(d.Start());
  // Stopping one VM proves the new agent has made a full pass over all of
  // them (it acts on every placed VM in each pass): had it started a second
  // qemu for any, it would be counted below.
  CommandResult stopped = d.Cli({"vm", "stop", "adopt-3", "--wait"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err << d.log();
  EXPECT_FALSE(ProcessAlive(pids["adopt-3"]));
  for (const std::string name : {"adopt-1", "adopt-2"}) {
    EXPECT_EQ(Phase(d, name), v1::VM_PHASE_READY) << name;
    EXPECT_EQ(QemuPid(d, name), pids[name]) << name;
    EXPECT_TRUE(ProcessAlive(pids[name])) << name;
  }
  std::vector<int> running = QemusUnder(d.data_dir() + "/vms");
  std::sort(running.begin(), running.end());
  std::vector<int> expected = {pids["adopt-1"], pids["adopt-2"]};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(running, expected);
}

TEST(DaemonVm, MissingFilesAndTooLittleMemoryFailWithAReasonTheUserCanActOn) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  const std::string guest = BLIXARD_GUEST_DIR_DEFAULT;
  struct Case {
    std::string name;
    std::function<void(v1::VmSpec&)> edit;
    std::vector<std::string> reason;
  };
  std::vector<Case> cases = {
      {"no-initrd",
       [&](v1::VmSpec& s) {
         s.set_kernel(guest + "/vmlinuz");
         s.set_initrd("/nonexistent/initrd.img");
       },
       {"initrd /nonexistent/initrd.img does not exist"}},
      {"no-disk", [](v1::VmSpec& s) { s.add_disks("/nonexistent/data.img"); },
       {"disk /nonexistent/data.img does not exist"}},
      {"tiny", [](v1::VmSpec& s) { s.set_memory_mib(32); },
       {"nothing on its console", "32 MiB"}},
  };
  for (auto& c : cases) {
    v1::CreateVmRequest req;
    *req.mutable_spec() = Spec(c.name, 1, 128);
    req.mutable_spec()->set_restart_policy(v1::RESTART_POLICY_NEVER);
    c.edit(*req.mutable_spec());
    req.set_start(true);
    v1::CreateVmResponse created;
    ASSERT_TRUE(d.Vms()->CreateVm(Ctx().get(), req, &created).ok()) << c.name;
  }
  for (const auto& c : cases) {
    ASSERT_TRUE(WaitUntil([&] { return Phase(d, c.name) == v1::VM_PHASE_FAILED; }, std::chrono::seconds(60)))
        << c.name << ": " << GetVm(d, c.name).status().message() << "\n" << d.log();
    for (const auto& words : c.reason) {
      EXPECT_NE(GetVm(d, c.name).status().message().find(words), std::string::npos)
          << c.name << ": " << GetVm(d, c.name).status().message();
    }
  }
  // A refused VM has no runtime dir; delete removes the one of the VM that ran.
  EXPECT_FALSE(fs::exists(d.data_dir() + "/vms/no-disk"));
  ASSERT_EQ(d.Cli({"vm", "delete", "tiny"}).exit_code, 0);
  EXPECT_TRUE(WaitUntil([&] { return !fs::exists(d.data_dir() + "/vms/tiny"); }, std::chrono::seconds(30)));
}

TEST(DaemonVm, CreateWaitPrintsProgressWhileItBootsAndReturnsAtReady) {
  TestDaemon d(QemuNode());
  ASSERT_TRUE(d.Start());
  CommandResult r = d.Cli({"vm", "create", "waited", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err << d.log();
  // Progress on stderr: the states it went through while booting, then READY.
  const size_t ready = r.err.find("waited: READY");
  ASSERT_NE(ready, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("waited: READY"), r.err.rfind("waited: "))  << "READY is the last line:\n" << r.err;
  EXPECT_LT(r.err.find("waited: "), ready) << "no progress before READY:\n" << r.err;
  // It returned at READY: the printed VM and the cluster say so.
  EXPECT_NE(r.out.find("READY"), std::string::npos) << r.out;
  EXPECT_EQ(Phase(d, "waited"), v1::VM_PHASE_READY);
}

}  // namespace
}  // namespace blixard::testing
