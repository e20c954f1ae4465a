// Mutual TLS through the factory: who may connect, who the server sees.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "blixard/v1/internal.grpc.pb.h"
#include "pki/pki.h"
#include "rpc/channels.h"
#include "rpc/servers.h"

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

}  // namespace
}  // namespace blixard::rpc
