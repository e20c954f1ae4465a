// Secure by default (issue 17): mutual TLS on a node's TCP port, who may
// call what, join tokens, client tokens and certificates. Real daemons,
// real TLS.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

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

  // `cluster token create ARGS`'s token.
  std::string JoinToken(std::vector<std::string> args) const {
    args.insert(args.begin(), {"cluster", "token", "create"});
    CommandResult r = d_.Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }
  // A join's certificate request for node `id`, as daemon/credentials.cc sends it.
  grpc::Status Issue(const std::string& token, uint64_t id, bool worker) const {
    auto key = pki::NewPrivateKey();
    v1::IssueCertificateRequest req;
    req.set_token(token);
    req.set_node_id(id);
    req.set_worker(worker);
    req.set_csr_pem(*pki::NewCsr(*key, pki::Identity::Worker("", id)));
    v1::IssueCertificateResponse resp;
    auto ch = With(std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{Tls("ca.crt"), "", ""}));
    return v1::CertificateService::NewStub(ch)->IssueCertificate(Ctx().get(), req, &resp);
  }
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
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
  for (const char* f : {"ca.key", "node.key", "admin.key"}) {
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
  const pki::JoinToken good = *pki::ParseJoinToken(JoinToken({}));
  {  // the secret altered
    pki::JoinToken t = good;
    t.secret = pki::NewJoinToken(t.ca_sha256).secret;
    CommandResult r = Join(pki::Encode(t));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("does not match: it was altered"), std::string::npos) << r.err;
  }
  {  // made by no one
    CommandResult r = Join(pki::Encode(pki::NewJoinToken(good.ca_sha256)));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is unknown or was revoked"), std::string::npos) << r.err;
  }
  {  // the server's CA is not the token's: nothing is sent
    pki::JoinToken t = good;
    t.ca_sha256 = std::string(64, 'b');
    CommandResult r = Join(pki::Encode(t));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("refusing to join through it"), std::string::npos) << r.err;
    EXPECT_EQ(d_.log().find("issued a certificate"), std::string::npos) << d_.log();
  }
  {  // a worker token for a server
    CommandResult r = Join(JoinToken({"--role", "worker"}));
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is for a worker, not for a server"), std::string::npos) << r.err;
  }
  {  // revoked
    const std::string t = JoinToken({});
    CommandResult rv = d_.Cli({"cluster", "token", "revoke", pki::ParseJoinToken(t)->id});
    ASSERT_EQ(rv.exit_code, 0) << rv.err;
    CommandResult r = Join(t);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is unknown or was revoked"), std::string::npos) << r.err;
  }
  {  // expired: valid one second
    const std::string t = JoinToken({"--ttl", "1s"});
    const int64_t made = NowMs();
    ASSERT_TRUE(WaitUntil([&] { return NowMs() > made + 1500; }, std::chrono::seconds(5)));
    CommandResult r = Join(t);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("expired"), std::string::npos) << r.err;
  }
}

TEST_F(Security, AJoinTokenWithUsesIsUsedUpAndTheListCountsThem) {
  const std::string t = JoinToken({"--uses", "1", "--role", "worker"});
  EXPECT_TRUE(Issue(t, 21, /*worker=*/true).ok());
  grpc::Status s = Issue(t, 22, /*worker=*/true);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  EXPECT_NE(s.error_message().find("used up (1 of 1 uses)"), std::string::npos) << s.error_message();
  CommandResult list = d_.Cli({"cluster", "token", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_TRUE(std::regex_search(list.out, std::regex(pki::ParseJoinToken(t)->id + " +worker +1/1 "))) << list.out;
  EXPECT_EQ(list.out.find(pki::ParseJoinToken(t)->secret), std::string::npos) << list.out;
  // A refused id spends no use: an id the cluster has, with a fresh token.
  const std::string once = JoinToken({"--uses", "1"});
  EXPECT_EQ(Issue(once, 1, false).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_TRUE(Issue(once, 23, false).ok());
}

TEST_F(Security, ClientTokensCarryTheirRoleAndStopWorkingWhenRevokedOrExpired) {
  CommandResult made = d_.Cli({"token", "create", "--role", "reader", "--name", "rita"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string rita = made.out.substr(0, made.out.find('\n'));
  ASSERT_TRUE(pki::ParseClientToken(rita).ok()) << rita;
  CommandResult r = d_.Cli({"--token", rita, "vm", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = d_.Cli({"--token", rita, "vm", "create", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("role reader (rita)"), std::string::npos) << r.err;
  r = d_.Cli({"--token", rita, "token", "create", "--role", "admin"});
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;
  // An operator's token through BLIXARD_TOKEN; the VM records who made it.
  made = d_.Cli({"token", "create", "--role", "operator", "--name", "otto"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string otto = made.out.substr(0, made.out.find('\n'));
  r = RunCommand({BlixardBin(), "--data-dir", d_.data_dir(), "--addr", d_.addr(), "vm", "create", "by-otto"},
                 {"BLIXARD_TOKEN=" + otto});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = d_.Cli({"vm", "get", "by-otto"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex("created by: +client otto \\(operator\\)"))) << r.out;
  r = d_.Cli({"token", "list"});
  EXPECT_TRUE(std::regex_search(r.out, std::regex(pki::ParseClientToken(rita)->id + " +rita +reader +never"))) << r.out;
  // Revoked: refused from then on.
  ASSERT_EQ(d_.Cli({"token", "revoke", rita}).exit_code, 0);
  r = d_.Cli({"--token", rita, "vm", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown, revoked or altered"), std::string::npos) << r.err;
  // Expired.
  made = d_.Cli({"token", "create", "--role", "reader", "--ttl", "1s"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string brief = made.out.substr(0, made.out.find('\n'));
  const int64_t at = NowMs();
  ASSERT_TRUE(WaitUntil([&] { return NowMs() > at + 1500; }, std::chrono::seconds(5)));
  r = d_.Cli({"--token", brief, "vm", "list"});
  EXPECT_NE(r.err.find("expired"), std::string::npos) << r.err;
}

TEST_F(Security, AClientCertificateFromCertCreateCarriesItsRoleUntilItIsRevoked) {
  const std::string out = dir_.path() + "/otto";
  CommandResult r = d_.Cli({"cert", "create", "--role", "operator", "--name", "otto", "--out", out, "--ttl", "12h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("BLIXARD_CERT=" + out + "/client.crt"), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((out + "/client.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::vector<std::string> env = {"BLIXARD_CA=" + out + "/ca.crt", "BLIXARD_CERT=" + out + "/client.crt",
                                        "BLIXARD_KEY=" + out + "/client.key"};
  TempDir empty;  // no data dir credentials: only the files made above
  r = RunCommand({BlixardBin(), "--data-dir", empty.path(), "--addr", d_.addr(), "vm", "create", "by-cert"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCommand({BlixardBin(), "--data-dir", empty.path(), "--addr", d_.addr(), "cluster", "remove", "1"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("role operator (otto) may not call ClusterService/RemoveMember"), std::string::npos) << r.err;
  EXPECT_TRUE(std::regex_search(d_.Cli({"vm", "get", "by-cert"}).out, std::regex("created by: +client otto")));
  // Revoked by its file: refused from then on, saying so.
  r = d_.Cli({"cert", "revoke", out + "/client.crt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string serial = pki::ReadCert(ReadFile(out + "/client.crt"))->serial_hex;
  EXPECT_NE(r.out.find("certificate " + serial + " revoked"), std::string::npos) << r.out;
  r = RunCommand({BlixardBin(), "--data-dir", empty.path(), "--addr", d_.addr(), "vm", "list"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("client otto (operator) (serial " + serial + ") was revoked"), std::string::npos) << r.err;
  // The admin's own certificate is untouched.
  EXPECT_EQ(d_.Cli({"vm", "list"}).exit_code, 0);
}

TEST_F(Security, AContextKeepsTheAddressAndTheCredentialsAndAFlagWinsOverIt) {
  TempDir config;
  const std::vector<std::string> env = {"XDG_CONFIG_HOME=" + config.path()};
  const auto token = [&](const char* role, const char* name) {
    CommandResult r = d_.Cli({"token", "create", "--role", role, "--name", name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  };
  const std::string rita = token("reader", "rita");
  CommandResult r = RunCommand({BlixardBin(), "context", "add", "lab", "--addr", d_.addr(), "--ca",
                                d_.data_dir() + "/tls/ca.crt", "--token", rita},
                               env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(current)"), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((config.path() + "/blixard/config").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No --addr, no credentials in ./data: the context's.
  r = RunCommand({BlixardBin(), "vm", "list"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCommand({BlixardBin(), "vm", "create", "x"}, env);
  EXPECT_NE(r.err.find("role reader (rita)"), std::string::npos) << r.err;
  // A flag wins over the context.
  r = RunCommand({BlixardBin(), "--token", token("operator", "otto"), "vm", "create", "by-otto"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(RunCommand({BlixardBin(), "context", "add", "other", "--addr", "127.0.0.1:1"}, env).exit_code, 0);
  r = RunCommand({BlixardBin(), "context", "list"}, env);
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\* +lab +" + d_.addr() + " +token"))) << r.out;
  ASSERT_EQ(RunCommand({BlixardBin(), "context", "use", "other"}, env).exit_code, 0);
  r = RunCommand({BlixardBin(), "--insecure", "vm", "list"}, env);
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
  EXPECT_EQ(RunCommand({BlixardBin(), "context", "use", "nope"}, env).exit_code, 1);
}

TEST(SecurityRenewal, CertificatesAreRenewedBeforeTheyExpireAndTheNodesKeepServing) {
  TestDaemon server({.tcp = true, .extra_args = {"--cert-lifetime", "12s"}, .backend = "fake"});
  ASSERT_TRUE(server.Start()) << server.log();
  CommandResult token = server.Cli({"cluster", "token", "create", "--role", "worker"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  TestDaemon worker({.id = 2, .tcp = true,
                     .extra_args = {"--role", "worker", "--join", server.addr(), "--token",
                                    token.out.substr(0, token.out.find('\n'))},
                     .backend = "fake"});
  worker.Spawn();
  const auto cert = [](const TestDaemon& d) { return pki::ReadCert(ReadFile(d.data_dir() + "/tls/node.crt")); };
  ASSERT_TRUE(WaitUntil([&] { return cert(worker).ok(); }, std::chrono::seconds(20))) << worker.log();
  const pki::CertInfo first_server = *cert(server);
  const pki::CertInfo first_worker = *cert(worker);
  EXPECT_LE(pki::LifetimeS(first_worker), 12);  // the server signs with its --cert-lifetime
  // Each is renewed (at two thirds of its lifetime), before it expires.
  for (const auto& [d, first] : {std::pair{&server, first_server}, std::pair{&worker, first_worker}}) {
    ASSERT_TRUE(WaitUntil([&] { return cert(*d).ok() && cert(*d)->not_after_unix > first.not_after_unix; },
                          std::chrono::seconds(30)))
        << d->log();
    EXPECT_LT(pki::SignedAtUnix(*cert(*d)), first.not_after_unix);
  }
  // The log line follows the file.
  for (const auto& [d, line] : {std::pair{&server, "renewed the certificate of server 1"},
                                std::pair{&worker, "renewed the certificate of worker 2"}}) {
    EXPECT_TRUE(WaitUntil([&] { return d->log().find(line) != std::string::npos; }, std::chrono::seconds(10)))
        << d->log();
  }
  // Past both first certificates' expiry: a new client (which checks the
  // server's certificate, with the admin credential renewed beside it) is
  // served, and the worker, on its renewed certificate, stays ready.
  const int64_t expired = std::max(first_server.not_after_unix, first_worker.not_after_unix);
  ASSERT_TRUE(WaitUntil([&] { return std::time(nullptr) > expired + 1; }, std::chrono::seconds(30)));
  CommandResult r = server.Cli({"vm", "create", "after-renewal"});
  EXPECT_EQ(r.exit_code, 0) << r.err << server.log();
  EXPECT_TRUE(WaitUntil(
      [&] {
        CommandResult nodes = server.Cli({"node", "list"});
        return std::regex_search(nodes.out, std::regex("\\n2 +[^\\n]*worker +ready"));
      },
      std::chrono::seconds(20)))
      << server.Cli({"node", "list"}).out << worker.log();
  EXPECT_EQ(server.log().find("expired; renew it"), std::string::npos) << server.log();
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
