// Secure by default (issue 17): mutual TLS on a node's TCP port, who may
// call what, join tokens. Real daemons, real TLS.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>

#include "blixard/v1/internal.grpc.pb.h"
#include "pki/pki.h"
#include "pki/token.h"
#include "support/daemon.h"

namespace blixard::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Security : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(d_.Start()) << d_.log(); }

  std::string Tls(const char* name) const { return ReadFile(d_.data_dir() + "/tls/" + name); }
  pki::KeyAndCert Ca() const { return {Tls("ca.key"), Tls("ca.crt")}; }
  std::string ClusterId() const { return pki::ParseUri(pki::ReadCert(Tls("node.crt"))->uri)->cluster_id; }

  // A channel showing `id`'s certificate (signed by this cluster's CA).
  std::shared_ptr<grpc::Channel> As(const pki::Identity& id) const {
    auto issued = pki::Issue(Ca(), id);
    EXPECT_TRUE(issued.ok());
    return With(std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{Tls("ca.crt"), issued->cert_pem, issued->key_pem}));
  }
  std::shared_ptr<grpc::Channel> With(std::shared_ptr<rpc::TlsMaterial> m) const {
    rpc::ChannelOptions o;
    o.security = rpc::RpcSecurity::Tls(std::move(m));
    return rpc::NewChannel(d_.addr(), o);
  }
  static grpc::Status CreateVm(const std::shared_ptr<grpc::Channel>& ch, const std::string& name) {
    v1::CreateVmRequest req;
    *req.mutable_spec() = Spec(name);
    v1::CreateVmResponse resp;
    return v1::VmService::NewStub(ch)->CreateVm(Ctx().get(), req, &resp);
  }
  // Runs a second node joining this one with `token`; its output.
  CommandResult Join(const std::string& token, uint64_t id = 2) {
    return RunCommand({BlixardBin(), "node", "--id", std::to_string(id), "--bind",
                       "127.0.0.1:" + std::to_string(FreeTcpPort()), "--data-dir", dir_.path() + "/join-" + std::to_string(id),
                       "--backend", "fake", "--join", d_.addr(), "--token", token, "--join-timeout", "5"});
  }

  TestDaemon d_{{.tcp = true, .extra_args = {}, .backend = "fake"}};
  TempDir dir_;
};

TEST_F(Security, TheLocalAdminWorksWithNoFlagsAndTheFilesArePrivate) {
  // The CLI finds the admin credential in the data dir.
  CommandResult r = d_.Cli({"vm", "create", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(d_.Cli({"vm", "list"}).exit_code, 0);
  // Who did it: in the record, and one audit line on the node.
  r = d_.Cli({"vm", "get", "web"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex("created by: +client local-admin-1 \\(admin\\)"))) << r.out;
  EXPECT_TRUE(WaitUntil([&] { return d_.log().find("audit: client local-admin-1 (admin) create_vm web") != std::string::npos; },
                        std::chrono::seconds(10)))
      << d_.log();
  // The members' certificates expire in a year.
  EXPECT_TRUE(WaitUntil(
      [&] {
        CommandResult st = d_.Cli({"cluster", "members"});
        return st.out.find("CERT EXPIRES") != std::string::npos;
      },
      std::chrono::seconds(10)));
  for (const char* f : {"ca.key", "node.key", "admin.key", "token.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat((d_.data_dir() + "/tls/" + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  // The node shows a certificate of its cluster CA naming it.
  auto info = pki::ReadCert(Tls("node.crt"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->uri, "spiffe://" + ClusterId() + ".blixard/server/1");
  EXPECT_TRUE(pki::VerifyIssuedBy(Tls("ca.crt"), Tls("node.crt")).ok());
}

TEST_F(Security, ACallerWithoutACertificateIsUnauthenticated) {
  grpc::Status s = CreateVm(With(std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{Tls("ca.crt"), "", ""})), "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_NE(s.error_message().find("no credentials"), std::string::npos) << s.error_message();
  // The CLI, run where no credential is, says what to do.
  TempDir elsewhere;
  CommandResult r = RunCommand({BlixardBin(), "--addr", d_.addr(), "--data-dir", elsewhere.path(), "vm", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no credentials for " + d_.addr()), std::string::npos) << r.err;
}

TEST_F(Security, RolesLimitWhatAClientMayCall) {
  const std::string cluster = ClusterId();
  auto reader = As(pki::Identity::Client(cluster, pki::Role::kReader, "rita"));
  grpc::Status s = CreateVm(reader, "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("role reader (rita) may not call VmService/CreateVm"), std::string::npos)
      << s.error_message();
  v1::ListVmsResponse list;
  EXPECT_TRUE(v1::VmService::NewStub(reader)->ListVms(Ctx().get(), {}, &list).ok());

  auto op = As(pki::Identity::Client(cluster, pki::Role::kOperator, "otto"));
  EXPECT_TRUE(CreateVm(op, "by-operator").ok());
  v1::RemoveMemberRequest rm;
  rm.set_node_id(1);
  v1::RemoveMemberResponse rm_resp;
  s = v1::ClusterService::NewStub(op)->RemoveMember(Ctx().get(), rm, &rm_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  // A worker's certificate opens only the worker services, and only for itself.
  auto worker = As(pki::Identity::Worker(cluster, 11));
  EXPECT_EQ(CreateVm(worker, "x").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::HeartbeatRequest hb;
  hb.set_node_id(12);
  v1::HeartbeatResponse hb_resp;
  s = v1::InternalService::NewStub(worker)->Heartbeat(Ctx().get(), hb, &hb_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("may not speak for node 12"), std::string::npos) << s.error_message();
}

TEST_F(Security, ANodeCertificateCannotJoinAsAnotherNode) {
  auto two = As(pki::Identity::Server(ClusterId(), 2));
  v1::JoinClusterRequest req;
  req.set_node_id(3);
  req.set_address("127.0.0.1:1");
  v1::JoinClusterResponse resp;
  grpc::Status s = v1::ClusterService::NewStub(two)->JoinCluster(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("server 2 may not join as node 3"), std::string::npos) << s.error_message();
}

TEST_F(Security, AnotherClustersCertificateAndAPlaintextClientAreRefused) {
  auto other_ca = pki::NewCa("0ther");
  ASSERT_TRUE(other_ca.ok());
  auto theirs = pki::Issue(*other_ca, pki::Identity::Client("0ther", pki::Role::kAdmin, "mallory"));
  ASSERT_TRUE(theirs.ok());
  grpc::Status s = CreateVm(With(std::make_shared<rpc::TlsMaterial>(
                                rpc::TlsMaterial{Tls("ca.crt"), theirs->cert_pem, theirs->key_pem})),
                            "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_NE(s.error_message().find("not one of this cluster's"), std::string::npos) << s.error_message();
  // Plaintext on a TLS port gets nowhere.
  s = CreateVm(rpc::NewChannel(d_.addr(), {}), "x");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  CommandResult r = d_.Cli({"--insecure", "vm", "list"});
  EXPECT_NE(r.exit_code, 0) << r.out;
}

TEST_F(Security, BadJoinTokensAreRefusedWithTheReason) {
  const std::string fp = pki::ReadCert(Tls("ca.crt"))->sha256_hex;
  {  // expired
    const auto t = pki::MakeJoinToken(Tls("token.key"), fp, pki::Identity::Kind::kServer, std::time(nullptr) - 10);
    CommandResult r = Join(pki::Encode(t));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("the join token expired"), std::string::npos) << r.err;
  }
  {  // made with another key (forged)
    const auto t = pki::MakeJoinToken(pki::NewTokenKey(), fp, pki::Identity::Kind::kServer, std::time(nullptr) + 600);
    CommandResult r = Join(pki::Encode(t));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not made by this cluster"), std::string::npos) << r.err;
  }
  {  // the server's CA is not the token's: nothing is sent
    const auto t = pki::MakeJoinToken(Tls("token.key"), std::string(64, 'b'), pki::Identity::Kind::kServer,
                                      std::time(nullptr) + 600);
    CommandResult r = Join(pki::Encode(t));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("refusing to join through it"), std::string::npos) << r.err;
    EXPECT_EQ(d_.log().find("issued a certificate"), std::string::npos) << d_.log();
  }
  {  // a worker token for a server
    CommandResult t = d_.Cli({"cluster", "token", "create", "--role", "worker"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    CommandResult r = Join(t.out.substr(0, t.out.find('\n')));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("the token is for a worker"), std::string::npos) << r.err;
  }
}

TEST(SecurityInsecure, InsecureWorksOnBothSides) {
  TestDaemon d({.tcp = true, .extra_args = {"--insecure"}, .backend = "fake"});
  ASSERT_TRUE(d.Start()) << d.log();
  EXPECT_NE(d.log().find("--insecure: serving without TLS"), std::string::npos);
  CommandResult r = d.Cli({"--insecure", "vm", "create", "web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  CommandResult t = d.Cli({"--insecure", "cluster", "token", "create"});
  EXPECT_NE(t.exit_code, 0);
  EXPECT_NE(t.err.find("--insecure"), std::string::npos) << t.err;
}

}  // namespace
}  // namespace blixard::testing
