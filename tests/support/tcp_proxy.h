// A TCP proxy on 127.0.0.1 for partition tests that need no root: a process
// given the proxy's address instead of a server's reaches that server only
// through it, so the test can cut the path at the socket level (hold every
// connection open and forward nothing, or reset them) and heal it.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace blixard::testing {

class TcpProxy {
 public:
  enum class Mode {
    // Bytes flow both ways.
    kForward,
    // As when the path drops every packet: open connections stay open, new
    // ones are accepted and held, nothing is read or forwarded either way.
    // Back in kForward, what queued meanwhile goes through.
    kBlackhole,
    // Every open connection is reset (RST to both ends), and each new one
    // is reset as soon as it is accepted, until the mode changes.
    kReset,
  };

  // Listens on a free port of 127.0.0.1 and forwards to `target`
  // ("127.0.0.1:PORT"). Aborts the test binary if it cannot listen.
  explicit TcpProxy(std::string target);
  ~TcpProxy();  // closes every connection
  TcpProxy(const TcpProxy&) = delete;

  // Where to connect instead of the target.
  const std::string& address() const { return address_; }
  void SetMode(Mode mode);
  // Connections accepted so far (to check that traffic really went through).
  size_t accepted() const { return accepted_; }

 private:
  struct Conn;
  void AcceptLoop();
  void Pump(Conn& c);
  void Wake(int fd);

  const std::string target_;
  std::string address_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // the accept loop's
  std::atomic<Mode> mode_{Mode::kForward};
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> accepted_{0};
  std::mutex mu_;
  std::list<std::unique_ptr<Conn>> conns_;  // under mu_
  std::thread accept_thread_;
};

}  // namespace blixard::testing
