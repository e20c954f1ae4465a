#include "vmm/qemu_argv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace blixard::vmm {
namespace {

QemuArgvInput BaseInput() {
  QemuArgvInput in;
  in.qemu_binary = "/usr/bin/qemu-system-x86_64";
  in.config.name = "web-1";
  in.config.vcpus = 2;
  in.config.memory_mib = 256;
  in.config.kernel = "/g/vmlinuz";
  in.config.initrd = "/g/initrd.img";
  in.runtime_dir = "/run/blx/web-1";
  in.accel = Accel::kTcg;
  in.tsc_khz = 2596132;
  return in;
}

TEST(QemuArgv, MinimalTcgVmMatchesTheMeasuredCommandLine) {
  EXPECT_EQ(ShellJoin(BuildQemuArgv(BaseInput())),
            "/usr/bin/qemu-system-x86_64 -M microvm -accel tcg -m 256M -smp 2 -nodefaults -no-user-config "
            "-display none -serial file:/run/blx/web-1/console.log "
            "-qmp unix:/run/blx/web-1/qmp.sock,server=on,wait=off -pidfile /run/blx/web-1/qemu.pid "
            "-kernel /g/vmlinuz -initrd /g/initrd.img -no-reboot "
            "-append 'console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=2596132'");
}

TEST(QemuArgv, UserCmdlineIsAppendedAfterTheBaseArguments) {
  auto in = BaseInput();
  in.config.cmdline = "ip=dhcp blixard.httpd=80";
  auto argv = BuildQemuArgv(in);
  auto it = std::find(argv.begin(), argv.end(), "-append");
  ASSERT_NE(it, argv.end());
  EXPECT_EQ(*(it + 1), "console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=2596132 ip=dhcp blixard.httpd=80");
}

TEST(QemuArgv, KvmUsesHostCpuAndNoTscWhenUnknown) {
  auto in = BaseInput();
  in.accel = Accel::kKvm;
  in.tsc_khz = 0;
  auto argv = BuildQemuArgv(in);
  EXPECT_THAT(argv, testing::Contains("kvm"));
  EXPECT_THAT(argv, testing::Not(testing::Contains("tcg")));
  auto cpu = std::find(argv.begin(), argv.end(), "-cpu");
  ASSERT_NE(cpu, argv.end());
  EXPECT_EQ(*(cpu + 1), "host");
  EXPECT_EQ(argv.back(), "console=ttyS0 quiet panic=-1 reboot=t");
}

TEST(QemuArgv, NoInitrdMeansNoInitrdFlag) {
  auto in = BaseInput();
  in.config.initrd.clear();
  EXPECT_THAT(BuildQemuArgv(in), testing::Not(testing::Contains("-initrd")));
}

TEST(QemuArgv, DisksBecomeVirtioBlkDevicesInOrder) {
  auto in = BaseInput();
  in.config.disks = {"/d/root.img", "/d/data.img"};
  std::string cmd = ShellJoin(BuildQemuArgv(in));
  EXPECT_THAT(cmd, testing::EndsWith(
                       "-drive id=disk0,file=/d/root.img,format=raw,if=none -device virtio-blk-device,drive=disk0 "
                       "-drive id=disk1,file=/d/data.img,format=raw,if=none -device virtio-blk-device,drive=disk1"));
}

TEST(QemuArgv, UserNetworkForwardsPublishedPorts) {
  auto in = BaseInput();
  in.config.net.mode = NetworkConfig::Mode::kUser;
  PortForward http;
  http.host_port = 8080;
  http.guest_port = 80;
  PortForward dns;
  dns.protocol = PortForward::Protocol::kUdp;
  dns.host_address = "0.0.0.0";
  dns.host_port = 5353;
  dns.guest_port = 53;
  in.config.net.publish = {http, dns};
  std::string cmd = ShellJoin(BuildQemuArgv(in));
  EXPECT_THAT(cmd, testing::EndsWith(
                       "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53 "
                       "-device virtio-net-device,netdev=net0"));
}

TEST(QemuArgv, TapNetworkWithMac) {
  auto in = BaseInput();
  in.config.net.mode = NetworkConfig::Mode::kTap;
  in.config.net.tap = "blxtap3";
  in.config.net.mac = "52:54:00:12:34:56";
  std::string cmd = ShellJoin(BuildQemuArgv(in));
  EXPECT_THAT(cmd, testing::EndsWith(
                       "-netdev tap,id=net0,ifname=blxtap3,script=no,downscript=no "
                       "-device virtio-net-device,netdev=net0,mac=52:54:00:12:34:56"));
}

TEST(QemuArgv, NoNetworkMeansNoNetdev) {
  EXPECT_THAT(BuildQemuArgv(BaseInput()), testing::Not(testing::Contains("-netdev")));
}

TEST(QemuArgv, ShellJoinQuotesWhatTheShellWouldSplit) {
  EXPECT_EQ(ShellJoin({"a", "b c", "it's", ""}), "a 'b c' 'it'\\''s' ''");
}

}  // namespace
}  // namespace blixard::vmm
