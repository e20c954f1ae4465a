#include "support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace blixard::testing {
namespace {

constexpr size_t kChunk = 64 * 1024;

[[noreturn]] void Die(const std::string& what) {
  std::perror(("tcp proxy: " + what).c_str());
  std::abort();
}

// Closes `fd` so that its peer gets a RST instead of a FIN.
void ResetClose(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

int ConnectTo(const std::string& target) {
  const auto colon = target.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  if (inet_pton(AF_INET, target.substr(0, colon).c_str(), &a.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

struct TcpProxy::Conn {
  int client = -1, server = -1;
  int wake = -1;
  std::thread thread;
};

TcpProxy::TcpProxy(std::string target) : target_(std::move(target)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) Die("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("bind");
  if (listen(listen_fd_, 64) != 0) Die("listen");
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  address_ = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) Die("eventfd");
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  Wake(wake_fd_);
  accept_thread_.join();
  std::lock_guard lk(mu_);
  for (auto& c : conns_) Wake(c->wake);
  for (auto& c : conns_) {
    c->thread.join();
    close(c->wake);
  }
  close(listen_fd_);
  close(wake_fd_);
}

void TcpProxy::Wake(int fd) {
  const uint64_t one = 1;
  (void)!write(fd, &one, sizeof one);
}

void TcpProxy::SetMode(Mode mode) {
  mode_ = mode;
  Wake(wake_fd_);
  std::lock_guard lk(mu_);
  for (auto& c : conns_) Wake(c->wake);
}

void TcpProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) Die("poll");
    if (fds[1].revents) {
      uint64_t n;
      (void)!read(wake_fd_, &n, sizeof n);
    }
    if (!(fds[0].revents & POLLIN)) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    ++accepted_;
    if (mode_ == Mode::kReset) {
      ResetClose(client);
      continue;
    }
    int server = ConnectTo(target_);
    if (server < 0) {  // as the target itself would answer
      ResetClose(client);
      continue;
    }
    SetNonBlocking(client);
    SetNonBlocking(server);
    auto c = std::make_unique<Conn>();
    c->client = client;
    c->server = server;
    c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake < 0) Die("eventfd");
    Conn* raw = c.get();
    std::lock_guard lk(mu_);
    conns_.push_back(std::move(c));
    raw->thread = std::thread([this, raw] { Pump(*raw); });
  }
}

// Moves bytes between the two ends while forwarding; holds them while
// blackholed; resets both on kReset, on an error, or when either end resets.
void TcpProxy::Pump(Conn& c) {
  struct Dir {
    int from, to;
    std::string buf;
    bool eof = false;       // `from` closed its side
    bool shut = false;      // and that was passed on to `to`
  };
  Dir dirs[2] = {{c.client, c.server, {}}, {c.server, c.client, {}}};
  auto reset_both = [&] {
    ResetClose(c.client);
    ResetClose(c.server);
  };
  while (true) {
    if (stopping_) {
      close(c.client);
      close(c.server);
      return;
    }
    const Mode mode = mode_;
    if (mode == Mode::kReset) return reset_both();
    if (dirs[0].shut && dirs[1].shut) {
      close(c.client);
      close(c.server);
      return;
    }
    std::vector<pollfd> fds = {{c.wake, POLLIN, 0}};
    std::vector<std::pair<int, bool>> what;  // (dir, is_read) for each fd after the first
    if (mode == Mode::kForward) {
      for (int d = 0; d < 2; ++d) {
        if (dirs[d].buf.empty() && !dirs[d].eof) {
          fds.push_back({dirs[d].from, POLLIN, 0});
          what.emplace_back(d, true);
        } else if (!dirs[d].buf.empty()) {
          fds.push_back({dirs[d].to, POLLOUT, 0});
          what.emplace_back(d, false);
        }
      }
    }
    if (poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) Die("poll");
    if (fds[0].revents) {
      uint64_t n;
      (void)!read(c.wake, &n, sizeof n);
      continue;  // the mode may have changed
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      Dir& d = dirs[what[i - 1].first];
      if (what[i - 1].second) {
        char chunk[kChunk];
        ssize_t n = read(d.from, chunk, sizeof chunk);
        if (n > 0) {
          d.buf.append(chunk, static_cast<size_t>(n));
        } else if (n == 0) {
          d.eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          return reset_both();
        }
      } else {
        ssize_t n = send(d.to, d.buf.data(), d.buf.size(), MSG_NOSIGNAL);
        if (n > 0) {
          d.buf.erase(0, static_cast<size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          return reset_both();
        }
      }
    }
    for (Dir& d : dirs) {
      if (d.eof && d.buf.empty() && !d.shut) {
        shutdown(d.to, SHUT_WR);
        d.shut = true;
      }
    }
  }
}

}  // namespace blixard::testing
