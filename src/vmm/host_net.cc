#include "vmm/host_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace blixard::vmm {
namespace {

Status Errno(const std::string& what, int err) {
  std::string msg = what + ": " + strerror(err);
  if (err == EPERM || err == EACCES) {
    return Status::FailedPrecondition(msg + " (bridge networking needs root or CAP_NET_ADMIN on the node)");
  }
  return Status::Internal(msg);
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

ifreq Req(const std::string& name) {
  ifreq r{};
  std::strncpy(r.ifr_name, name.c_str(), IFNAMSIZ - 1);
  return r;
}

Status SetUp(int sock, const std::string& name) {
  ifreq r = Req(name);
  if (ioctl(sock, SIOCGIFFLAGS, &r) != 0) return Errno("get flags of " + name, errno);
  if (r.ifr_flags & IFF_UP) return Status::Ok();
  r.ifr_flags |= IFF_UP;
  if (ioctl(sock, SIOCSIFFLAGS, &r) != 0) return Errno("set " + name + " up", errno);
  return Status::Ok();
}

bool Exists(const std::string& name) { return std::filesystem::exists("/sys/class/net/" + name); }

// Opens `tap` on /dev/net/tun (creating it if missing) with `persist`.
Status TunPersist(const std::string& tap, bool persist) {
  Fd tun{open("/dev/net/tun", O_RDWR | O_CLOEXEC)};
  if (tun.fd < 0) return Errno("open /dev/net/tun", errno);
  ifreq r = Req(tap);
  r.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(tun.fd, TUNSETIFF, &r) != 0) return Errno("open tap " + tap, errno);
  if (ioctl(tun.fd, TUNSETPERSIST, persist ? 1 : 0) != 0) return Errno("set tap " + tap + " persistence", errno);
  return Status::Ok();
}

class LinuxHostNetwork : public HostNetwork {
 public:
  Status EnsureBridge(const std::string& name, uint32_t gateway, int prefix) override {
    Fd sock{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) return Errno("socket", errno);
    if (!Exists(name)) {
      char buf[IFNAMSIZ] = {};
      std::strncpy(buf, name.c_str(), IFNAMSIZ - 1);
      if (ioctl(sock.fd, SIOCBRADDBR, buf) != 0 && errno != EEXIST) return Errno("create bridge " + name, errno);
    }
    ifreq r = Req(name);
    if (ioctl(sock.fd, SIOCGIFADDR, &r) != 0) {
      if (errno != EADDRNOTAVAIL) return Errno("get address of " + name, errno);
      auto* a = reinterpret_cast<sockaddr_in*>(&r.ifr_addr);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(gateway);
      if (ioctl(sock.fd, SIOCSIFADDR, &r) != 0) return Errno("set address of " + name, errno);
      r = Req(name);
      a = reinterpret_cast<sockaddr_in*>(&r.ifr_netmask);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix));
      if (ioctl(sock.fd, SIOCSIFNETMASK, &r) != 0) return Errno("set netmask of " + name, errno);
    }
    return SetUp(sock.fd, name);
  }

  Status EnsureTap(const std::string& tap, const std::string& bridge) override {
    if (!Exists(tap)) {
      if (Status s = TunPersist(tap, true); !s.ok()) return s;
    }
    Fd sock{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) return Errno("socket", errno);
    if (!std::filesystem::exists("/sys/class/net/" + bridge + "/brif/" + tap)) {
      ifreq idx = Req(tap);
      if (ioctl(sock.fd, SIOCGIFINDEX, &idx) != 0) return Errno("find tap " + tap, errno);
      ifreq r = Req(bridge);
      r.ifr_ifindex = idx.ifr_ifindex;
      if (ioctl(sock.fd, SIOCBRADDIF, &r) != 0) return Errno("attach tap " + tap + " to bridge " + bridge, errno);
    }
    return SetUp(sock.fd, tap);
  }

  Status DeleteTap(const std::string& tap) override {
    if (!Exists(tap)) return Status::Ok();
    return TunPersist(tap, false);  // closing the last fd of a non-persistent tap removes it
  }

  bool TapExists(const std::string& tap) override { return Exists(tap); }
};

}  // namespace

std::unique_ptr<HostNetwork> NewLinuxHostNetwork() { return std::make_unique<LinuxHostNetwork>(); }

Status FakeHostNetwork::EnsureBridge(const std::string& name, uint32_t, int) {
  std::lock_guard lock(mu_);
  bridges_.insert(name);
  return Status::Ok();
}

Status FakeHostNetwork::EnsureTap(const std::string& tap, const std::string& bridge) {
  std::lock_guard lock(mu_);
  if (!bridges_.count(bridge)) return Status::FailedPrecondition("no bridge " + bridge);
  taps_[tap] = bridge;
  return Status::Ok();
}

Status FakeHostNetwork::DeleteTap(const std::string& tap) {
  std::lock_guard lock(mu_);
  taps_.erase(tap);
  return Status::Ok();
}

bool FakeHostNetwork::TapExists(const std::string& tap) {
  std::lock_guard lock(mu_);
  return taps_.count(tap) > 0;
}

std::map<std::string, std::string> FakeHostNetwork::taps() const {
  std::lock_guard lock(mu_);
  return taps_;
}

std::set<std::string> FakeHostNetwork::bridges() const {
  std::lock_guard lock(mu_);
  return bridges_;
}

Result<int> ConnectTcp(uint32_t ip, uint16_t port, std::chrono::milliseconds timeout) {
  const std::string where = std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
                            std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff) + ":" +
                            std::to_string(port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(ip);
  int r = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (r != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    do {
      r = poll(&p, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      close(fd);
      return Status::Unavailable("connect " + where + ": no answer within " + std::to_string(timeout.count()) + " ms");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    errno = err;
    r = err == 0 ? 0 : -1;
  }
  if (r != 0) {
    int err = errno;
    close(fd);
    return Status::Unavailable("connect " + where + ": " + strerror(err));
  }
  return fd;
}

std::string TapName(const std::string& bridge, const std::string& vm) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over "bridge/vm"
  for (char c : bridge + "/" + vm) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[16];
  std::snprintf(buf, sizeof(buf), "blx%012llx", static_cast<unsigned long long>(h & 0xffffffffffffULL));
  return buf;
}

std::string MacForIpv4(uint32_t ip) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "52:54:%02x:%02x:%02x:%02x", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff,
                ip & 0xff);
  return buf;
}

}  // namespace blixard::vmm
