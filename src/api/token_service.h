// Tokens and client certificates: the records behind join tokens and
// clients' bearer tokens (state.proto's Token, pki/token.h), and the
// client certificates a server's CA signs.
//
// Every token is a replicated record keyed by its public id, holding the
// SHA-256 of its secret: any server checks any token, a revoke takes effect
// on each node as it applies it, and a join token's uses are counted in
// the log (UseToken), so `--uses 1` holds across servers.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "api/certificate_service.h"
#include "blixard/v1/blixard.grpc.pb.h"
#include "node/node.h"
#include "rpc/security.h"

namespace blixard::api {

// Makes a join token for a node of `req.role` ("server", "worker"; ""
// is server), valid `req.ttl_s` (0: an hour; at most 30 days) for
// `req.uses` certificates (0: any number), recorded through Raft with
// `actor` as its maker. kInvalidArgument for a bad role, ttl or count.
Result<v1::CreateJoinTokenResponse> CreateJoinToken(node::Node& node, const Authority& authority,
                                                    const v1::CreateJoinTokenRequest& req, const std::string& actor,
                                                    node::Deadline deadline);

// One use of the join token `text` by a node of `kind` (kServer,
// kWorker), through Raft: kOk, or kPermissionDenied with the reason (not
// this cluster's CA, unknown or revoked, altered, expired, for another
// kind of node, used up).
Status UseJoinToken(node::Node& node, const Authority& authority, std::string_view text, pki::Identity::Kind kind,
                    node::Deadline deadline);

// What the authenticator checks on every call (rpc::SetTokenVerifier,
// rpc::SetRevocationCheck): the client tokens and the revoked certificates
// of `node`'s applied state, as a copy read without locks. The copy is made
// again at the first call after a loop pass applied entries (an apply
// listener marks it stale), so a call costs no read of the state and no
// wait for the apply lock. `node` must outlive it.
class CredentialCache {
 public:
  CredentialCache(node::Node& node, std::string cluster_id);
  ~CredentialCache();
  CredentialCache(const CredentialCache&) = delete;

  // Who a client token names, or why it is refused (kUnauthenticated).
  Result<pki::Identity> Verify(std::string_view token);
  bool IsRevoked(const std::string& serial);

 private:
  struct View {
    std::map<std::string, v1::Token, std::less<>> client_tokens;  // by id
    std::set<std::string, std::less<>> revoked;                   // serials
  };
  std::shared_ptr<const View> Current();

  node::Node& node_;
  const std::string cluster_id_;
  uint64_t listener_ = 0;
  std::atomic<bool> stale_{true};
  std::atomic<std::shared_ptr<const View>> view_;
};

class TokenServiceImpl final : public v1::TokenService::Service {
 public:
  // `authority` null: an --insecure node, which makes no credentials.
  // `node` must outlive this.
  TokenServiceImpl(node::Node& node, std::shared_ptr<const Authority> authority)
      : node_(node), authority_(std::move(authority)) {}

  grpc::Status CreateToken(grpc::ServerContext*, const v1::CreateTokenRequest*, v1::CreateTokenResponse*) override;
  grpc::Status ListTokens(grpc::ServerContext*, const v1::ListTokensRequest*, v1::ListTokensResponse*) override;
  grpc::Status RevokeToken(grpc::ServerContext*, const v1::RevokeTokenRequest*, v1::RevokeTokenResponse*) override;
  grpc::Status CreateCertificate(grpc::ServerContext*, const v1::CreateCertificateRequest*,
                                 v1::CreateCertificateResponse*) override;
  // Refused from then on by every server as it applies the revocation.
  grpc::Status RevokeCertificate(grpc::ServerContext*, const v1::RevokeCertificateRequest*,
                                 v1::RevokeCertificateResponse*) override;

 private:
  node::Node& node_;
  std::shared_ptr<const Authority> authority_;
};

}  // namespace blixard::api
