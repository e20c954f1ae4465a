// A QMP (QEMU Machine Protocol) client over a unix socket.
//
// QMP is line-delimited JSON: on connect qemu sends a greeting, the client
// must send qmp_capabilities, then each {"execute": ..., "id": N} gets one
// {"return"|"error": ..., "id": N}. Asynchronous events ({"event": ...}) may
// arrive at any time, including between a command and its return (e.g.
// POWERDOWN before system_powerdown's return, STOP before stop's); they are
// collected, never mistaken for the answer.
//
// Thread safety: none; one client per thread. qemu serves one QMP client at
// a time per socket, so hold a connection only as long as needed.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace blixard::vmm {

class QmpClient {
 public:
  using Duration = std::chrono::milliseconds;

  // Connects to `socket_path`, reads the greeting and negotiates
  // capabilities, all within `timeout`. kUnavailable if nothing listens.
  static Result<std::unique_ptr<QmpClient>> Connect(const std::string& socket_path, Duration timeout);
  // The same over an already-connected stream socket; takes ownership of fd.
  static Result<std::unique_ptr<QmpClient>> FromFd(int fd, Duration timeout);

  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Runs one command and returns its "return" value. A QMP error becomes
  // kFailedPrecondition with qemu's description; no answer within `timeout`
  // is kDeadlineExceeded; a closed connection is kUnavailable.
  Result<nlohmann::json> Execute(const std::string& command, const nlohmann::json& arguments = nullptr,
                                 Duration timeout = Duration(3000));

  // query-status's "status": "running", "paused", "prelaunch", "shutdown", ...
  Result<std::string> QueryStatus(Duration timeout = Duration(3000));
  Status Stop(Duration timeout = Duration(3000));             // pause vCPUs
  Status Cont(Duration timeout = Duration(3000));             // resume vCPUs
  Status SystemPowerdown(Duration timeout = Duration(3000));  // ACPI power button
  // Asks qemu to exit. qemu may close the socket before its return; that
  // counts as success.
  Status Quit(Duration timeout = Duration(3000));

  // Waits until an event named `name` arrives (or was already collected and
  // not yet taken); returns it and removes it from the collected events.
  Result<nlohmann::json> WaitEvent(const std::string& name, Duration timeout);

  // Events received so far, oldest first; the client forgets them.
  std::vector<nlohmann::json> TakeEvents();

  const nlohmann::json& greeting() const { return greeting_; }

 private:
  explicit QmpClient(int fd) : fd_(fd) {}
  Status Handshake(Duration timeout);
  // Next complete JSON message, waiting until `deadline`.
  Result<nlohmann::json> ReadMessage(std::chrono::steady_clock::time_point deadline);
  Status WriteAll(const std::string& data, std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::string buffer_;
  nlohmann::json greeting_;
  std::vector<nlohmann::json> events_;
  uint64_t next_id_ = 1;
};

}  // namespace blixard::vmm
