#include "vmm/microvm_flake.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace blixard::vmm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

MicrovmFlakeInput Minimal() {
  MicrovmFlakeInput in;
  in.config.name = "web-1";
  in.config.vcpus = 2;
  in.config.memory_mib = 256;
  in.runtime_dir = "/var/lib/blixard/vms/web-1";
  return in;
}

TEST(MicrovmFlake, MinimalVmSetsTheMicrovmOptionsFromTheConfig) {
  std::string flake = BuildMicrovmFlake(Minimal());
  EXPECT_THAT(flake, HasSubstr("inputs.nixpkgs.url = \"github:NixOS/nixpkgs/nixos-24.05\";"));
  EXPECT_THAT(flake, HasSubstr("inputs.microvm.url = \"github:astro/microvm.nix\";"));
  EXPECT_THAT(flake, HasSubstr("inputs.microvm.inputs.nixpkgs.follows = \"nixpkgs\";"));
  EXPECT_THAT(flake, HasSubstr("nixosConfigurations.\"web-1\" = nixpkgs.lib.nixosSystem {"));
  EXPECT_THAT(flake, HasSubstr("microvm.nixosModules.microvm\n"));
  EXPECT_THAT(flake, HasSubstr("hypervisor = \"qemu\";"));
  EXPECT_THAT(flake, HasSubstr("vcpu = 2;"));
  EXPECT_THAT(flake, HasSubstr("mem = 256;"));
  EXPECT_THAT(flake, HasSubstr("socket = \"/var/lib/blixard/vms/web-1/control.sock\";"));
  EXPECT_THAT(flake, HasSubstr("volumes = [];"));
  EXPECT_THAT(flake, HasSubstr("shares = [];"));
  EXPECT_THAT(flake, HasSubstr("interfaces = [];"));
  EXPECT_THAT(flake, HasSubstr("forwardPorts = [];"));
  EXPECT_THAT(flake, HasSubstr("boot.kernelParams = [];"));
  EXPECT_THAT(flake, HasSubstr("script = \"echo BLIXARD-GUEST-READY > /dev/console\";"));
  EXPECT_THAT(flake, HasSubstr("packages.\"x86_64-linux\".default =\n"
                               "      self.nixosConfigurations.\"web-1\".config.microvm.declaredRunner;"));
}

TEST(MicrovmFlake, DisksSharesNetworkAndCmdlineBecomeTheirOptions) {
  MicrovmFlakeInput in = Minimal();
  in.hypervisor = "cloud-hypervisor";
  in.config.disks = {"/data/a.img", "/data/b.img"};
  in.config.shares = {{"/srv/www", "www", "/var/www"}};
  in.config.net.mode = NetworkConfig::Mode::kTap;
  in.config.net.tap = "blx-web-1";
  in.config.net.mac = "52:54:00:12:34:56";
  in.config.cmdline = "ip=10.0.0.2::10.0.0.1:255.255.255.0:web-1:eth0:off  loglevel=4";
  std::string flake = BuildMicrovmFlake(in);
  EXPECT_THAT(flake, HasSubstr("hypervisor = \"cloud-hypervisor\";"));
  EXPECT_THAT(flake, HasSubstr("{ image = \"/data/a.img\"; mountPoint = null; autoCreate = false; size = 0; }\n"
                               "              { image = \"/data/b.img\";"));
  EXPECT_THAT(flake, HasSubstr("{ proto = \"9p\"; tag = \"www\"; source = \"/srv/www\"; mountPoint = \"/var/www\"; }"));
  EXPECT_THAT(flake, HasSubstr("{ type = \"tap\"; id = \"blx-web-1\"; mac = \"52:54:00:12:34:56\"; }"));
  EXPECT_THAT(flake, HasSubstr("boot.kernelParams = [ \"ip=10.0.0.2::10.0.0.1:255.255.255.0:web-1:eth0:off\" "
                               "\"loglevel=4\" ];"));
}

TEST(MicrovmFlake, UserNetworkForwardsPublishedPortsWithADerivedMac) {
  MicrovmFlakeInput in = Minimal();
  in.config.net.mode = NetworkConfig::Mode::kUser;
  PortForward p;
  p.host_port = 8080;
  p.guest_port = 80;
  in.config.net.publish = {p};
  std::string flake = BuildMicrovmFlake(in);
  EXPECT_THAT(flake, HasSubstr("{ type = \"user\"; id = \"net0\"; mac = \"" + DerivedMac("web-1") + "\"; }"));
  EXPECT_THAT(flake, HasSubstr("{ from = \"host\"; proto = \"tcp\"; host.address = \"127.0.0.1\"; host.port = 8080; "
                               "guest.port = 80; }"));
}

TEST(MicrovmFlake, DerivedMacIsLocallyAdministeredAndStable) {
  EXPECT_EQ(DerivedMac("web-1"), DerivedMac("web-1"));
  EXPECT_NE(DerivedMac("web-1"), DerivedMac("web-2"));
  EXPECT_EQ(DerivedMac("web-1").substr(0, 3), "02:");
  EXPECT_EQ(DerivedMac("web-1").size(), 17u);
}

TEST(MicrovmFlake, NixStringsEscapeQuotesBackslashesAndInterpolation) {
  EXPECT_EQ(NixString("plain"), "\"plain\"");
  EXPECT_EQ(NixString("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(NixString("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(NixString("${pkgs.evil}"), "\"\\${pkgs.evil}\"");
  EXPECT_EQ(NixString("cost $5"), "\"cost $5\"");
  EXPECT_EQ(NixString("a\nb"), "\"a\\nb\"");
  // A user's kernel argument cannot inject Nix code.
  MicrovmFlakeInput in = Minimal();
  in.config.cmdline = "x=${builtins.abort}";
  EXPECT_THAT(BuildMicrovmFlake(in), Not(HasSubstr("\"x=${")));
}

TEST(MicrovmFlake, TheHypervisorLabelOverridesTheNodeDefault) {
  VmConfig c;
  c.name = "a";
  EXPECT_EQ(MicrovmHypervisorFor(c, "qemu"), "qemu");
  c.labels[kMicrovmHypervisorLabel] = "firecracker";
  EXPECT_EQ(MicrovmHypervisorFor(c, "qemu"), "firecracker");
}

TEST(MicrovmFlake, WhatTheFlakeCannotExpressIsRefusedWithWhatToChange) {
  VmConfig c;
  c.name = "a";
  EXPECT_TRUE(ValidateForMicrovm(c, "qemu").ok());
  EXPECT_TRUE(ValidateForMicrovm(c, "firecracker").ok());

  Status s = ValidateForMicrovm(c, "vmware");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("use qemu, cloud-hypervisor, firecracker"));

  VmConfig kernel = c;
  kernel.kernel = "/boot/vmlinuz";
  EXPECT_THAT(ValidateForMicrovm(kernel, "qemu").message(), HasSubstr("leave --kernel and --initrd out"));

  VmConfig user = c;
  user.net.mode = NetworkConfig::Mode::kUser;
  EXPECT_TRUE(ValidateForMicrovm(user, "kvmtool").ok());
  EXPECT_THAT(ValidateForMicrovm(user, "firecracker").message(), HasSubstr("use a tap network"));
  user.net.publish = {PortForward{PortForward::Protocol::kTcp, "127.0.0.1", 8080, 80}};
  EXPECT_THAT(ValidateForMicrovm(user, "kvmtool").message(), HasSubstr("published ports need hypervisor qemu"));

  VmConfig share = c;
  share.shares = {{"relative/dir", "t", "/mnt"}};
  EXPECT_THAT(ValidateForMicrovm(share, "qemu").message(), HasSubstr("absolute paths"));
}

}  // namespace
}  // namespace blixard::vmm
