// ClusterState: tokens (state.proto's Token), the records behind join
// tokens and clients' bearer tokens (pki/token.h), and the client
// certificates revoked before they expire. The state holds a hash of each
// secret, never the secret.
#include "state/cluster_state.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

// Expired tokens linger this long (token list shows them as expired), then
// the next CreateToken drops them.
constexpr int64_t kExpiredKeptMs = 24LL * 3600 * 1000;

std::string TokenNotFound(std::string_view id) {
  return "token " + Quote(id) + " is unknown or was revoked; 'blixard token list' or 'blixard cluster token list' shows the tokens";
}

}  // namespace

const v1::Token* ClusterState::FindToken(std::string_view id) const {
  auto it = tokens_.find(id);
  return it == tokens_.end() ? nullptr : &it->second;
}

Status ClusterState::ApplyCreateToken(const v1::CreateToken& op, const std::string& actor, int64_t now) {
  if (Status s = ValidateToken(op.token()); !s.ok()) return s;
  if (tokens_.contains(op.token().id())) {
    return Status::AlreadyExists("token " + Quote(op.token().id()) + " exists");
  }
  std::erase_if(tokens_, [&](const auto& kv) {
    const int64_t expires = kv.second.expires_unix_ms();
    return expires != 0 && expires + kExpiredKeptMs < now;
  });
  v1::Token& t = tokens_[op.token().id()] = op.token();
  t.set_created_unix_ms(now);
  t.set_uses(0);
  t.set_created_by(actor);
  return Status::Ok();
}

Status ClusterState::ApplyRevokeToken(const v1::RevokeToken& op) {
  auto it = tokens_.find(op.id());
  if (it == tokens_.end()) return Status::NotFound(TokenNotFound(op.id()));
  tokens_.erase(it);
  return Status::Ok();
}

Status ClusterState::ApplyUseToken(const v1::UseToken& op, int64_t now) {
  auto it = tokens_.find(op.id());
  if (it == tokens_.end()) return Status::PermissionDenied(TokenNotFound(op.id()));
  v1::Token& t = it->second;
  if (t.secret_sha256() != op.secret_sha256()) {
    return Status::PermissionDenied("the secret of token " + Quote(op.id()) + " does not match: it was altered");
  }
  if (t.expires_unix_ms() != 0 && now >= t.expires_unix_ms()) {
    return Status::PermissionDenied("token " + Quote(op.id()) + " expired " +
                                    std::to_string((now - t.expires_unix_ms()) / 1000) +
                                    " s ago; make a new one with 'blixard cluster token create'");
  }
  if (t.kind() != op.kind()) {
    const bool server = t.kind() == v1::TOKEN_KIND_JOIN_SERVER;
    return Status::PermissionDenied("token " + Quote(op.id()) + " is for " +
                                    (t.kind() == v1::TOKEN_KIND_CLIENT ? std::string("a client")
                                     : server                          ? std::string("a server")
                                                                       : std::string("a worker")) +
                                    ", not for " + (op.kind() == v1::TOKEN_KIND_JOIN_SERVER ? "a server" : "a worker") +
                                    "; make one with 'blixard cluster token create --role " +
                                    (op.kind() == v1::TOKEN_KIND_JOIN_SERVER ? "server" : "worker") + "'");
  }
  if (t.max_uses() != 0 && t.uses() >= t.max_uses()) {
    return Status::PermissionDenied("token " + Quote(op.id()) + " is used up (" + std::to_string(t.uses()) + " of " +
                                    std::to_string(t.max_uses()) + " uses); make a new one");
  }
  t.set_uses(t.uses() + 1);
  return Status::Ok();
}

Status ClusterState::ApplyRevokeCertificate(const v1::RevokeCertificate& op, const std::string& actor, int64_t now) {
  if (Status s = ValidateRevokedCertificate(op.certificate()); !s.ok()) return s;
  std::erase_if(revoked_, [&](const auto& kv) {
    return kv.second.expires_unix_ms() != 0 && kv.second.expires_unix_ms() < now;
  });
  if (revoked_.contains(op.certificate().serial())) return Status::Ok();
  v1::RevokedCertificate& r = revoked_[op.certificate().serial()] = op.certificate();
  r.set_revoked_by(actor);
  return Status::Ok();
}

}  // namespace blixard::state
