#include "vmm/qmp_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace blixard::vmm {
namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  // Rounded up, so a wait never ends before the deadline.
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

Result<std::unique_ptr<QmpClient>> QmpClient::Connect(const std::string& socket_path, Duration timeout) {
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("QMP socket path too long: " + socket_path);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Internal(std::string("socket: ") + strerror(errno));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return Status::Unavailable("QMP " + socket_path + ": " + strerror(err));
  }
  return FromFd(fd, timeout);
}

Result<std::unique_ptr<QmpClient>> QmpClient::FromFd(int fd, Duration timeout) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  std::unique_ptr<QmpClient> client(new QmpClient(fd));
  Status s = client->Handshake(timeout);
  if (!s.ok()) return s;
  return client;
}

QmpClient::~QmpClient() { close(fd_); }

Status QmpClient::Handshake(Duration timeout) {
  auto deadline = Clock::now() + timeout;
  auto greeting = ReadMessage(deadline);
  if (!greeting.ok()) return greeting.status();
  if (!greeting->contains("QMP")) {
    return Status::Internal("QMP: unexpected greeting " + greeting->dump());
  }
  greeting_ = *greeting;
  auto caps = Execute("qmp_capabilities", nullptr, std::chrono::duration_cast<Duration>(deadline - Clock::now()));
  return caps.status();
}

Status QmpClient::WriteAll(const std::string& data, Clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, RemainingMs(deadline)) == 0) return Status::DeadlineExceeded("QMP: write timed out");
      continue;
    }
    return Status::Unavailable(std::string("QMP: write: ") + strerror(errno));
  }
  return Status::Ok();
}

Result<nlohmann::json> QmpClient::ReadMessage(Clock::time_point deadline) {
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) return Status::Internal("QMP: not a JSON object: " + line);
      return j;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, RemainingMs(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return Status::DeadlineExceeded("QMP: no answer in time");
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n == 0) return Status::Unavailable("QMP: connection closed by qemu");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return Status::Unavailable(std::string("QMP: read: ") + strerror(errno));
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> QmpClient::Execute(const std::string& command, const nlohmann::json& arguments,
                                          Duration timeout) {
  auto deadline = Clock::now() + timeout;
  uint64_t id = next_id_++;
  nlohmann::json request = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) request["arguments"] = arguments;
  Status w = WriteAll(request.dump() + "\n", deadline);
  if (!w.ok()) return w;
  for (;;) {
    auto msg = ReadMessage(deadline);
    if (!msg.ok()) {
      return Status(msg.status().code(), msg.status().message() + " (command " + command + ")");
    }
    if (msg->contains("event")) {
      events_.push_back(std::move(*msg));
      continue;
    }
    if (!msg->contains("id") || (*msg)["id"] != id) continue;  // an answer to someone else's command
    if (msg->contains("error")) {
      const auto& e = (*msg)["error"];
      return Status::FailedPrecondition("QMP " + command + ": " + e.value("desc", e.dump()));
    }
    if (msg->contains("return")) return (*msg)["return"];
    return Status::Internal("QMP " + command + ": unexpected answer " + msg->dump());
  }
}

Result<std::string> QmpClient::QueryStatus(Duration timeout) {
  auto r = Execute("query-status", nullptr, timeout);
  if (!r.ok()) return r.status();
  if (!r->is_object() || !r->contains("status")) return Status::Internal("QMP query-status: " + r->dump());
  return (*r)["status"].get<std::string>();
}

Status QmpClient::Stop(Duration timeout) { return Execute("stop", nullptr, timeout).status(); }
Status QmpClient::Cont(Duration timeout) { return Execute("cont", nullptr, timeout).status(); }
Status QmpClient::SystemPowerdown(Duration timeout) { return Execute("system_powerdown", nullptr, timeout).status(); }

Status QmpClient::Quit(Duration timeout) {
  auto r = Execute("quit", nullptr, timeout);
  if (r.ok() || r.status().code() == StatusCode::kUnavailable) return Status::Ok();
  return r.status();
}

Result<nlohmann::json> QmpClient::WaitEvent(const std::string& name, Duration timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if ((*it)["event"] == name) {
        nlohmann::json e = std::move(*it);
        events_.erase(it);
        return e;
      }
    }
    auto msg = ReadMessage(deadline);
    if (!msg.ok()) return msg.status();
    if (msg->contains("event")) events_.push_back(std::move(*msg));
  }
}

std::vector<nlohmann::json> QmpClient::TakeEvents() {
  std::vector<nlohmann::json> out;
  out.swap(events_);
  return out;
}

}  // namespace blixard::vmm
