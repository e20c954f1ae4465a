#include "state/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "blixard/v1/state.pb.h"

namespace blixard::state {
namespace {

using ::testing::HasSubstr;

v1::VmSpec GoodSpec() {
  v1::VmSpec spec;
  spec.set_name("web-1");
  spec.set_vcpus(1);
  spec.set_memory_mib(256);
  return spec;
}

void ExpectInvalid(const Status& s, const std::string& wrong, const std::string& allowed) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr(wrong));
  EXPECT_THAT(s.message(), HasSubstr(allowed));
}

TEST(ValidateVmName, AcceptsDnsLabels) {
  for (const char* name : {"a", "web-1", "0", "a-b-c", "x1y2"}) {
    EXPECT_TRUE(ValidateVmName(name).ok()) << name;
  }
  EXPECT_TRUE(ValidateVmName(std::string(63, 'a')).ok());
}

TEST(ValidateVmName, RejectsWithWhatIsAllowed) {
  const std::string allowed = "use 1-63 lowercase letters, digits or '-'";
  for (const std::string& name :
       {std::string(""), std::string("Web_1"), std::string("-web"), std::string("web-"),
        std::string("web.1"), std::string(64, 'a'), std::string("we b"), std::string("é")}) {
    ExpectInvalid(ValidateVmName(name), "is invalid", allowed);
  }
  EXPECT_EQ(ValidateVmName("Web_1").message(),
            "vm name \"Web_1\" is invalid: use 1-63 lowercase letters, digits or '-', not "
            "starting or ending with '-'");
}

TEST(ValidateVmName, ShortensHugeNamesInMessages) {
  Status s = ValidateVmName(std::string(100000, 'X'));
  EXPECT_LT(s.message().size(), 300u);
  EXPECT_THAT(s.message(), HasSubstr("..."));
}

TEST(ValidateVmSpec, AcceptsAGoodSpec) { EXPECT_TRUE(ValidateVmSpec(GoodSpec()).ok()); }

TEST(ValidateVmSpec, RejectsBadName) {
  v1::VmSpec spec = GoodSpec();
  spec.set_name("Web_1");
  ExpectInvalid(ValidateVmSpec(spec), "\"Web_1\"", "1-63");
}

TEST(ValidateVmSpec, VcpusRange) {
  v1::VmSpec spec = GoodSpec();
  spec.set_vcpus(0);
  EXPECT_EQ(ValidateVmSpec(spec).message(), "vcpus 0 is out of range: use 1-255");
  spec.set_vcpus(256);
  ExpectInvalid(ValidateVmSpec(spec), "vcpus 256", "use 1-255");
  spec.set_vcpus(255);
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
}

TEST(ValidateVmSpec, MemoryRange) {
  v1::VmSpec spec = GoodSpec();
  spec.set_memory_mib(8);
  EXPECT_EQ(ValidateVmSpec(spec).message(),
            "memory 8 MiB is out of range: use 16-1048576 MiB (1 TiB)");
  spec.set_memory_mib(1048577);
  ExpectInvalid(ValidateVmSpec(spec), "memory 1048577 MiB", "16-1048576");
  spec.set_memory_mib(16);
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
  spec.set_memory_mib(1048576);
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
}

TEST(ValidateVmSpec, KernelInitrdCmdlineLengths) {
  v1::VmSpec spec = GoodSpec();
  spec.set_kernel(std::string(4097, 'k'));
  ExpectInvalid(ValidateVmSpec(spec), "kernel path is 4097 bytes", "at most 4096");
  spec = GoodSpec();
  spec.set_initrd(std::string(4097, 'i'));
  ExpectInvalid(ValidateVmSpec(spec), "initrd path is 4097 bytes", "at most 4096");
  spec = GoodSpec();
  spec.set_cmdline(std::string(4097, 'c'));
  ExpectInvalid(ValidateVmSpec(spec), "cmdline is 4097 bytes", "at most 4096");
  spec = GoodSpec();
  spec.set_cmdline("console=ttyS0\n");
  ExpectInvalid(ValidateVmSpec(spec), "control character", "printable");
  spec = GoodSpec();
  spec.set_kernel(std::string(4096, 'k'));
  spec.set_cmdline("console=ttyS0 quiet");
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
}

TEST(ValidateVmSpec, Disks) {
  v1::VmSpec spec = GoodSpec();
  spec.add_disks("");
  ExpectInvalid(ValidateVmSpec(spec), "disk path \"\"", "1-4096 printable");
  spec = GoodSpec();
  for (int i = 0; i < 17; ++i) spec.add_disks("/d" + std::to_string(i));
  ExpectInvalid(ValidateVmSpec(spec), "17 disks", "at most 16");
}

TEST(ValidateVmSpec, LabelKeys) {
  v1::VmSpec spec = GoodSpec();
  (*spec.mutable_labels())["app.kubernetes.io/Name_x-1"] = "ok";
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
  for (const std::string& key :
       {std::string(""), std::string(64, 'k'), std::string("a b"), std::string("a=b")}) {
    spec = GoodSpec();
    (*spec.mutable_labels())[key] = "v";
    ExpectInvalid(ValidateVmSpec(spec), "label key", "use 1-63 letters, digits, '.', '_', '/'");
  }
}

TEST(ValidateVmSpec, LabelValues) {
  v1::VmSpec spec = GoodSpec();
  (*spec.mutable_labels())["k"] = std::string(253, 'v');
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
  (*spec.mutable_labels())["k"] = std::string(254, 'v');
  ExpectInvalid(ValidateVmSpec(spec), "label \"k\" value", "at most 253 characters");
  (*spec.mutable_labels())["k"] = "a\tb";
  ExpectInvalid(ValidateVmSpec(spec), "label \"k\" value", "no control characters");
}

TEST(ValidateVmSpec, LabelCount) {
  v1::VmSpec spec = GoodSpec();
  for (int i = 0; i < 64; ++i) (*spec.mutable_labels())["k" + std::to_string(i)] = "v";
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
  (*spec.mutable_labels())["one-more"] = "v";
  ExpectInvalid(ValidateVmSpec(spec), "65 labels", "at most 64");
}

TEST(ValidateVmSpec, RestartPolicy) {
  v1::VmSpec spec = GoodSpec();
  spec.set_restart_policy(v1::RESTART_POLICY_ALWAYS);
  EXPECT_TRUE(ValidateVmSpec(spec).ok());
  spec.set_restart_policy(static_cast<v1::RestartPolicy>(42));
  ExpectInvalid(ValidateVmSpec(spec), "restart policy 42", "NEVER, ON_FAILURE or ALWAYS");
}

TEST(ValidateNode, Rules) {
  v1::Node node;
  node.set_id(1);
  node.set_address("127.0.0.1:7001");
  EXPECT_TRUE(ValidateNode(node).ok());
  node.set_id(0);
  ExpectInvalid(ValidateNode(node), "node id 0", "1 or more");
  node.set_id(1);
  node.set_address("");
  ExpectInvalid(ValidateNode(node), "address \"\"", "HOST:PORT");
  node.set_address("127.0.0.1:7001");
  node.set_role(static_cast<v1::NodeRole>(9));
  ExpectInvalid(ValidateNode(node), "role 9", "VOTER, STANDBY, LEARNER or WORKER");
  node.set_role(v1::NODE_ROLE_VOTER);
  node.set_health(static_cast<v1::NodeHealth>(9));
  ExpectInvalid(ValidateNode(node), "health 9", "READY, DOWN or DRAINING");
  node.set_health(v1::NODE_HEALTH_READY);
  (*node.mutable_labels())["bad key"] = "v";
  ExpectInvalid(ValidateNode(node), "node 1 label key", "use 1-63");
}

TEST(ValidateClusterId, Rules) {
  EXPECT_TRUE(ValidateClusterId("c-123").ok());
  ExpectInvalid(ValidateClusterId(""), "cluster id", "1-128 printable");
  ExpectInvalid(ValidateClusterId(std::string(129, 'c')), "cluster id", "1-128 printable");
}

TEST(ValidateNewVmSpec, RefusesAtCreateWhatTheVmLayerWouldRefuseAtStart) {
  v1::VmSpec spec = GoodSpec();
  EXPECT_TRUE(ValidateNewVmSpec(spec).ok());
  spec.set_vcpus(200);  // the VM layer takes what the API takes (vm_limits.h)
  EXPECT_TRUE(ValidateNewVmSpec(spec).ok());

  spec = GoodSpec();
  spec.set_cmdline("console=ttyS0 msg=\"hi\"");
  ExpectInvalid(ValidateNewVmSpec(spec), "kernel cmdline", "single quotes");
  EXPECT_TRUE(ValidateVmSpec(spec).ok());  // a record already in the log stays valid

  spec = GoodSpec();
  spec.add_disks("/var/lib/disk,format=raw.img");
  ExpectInvalid(ValidateNewVmSpec(spec), "disk path", "rename the file");

  spec = GoodSpec();
  spec.set_initrd("boot/initrd.img");
  ExpectInvalid(ValidateNewVmSpec(spec), "initrd path", "absolute path");

  v1::Command cmd;
  *cmd.mutable_create_vm()->mutable_spec() = spec;
  EXPECT_EQ(ValidateNewCommand(cmd).code(), StatusCode::kInvalidArgument);
  cmd.Clear();
  cmd.mutable_delete_vm()->set_name("anything");
  EXPECT_TRUE(ValidateNewCommand(cmd).ok());
}

}  // namespace
}  // namespace blixard::state
