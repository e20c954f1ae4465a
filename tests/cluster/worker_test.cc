// Workers (`blixard node --role worker`, src/daemon/worker.h) with real
// processes on loopback: 3 servers and 2 workers, fake VM backend, default
// 3 s node TTL. VMs constrained to workers run there; a worker killed with
// SIGKILL has its VMs run on the other; a worker stopped with SIGSTOP (as if
// cut off) fences, the other runs its VMs, and after SIGCONT it resumes its
// assignment stream without running anything twice; a restarted worker
// comes back from its data dir; bad flags and refusals say what to change.
// The shared fake record proves no VM ran on two nodes at once.
#include <gtest/gtest.h>


#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cluster/worker_cluster.h"

namespace blixard::testing {
namespace {

TEST_F(WorkerCluster, WorkersAreListedWithTheirRoleButAreNotRaftMembers) {
  CommandResult nodes = cluster_->Cli(1, {"node", "list"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_NE(nodes.out.find("worker"), std::string::npos) << nodes.out;
  auto st = cluster_->Status(1, /*stale=*/false);
  ASSERT_TRUE(st.has_value());
  ASSERT_EQ(st->members_size(), 3) << "workers must not be Raft voters or learners";
  for (const auto& m : st->members()) EXPECT_LE(m.id(), 3u);
  // The servers are listed with their Raft role as it is now (they joined
  // as learners and were promoted).
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(NodeOf(2, id).role(), v1::NODE_ROLE_VOTER) << id;
  for (uint64_t id : {11, 12}) {
    const v1::Node n = NodeOf(2, id);
    EXPECT_EQ(n.role(), v1::NODE_ROLE_WORKER);
    EXPECT_EQ(n.labels().at("kind"), "worker");
    EXPECT_GT(n.capacity().vcpus(), 0u) << "the worker reports its capacity";
  }
}

TEST_F(WorkerCluster, KilledWorkersVmsRunOnTheOtherAndNeverOnTwoNodesAtOnce) {
  CreateWorkerVms();
  const uint64_t victim = PickVictim();
  ASSERT_NE(victim, 0u);
  const std::set<std::string> moved = VmsOn(victim);
  const int64_t killed_at = UnixNowMs();
  workers_[victim].child->Signal(SIGKILL);
  ASSERT_EQ(workers_[victim].child->Wait(seconds(10)), 128 + SIGKILL);
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(victim); }, seconds(30))) << cluster_->AllLogs();
  const int64_t recovered_ms = UnixNowMs() - killed_at;
  EXPECT_EQ(NodeOf(1, victim).health(), v1::NODE_HEALTH_DOWN);
  // The TTL is 3 s from the last heartbeat, sent at most TTL/3 before the kill.
  EXPECT_GE(recovered_ms, 2'000) << "VMs moved before the worker's TTL ran out";
  std::printf("workers: %zu VMs of killed worker %llu running on the other after %lld ms\n",
              moved.size(), static_cast<unsigned long long>(victim), static_cast<long long>(recovered_ms));

  const auto iv = Intervals(ReadRecord(record_), {{victim, killed_at}});
  EXPECT_EQ(Overlaps(iv), "");
  EXPECT_EQ(NotStartedElsewhere(iv, moved, victim, killed_at), "");
}

TEST_F(WorkerCluster, StoppedWorkerFencesTheOtherRunsItsVmsAndItsStreamResumes) {
  CreateWorkerVms();
  const uint64_t victim = PickVictim();
  ASSERT_NE(victim, 0u);
  const std::set<std::string> moved = VmsOn(victim);
  Child& child = *workers_[victim].child;
  child.Signal(SIGSTOP);  // silent, as if cut off
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(victim); }, seconds(30))) << cluster_->AllLogs();
  EXPECT_EQ(NodeOf(1, victim).health(), v1::NODE_HEALTH_DOWN);
  const int64_t resumed_at = UnixNowMs();
  child.Signal(SIGCONT);

  // Its own copies end (fenced, or stopped once the stream says they moved),
  // and it comes back READY.
  auto ended_on_victim = [&] {
    std::set<std::string> ended;
    for (const RecordEvent& e : ReadRecord(record_)) {
      if (e.node == victim && (e.what == "kill" || e.what == "stop") && e.at >= resumed_at) {
        ended.insert(e.vm);
      }
    }
    return ended;
  };
  ASSERT_TRUE(WaitUntil([&] { return ended_on_victim() == moved; }, seconds(20))) << child.Log();
  ASSERT_TRUE(WaitUntil([&] { return NodeOf(1, victim).health() == v1::NODE_HEALTH_READY; },
                        seconds(20)));
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(victim); }, seconds(20)));

  // The stream resumed: a VM placed on it now runs there.
  grpc::Status s = CreateVm("after-heal", "worker=" + std::to_string(victim));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitUntil([&] { return Running("after-heal", victim); }, seconds(20))) << child.Log();

  const auto events = ReadRecord(record_);
  for (const RecordEvent& e : events) {
    EXPECT_FALSE(e.node == victim && e.what == "start" && e.at >= resumed_at && e.vm != "after-heal")
        << e.vm << " was started again on the fenced worker";
  }
  // (A stopped process cannot fence: its frozen fake VMs end in the record
  // only when it runs again, so the record overlaps while it was stopped.
  // The check is that after healing each VM is alive exactly once.)
  const auto iv = Intervals(events, {});
  EXPECT_EQ(NotAliveOnce(iv, NumberedVms(kVms)), "");
  EXPECT_NE(child.Log().find("fenced"), std::string::npos);
}

TEST_F(WorkerCluster, RestartedWorkerComesBackFromItsDataDir) {
  Worker& w = workers_[11];
  ASSERT_EQ(w.child->Wait(milliseconds(0)), -1);
  w.child->Signal(SIGTERM);
  ASSERT_EQ(w.child->Wait(seconds(10)), 0) << w.child->Log();
  std::ifstream in(w.data_dir + "/cluster-id");
  std::string remembered;
  in >> remembered;
  EXPECT_EQ(remembered, cluster_->Status(1, true)->cluster_id());
  ASSERT_TRUE(StartWorker(11));
  grpc::Status s = CreateVm("after-restart", "worker=11");
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitUntil([&] { return Running("after-restart", 11); }, seconds(20))) << w.child->Log();
}

// Capacity and labels are the worker's to say: restarted with other
// --capacity-* and --label flags, its record in the cluster says the new
// ones (it registers again at each start), and the scheduler places by them.
TEST_F(WorkerCluster, RestartedWorkerWithOtherCapacityAndLabelsIsListedAndPlacedByThem) {
  RestartWorker(11, {"--capacity-vcpus", "6", "--capacity-memory", "3072", "--label", "zone=b"});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const v1::Node n = NodeOf(2, 11);
        return n.capacity().vcpus() == 6 && n.capacity().memory_mib() == 3072 &&
               n.labels().count("zone") && n.labels().at("zone") == "b";
      },
      seconds(20)))
      << NodeOf(2, 11).DebugString();
  EXPECT_EQ(NodeOf(2, 11).labels().at("kind"), "worker");
  CommandResult nodes = cluster_->Cli(3, {"node", "list"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  EXPECT_NE(nodes.out.find("zone=b"), std::string::npos) << nodes.out;
  grpc::Status s = CreateVm("in-zone-b", "zone=b");
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitUntil([&] { return Running("in-zone-b", 11); }, seconds(20)));

  // Without the label and with the capacity it had: both as it says again.
  RestartWorker(11, {});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const v1::Node n = NodeOf(2, 11);
        return n.capacity().vcpus() == 64 && !n.labels().count("zone");
      },
      seconds(20)))
      << NodeOf(2, 11).DebugString();
}

// What changes under a running worker reaches its record too: here the CPUs
// it may run on (its capacity read from the host, --capacity-vcpus 0).
TEST_F(WorkerCluster, RunningWorkerWhoseCpusNarrowReportsItsNewCapacity) {
  const int cpus = OwnCpuCount();
  if (cpus < 2) GTEST_SKIP() << "needs 2 or more CPUs to narrow a worker to one; this test runs on " << cpus;
  RestartWorker(11, {"--capacity-vcpus", "0"});  // 0: as many as the host gives it
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitUntil([&] { return NodeOf(2, 11).host_capacity().vcpus() == static_cast<uint32_t>(cpus); },
                        seconds(20)))
      << NodeOf(2, 11).DebugString();

  ASSERT_TRUE(NarrowToOneCpu(workers_[11].child->pid()));
  ASSERT_TRUE(WaitUntil(
      [&] {
        const v1::Node n = NodeOf(2, 11);
        return n.host_capacity().vcpus() == 1 && n.capacity().vcpus() == 1;
      },
      seconds(20)))
      << NodeOf(2, 11).DebugString() << workers_[11].child->Log();
  // Logged once the write returned, which may be after the record shows it.
  EXPECT_TRUE(WaitUntil(
      [&] { return workers_[11].child->Log().find("worker 11 now offers 1 vCPUs") != std::string::npos; },
      seconds(10)))
      << workers_[11].child->Log();
}

#ifdef FIU_ENABLE
bool FiuCtrl(const std::string& base, int pid, const std::string& command) {
  CommandResult r = RunCommand({"/usr/bin/timeout", "10", "/usr/bin/fiu-ctrl", "-f", base, "-c",
                                command, std::to_string(pid)});
  return r.exit_code == 0 && r.out.find("error") == std::string::npos;
}

// A partition with the process running: the worker reaches no server
// (fault point worker/cut-off). It must have killed its VMs before the other
// worker starts them; after healing, its stream resumes where it was.
TEST_F(WorkerCluster, CutOffWorkerFencesBeforeTheOtherRunsItsVmsAndResumesItsStream) {
  CreateWorkerVms();
  const uint64_t victim = PickVictim();
  ASSERT_NE(victim, 0u);
  const std::set<std::string> moved = VmsOn(victim);
  Child& child = *workers_[victim].child;
  const int64_t cut_at = UnixNowMs();
  ASSERT_TRUE(FiuCtrl(fifo_, child.pid(), "enable name=worker/cut-off"));
  ASSERT_TRUE(WaitUntil([&] { return AllRunning(victim); }, seconds(30))) << cluster_->AllLogs();
  EXPECT_EQ(NodeOf(1, victim).health(), v1::NODE_HEALTH_DOWN);
  // Fenced while cut off: every moved VM was killed there, and never alive
  // on both workers at once.
  std::set<std::string> killed;
  for (const RecordEvent& e : ReadRecord(record_)) {
    if (e.node == victim && e.what == "kill" && e.at >= cut_at) killed.insert(e.vm);
  }
  EXPECT_EQ(killed, moved);
  EXPECT_EQ(Overlaps(Intervals(ReadRecord(record_), {})), "");

  ASSERT_TRUE(FiuCtrl(fifo_, child.pid(), "disable name=worker/cut-off"));
  ASSERT_TRUE(WaitUntil([&] { return NodeOf(1, victim).health() == v1::NODE_HEALTH_READY; },
                        seconds(20)));
  grpc::Status s = CreateVm("after-heal", "worker=" + std::to_string(victim));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitUntil([&] { return Running("after-heal", victim); }, seconds(20))) << child.Log();
  EXPECT_NE(child.Log().find("resumed from version"), std::string::npos)
      << "the stream should resume with a diff from the server it had";

  const auto events = ReadRecord(record_);
  for (const RecordEvent& e : events) {
    EXPECT_FALSE(e.node == victim && e.what == "start" && e.at >= cut_at && e.vm != "after-heal")
        << e.vm << " was started again on the fenced worker";
  }
  const auto iv = Intervals(events, {});
  EXPECT_EQ(Overlaps(iv), "");
  EXPECT_EQ(NotAliveOnce(iv, NumberedVms(kVms)), "");
}
#endif

// Runs a worker expected to exit; returns its exit code and log.
std::pair<int, std::string> RunToExit(std::vector<std::string> args, const std::string& log) {
  Child c(args, log);
  int code = c.Wait(seconds(30));
  return {code, c.Log()};
}

TEST_F(WorkerCluster, BadFlagsAndRefusalsSayWhatToChange) {
  const std::string log = dir_.path() + "/bad.log";
  const std::string token = cluster_->JoinToken("worker");
  auto base = [&](uint64_t id, const std::string& data_dir) {
    return std::vector<std::string>{BlixardBin(), "node", "--role", "worker", "--id", std::to_string(id),
                                    "--bind", cluster_->FreshAddr(), "--data-dir", data_dir,
                                    "--backend", "fake", "--token", token};
  };
  {  // no --join
    auto [code, out] = RunToExit(base(21, cluster_->FreshDataDir()), log + "1");
    EXPECT_EQ(code, 2);
    EXPECT_NE(out.find("a worker needs --join"), std::string::npos) << out;
  }
  {  // nothing listens there
    auto args = base(21, cluster_->FreshDataDir());
    args.insert(args.end(), {"--join", cluster_->FreshAddr(), "--join-timeout", "2"});
    auto [code, out] = RunToExit(args, log + "2");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("could not get a certificate"), std::string::npos) << out;
  }
  {  // its data dir belongs to another cluster
    const std::string dir = cluster_->FreshDataDir();
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/cluster-id") << "another-cluster\n";
    auto args = base(21, dir);
    args.insert(args.end(), {"--join", cluster_->Addr(2)});
    auto [code, out] = RunToExit(args, log + "3");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("belongs to cluster another-cluster"), std::string::npos) << out;
  }
  {  // its --bind is taken (a worker serves vm logs and pause there)
    auto args = base(21, cluster_->FreshDataDir());
    *(std::find(args.begin(), args.end(), "--bind") + 1) = cluster_->Addr(1);
    args.insert(args.end(), {"--join", cluster_->Addr(2)});
    auto [code, out] = RunToExit(args, log + "6");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("cannot listen on " + cluster_->Addr(1)), std::string::npos) << out;
  }
  {  // a server's id
    auto args = base(2, cluster_->FreshDataDir());
    args.insert(args.end(), {"--join", cluster_->Addr(1)});
    auto [code, out] = RunToExit(args, log + "4");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("node id 2 is a server"), std::string::npos) << out;
  }
  {  // another worker's id at another address
    auto args = base(11, cluster_->FreshDataDir());
    args.insert(args.end(), {"--join", cluster_->Addr(3)});
    auto [code, out] = RunToExit(args, log + "5");
    EXPECT_EQ(code, 1);
    EXPECT_NE(out.find("node id 11 is already registered at " + workers_[11].addr), std::string::npos)
        << out;
  }
}

}  // namespace
}  // namespace blixard::testing
