#include "vmm/vm_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace blixard::vmm {
namespace {

VmConfig Valid() {
  VmConfig c;
  c.name = "web-1";
  c.vcpus = 1;
  c.memory_mib = 128;
  return c;
}

TEST(VmConfig, NamesThatCanBeADirectory) {
  EXPECT_TRUE(IsValidVmName("web-1"));
  EXPECT_TRUE(IsValidVmName("a.b_c"));
  EXPECT_FALSE(IsValidVmName(""));
  EXPECT_FALSE(IsValidVmName(".."));
  EXPECT_FALSE(IsValidVmName("-x"));
  EXPECT_FALSE(IsValidVmName("a/b"));
  EXPECT_FALSE(IsValidVmName(std::string(64, 'a')));
}

TEST(VmConfig, MemoryBelowTheMinimumIsRejectedWithTheMinimum) {
  auto c = Valid();
  c.memory_mib = 8;
  Status s = ValidateVmConfig(c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), testing::HasSubstr("at least 16 MiB"));
  c.memory_mib = 16;  // too little for most kernels: that shows at boot
  EXPECT_TRUE(ValidateVmConfig(c).ok());
}

TEST(VmConfig, PublishNeedsUserNetworkAndUniqueHostPorts) {
  auto c = Valid();
  PortForward p;
  p.host_port = 8080;
  p.guest_port = 80;
  c.net.publish = {p};
  EXPECT_EQ(ValidateVmConfig(c).code(), StatusCode::kInvalidArgument);
  c.net.mode = NetworkConfig::Mode::kUser;
  EXPECT_TRUE(ValidateVmConfig(c).ok());
  c.net.publish.push_back(p);
  EXPECT_THAT(ValidateVmConfig(c).message(), testing::HasSubstr("published twice"));
}

TEST(VmConfig, TapNeedsADevice) {
  auto c = Valid();
  c.net.mode = NetworkConfig::Mode::kTap;
  EXPECT_EQ(ValidateVmConfig(c).code(), StatusCode::kInvalidArgument);
}

TEST(VmConfig, JsonRoundTrip) {
  auto c = Valid();
  c.kernel = "/k";
  c.initrd = "/i";
  c.cmdline = "ip=dhcp";
  c.disks = {"/a.img"};
  c.net.mode = NetworkConfig::Mode::kUser;
  PortForward p;
  p.protocol = PortForward::Protocol::kUdp;
  p.host_port = 5353;
  p.guest_port = 53;
  c.net.publish = {p};
  c.ready_pattern = "READY";
  c.shares = {{"/srv/data", "data", "/mnt/data"}};
  c.labels = {{"microvm.hypervisor", "firecracker"}, {"tier", "web"}};
  auto back = VmConfigFromJson(VmConfigToJson(c));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);
}

TEST(VmConfig, BadJsonIsCorruption) {
  auto r = VmConfigFromJson(nlohmann::json{{"name", "x"}});
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(VmConfig, TakesTheVcpusTheApiTakes) {
  VmConfig c = Valid();
  c.vcpus = 255;
  EXPECT_TRUE(ValidateVmConfig(c).ok());
  c.vcpus = 256;
  EXPECT_EQ(ValidateVmConfig(c).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace blixard::vmm
