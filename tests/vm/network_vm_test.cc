// VM networking through the daemon and the CLI, with real qemu guests (TCG):
// user networking with published ports, readiness by TCP port, conflicting
// and busy host ports, and bridge networking inside a network namespace
// made for the test (its bridge, taps and guest never touch the host's
// network; removed also on failure).
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

namespace fs = std::filesystem;
constexpr char kIp[] = "/usr/sbin/ip";

TestDaemon::Options Node(std::string backend = "qemu") {
  TestDaemon::Options o;
  o.backend = std::move(backend);
  o.extra_args = {"--guest-dir", BLIXARD_GUEST_DIR_DEFAULT};
  return o;
}

v1::Vm Get(TestDaemon& d, const std::string& name) {
  v1::GetVmRequest req;
  req.set_name(name);
  v1::VmResponse resp;
  d.Vms()->GetVm(Ctx(5).get(), req, &resp);
  return resp.vm();
}

// GET / from ip:port over HTTP/1.0, from inside network namespace `netns`
// when given (a thread of our own joins it, so the test process stays out).
std::string HttpGet(const std::string& ip, int port, const std::string& netns = "") {
  std::string out;
  std::thread t([&] {
    if (!netns.empty()) {
      int nsfd = open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) return;
      close(nsfd);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    const std::string req = "GET / HTTP/1.0\r\n\r\n";
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[1024];
      for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  });
  t.join();
  return out;
}

// SIGKILLs every qemu the daemon in `data_dir` started, so a failed test
// leaves no guest behind.
struct QemuReaper {
  std::string data_dir;
  ~QemuReaper() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data_dir + "/vms", ec)) {
      std::ifstream f(e.path() / "qemu.pid");
      int pid = 0;
      if (f >> pid && pid > 0) kill(pid, SIGKILL);
    }
  }
};

TEST(NetworkVm, AUserNetworkVmCreatedWithTheCliAnswersOnItsPublishedPortAndIsReadyByTcp) {
  TestDaemon d(Node());
  ASSERT_TRUE(d.Start());
  QemuReaper reaper{d.data_dir()};
  const std::string port = std::to_string(FreeTcpPort());
  CommandResult created = d.Cli({"vm", "create", "web", "--publish", port + ":80", "--ready-port", "80",
                                 "--cmdline", "blixard.httpd=80", });
  ASSERT_EQ(created.exit_code, 0) << created.err << d.log();
  ASSERT_TRUE(WaitUntil([&] { return Get(d, "web").status().phase() == v1::VM_PHASE_READY; },
                        std::chrono::seconds(90)))
      << Get(d, "web").ShortDebugString() << d.log();
  EXPECT_NE(HttpGet("127.0.0.1", std::stoi(port)).find("blixard-guest"), std::string::npos);

  CommandResult shown = d.Cli({"vm", "get", "web"});
  EXPECT_NE(shown.out.find("127.0.0.1:" + port + "->80/tcp"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("tcp port 80 answers"), std::string::npos) << shown.out;
  CommandResult listed = d.Cli({"vm", "list", "-o", "json"});
  auto vms = nlohmann::json::parse(listed.out)["vms"];
  ASSERT_EQ(vms.size(), 1u) << listed.out;
  EXPECT_EQ(vms[0]["spec"]["publish"][0]["host_port"], std::stoi(port)) << listed.out;
  EXPECT_EQ(vms[0]["spec"]["network"], "NETWORK_MODE_UNSPECIFIED") << "user networking is the default";

  // Another VM may not publish the same host port, wherever it would run.
  CommandResult clash = d.Cli({"vm", "create", "web-2", "--publish", port + ":8080"});
  EXPECT_EQ(clash.exit_code, 1);
  EXPECT_NE(clash.err.find("FAILED_PRECONDITION"), std::string::npos) << clash.err;
  EXPECT_NE(clash.err.find("already published by vm \"web\""), std::string::npos) << clash.err;

  ASSERT_EQ(d.Cli({"vm", "delete", "web"}).exit_code, 0);
  ASSERT_TRUE(WaitUntil([&] { return !fs::exists(d.data_dir() + "/vms/web"); }, std::chrono::seconds(60)))
      << d.log();
  CommandResult reused = d.Cli({"vm", "create", "web-2", "--publish", port + ":8080", "--stopped"});
  EXPECT_EQ(reused.exit_code, 0) << "the port is free again once its VM is deleted: " << reused.err;
}

TEST(NetworkVm, AHostPortBusyOnTheNodeFailsTheVmNamingThePort) {
  TestDaemon d(Node());
  ASSERT_TRUE(d.Start());
  QemuReaper reaper{d.data_dir()};
  // Something else on the host listens on the port.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  CommandResult created = d.Cli({"vm", "create", "busy", "--publish", port + ":80"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  v1::Vm vm;
  EXPECT_TRUE(WaitUntil(
      [&] {
        vm = Get(d, "busy");
        return vm.status().phase() == v1::VM_PHASE_FAILED;
      },
      std::chrono::seconds(30)))
      << d.log();
  EXPECT_NE(vm.status().message().find("127.0.0.1:" + port), std::string::npos) << vm.status().message();
  close(fd);
}

// A network namespace of the test's own; deleted (with the bridge and taps
// in it) on destruction.
class Netns {
 public:
  Netns() : name_("blx-net-" + std::to_string(getpid())) {
    RunCommand({kIp, "netns", "del", name_});  // a leftover of a killed run
    ok_ = RunCommand({kIp, "netns", "add", name_}).exit_code == 0 &&
          RunCommand({kIp, "-n", name_, "link", "set", "lo", "up"}).exit_code == 0;
  }
  ~Netns() { RunCommand({kIp, "netns", "del", name_}); }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  // Interfaces attached to `bridge`, one per line.
  std::string Ports(const std::string& bridge) const {
    return RunCommand({kIp, "-n", name_, "-o", "link", "show", "master", bridge}).out;
  }

 private:
  std::string name_;
  bool ok_ = false;
};

TEST(NetworkVm, ABridgeVmAnswersOnItsAllocatedAddressAndDeleteRemovesItsTap) {
  if (geteuid() != 0 || !fs::exists(kIp) || !fs::exists("/dev/net/tun")) {
    GTEST_SKIP() << "bridge networking needs root, iproute2 and /dev/net/tun";
  }
  Netns ns;
  ASSERT_TRUE(ns.ok()) << "ip netns add failed";
  const std::string bridge = "blxbr" + std::to_string(getpid() % 100000);
  TestDaemon::Options o = Node();
  o.wrapper = {kIp, "netns", "exec", ns.name()};
  o.extra_args.insert(o.extra_args.end(), {"--bridge", bridge, "--vm-subnet", "10.78.0.0/24"});
  TestDaemon d(o);
  ASSERT_TRUE(d.Start());
  QemuReaper reaper{d.data_dir()};

  // Ready by TCP: the agent connects to the guest's own address.
  CommandResult created = d.Cli({"vm", "create", "br-1", "--network", "bridge", "--ready-port", "80",
                                 "--cmdline", "blixard.httpd=80", });
  ASSERT_EQ(created.exit_code, 0) << created.err << d.log();
  ASSERT_TRUE(WaitUntil([&] { return Get(d, "br-1").status().phase() == v1::VM_PHASE_READY; },
                        std::chrono::seconds(90)))
      << Get(d, "br-1").ShortDebugString() << d.log();
  const v1::Vm vm = Get(d, "br-1");
  EXPECT_EQ(vm.ipv4_address(), "10.78.0.2/24");
  EXPECT_EQ(vm.ipv4_gateway(), "10.78.0.1");
  EXPECT_NE(HttpGet("10.78.0.2", 80, ns.name()).find("blixard-guest br-1"), std::string::npos);
  CommandResult json = d.Cli({"vm", "get", "br-1", "-o", "json"});
  EXPECT_EQ(nlohmann::json::parse(json.out)["ipv4_address"], "10.78.0.2/24") << json.out;
  EXPECT_NE(ns.Ports(bridge).find("blx"), std::string::npos) << "no tap on " << bridge;

  ASSERT_EQ(d.Cli({"vm", "delete", "br-1"}).exit_code, 0);
  EXPECT_TRUE(WaitUntil([&] { return ns.Ports(bridge).empty() && !fs::exists(d.data_dir() + "/vms/br-1"); },
                        std::chrono::seconds(60)))
      << ns.Ports(bridge) << d.log();
}

}  // namespace
}  // namespace blixard::testing
