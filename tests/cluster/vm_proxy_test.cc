// Calls that act on a running VM (console logs, pause/resume) sent to a
// member that does not run it are proxied to the member that does.
#include <gtest/gtest.h>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

std::unique_ptr<grpc::ClientContext> Deadline(seconds s) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + s);
  return ctx;
}

TEST(Cluster, LogsAndPauseOfAVmOnAnotherNodeAreProxied) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  // Three VMs spread over the three nodes; find one not on node 1.
  for (const char* name : {"a", "b", "c"}) {
    CommandResult w = c.Cli(1, {"vm", "create", name, "--timeout", "20"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
  }
  std::string remote;
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::ListVmsResponse list;
        if (!c.Vms(1)->ListVms(Deadline(seconds(5)).get(), v1::ListVmsRequest(), &list).ok()) {
          return false;
        }
        for (const v1::Vm& vm : list.vms()) {
          if (vm.node_id() != 0 && vm.node_id() != 1 &&
              vm.status().phase() == v1::VM_PHASE_READY) {
            remote = vm.spec().name();
            return true;
          }
        }
        return false;
      },
      seconds(30)));

  CommandResult logs = c.Cli(1, {"vm", "logs", remote});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.out.find("fake: booting " + remote + "\n"), std::string::npos) << logs.out;

  v1::VmNameRequest req;
  req.set_name(remote);
  v1::VmResponse paused;
  grpc::Status s = c.Vms(1)->PauseVm(Deadline(seconds(10)).get(), req, &paused);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(paused.vm().status().phase(), v1::VM_PHASE_PAUSED);
  v1::VmResponse resumed;
  s = c.Vms(1)->ResumeVm(Deadline(seconds(10)).get(), req, &resumed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resumed.vm().status().phase(), v1::VM_PHASE_READY);
}

}  // namespace
}  // namespace blixard::testing
