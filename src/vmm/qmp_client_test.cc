#include "vmm/qmp_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace blixard::vmm {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// A scripted QMP server on one end of a socketpair: sends the greeting,
// then answers each command line with what `respond` returns (any number of
// lines, sent in order; none = stay silent).
class FakeQmpServer {
 public:
  using Responder = std::function<std::vector<std::string>(const json& request)>;

  explicit FakeQmpServer(Responder respond) : respond_(std::move(respond)) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_fd_ = sv[0];
    server_fd_ = sv[1];
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeQmpServer() {
    shutdown(server_fd_, SHUT_RDWR);
    thread_.join();
    close(server_fd_);
  }
  int TakeClientFd() { return client_fd_; }
  std::vector<json> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Send(const std::string& line) {
    std::string data = line + "\r\n";  // qemu ends lines with CRLF
    ssize_t n = write(server_fd_, data.data(), data.size());
    (void)n;
  }
  void Serve() {
    Send(R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}})");
    std::string buf;
    char chunk[1024];
    for (;;) {
      ssize_t n = read(server_fd_, chunk, sizeof(chunk));
      if (n <= 0) return;
      buf.append(chunk, static_cast<size_t>(n));
      for (size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        json req = json::parse(buf.substr(0, nl));
        buf.erase(0, nl + 1);
        {
          std::lock_guard lock(mu_);
          requests_.push_back(req);
        }
        if (req["execute"] == "qmp_capabilities") {
          Send(json{{"return", json::object()}, {"id", req["id"]}}.dump());
          continue;
        }
        for (const auto& line : respond_(req)) {
          if (line == "CLOSE") {
            shutdown(server_fd_, SHUT_RDWR);
            return;
          }
          Send(line);
        }
      }
    }
  }

  Responder respond_;
  int client_fd_ = -1;
  int server_fd_ = -1;
  std::mutex mu_;
  std::vector<json> requests_;
  std::thread thread_;
};

std::string Return(const json& req, json value) { return json{{"return", value}, {"id", req["id"]}}.dump(); }
std::string Event(const std::string& name) {
  return json{{"event", name}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}}.dump();
}

TEST(QmpClient, GreetingAndCapabilitiesThenQueryStatus) {
  FakeQmpServer server([](const json& req) -> std::vector<std::string> {
    if (req["execute"] == "query-status") return {Return(req, {{"status", "running"}, {"running", true}})};
    return {};
  });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->greeting()["QMP"]["version"]["qemu"]["major"], 7);
  auto status = (*client)->QueryStatus();
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(*status, "running");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0]["execute"], "qmp_capabilities");
  EXPECT_EQ(reqs[1]["execute"], "query-status");
}

TEST(QmpClient, EventsBeforeTheReturnAreCollectedNotTakenForTheAnswer) {
  FakeQmpServer server([](const json& req) -> std::vector<std::string> {
    if (req["execute"] == "system_powerdown") return {Event("POWERDOWN"), Return(req, json::object())};
    if (req["execute"] == "stop") return {Event("STOP"), Return(req, json::object()), Event("RESUME")};
    return {};
  });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->SystemPowerdown().ok());
  ASSERT_TRUE((*client)->Stop().ok());
  auto events = (*client)->TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["event"], "POWERDOWN");
  EXPECT_EQ(events[1]["event"], "STOP");
  // RESUME arrived after stop's return: WaitEvent reads it.
  auto resume = (*client)->WaitEvent("RESUME", milliseconds(2000));
  ASSERT_TRUE(resume.ok()) << resume.status().ToString();
  EXPECT_TRUE((*client)->TakeEvents().empty());
}

TEST(QmpClient, AnswerWithAnotherIdIsIgnored) {
  FakeQmpServer server([](const json& req) -> std::vector<std::string> {
    return {json{{"return", json::object()}, {"id", 999}}.dump(), Return(req, {{"status", "paused"}})};
  });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  auto status = (*client)->QueryStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, "paused");
}

TEST(QmpClient, ErrorBecomesFailedPreconditionWithQemusDescription) {
  FakeQmpServer server([](const json& req) -> std::vector<std::string> {
    return {json{{"error", {{"class", "GenericError"}, {"desc", "no such thing"}}}, {"id", req["id"]}}.dump()};
  });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  Status s = (*client)->Cont();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), testing::HasSubstr("no such thing"));
}

TEST(QmpClient, SilenceIsDeadlineExceeded) {
  FakeQmpServer server([](const json&) -> std::vector<std::string> { return {Event("RTC_CHANGE")}; });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = (*client)->QueryStatus(milliseconds(150));
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
  EXPECT_EQ((*client)->TakeEvents().size(), 1u);
}

TEST(QmpClient, QuitSucceedsWhenQemuClosesBeforeReturning) {
  FakeQmpServer server([](const json& req) -> std::vector<std::string> {
    if (req["execute"] == "quit") return {Event("SHUTDOWN"), "CLOSE"};
    return {};
  });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Quit().ok());
}

TEST(QmpClient, ClosedConnectionIsUnavailable) {
  FakeQmpServer server([](const json&) -> std::vector<std::string> { return {"CLOSE"}; });
  auto client = QmpClient::FromFd(server.TakeClientFd(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Stop().code(), StatusCode::kUnavailable);
}

TEST(QmpClient, ConnectToAMissingSocketIsUnavailable) {
  auto r = QmpClient::Connect("/nonexistent/blixard/qmp.sock", milliseconds(100));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

TEST(QmpClient, ConnectOverAUnixSocket) {
  char dir_template[] = "/tmp/qmp_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string path = std::string(dir_template) + "/qmp.sock";
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 1), 0);
  std::thread server([listener] {
    int fd = accept(listener, nullptr, nullptr);
    std::string greeting = R"({"QMP": {"version": {}, "capabilities": []}})" "\n";
    ASSERT_EQ(write(fd, greeting.data(), greeting.size()), static_cast<ssize_t>(greeting.size()));
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    json req = json::parse(std::string(buf, static_cast<size_t>(n)));
    std::string ret = Return(req, json::object()) + "\n";
    ASSERT_EQ(write(fd, ret.data(), ret.size()), static_cast<ssize_t>(ret.size()));
    close(fd);
  });
  auto client = QmpClient::Connect(path, milliseconds(2000));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  server.join();
  close(listener);
  unlink(path.c_str());
  rmdir(dir_template);
}

}  // namespace
}  // namespace blixard::vmm
