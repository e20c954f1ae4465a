#include "daemon/credentials.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "blixard/v1/internal.grpc.pb.h"
#include "common/file.h"
#include "pki/pki.h"
#include "pki/token.h"
#include "rpc/channels.h"

namespace blixard::daemon {
namespace {

struct Files {
  std::optional<std::string> ca_crt, node_crt, node_key, ca_key;
};

Result<Files> ReadFiles(const std::string& dir) {
  Files f;
  for (auto [name, out] : {std::pair{"ca.crt", &f.ca_crt}, std::pair{"node.crt", &f.node_crt},
                           std::pair{"node.key", &f.node_key}, std::pair{"ca.key", &f.ca_key}}) {
    auto r = ReadWholeFile(dir + "/" + name);
    if (!r.ok()) return r.status();
    *out = std::move(r).value();
  }
  return f;
}

Status MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::IoError("cannot create " + dir + ": " + std::strerror(errno));
  }
  if (::chmod(dir.c_str(), 0700) != 0) return Status::IoError("cannot chmod " + dir + ": " + std::strerror(errno));
  return Status::Ok();
}

// Writes the files of `c` (node.crt last: its presence marks a complete set).
Status Save(const std::string& data_dir, const NodeCredentials& c) {
  const std::string dir = TlsDir(data_dir);
  if (Status s = MakeDir(dir); !s.ok()) return s;
  std::vector<std::pair<std::string, std::string>> files = {{"ca.crt", c.tls->ca_pem}, {"node.key", c.tls->key_pem}};
  if (c.authority) {
    files.push_back({"ca.key", c.authority->ca.key_pem});
    // The local user's credential: whoever can read this data dir is the
    // cluster's admin anyway.
    auto admin = pki::Issue(c.authority->ca, pki::Identity::Client(c.identity.cluster_id, pki::Role::kAdmin,
                                                                   "local-admin-" + std::to_string(c.identity.node_id)),
                            c.authority->cert_lifetime_s);
    if (!admin.ok()) return admin.status();
    files.push_back({"admin.key", admin->key_pem});
    files.push_back({"admin.crt", admin->cert_pem});
  }
  files.push_back({"node.crt", c.tls->cert_pem});
  for (const auto& [name, data] : files) {
    if (Status s = WriteFileAtomically(dir + "/" + name, data, 0600); !s.ok()) return s;
  }
  return Status::Ok();
}

std::shared_ptr<const api::Authority> AuthorityOf(const std::string& cluster_id, const std::string& ca_pem,
                                                  const std::string& ca_key,
                                                  int64_t cert_lifetime_s = pki::kDefaultCertLifetimeS) {
  auto info = pki::ReadCert(ca_pem);
  return std::make_shared<api::Authority>(api::Authority{cluster_id, pki::KeyAndCert{ca_key, ca_pem},
                                                         info.ok() ? info->sha256_hex : "", cert_lifetime_s});
}

// `m`, read again from `dir` (rpc::TlsMaterial::watch_dir) often enough for
// a renewal (daemon/cert_renewal.h) to be seen well before `cert` expires:
// every thirtieth of its lifetime, at least every second, at most every
// minute.
std::shared_ptr<const rpc::TlsMaterial> Watched(const std::string& dir, rpc::TlsMaterial m, const pki::CertInfo& cert) {
  m.watch_dir = dir;
  m.watch_every_s = static_cast<unsigned>(std::clamp<int64_t>(pki::LifetimeS(cert) / 30, 1, 60));
  return std::make_shared<rpc::TlsMaterial>(std::move(m));
}

grpc::ClientContext* WithDeadline(grpc::ClientContext& ctx, node::Deadline d) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(d - node::Clock::now()));
  return &ctx;
}

Status FromGrpc(const grpc::Status& s) { return Status(static_cast<StatusCode>(s.error_code()), s.error_message()); }

// One attempt through `addr`: kUnavailable is worth another try.
Result<NodeCredentials> JoinOnce(const std::string& addr, const pki::JoinToken& token, const std::string& token_text,
                                 pki::Identity::Kind kind, uint64_t node_id, node::Deadline deadline) {
  rpc::ChannelOptions fetch;
  fetch.security = rpc::RpcSecurity::FetchCa();
  fetch.connect_timeout_ms = 1000;
  auto stub = v1::CertificateService::NewStub(rpc::NewChannel(addr, fetch));
  grpc::ClientContext c1;
  v1::GetCaCertificateResponse ca;
  if (grpc::Status s = stub->GetCaCertificate(WithDeadline(c1, deadline), {}, &ca); !s.ok()) return FromGrpc(s);
  auto info = pki::ReadCert(ca.ca_pem());
  if (!info.ok() || info->sha256_hex != token.ca_sha256) {
    return Status::PermissionDenied("the server at " + addr + " shows a CA whose fingerprint " +
                                    (info.ok() ? info->sha256_hex : std::string("(unreadable)")) +
                                    " is not the token's " + token.ca_sha256 +
                                    ": refusing to join through it (a wrong address, or someone in between)");
  }
  auto key = pki::NewPrivateKey();
  if (!key.ok()) return key.status();
  // The CA is known now: the rest goes over a channel that checks the server.
  rpc::ChannelOptions checked;
  checked.security = rpc::RpcSecurity::Tls(std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{ca.ca_pem(), "", ""}));
  checked.connect_timeout_ms = 1000;
  auto stub2 = v1::CertificateService::NewStub(rpc::NewChannel(addr, checked));
  v1::IssueCertificateRequest req;
  req.set_token(token_text);
  req.set_node_id(node_id);
  req.set_worker(kind == pki::Identity::Kind::kWorker);
  auto csr = pki::NewCsr(*key, kind == pki::Identity::Kind::kWorker ? pki::Identity::Worker("", node_id)
                                                                    : pki::Identity::Server("", node_id));
  if (!csr.ok()) return csr.status();
  req.set_csr_pem(*csr);
  grpc::ClientContext c2;
  v1::IssueCertificateResponse resp;
  if (grpc::Status s = stub2->IssueCertificate(WithDeadline(c2, deadline), req, &resp); !s.ok()) {
    const Status st = FromGrpc(s);
    if (st.code() == StatusCode::kUnavailable) return st;
    return Status(st.code(), "the cluster refused a certificate for node " + std::to_string(node_id) + ": " +
                                 st.message());
  }
  const pki::Identity want = kind == pki::Identity::Kind::kWorker ? pki::Identity::Worker(resp.cluster_id(), node_id)
                                                                  : pki::Identity::Server(resp.cluster_id(), node_id);
  auto got = pki::ReadCert(resp.cert_pem());
  if (!got.ok() || got->uri != pki::ToUri(want) || !pki::VerifyIssuedBy(ca.ca_pem(), resp.cert_pem()).ok() ||
      !pki::KeyMatchesCert(*key, resp.cert_pem())) {
    return Status::PermissionDenied("the server at " + addr + " answered with a certificate that is not " +
                                    want.Describe() + "'s of its CA");
  }
  NodeCredentials c;
  c.identity = want;
  c.cert = *got;
  c.tls = std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{ca.ca_pem(), resp.cert_pem(), *key});
  if (kind == pki::Identity::Kind::kServer) {
    if (resp.ca_key_pem().empty()) {
      return Status::PermissionDenied("the server at " + addr + " gave a server no CA key");
    }
    c.authority = AuthorityOf(resp.cluster_id(), ca.ca_pem(), resp.ca_key_pem());
  }
  return c;
}

}  // namespace

std::string TlsDir(const std::string& data_dir) { return data_dir + "/tls"; }

Result<std::optional<NodeCredentials>> LoadCredentials(const std::string& data_dir, const pki::Identity& expected) {
  const std::string dir = TlsDir(data_dir);
  auto f = ReadFiles(dir);
  if (!f.ok()) return f.status();
  if (!f->node_crt) return std::optional<NodeCredentials>();
  if (!f->ca_crt || !f->node_key) {
    return Status::FailedPrecondition(dir + " is incomplete (ca.crt or node.key missing); restore it from a backup");
  }
  auto info = pki::ReadCert(*f->node_crt);
  if (!info.ok()) return Status::FailedPrecondition(dir + "/node.crt: " + info.status().message());
  auto id = pki::ParseUri(info->uri);
  if (!id.ok()) return Status::FailedPrecondition(dir + "/node.crt: " + id.status().message());
  if (id->kind != expected.kind || id->node_id != expected.node_id) {
    return Status::FailedPrecondition("data dir belongs to node " + std::to_string(id->node_id) + " (its certificate in " +
                                      dir + " is " + id->Describe() + "'s); start with --id " +
                                      std::to_string(id->node_id) + " and that --role, or use another --data-dir");
  }
  if (!pki::KeyMatchesCert(*f->node_key, *f->node_crt)) {
    return Status::FailedPrecondition(dir + "/node.key is not the key of node.crt");
  }
  if (info->not_after_unix <= std::time(nullptr)) {
    spdlog::warn("the certificate in {} expired; other nodes will refuse this one", dir);
  }
  NodeCredentials c;
  c.identity = *id;
  c.cert = *info;
  c.tls = Watched(dir, rpc::TlsMaterial{*f->ca_crt, *f->node_crt, *f->node_key}, *info);
  if (expected.kind == pki::Identity::Kind::kServer) {
    if (!f->ca_key) return Status::FailedPrecondition(dir + " lacks ca.key, which every server holds");
    c.authority = AuthorityOf(id->cluster_id, *f->ca_crt, *f->ca_key);
  }
  return std::optional<NodeCredentials>(std::move(c));
}

Result<NodeCredentials> CreateClusterCredentials(const std::string& data_dir, const std::string& cluster_id,
                                                 uint64_t node_id, int64_t cert_lifetime_s) {
  auto ca = pki::NewCa(cluster_id);
  if (!ca.ok()) return ca.status();
  NodeCredentials c;
  c.identity = pki::Identity::Server(cluster_id, node_id);
  auto node = pki::Issue(*ca, c.identity, cert_lifetime_s);
  if (!node.ok()) return node.status();
  c.cert = *pki::ReadCert(node->cert_pem);
  c.authority = AuthorityOf(cluster_id, ca->cert_pem, ca->key_pem, cert_lifetime_s);
  c.tls = std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{ca->cert_pem, node->cert_pem, node->key_pem});
  if (Status s = Save(data_dir, c); !s.ok()) return s;
  c.tls = Watched(TlsDir(data_dir), *c.tls, c.cert);
  spdlog::info("made the cluster CA (fingerprint {}) and this node's certificate in {}", c.authority->ca_sha256,
               TlsDir(data_dir));
  return c;
}

Result<NodeCredentials> JoinWithToken(const std::string& data_dir, pki::Identity::Kind kind, uint64_t node_id,
                                      const std::vector<std::string>& join, const std::string& token_text,
                                      node::Deadline deadline) {
  auto token = pki::ParseJoinToken(token_text);
  if (!token.ok()) return token.status();
  Status last = Status::Unavailable("no server answered");
  auto backoff = std::chrono::milliseconds(100);
  for (size_t attempt = 0; node::Clock::now() < deadline; ++attempt) {
    const std::string& addr = join[attempt % join.size()];
    auto c = JoinOnce(addr, *token, token_text, kind, node_id,
                      std::min(deadline, node::Clock::now() + std::chrono::seconds(10)));
    if (c.ok()) {
      if (Status s = Save(data_dir, *c); !s.ok()) return s;
      c->tls = Watched(TlsDir(data_dir), *c->tls, c->cert);
      spdlog::info("got the certificate of {} from {}", c->identity.Describe(), addr);
      return c;
    }
    last = Status(c.status().code(), "through " + addr + ": " + c.status().message());
    if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded) return last;
    spdlog::warn("asking {} for a certificate failed, retrying: {}", addr, last.message());
    std::this_thread::sleep_for(std::min<node::Clock::duration>(backoff, deadline - node::Clock::now()));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  return Status::Unavailable("could not get a certificate before the deadline (--join-timeout): " + last.message());
}

}  // namespace blixard::daemon
