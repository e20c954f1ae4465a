#include "api/token_service.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <cctype>

#include "api/access.h"
#include "api/convert.h"
#include "pki/token.h"
#include "state/commands.h"
#include "state/validation.h"

namespace blixard::api {
namespace {

constexpr int64_t kMaxJoinTtlS = 30LL * 24 * 3600;
constexpr int64_t kDefaultJoinTtlS = 3600;
constexpr int64_t kMaxClientTtlS = 5LL * 365 * 24 * 3600;
constexpr int64_t kDefaultCertTtlS = 90LL * 24 * 3600;

Status NoAuthority() {
  return Status::FailedPrecondition("this node runs with --insecure: it makes no tokens or certificates "
                                    "(nodes join it and clients call it without any)");
}

// Proposes `cmd` as `actor`: the state machine's answer, or why it was not applied.
Status Record(node::Node& node, v1::Command cmd, const std::string& actor, node::Deadline deadline) {
  auto r = ProposeAudited(node, std::move(cmd), actor, deadline);
  return r.ok() ? r->status : r.status();
}

Status CheckTtl(int64_t ttl_s, int64_t max_s, const char* flag) {
  if (ttl_s >= 0 && ttl_s <= max_s) return Status::Ok();
  return Status::InvalidArgument(std::string(flag) + " must be between 1s and " + std::to_string(max_s / 3600) +
                                 "h, not " + std::to_string(ttl_s) + "s");
}

v1::TokenKind KindOf(pki::Identity::Kind k) {
  return k == pki::Identity::Kind::kWorker ? v1::TOKEN_KIND_JOIN_WORKER : v1::TOKEN_KIND_JOIN_SERVER;
}

// The client a new token or certificate names: `role`, and `name` (the
// role's name when empty). kInvalidArgument for a bad role or name.
Result<pki::Identity> NewClient(const Authority& authority, const std::string& role, const std::string& name) {
  auto r = pki::ParseRole(role);
  if (!r.ok()) return r.status();
  const std::string n = name.empty() ? std::string(pki::RoleName(*r)) : name;
  if (Status s = state::ValidateTokenName(n); !s.ok()) return s;
  return pki::Identity::Client(authority.cluster_id, *r, n);
}

// A token record for the secret `secret` of token `id`.
v1::Token NewRecord(const std::string& id, const std::string& secret, v1::TokenKind kind, int64_t expires_unix_ms) {
  v1::Token record;
  record.set_id(id);
  record.set_secret_sha256(pki::SecretSha256(secret));
  record.set_kind(kind);
  record.set_expires_unix_ms(expires_unix_ms);
  return record;
}

bool IsJoinKind(v1::TokenKind k) { return k == v1::TOKEN_KIND_JOIN_SERVER || k == v1::TOKEN_KIND_JOIN_WORKER; }

}  // namespace

Result<v1::CreateJoinTokenResponse> CreateJoinToken(node::Node& node, const Authority& authority,
                                                    const v1::CreateJoinTokenRequest& req, const std::string& actor,
                                                    node::Deadline deadline) {
  v1::TokenKind kind;
  if (req.role() == "server" || req.role().empty()) {
    kind = v1::TOKEN_KIND_JOIN_SERVER;
  } else if (req.role() == "worker") {
    kind = v1::TOKEN_KIND_JOIN_WORKER;
  } else {
    return Status::InvalidArgument("unknown node role '" + req.role() + "'; use --role server or --role worker");
  }
  const int64_t ttl_s = req.ttl_s() == 0 ? kDefaultJoinTtlS : req.ttl_s();
  if (Status s = CheckTtl(ttl_s, kMaxJoinTtlS, "--ttl"); !s.ok()) return s;
  const pki::JoinToken t = pki::NewJoinToken(authority.ca_sha256);
  const int64_t now = NowUnixMs();
  v1::Token record = NewRecord(t.id, t.secret, kind, now + ttl_s * 1000);
  record.set_max_uses(req.uses());
  if (Status s = Record(node, state::MakeCreateToken(record, now), actor, deadline); !s.ok()) return s;
  v1::CreateJoinTokenResponse resp;
  resp.set_token(pki::Encode(t));
  resp.set_expires_unix(record.expires_unix_ms() / 1000);
  resp.set_id(t.id);
  return resp;
}

Status UseJoinToken(node::Node& node, const Authority& authority, std::string_view text, pki::Identity::Kind kind,
                    node::Deadline deadline) {
  auto t = pki::ParseJoinToken(text);
  if (!t.ok()) return t.status();
  if (t->ca_sha256 != authority.ca_sha256) {
    return Status::PermissionDenied("the join token is for another cluster (its CA fingerprint is " +
                                    t->ca_sha256.substr(0, 16) + "…, this cluster's is " +
                                    authority.ca_sha256.substr(0, 16) + "…)");
  }
  return Record(node, state::MakeUseToken(t->id, pki::SecretSha256(t->secret), KindOf(kind), NowUnixMs()), "",
                deadline);
}

CredentialCache::CredentialCache(node::Node& node, std::string cluster_id)
    : node_(node), cluster_id_(std::move(cluster_id)) {
  listener_ = node_.AddApplyListener([this](uint64_t) { stale_.store(true, std::memory_order_release); });
}

CredentialCache::~CredentialCache() { node_.RemoveApplyListener(listener_); }

std::shared_ptr<const CredentialCache::View> CredentialCache::Current() {
  // A pass that applies while the copy is made marks it stale again: the
  // next call copies once more, so no applied change is missed for long.
  if (stale_.exchange(false, std::memory_order_acq_rel)) {
    auto next = std::make_shared<View>();
    node_.Read([&](const state::ClusterState& st) {
      for (const auto& [id, t] : st.tokens()) {
        if (t.kind() == v1::TOKEN_KIND_CLIENT) next->client_tokens.emplace(id, t);
      }
      for (const auto& [serial, r] : st.revoked_certificates()) next->revoked.insert(serial);
    });
    view_.store(std::move(next), std::memory_order_release);
  }
  return view_.load(std::memory_order_acquire);
}

Result<pki::Identity> CredentialCache::Verify(std::string_view text) {
  auto t = pki::ParseClientToken(text);
  if (!t.ok()) return Status::Unauthenticated(t.status().message());
  const auto view = Current();
  auto it = view->client_tokens.find(t->id);
  if (it == view->client_tokens.end() || !pki::SecretMatches(t->secret, it->second.secret_sha256())) {
    return Status::Unauthenticated("the token is unknown, revoked or altered; ask an admin for a new one "
                                   "('blixard token create --role ROLE')");
  }
  const v1::Token& rec = it->second;
  const int64_t now = NowUnixMs();
  if (rec.expires_unix_ms() != 0 && now >= rec.expires_unix_ms()) {
    return Status::Unauthenticated("token " + t->id + " (" + rec.name() + ") expired " +
                                   std::to_string((now - rec.expires_unix_ms()) / 1000) + " s ago");
  }
  auto role = pki::ParseRole(rec.role());
  if (!role.ok()) return Status::Unauthenticated("token " + t->id + " has no valid role");
  return pki::Identity::Client(cluster_id_, *role, rec.name());
}

bool CredentialCache::IsRevoked(const std::string& serial) { return Current()->revoked.contains(serial); }

grpc::Status TokenServiceImpl::CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                                           v1::CreateTokenResponse* resp) {
  if (!authority_) return ToGrpc(NoAuthority());
  auto client = NewClient(*authority_, req->role(), req->name());
  if (!client.ok()) return ToGrpc(client.status());
  if (Status s = CheckTtl(req->ttl_s(), kMaxClientTtlS, "--ttl"); !s.ok()) return ToGrpc(s);
  const pki::ClientToken t = pki::NewClientToken();
  const int64_t now = NowUnixMs();
  v1::Token record =
      NewRecord(t.id, t.secret, v1::TOKEN_KIND_CLIENT, req->ttl_s() == 0 ? 0 : now + req->ttl_s() * 1000);
  record.set_role(pki::RoleName(client->role));
  record.set_name(client->name);
  if (Status s = Record(node_, state::MakeCreateToken(record, now), CallerName(ctx), DeadlineOf(ctx)); !s.ok()) {
    return ToGrpc(s);
  }
  resp->set_token(pki::Encode(t));
  resp->set_id(t.id);
  resp->set_expires_unix(record.expires_unix_ms() / 1000);
  return grpc::Status::OK;
}

grpc::Status TokenServiceImpl::ListTokens(grpc::ServerContext* ctx, const v1::ListTokensRequest* req,
                                          v1::ListTokensResponse* resp) {
  if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  node_.Read([&](const state::ClusterState& st) {
    for (const auto& [id, t] : st.tokens()) {
      if (IsJoinKind(t.kind()) != req->join()) continue;
      v1::Token* out = resp->add_tokens();
      *out = t;
      out->clear_secret_sha256();
    }
  });
  return grpc::Status::OK;
}

grpc::Status TokenServiceImpl::RevokeToken(grpc::ServerContext* ctx, const v1::RevokeTokenRequest* req,
                                           v1::RevokeTokenResponse*) {
  auto id = pki::TokenIdOf(req->id());
  if (!id.ok()) return ToGrpc(id.status());
  return ToGrpc(Record(node_, state::MakeRevokeToken(*id, NowUnixMs()), CallerName(ctx), DeadlineOf(ctx)));
}

grpc::Status TokenServiceImpl::CreateCertificate(grpc::ServerContext* ctx, const v1::CreateCertificateRequest* req,
                                                 v1::CreateCertificateResponse* resp) {
  if (!authority_) return ToGrpc(NoAuthority());
  auto client = NewClient(*authority_, req->role(), req->name());
  if (!client.ok()) return ToGrpc(client.status());
  const int64_t ttl_s = req->ttl_s() == 0 ? kDefaultCertTtlS : req->ttl_s();
  if (Status s = CheckTtl(ttl_s, kMaxClientTtlS, "--ttl"); !s.ok()) return ToGrpc(s);
  const pki::Identity& id = *client;
  auto cert = pki::SignCsr(authority_->ca, req->csr_pem(), id, ttl_s);
  if (!cert.ok()) return ToGrpc(cert.status());
  auto info = pki::ReadCert(*cert);
  if (!info.ok()) return ToGrpc(info.status());
  resp->set_cert_pem(*cert);
  resp->set_ca_pem(authority_->ca.cert_pem);
  resp->set_expires_unix(info->not_after_unix);
  resp->set_serial(info->serial_hex);
  spdlog::info("audit: {} made a certificate for {} valid until {}", CallerName(ctx), id.Describe(),
               info->not_after_unix);
  return grpc::Status::OK;
}

grpc::Status TokenServiceImpl::RevokeCertificate(grpc::ServerContext* ctx, const v1::RevokeCertificateRequest* req,
                                                 v1::RevokeCertificateResponse* resp) {
  v1::RevokedCertificate r;
  if (!req->cert_pem().empty()) {
    auto info = pki::ReadCert(req->cert_pem());
    if (!info.ok()) return ToGrpc(info.status());
    if (authority_) {
      if (Status s = pki::VerifyIssuedBy(authority_->ca.cert_pem, req->cert_pem());
          !s.ok() && s.message().find("expired") == std::string::npos) {
        return ToGrpc(Status::InvalidArgument("that certificate is not one of this cluster's: " + s.message()));
      }
    }
    r.set_serial(info->serial_hex);
    r.set_expires_unix_ms(info->not_after_unix * 1000);
    auto id = pki::ParseUri(info->uri);
    if (id.ok()) r.set_subject(id->Describe());
  } else {
    std::string serial = req->serial();
    for (char& c : serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    while (serial.size() > 1 && serial[0] == '0') serial.erase(0, 1);
    r.set_serial(serial);
  }
  if (Status s = Record(node_, state::MakeRevokeCertificate(r, NowUnixMs()), CallerName(ctx), DeadlineOf(ctx)); !s.ok()) {
    return ToGrpc(s);
  }
  resp->set_serial(r.serial());
  return grpc::Status::OK;
}

}  // namespace blixard::api
