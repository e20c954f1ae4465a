// The factory's servers and channels, over loopback and a unix socket.
#include "rpc/servers.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <atomic>
#include <chrono>

#include "blixard/v1/internal.grpc.pb.h"
#include "rpc/channels.h"

namespace blixard::rpc {
namespace {

using namespace std::chrono_literals;

class HeartbeatEcho final : public v1::InternalService::Service {
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse* resp) override {
    resp->set_term(req->node_id());
    return grpc::Status::OK;
  }
};

// Counts the calls it sees; `Factory` counts the interceptors it made.
template <typename Factory, typename Info>
class Counting : public Factory {
 public:
  explicit Counting(std::atomic<int>* calls) : calls_(calls) {}
  grpc::experimental::Interceptor* CreateInterceptor(Info*) {
    struct Pass : grpc::experimental::Interceptor {
      void Intercept(grpc::experimental::InterceptorBatchMethods* m) override { m->Proceed(); }
    };
    ++*calls_;
    return new Pass;
  }

 private:
  std::atomic<int>* calls_;
};
struct ClientCounter
    : Counting<grpc::experimental::ClientInterceptorFactoryInterface, grpc::experimental::ClientRpcInfo> {
  using Counting::Counting;
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo* i) override {
    return CreateInterceptor(i);
  }
};
struct ServerCounter
    : Counting<grpc::experimental::ServerInterceptorFactoryInterface, grpc::experimental::ServerRpcInfo> {
  using Counting::Counting;
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* i) override {
    return CreateInterceptor(i);
  }
};

// Heartbeat(node_id = 7) over `channel`; the answer's term, or -1.
int64_t Echo(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::InternalService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::HeartbeatRequest req;
  req.set_node_id(7);
  v1::HeartbeatResponse resp;
  if (!stub->Heartbeat(&ctx, req, &resp).ok()) return -1;
  return static_cast<int64_t>(resp.term());
}

TEST(RpcServers, PortZeroPicksAFreePortThatAChannelReaches) {
  HeartbeatEcho service;
  auto started = StartServer("127.0.0.1:0", {&service}, ServerOptions::Worker());
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ASSERT_NE(started->port, 0);
  EXPECT_EQ(Echo(NewChannel("127.0.0.1:" + std::to_string(started->port), ChannelOptions::Cli())), 7);
  started->server->Shutdown();
}

TEST(RpcServers, ASecondServerOnABusyPortFailsInsteadOfSharingIt) {
  HeartbeatEcho service;
  auto first = StartServer("127.0.0.1:0", {&service}, ServerOptions::Member(16 << 20));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string address = "127.0.0.1:" + std::to_string(first->port);
  HeartbeatEcho other;
  auto second = StartServer(address, {&other}, ServerOptions::Member(16 << 20));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(address), std::string::npos) << second.status().message();
  first->server->Shutdown();
}

TEST(RpcServers, AUnixSocketALiveServerAnswersOnIsRefusedAndFreeOnceItStops) {
  const std::string address = "unix:/tmp/blixard-rpc-test-" + std::to_string(::getpid()) + ".sock";
  HeartbeatEcho service;
  auto first = StartServer(address, {&service}, ServerOptions::Worker());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Echo(NewChannel(address, ChannelOptions::WorkerLink())), 7);
  EXPECT_TRUE(UnixSocketInUse(address));
  auto second = StartServer(address, {&service}, ServerOptions::Worker());
  EXPECT_FALSE(second.ok());
  first->server->Shutdown();
  first->server.reset();
  EXPECT_FALSE(UnixSocketInUse(address));
  auto third = StartServer(address, {&service}, ServerOptions::Worker());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  third->server->Shutdown();
}

// The unix socket's protection is the kernel's: mode 0600, so only its
// owner and root may connect; another user cannot (EACCES), whatever it sends.
TEST(RpcServers, AnotherUserCannotConnectToAUnixSocketServer) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run a client as another user";
  const std::string path = "/tmp/blixard-rpc-peer-" + std::to_string(::getpid()) + ".sock";
  HeartbeatEcho service;
  // With no umask the socket would be made 0777: the server's own chmod is
  // what keeps others out.
  const mode_t umask_before = ::umask(0);
  auto started = StartServer("unix:" + path, {&service}, {});
  ::umask(umask_before);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::_exit(rc == 0 ? 0 : errno == EACCES ? 3 : 4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << "0: connected; 4: refused, but not for its permissions";
  started->server->Shutdown();
  ::unlink(path.c_str());
}

TEST(RpcServers, InterceptorsOfBothEndsSeeEveryCall) {
  std::atomic<int> server_calls{0}, client_calls{0};
  ServerOptions so = ServerOptions::Member(16 << 20);
  so.interceptors = [&] {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> v;
    v.push_back(std::make_unique<ServerCounter>(&server_calls));
    return v;
  };
  HeartbeatEcho service;
  auto started = StartServer("127.0.0.1:0", {&service}, so);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ChannelOptions co = ChannelOptions::MemberCall();
  co.interceptors = [&] {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> v;
    v.push_back(std::make_unique<ClientCounter>(&client_calls));
    return v;
  };
  auto channel = NewChannel("127.0.0.1:" + std::to_string(started->port), co);
  EXPECT_EQ(Echo(channel), 7);
  EXPECT_EQ(Echo(channel), 7);
  EXPECT_EQ(client_calls, 2);
  EXPECT_EQ(server_calls, 2);
  started->server->Shutdown();
}

TEST(RpcChannels, AMessageOverTheReceiveLimitIsRefused) {
  HeartbeatEcho service;
  ServerOptions so = ServerOptions::Member(4096);
  auto started = StartServer("127.0.0.1:0", {&service}, so);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  auto stub = v1::InternalService::NewStub(
      NewChannel("127.0.0.1:" + std::to_string(started->port), ChannelOptions::MemberCall()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::HeartbeatRequest req;
  req.set_cluster_id(std::string(8192, 'x'));
  v1::HeartbeatResponse resp;
  EXPECT_EQ(stub->Heartbeat(&ctx, req, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  started->server->Shutdown();
}

}  // namespace
}  // namespace blixard::rpc
