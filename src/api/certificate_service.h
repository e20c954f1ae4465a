// CertificateService (proto/blixard/v1/internal.proto): a new node's way
// in with a join token (pki/token.h), and the making of join tokens.
#pragma once

#include <memory>
#include <string>

#include "blixard/v1/blixard.pb.h"
#include "blixard/v1/internal.grpc.pb.h"
#include "node/node.h"
#include "pki/pki.h"

namespace blixard::api {

// What lets a server sign: the cluster CA with its key, and the token key.
struct Authority {
  std::string cluster_id;
  pki::KeyAndCert ca;
  std::string ca_sha256;  // the CA certificate's fingerprint
  std::string token_key;
};

// A token for a node of `role` ("server", "worker"), valid `ttl_s` (0: an
// hour). kInvalidArgument for another role or a ttl out of 1 s..30 days.
Result<v1::CreateJoinTokenResponse> CreateJoinToken(const Authority& authority, const std::string& role,
                                                    int64_t ttl_s);

class CertificateServiceImpl final : public v1::CertificateService::Service {
 public:
  // `node` and `authority` must outlive this.
  CertificateServiceImpl(node::Node& node, std::shared_ptr<const Authority> authority)
      : node_(node), authority_(std::move(authority)) {}

  grpc::Status GetCaCertificate(grpc::ServerContext*, const v1::GetCaCertificateRequest*,
                                v1::GetCaCertificateResponse*) override;
  // Signs the CSR's key as the token's kind of node with `node_id`, which
  // must be unused: kPermissionDenied for a bad or expired token,
  // kFailedPrecondition for an id the cluster already has.
  grpc::Status IssueCertificate(grpc::ServerContext*, const v1::IssueCertificateRequest*,
                                v1::IssueCertificateResponse*) override;

 private:
  node::Node& node_;
  std::shared_ptr<const Authority> authority_;
};

}  // namespace blixard::api
