// What needs the node that runs a VM (console logs, pause, resume) reaches
// VMs on workers: a worker listens on its --bind with that part of the API
// (src/api/worker_vm_service.h), and any server proxies such a call there.
// Real processes: 3 servers and 2 workers, fake backend, the CLI.
#include <gtest/gtest.h>

#include "cluster/worker_cluster.h"

namespace blixard::testing {
namespace {

constexpr uint64_t kWorker = 11;

std::string Phase(TestCluster& c, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + seconds(5));
  if (!c.Vms(1)->GetVm(ctx.get(), req, &resp).ok()) return "";
  return v1::VmPhase_Name(resp.vm().status().phase());
}

TEST_F(WorkerCluster, LogsPauseAndResumeOfAVmOnAWorkerWorkThroughEveryServer) {
  ASSERT_TRUE(CreateVm("on-worker", "worker=" + std::to_string(kWorker)).ok());
  ASSERT_TRUE(WaitUntil([&] { return Running("on-worker", kWorker); }, seconds(30)))
      << workers_[kWorker].child->Log();

  for (uint64_t server : {1, 2, 3}) {
    CommandResult logs = cluster_->Cli(server, {"vm", "logs", "on-worker"});
    ASSERT_EQ(logs.exit_code, 0) << "through server " << server << ": " << logs.err;
    EXPECT_NE(logs.out.find("fake: booting on-worker\n"), std::string::npos) << logs.out;
  }

  for (uint64_t server : {1, 2, 3}) {
    CommandResult paused = cluster_->Cli(server, {"vm", "pause", "on-worker"});
    ASSERT_EQ(paused.exit_code, 0) << "through server " << server << ": " << paused.err;
    EXPECT_NE(paused.out.find("paused"), std::string::npos) << paused.out;
    // The worker recorded it in the cluster (waited for: an agent pass that
    // inspected the VM just before may report the old phase once more).
    EXPECT_TRUE(WaitUntil([&] { return Phase(*cluster_, "on-worker") == "VM_PHASE_PAUSED"; }, seconds(10)))
        << "through server " << server;

    CommandResult resumed = cluster_->Cli(server, {"vm", "resume", "on-worker"});
    ASSERT_EQ(resumed.exit_code, 0) << "through server " << server << ": " << resumed.err;
    EXPECT_NE(resumed.out.find("resumed"), std::string::npos) << resumed.out;
    EXPECT_TRUE(WaitUntil([&] { return Phase(*cluster_, "on-worker") == "VM_PHASE_READY"; }, seconds(10)))
        << "through server " << server;
  }
  // The fake backend's record shows the worker did each one.
  int pauses = 0, resumes = 0;
  for (const RecordEvent& e : ReadRecord(record_)) {
    if (e.node != kWorker || e.vm != "on-worker") continue;
    pauses += e.what == "pause";
    resumes += e.what == "resume";
  }
  EXPECT_EQ(pauses, 3) << "pauses of on-worker on worker 11 in the record";
  EXPECT_EQ(resumes, 3) << "resumes of on-worker on worker 11 in the record";

  // Straight to the worker: its own VMs' logs, and a plain refusal of what
  // is for a server.
  CommandResult direct = RunCommand({BlixardBin(), "--data-dir", cluster_->AdminDataDir(), "vm", "logs", "on-worker", "--addr",
                                     workers_[kWorker].addr});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_NE(direct.out.find("fake: booting on-worker\n"), std::string::npos) << direct.out;
  CommandResult elsewhere = RunCommand({BlixardBin(), "--data-dir", cluster_->AdminDataDir(), "vm", "logs", "not-here", "--addr", workers_[kWorker].addr});
  EXPECT_NE(elsewhere.exit_code, 0);
  EXPECT_NE(elsewhere.err.find("is not placed on worker 11"), std::string::npos) << elsewhere.err;
  CommandResult list = RunCommand({BlixardBin(), "--data-dir", cluster_->AdminDataDir(), "vm", "list", "--addr", workers_[kWorker].addr});
  EXPECT_NE(list.exit_code, 0);
  EXPECT_NE(list.err.find("is a worker"), std::string::npos) << list.err;
  EXPECT_NE(list.err.find("send it to a server"), std::string::npos) << list.err;
}

}  // namespace
}  // namespace blixard::testing
