// Real qemu microvm guests (TCG on this host). Needs the default guest
// image: ctest builds it first (fixture vmm_guest_image); by hand, run
// scripts/guest-image and set BLIXARD_GUEST_DIR.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/process.h"
#include "vmm/hypervisor.h"

namespace blixard::vmm {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using blixard::testing::FreeTcpPort;
using blixard::testing::WaitUntil;

// A loaded 2-core CI host boots a TCG guest in 2-10 s.
constexpr auto kBootDeadline = seconds(90);

std::string GuestDir() {
  const char* env = getenv("BLIXARD_GUEST_DIR");
  if (env && *env) return env;
  const char* home = getenv("HOME");
  return std::string(home ? home : "/root") + "/.cache/blixard/guest";
}

bool HaveQemu() { return system("command -v qemu-system-x86_64 >/dev/null 2>&1") == 0; }

// One HTTP GET to 127.0.0.1:port; the whole response, or "" on failure.
std::string HttpGet(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = "GET / HTTP/1.0\r\nHost: guest\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[1024];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

long RssKib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kib = 0;
      in >> kib;
      return kib;
    }
  }
  return 0;
}

class QemuHypervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveQemu()) GTEST_SKIP() << "qemu-system-x86_64 is not installed (scripts/setup installs it)";
    guest_ = GuestDir();
    ASSERT_TRUE(fs::exists(guest_ + "/vmlinuz") && fs::exists(guest_ + "/initrd.img"))
        << "no guest image in " << guest_ << ": run scripts/guest-image " << guest_;
    char tmpl[] = "/tmp/blx-vmm-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    hv_ = NewQemuHypervisor(Options());
  }
  void TearDown() override {
    if (root_.empty()) return;
    auto hv = NewQemuHypervisor(Options());
    if (auto list = hv->List(); list.ok()) {
      for (const auto& vm : *list) {
        hv->Kill(vm.name);
        hv->Cleanup(vm.name);
      }
    }
    fs::remove_all(root_);
  }
  QemuOptions Options() const {
    QemuOptions o;
    o.runtime_root = root_;
    o.accel = Accel::kAuto;
    o.default_kernel = guest_ + "/vmlinuz";
    o.default_initrd = guest_ + "/initrd.img";
    return o;
  }
  static VmConfig Guest(const std::string& name) {
    VmConfig c;
    c.name = name;
    c.memory_mib = 128;
    c.ready_pattern = kDefaultGuestReadyPattern;
    return c;
  }
  std::string Console(Hypervisor& hv, const std::string& name) {
    auto chunk = hv.ConsoleLog(name, 0, 1 << 20);
    return chunk.ok() ? chunk->data : "";
  }
  // Starts and waits for the readiness line; returns the boot time.
  milliseconds StartReady(const VmConfig& c) {
    auto t0 = Clock::now();
    auto info = hv_->Start(c);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    if (!info.ok()) return milliseconds(0);
    EXPECT_GT(info->pid, 0);
    bool ready = WaitUntil([&] { auto i = hv_->Inspect(c.name); return i.ok() && i->ready; }, kBootDeadline);
    EXPECT_TRUE(ready) << "console:\n" << Console(*hv_, c.name);
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
  }
  bool WaitNotAlive(Hypervisor& hv, const std::string& name) {
    return WaitUntil([&] { auto i = hv.Inspect(name); return i.ok() && !i->alive(); }, seconds(30));
  }

  std::string guest_;
  std::string root_;
  std::unique_ptr<Hypervisor> hv_;
};

TEST_F(QemuHypervisorTest, BootsToReadyThenStopsByPowerButton) {
  auto boot = StartReady(Guest("boot"));
  auto info = hv_->Inspect("boot");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, VmInfo::State::kRunning);
  std::cout << "boot to BLIXARD-GUEST-READY: " << boot.count() << " ms, qemu RSS " << RssKib(info->pid) / 1024
            << " MiB\n";
  EXPECT_TRUE(fs::exists(info->runtime_dir + "/qmp.sock"));

  ASSERT_TRUE(hv_->Stop("boot", seconds(30)).ok());
  info = hv_->Inspect("boot");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, VmInfo::State::kStopped);
  EXPECT_EQ(info->exit_status, 0) << info->reason;  // the guest powered off; qemu was not killed
  EXPECT_EQ(info->reason, "stopped (guest powered off)");
  EXPECT_THAT(Console(*hv_, "boot"), ::testing::HasSubstr("power button, powering off"));

  ASSERT_TRUE(hv_->Cleanup("boot").ok());
  EXPECT_FALSE(fs::exists(info->runtime_dir));
  EXPECT_EQ(hv_->Inspect("boot").status().code(), StatusCode::kNotFound);
}

TEST_F(QemuHypervisorTest, QemuKilledFromOutsideIsFailedWithTheSignal) {
  auto started = hv_->Start(Guest("victim"));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ASSERT_EQ(kill(started->pid, SIGKILL), 0);
  ASSERT_TRUE(WaitNotAlive(*hv_, "victim"));
  auto info = hv_->Inspect("victim");
  ASSERT_TRUE(WaitUntil([&] { info = hv_->Inspect("victim"); return info->term_signal != 0; }, seconds(5)));
  EXPECT_EQ(info->state, VmInfo::State::kFailed);
  EXPECT_EQ(info->term_signal, SIGKILL);
  EXPECT_EQ(info->reason, "qemu was killed by signal 9 (SIGKILL)");
  EXPECT_EQ(info->pid, 0);
  // It can be started again in the same runtime dir.
  auto again = hv_->Start(Guest("victim"));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(again->pid, started->pid);
  ASSERT_TRUE(hv_->Kill("victim").ok());
  EXPECT_EQ(hv_->Inspect("victim")->state, VmInfo::State::kStopped);
  EXPECT_EQ(hv_->Inspect("victim")->reason, "stopped: killed");
}

TEST_F(QemuHypervisorTest, ASecondInstanceAdoptsTheRunningVmAfterADaemonRestart) {
  StartReady(Guest("adopt"));
  int pid = hv_->Inspect("adopt")->pid;
  hv_.reset();  // the daemon goes away; qemu must not

  auto hv2 = NewQemuHypervisor(Options());
  auto list = hv2->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const VmInfo& vm = (*list)[0];
  EXPECT_EQ(vm.name, "adopt");
  EXPECT_EQ(vm.pid, pid);
  EXPECT_EQ(vm.state, VmInfo::State::kRunning);
  EXPECT_TRUE(vm.ready);
  EXPECT_EQ(vm.config, Guest("adopt"));
  EXPECT_EQ(hv2->Start(Guest("adopt")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(hv2->Inspect("adopt")->pid, pid);
  ASSERT_TRUE(hv2->Stop("adopt", seconds(30)).ok());
  EXPECT_EQ(hv2->Inspect("adopt")->state, VmInfo::State::kStopped);
}

TEST_F(QemuHypervisorTest, PauseAndResumeThroughQmp) {
  StartReady(Guest("pause"));
  ASSERT_TRUE(hv_->Pause("pause").ok());
  EXPECT_EQ(hv_->Inspect("pause")->state, VmInfo::State::kPaused);
  ASSERT_TRUE(hv_->Resume("pause").ok());
  EXPECT_EQ(hv_->Inspect("pause")->state, VmInfo::State::kRunning);
  // A paused guest is resumed by Stop so it can handle the button.
  ASSERT_TRUE(hv_->Pause("pause").ok());
  ASSERT_TRUE(hv_->Stop("pause", seconds(30)).ok());
  EXPECT_EQ(hv_->Inspect("pause")->exit_status, 0);
  EXPECT_EQ(hv_->Pause("pause").code(), StatusCode::kFailedPrecondition);
}

TEST_F(QemuHypervisorTest, UserNetworkVmAnswersOnAPublishedPort) {
  uint16_t port = FreeTcpPort();
  VmConfig c = Guest("web");
  c.net.mode = NetworkConfig::Mode::kUser;
  PortForward http;
  http.host_port = port;
  http.guest_port = 80;
  c.net.publish = {http};
  c.cmdline = "ip=dhcp blixard.httpd=80";
  StartReady(c);
  EXPECT_THAT(Console(*hv_, "web"), ::testing::HasSubstr("eth0 10.0.2.15/24"));
  std::string response;
  EXPECT_TRUE(WaitUntil([&] { response = HttpGet(port); return response.find("blixard-guest") != std::string::npos; },
                        seconds(30)))
      << response;
  EXPECT_THAT(response, ::testing::HasSubstr("200 OK"));

  // The port is now taken: a second VM cannot publish it.
  VmConfig clash = Guest("clash");
  clash.net = c.net;
  EXPECT_EQ(hv_->Start(clash).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(QemuHypervisorTest, BadInputIsRejectedBeforeQemuRuns) {
  VmConfig c = Guest("bad");
  c.kernel = "/nonexistent/vmlinuz";
  auto r = hv_->Start(c);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("/nonexistent/vmlinuz"));
  c = Guest("bad");
  c.disks = {"/nonexistent/disk.img"};
  EXPECT_EQ(hv_->Start(c).status().code(), StatusCode::kInvalidArgument);
  c = Guest("bad");
  c.initrd = "/nonexistent/initrd.img";
  r = hv_->Start(c);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("/nonexistent/initrd.img"));
  c = Guest("bad");
  c.memory_mib = 8;
  EXPECT_EQ(hv_->Start(c).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(hv_->Inspect("bad").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(root_ + "/bad")) << "a refused VM leaves no runtime dir";
}

TEST_F(QemuHypervisorTest, TooLittleMemoryForTheKernelFailsWithWhatTheConsoleShows) {
  VmConfig c = Guest("tiny");
  c.memory_mib = 32;  // the default guest needs about 80 MiB
  // qemu 7.2 now and then hangs on exit when the guest resets this early
  // (see qmp_wedged_after): then it is killed and the reason says so.
  QemuOptions o = Options();
  o.qmp_wedged_after = seconds(5);
  hv_ = NewQemuHypervisor(o);
  auto r = hv_->Start(c);
  std::string reason;
  if (r.ok()) {
    ASSERT_TRUE(WaitNotAlive(*hv_, "tiny"));
    auto info = hv_->Inspect("tiny");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->state, VmInfo::State::kFailed);
    reason = info->reason;
  } else {  // it can end before Start has seen QMP answer
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    reason = r.status().message();
  }
  EXPECT_THAT(reason, ::testing::HasSubstr("nothing on its console"));
  EXPECT_THAT(reason, ::testing::HasSubstr("32 MiB"));
}

TEST_F(QemuHypervisorTest, QemuThatCannotStartSaysWhy) {
  VmConfig c = Guest("nokernel");
  std::string junk = root_ + "/junk-kernel";
  std::ofstream(junk) << "not a kernel\n";
  c.kernel = junk;
  auto r = hv_->Start(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("qemu exited while starting"));
  auto info = hv_->Inspect("nokernel");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, VmInfo::State::kFailed);
  EXPECT_THAT(info->reason, ::testing::HasSubstr("qemu exited with status 1"));
}

// qemu's user network accepts a connection to a published port on the host
// side before the guest has answered (or when nothing listens in it), so
// the probe must see the guest's side established: a published port whose
// guest port has no listener is not ready, one with a server is.
TEST_F(QemuHypervisorTest, ProbingAPublishedPortSeesWhetherTheGuestAccepts) {
  VmConfig c = Guest("probe");
  c.net.mode = NetworkConfig::Mode::kUser;
  PortForward http, closed;
  http.host_port = FreeTcpPort();
  http.guest_port = 80;
  closed.host_port = FreeTcpPort();
  closed.guest_port = 81;
  c.net.publish = {http, closed};
  c.cmdline = "blixard.httpd=80";
  StartReady(c);
  auto open = hv_->ProbePublishedPort("probe", 80, milliseconds(2000));
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  EXPECT_TRUE(*open);
  auto refused = hv_->ProbePublishedPort("probe", 81, milliseconds(2000));
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_FALSE(*refused);
  EXPECT_EQ(hv_->ProbePublishedPort("probe", 22, milliseconds(100)).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace blixard::vmm
