// WorkerLink against the servers' WatchAssignments (api/assignment_streams.h),
// in process: a one-member node (in-memory log), WorkerService on a loopback
// port, and two workers through WorkerLink.
#include "daemon/worker_link.h"

#include <gtest/gtest.h>

#include "api/assignment_streams.h"
#include "api/worker_service.h"
#include "rpc/channels.h"
#include "rpc/servers.h"
#include "state/commands.h"
#include "storage/mem_log_store.h"
#include "support/process.h"

namespace blixard::daemon {
namespace {

using node::Clock;

// Every wait here ends within 20 s.
bool WaitUntil(const std::function<bool()>& ok) { return blixard::testing::WaitUntil(ok, std::chrono::seconds(20)); }

class AssignmentStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node::NodeConfig nc;
    nc.id = 1;
    nc.address = "127.0.0.1:1";  // not dialled: one member
    auto n = node::Node::Start(nc, std::make_unique<storage::MemLogStore>(), Clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(*n);
    ASSERT_TRUE(node_->ReadBarrier(Clock::now() + std::chrono::seconds(10)).ok());
    service_ = std::make_unique<api::WorkerServiceImpl>(*node_);
    auto started = rpc::StartServer("127.0.0.1:0", {service_.get()}, rpc::ServerOptions::Member(16 << 20));
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started->server);
    addr_ = "127.0.0.1:" + std::to_string(started->port);
    // Some entry (the leader's first) is applied before the workers register.
    ASSERT_TRUE(WaitUntil([&] {
      node_->Read([&](const state::ClusterState& st) { before_workers_ = st.applied_index(); });
      return before_workers_ > 0;
    }));
    for (uint64_t id : {11, 12}) {
      auto link = std::make_unique<WorkerLink>(id, std::vector<std::string>{addr_}, "");
      v1::Node offer;
      offer.set_address("127.0.0.2:" + std::to_string(id));
      offer.mutable_capacity()->set_vcpus(64);
      offer.mutable_capacity()->set_memory_mib(65536);
      (*offer.mutable_labels())["worker"] = std::to_string(id);
      ASSERT_TRUE(link->Register(offer, Clock::now() + std::chrono::seconds(10)).ok());
      WorkerLink* l = link.get();
      link->Watch([] {});
      ASSERT_TRUE(WaitUntil([&] { return l->Placed().has_value(); }));
      links_[id] = std::move(link);
    }
  }
  void TearDown() override {
    for (auto& [id, l] : links_) l->Stop();
    if (server_) server_->Shutdown();
    server_.reset();
    service_.reset();
    if (node_) node_->Stop();
  }

  void CreateOn(const std::string& name, uint64_t worker) {
    v1::VmSpec spec;
    spec.set_name(name);
    spec.set_vcpus(1);
    spec.set_memory_mib(64);
    spec.add_constraints("worker=" + std::to_string(worker));
    auto r = node_->Propose(state::MakeCreateVm(spec, true, 1), Clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(r.ok() && r->status.ok());
  }
  bool Holds(uint64_t worker, const std::string& name) {
    auto placed = links_[worker]->Placed();
    if (!placed) return false;
    for (const auto& vm : *placed) {
      if (vm.spec().name() == name) return true;
    }
    return false;
  }

  std::unique_ptr<node::Node> node_;
  std::unique_ptr<api::WorkerServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string addr_;
  // An applied index from before any worker registered: no update to a
  // worker ever carried it (a stream starts at or after its registration).
  uint64_t before_workers_ = 0;
  std::map<uint64_t, std::unique_ptr<WorkerLink>> links_;
};

TEST_F(AssignmentStreamsTest, APlacementReachesItsWorkerAsADiffAndTheOtherWorkersSetIsNotRead) {
  const uint64_t reads12 = service_->assignment_set_reads(12);
  for (int i = 0; i < 5; ++i) {
    const std::string name = "vm-" + std::to_string(i);
    CreateOn(name, 11);
    ASSERT_TRUE(WaitUntil([&] { return Holds(11, name); })) << name;
  }
  // One stream each, opened once with a full set; the rest came as diffs,
  // each sent when the change was applied (no polling to wait for).
  EXPECT_EQ(links_[11]->streams_opened(), 1u);
  EXPECT_EQ(links_[11]->full_sets(), 1u);
  EXPECT_GE(service_->assignment_set_reads(11), 5u);
  EXPECT_TRUE(links_[12]->Placed()->empty());
  EXPECT_EQ(service_->assignment_set_reads(12), reads12) << "worker 12's VMs never changed";
  // Its stream still learns that the state moved on (progress), without a read.
  const uint64_t applied = node_->GetStatus().applied_index;
  EXPECT_TRUE(WaitUntil([&] { return links_[12]->applied_index() >= applied; }));
  EXPECT_EQ(service_->assignment_set_reads(12), reads12);
}

TEST_F(AssignmentStreamsTest, AStreamOpenedFromAKnownVersionStartsWithADiffFromIt) {
  CreateOn("a", 11);
  ASSERT_TRUE(WaitUntil([&] { return Holds(11, "a"); }));
  const uint64_t held = links_[11]->version();  // what the worker holds, as this server sent it
  CreateOn("b", 11);
  ASSERT_TRUE(WaitUntil([&] { return Holds(11, "b"); }));

  // A reconnect: a stream from the version held before "b".
  auto stub = v1::WorkerService::NewStub(rpc::NewChannel(addr_, {}));
  grpc::ClientContext ctx;
  v1::WatchAssignmentsRequest req;
  req.set_cluster_id(links_[11]->cluster_id());
  req.set_node_id(11);
  req.set_from_version(held);
  auto reader = stub->WatchAssignments(&ctx, req);
  v1::AssignmentUpdate u;
  ASSERT_TRUE(reader->Read(&u));
  EXPECT_FALSE(u.full());
  EXPECT_EQ(u.base_version(), held);
  ASSERT_EQ(u.vms_size(), 1);
  EXPECT_EQ(u.vms(0).spec().name(), "b");
  ctx.TryCancel();
  reader->Finish();

  // A version this server never sent to worker 11 gets the full set. (Not
  // held - 1: an empty progress update may have been sent at that index.)
  grpc::ClientContext ctx2;
  req.set_from_version(before_workers_);
  auto full = stub->WatchAssignments(&ctx2, req);
  ASSERT_TRUE(full->Read(&u));
  EXPECT_TRUE(u.full());
  EXPECT_EQ(u.vms_size(), 2);
  ctx2.TryCancel();
  full->Finish();
}

TEST_F(AssignmentStreamsTest, AStreamCatchingUpIsLookedAtOnItsOwnTimerAndTheIdleStreamsAreNot) {
  auto applied_now = [&] {
    uint64_t a = 0;
    node_->Read([&](const state::ClusterState& st) { a = st.applied_index(); });
    return a;
  };
  const uint64_t applied = applied_now();
  // Worker 12 has been told everything: its stream owes no progress, so at
  // most the look after its last write (WriteDone) is still to come.
  ASSERT_TRUE(WaitUntil([&] { return links_[12]->applied_index() >= applied; }));
  const uint64_t looks12 = service_->assignment_looks(12);
  const uint64_t looks11 = service_->assignment_looks(11);

  // Worker 11 resumes from a version this server has not reached: its
  // stream is looked at every kProgressEvery / 2 until it catches up.
  auto stub = v1::WorkerService::NewStub(rpc::NewChannel(addr_, {}));
  v1::WatchAssignmentsRequest req;
  req.set_cluster_id(links_[11]->cluster_id());
  req.set_node_id(11);
  req.set_from_version(applied + 1000);
  grpc::ClientContext ctx;
  auto reader = stub->WatchAssignments(&ctx, req);
  EXPECT_TRUE(WaitUntil([&] { return service_->assignment_looks(11) >= looks11 + 6; }));
  // Nothing was written meanwhile (one member, no controllers), so worker
  // 12's stream was not looked at on those timer passes.
  EXPECT_EQ(applied_now(), applied);
  EXPECT_LE(service_->assignment_looks(12), looks12 + 1);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(AssignmentStreamsTest, AStreamAheadOfThisServerWaitsAndBadRequestsAreRefused) {
  auto stub = v1::WorkerService::NewStub(rpc::NewChannel(addr_, {}));
  v1::WatchAssignmentsRequest req;
  req.set_cluster_id(links_[11]->cluster_id());
  req.set_node_id(11);
  req.set_from_version(node_->GetStatus().applied_index + 1000);  // this server has not got there
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  auto reader = stub->WatchAssignments(&ctx, req);
  v1::AssignmentUpdate u;
  EXPECT_FALSE(reader->Read(&u)) << "never a set older than the worker's";
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  grpc::ClientContext bad;
  req.set_node_id(0);
  EXPECT_EQ(stub->WatchAssignments(&bad, req)->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext other;
  req.set_node_id(11);
  req.set_cluster_id("another-cluster");
  EXPECT_EQ(stub->WatchAssignments(&other, req)->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace blixard::daemon
