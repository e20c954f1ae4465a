// The fence guard (src/daemon/fence_guard.h) with a real guest: the qemu of a
// daemon that was killed is killed by the node's guard before the leader may
// move the VM, and the node runs the VM again once its daemon is back.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "support/cluster.h"
#include "support/daemon.h"

namespace blixard::testing {
namespace {

int QemuPid(const TestCluster& c, uint64_t id, const std::string& name) {
  std::ifstream f(c.DataDir(id) + "/vms/" + name + "/qemu.pid");
  int pid = 0;
  f >> pid;
  return pid;
}

bool ProcessAlive(int pid) { return pid > 0 && kill(pid, 0) == 0; }

std::optional<v1::Vm> GetVm(TestCluster& c, uint64_t via, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  if (!c.Vms(via)->GetVm(Ctx(5).get(), req, &resp).ok()) return std::nullopt;
  return resp.vm();
}

std::optional<v1::NodeHealth> Health(TestCluster& c, uint64_t via, uint64_t node_id) {
  auto stub = v1::NodeService::NewStub(c.NewChannel(via));
  v1::ListNodesResponse resp;
  if (!stub->ListNodes(Ctx(5).get(), v1::ListNodesRequest(), &resp).ok()) return std::nullopt;
  for (const auto& n : resp.nodes()) {
    if (n.id() == node_id) return n.health();
  }
  return std::nullopt;
}

TEST(FenceGuardVm, AKilledDaemonsVmIsKilledByItsGuardBeforeTheLeaderMarksTheNodeDown) {
  TestCluster c;
  ASSERT_TRUE(c.Start(2));  // nodes 1 and 2: fake backend, they only vote
  ASSERT_TRUE(c.Add(3, {"--backend", "qemu", "--guest-dir", BLIXARD_GUEST_DIR_DEFAULT, "--cpu-overcommit",
                        "8", "--label", "host=real"}));
  CommandResult created = c.Cli(1, {"vm", "create", "guarded", "--constraint", "host=real",
                                    "--restart", "always", "--wait"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err << c.AllLogs();
  const int pid = QemuPid(c, 3, "guarded");
  ASSERT_TRUE(ProcessAlive(pid));

  c.Kill9(3);  // the daemon only: its qemu lives on in its own session
  ASSERT_TRUE(ProcessAlive(pid)) << "qemu died with its daemon";
  // The leader marks node 3 DOWN after a TTL of silence; from then on it may
  // move VMs. By then the guard must have killed the qemu.
  ASSERT_TRUE(WaitUntil([&] { return Health(c, 1, 3) == v1::NODE_HEALTH_DOWN; }, seconds(30)))
      << c.AllLogs();
  EXPECT_FALSE(ProcessAlive(pid)) << "node 3 is DOWN while its VM still runs";
  std::ifstream log(c.DataDir(3) + "/fence-guard.log");
  std::stringstream ss;
  ss << log.rdbuf();
  EXPECT_NE(ss.str().find("fence guard: killed guarded"), std::string::npos) << ss.str();

  // The daemon comes back: the node is READY again and runs its VM anew
  // (restart policy always), once, with a new qemu.
  ASSERT_TRUE(c.Restart(3));
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto vm = GetVm(c, 1, "guarded");
        return vm && vm->status().phase() == v1::VM_PHASE_READY && QemuPid(c, 3, "guarded") != pid &&
               ProcessAlive(QemuPid(c, 3, "guarded"));
      },
      seconds(90)))
      << c.AllLogs();
}

}  // namespace
}  // namespace blixard::testing
