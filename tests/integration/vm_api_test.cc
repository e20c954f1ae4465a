// VM records through the real gRPC API: happy paths and every rejection.
#include <gtest/gtest.h>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

class VmApi : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(d_.Start()); }

  grpc::Status Create(const v1::VmSpec& spec, v1::CreateVmResponse* resp = nullptr) {
    v1::CreateVmRequest req;
    *req.mutable_spec() = spec;
    req.set_start(true);
    v1::CreateVmResponse local;
    return d_.Vms()->CreateVm(Ctx().get(), req, resp ? resp : &local);
  }

  // Expects `s` to be `code` with a message containing every part.
  static void ExpectError(const grpc::Status& s, grpc::StatusCode code,
                          std::initializer_list<const char*> parts) {
    EXPECT_EQ(s.error_code(), code) << s.error_message();
    for (const char* p : parts) EXPECT_NE(s.error_message().find(p), std::string::npos) << s.error_message();
  }

  TestDaemon d_;
};

TEST_F(VmApi, CreateGetListStopStartDelete) {
  v1::CreateVmResponse created;
  ASSERT_TRUE(Create(Spec("web-1", 2, 256), &created).ok());
  EXPECT_EQ(created.vm().spec().name(), "web-1");
  EXPECT_EQ(created.vm().desired_state(), v1::DESIRED_STATE_RUNNING);
  EXPECT_EQ(created.vm().status().phase(), v1::VM_PHASE_PENDING);

  v1::GetVmRequest get;
  get.set_name("web-1");
  v1::VmResponse got;
  ASSERT_TRUE(d_.Vms()->GetVm(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.vm().spec().vcpus(), 2u);
  EXPECT_EQ(got.vm().spec().memory_mib(), 256u);

  v1::VmNameRequest name;
  name.set_name("web-1");
  v1::VmResponse stopped;
  ASSERT_TRUE(d_.Vms()->StopVm(Ctx().get(), name, &stopped).ok());
  EXPECT_EQ(stopped.vm().desired_state(), v1::DESIRED_STATE_STOPPED);
  v1::VmResponse started;
  ASSERT_TRUE(d_.Vms()->StartVm(Ctx().get(), name, &started).ok());
  EXPECT_EQ(started.vm().desired_state(), v1::DESIRED_STATE_RUNNING);
  EXPECT_GT(started.vm().generation(), stopped.vm().generation());

  v1::ListVmsResponse list;
  ASSERT_TRUE(d_.Vms()->ListVms(Ctx().get(), v1::ListVmsRequest(), &list).ok());
  ASSERT_EQ(list.vms_size(), 1);

  v1::DeleteVmResponse deleted;
  ASSERT_TRUE(d_.Vms()->DeleteVm(Ctx().get(), name, &deleted).ok());
  ExpectError(d_.Vms()->GetVm(Ctx().get(), get, &got), grpc::StatusCode::NOT_FOUND, {"web-1"});
}

TEST_F(VmApi, InvalidNamesAreRejectedWithTheRule) {
  for (const char* bad : {"", "Web-1", "-web", "web-", "web_1", "a.b",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    ExpectError(Create(Spec(bad)), grpc::StatusCode::INVALID_ARGUMENT, {"1-63"});
  }
}

TEST_F(VmApi, OutOfRangeSizesAreRejectedWithTheRange) {
  ExpectError(Create(Spec("a", 0)), grpc::StatusCode::INVALID_ARGUMENT, {"vcpus", "1-255"});
  ExpectError(Create(Spec("a", 256)), grpc::StatusCode::INVALID_ARGUMENT, {"vcpus", "1-255"});
  ExpectError(Create(Spec("a", 1, 15)), grpc::StatusCode::INVALID_ARGUMENT, {"memory", "16"});
  ExpectError(Create(Spec("a", 1, (1ull << 20) + 1)), grpc::StatusCode::INVALID_ARGUMENT,
              {"memory", "1 TiB"});
}

TEST_F(VmApi, RelativeHostPathsAreRejectedAtCreate) {
  v1::VmSpec spec = Spec("a");
  spec.set_kernel("vmlinuz");
  ExpectError(Create(spec), grpc::StatusCode::INVALID_ARGUMENT, {"kernel", "\"vmlinuz\"", "absolute path"});
  spec = Spec("a");
  spec.set_initrd("./initrd.img");
  ExpectError(Create(spec), grpc::StatusCode::INVALID_ARGUMENT, {"initrd", "absolute path"});
  spec = Spec("a");
  spec.add_disks("/data/ok.img");
  spec.add_disks("data/b.img");
  ExpectError(Create(spec), grpc::StatusCode::INVALID_ARGUMENT, {"disk", "data/b.img", "absolute path"});
}

TEST_F(VmApi, DuplicateNameIsAlreadyExists) {
  ASSERT_TRUE(Create(Spec("dup")).ok());
  ExpectError(Create(Spec("dup")), grpc::StatusCode::ALREADY_EXISTS, {"dup", "already exists"});
}

TEST_F(VmApi, UnknownNameIsNotFoundForEveryVerb) {
  v1::VmNameRequest name;
  name.set_name("ghost");
  v1::VmResponse r;
  v1::DeleteVmResponse dr;
  ExpectError(d_.Vms()->StartVm(Ctx().get(), name, &r), grpc::StatusCode::NOT_FOUND, {"ghost"});
  ExpectError(d_.Vms()->StopVm(Ctx().get(), name, &r), grpc::StatusCode::NOT_FOUND, {"ghost"});
  ExpectError(d_.Vms()->DeleteVm(Ctx().get(), name, &dr), grpc::StatusCode::NOT_FOUND, {"ghost"});
}

TEST_F(VmApi, OversizedRequestIsRefusedAndTheDaemonLives) {
  v1::VmSpec spec = Spec("big");
  spec.set_cmdline(std::string(20 << 20, 'x'));  // 20 MiB > the 16 MiB default limit
  grpc::Status s = Create(spec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(d_.child()->Running());
  EXPECT_TRUE(Create(Spec("small")).ok());
}

TEST_F(VmApi, DrainWithBadInputIsRejected) {
  auto nodes = v1::NodeService::NewStub(rpc::NewChannel(d_.addr(), {}));
  v1::DrainNodeRequest req;
  req.set_node_id(7);
  v1::DrainNodeResponse resp;
  ExpectError(nodes->DrainNode(Ctx().get(), req, &resp), grpc::StatusCode::NOT_FOUND, {"node 7 not found"});
  req.set_node_id(1);
  req.set_deadline_seconds(-1);
  ExpectError(nodes->DrainNode(Ctx().get(), req, &resp), grpc::StatusCode::INVALID_ARGUMENT,
              {"use 0 (none", "604800"});
  v1::SetClusterSettingRequest set;
  set.set_key("scheduler.strategy");
  set.set_value("random");
  v1::SetClusterSettingResponse set_resp;
  ExpectError(nodes->SetClusterSetting(Ctx().get(), set, &set_resp), grpc::StatusCode::INVALID_ARGUMENT,
              {"use binpack or spread"});
}

TEST_F(VmApi, JoinWithBadInputIsRejected) {
  v1::JoinClusterResponse jr;
  v1::JoinClusterRequest zero;
  zero.set_address("127.0.0.1:1");
  ExpectError(d_.Cluster()->JoinCluster(Ctx().get(), zero, &jr), grpc::StatusCode::INVALID_ARGUMENT,
              {"0"});
  v1::JoinClusterRequest no_addr;
  no_addr.set_node_id(2);
  ExpectError(d_.Cluster()->JoinCluster(Ctx().get(), no_addr, &jr),
              grpc::StatusCode::INVALID_ARGUMENT, {"address"});
  v1::JoinClusterRequest other;
  other.set_node_id(2);
  other.set_address("127.0.0.1:1");
  other.set_cluster_id("not-this-one");
  ExpectError(d_.Cluster()->JoinCluster(Ctx().get(), other, &jr),
              grpc::StatusCode::FAILED_PRECONDITION, {"not-this-one"});
}

}  // namespace
}  // namespace blixard::testing
