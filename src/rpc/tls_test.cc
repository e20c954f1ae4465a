// Mutual TLS through the factory: who may connect, who the server sees.
#include <grpcpp/grpcpp.h>
#include <grpc/grpc_security_constants.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "blixard/v1/internal.grpc.pb.h"
#include "common/file.h"
#include "pki/pki.h"
#include "rpc/channels.h"
#include "rpc/servers.h"
#include "support/process.h"

namespace blixard::rpc {
namespace {

// Answers with the caller's node id (0: none), or the method it was asked.
class WhoAmI final : public v1::InternalService::Service {
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest*, v1::HeartbeatResponse* resp) override {
    auto caller = CallerOf(ctx);
    resp->set_term(caller ? caller->node_id : 0);
    resp->set_leader_address(IsSecureCall(ctx) ? "tls" : "plain");
    return grpc::Status::OK;
  }
};

std::shared_ptr<const TlsMaterial> Material(const pki::KeyAndCert& ca, const pki::Identity& id) {
  auto issued = pki::Issue(ca, id);
  EXPECT_TRUE(issued.ok()) << issued.status().ToString();
  return std::make_shared<TlsMaterial>(TlsMaterial{ca.cert_pem, issued->cert_pem, issued->key_pem});
}

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::NewCa("c0ffee");
    ASSERT_TRUE(ca.ok());
    ca_ = *ca;
    ServerOptions so;
    so.security = RpcSecurity::Tls(Material(ca_, pki::Identity::Server("c0ffee", 1)),
                                   [this](const std::string& method, const std::optional<pki::Identity>& caller) {
                                     last_method_ = method;
                                     if (!caller) return Status::Unauthenticated("no certificate");
                                     return Status::Ok();
                                   });
    auto started = StartServer("127.0.0.1:0", {&service_}, so);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    server_ = std::move(started->server);
    addr_ = "127.0.0.1:" + std::to_string(started->port);
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Call(const RpcSecurity& security, v1::HeartbeatResponse* resp) {
    ChannelOptions o;
    o.security = security;
    auto stub = v1::InternalService::NewStub(NewChannel(addr_, o));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::HeartbeatRequest req;
    return stub->Heartbeat(&ctx, req, resp);
  }

  pki::KeyAndCert ca_;
  WhoAmI service_;
  std::unique_ptr<grpc::Server> server_;
  std::string addr_;
  std::string last_method_;
};

TEST_F(Tls, AClusterNodeIsSeenAsItsCertificateNamesIt) {
  v1::HeartbeatResponse resp;
  grpc::Status s = Call(RpcSecurity::Tls(Material(ca_, pki::Identity::Worker("c0ffee", 7))), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.term(), 7u);
  EXPECT_EQ(resp.leader_address(), "tls");
  EXPECT_EQ(last_method_, "/blixard.v1.InternalService/Heartbeat");
}

TEST_F(Tls, ACallerWithoutACertificateIsAskedAboutByThePolicy) {
  auto no_cert = std::make_shared<TlsMaterial>(TlsMaterial{ca_.cert_pem, "", ""});
  v1::HeartbeatResponse resp;
  grpc::Status s = Call(RpcSecurity::Tls(no_cert), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_EQ(s.error_message(), "no certificate");
}

TEST_F(Tls, AnotherClustersNodeIsRefusedWithTheReason) {
  auto other = pki::NewCa("beef");
  ASSERT_TRUE(other.ok());
  auto theirs = Material(*other, pki::Identity::Server("beef", 1));
  // It trusts our CA (so it gets as far as a call) but shows its own cluster's certificate.
  auto mixed = std::make_shared<TlsMaterial>(TlsMaterial{ca_.cert_pem, theirs->cert_pem, theirs->key_pem});
  v1::HeartbeatResponse resp;
  grpc::Status s = Call(RpcSecurity::Tls(mixed), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("not one of this cluster's"), std::string::npos) << s.error_message();
}

TEST_F(Tls, AClientThatTrustsAnotherCaDoesNotConnect) {
  auto other = pki::NewCa("beef");
  ASSERT_TRUE(other.ok());
  v1::HeartbeatResponse resp;
  grpc::Status s = Call(RpcSecurity::Tls(Material(*other, pki::Identity::Server("beef", 1))), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(Tls, APlaintextClientOnATlsPortFails) {
  v1::HeartbeatResponse resp;
  grpc::Status s = Call(RpcSecurity::Insecure(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
}

TEST_F(Tls, AFetchCaChannelConnectsWithoutCheckingTheServer) {
  v1::HeartbeatResponse resp;
  grpc::Status s = Call(RpcSecurity::FetchCa(), &resp);
  // It connects (TLS, no check of the server), and shows no certificate.
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
}

// Material read from a directory (TlsMaterial::watch_dir), as a daemon's.
struct WatchedDir {
  explicit WatchedDir(const pki::KeyAndCert& ca, const pki::Identity& id) {
    char tmpl[] = "/tmp/blixard-tls-XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto issued = pki::Issue(ca, id);
    EXPECT_TRUE(issued.ok());
    key = issued->key_pem;
    EXPECT_TRUE(WriteFileAtomically(dir + "/ca.crt", ca.cert_pem, 0600).ok());
    EXPECT_TRUE(WriteFileAtomically(dir + "/node.key", key, 0600).ok());
    EXPECT_TRUE(WriteFileAtomically(dir + "/node.crt", issued->cert_pem, 0600).ok());
    material = std::make_shared<TlsMaterial>(TlsMaterial{ca.cert_pem, issued->cert_pem, key, dir, 1});
  }
  ~WatchedDir() { std::filesystem::remove_all(dir); }
  std::string dir, key;
  std::shared_ptr<const TlsMaterial> material;
};

// The certificate the server showed on the connection of a call on a new
// channel with `security`.
std::string ServerCertOfANewConnection(const std::string& addr, const RpcSecurity& security) {
  ChannelOptions o;
  o.security = security;
  o.own_connection = true;
  auto stub = v1::InternalService::NewStub(NewChannel(addr, o));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::HeartbeatResponse resp;
  if (!stub->Heartbeat(&ctx, {}, &resp).ok()) return "";
  const auto pems = ctx.auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return pems.empty() ? "" : std::string(pems[0].data(), pems[0].size());
}

// A server showing the certificate of `dir`, on a free loopback port.
struct WatchedServer {
  explicit WatchedServer(const WatchedDir& dir) {
    ServerOptions so;
    so.security = RpcSecurity::Tls(dir.material);
    auto started = StartServer("127.0.0.1:0", {&service}, so);
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (!started.ok()) return;
    server = std::move(started->server);
    addr = "127.0.0.1:" + std::to_string(started->port);
  }
  ~WatchedServer() {
    if (server) server->Shutdown();
  }
  WhoAmI service;
  std::unique_ptr<grpc::Server> server;
  std::string addr;
};

TEST(TlsWatch, ACertificateRenewedInTheDirectoryIsShownWithoutARestart) {
  auto ca = pki::NewCa("c0ffee");
  ASSERT_TRUE(ca.ok());
  WatchedDir server_dir(*ca, pki::Identity::Server("c0ffee", 1));
  WatchedDir client_dir(*ca, pki::Identity::Worker("c0ffee", 7));
  WatchedServer server(server_dir);
  ASSERT_TRUE(server.server);
  const std::string& addr = server.addr;
  const RpcSecurity client = RpcSecurity::Tls(client_dir.material);
  EXPECT_EQ(ServerCertOfANewConnection(addr, client), server_dir.material->cert_pem);
  // The server sees the client's certificate from the client's directory.
  ChannelOptions o;
  o.security = client;
  {
    v1::HeartbeatResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(v1::InternalService::NewStub(NewChannel(addr, o))->Heartbeat(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.term(), 7u);  // the server saw the worker's certificate
  }
  // Renewed: the same key, a new certificate, written where the server reads.
  auto csr = pki::NewCsr(server_dir.key, pki::Identity::Server("c0ffee", 1));
  ASSERT_TRUE(csr.ok());
  auto renewed = pki::SignCsr(*ca, *csr, pki::Identity::Server("c0ffee", 1), 7200);
  ASSERT_TRUE(renewed.ok());
  ASSERT_TRUE(WriteFileAtomically(server_dir.dir + "/node.crt", *renewed, 0600).ok());
  // The server reads the file again each second (watch_every_s).
  EXPECT_TRUE(blixard::testing::WaitUntil([&] { return ServerCertOfANewConnection(addr, client) == *renewed; },
                                 std::chrono::seconds(15)));
}

TEST(TlsWatch, AServerWhoseCertificateDoesNotNameANodeIsRefused) {
  auto ca = pki::NewCa("c0ffee");
  ASSERT_TRUE(ca.ok());
  // A certificate of the cluster CA, but a client's: no kNodeTlsName in it.
  WatchedDir impostor(*ca, pki::Identity::Client("c0ffee", pki::Role::kAdmin, "mallory"));
  WatchedDir client_dir(*ca, pki::Identity::Worker("c0ffee", 7));
  WatchedServer server(impostor);
  ASSERT_TRUE(server.server);
  EXPECT_EQ(ServerCertOfANewConnection(server.addr, RpcSecurity::Tls(client_dir.material)), "");
}

}  // namespace
}  // namespace blixard::rpc
