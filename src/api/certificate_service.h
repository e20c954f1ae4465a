// CertificateService (proto/blixard/v1/internal.proto): a new node's way
// in with a join token (pki/token.h, api/token_service.h).
#pragma once

#include <memory>
#include <string>

#include "blixard/v1/blixard.pb.h"
#include "blixard/v1/internal.grpc.pb.h"
#include "node/node.h"
#include "pki/pki.h"

namespace blixard::api {

// What lets a server sign: the cluster CA with its key.
struct Authority {
  std::string cluster_id;
  pki::KeyAndCert ca;
  std::string ca_sha256;  // the CA certificate's fingerprint
  // How long the node certificates it signs last (--cert-lifetime).
  int64_t cert_lifetime_s = pki::kDefaultCertLifetimeS;
};

class CertificateServiceImpl final : public v1::CertificateService::Service {
 public:
  // `node` and `authority` must outlive this.
  CertificateServiceImpl(node::Node& node, std::shared_ptr<const Authority> authority)
      : node_(node), authority_(std::move(authority)) {}

  grpc::Status GetCaCertificate(grpc::ServerContext*, const v1::GetCaCertificateRequest*,
                                v1::GetCaCertificateResponse*) override;
  // Signs the CSR's key as the kind of node asked for (which the token
  // must be for) with `node_id`, which must be unused: kAlreadyExists for
  // an id the cluster has (no use of the token is spent then), then
  // kPermissionDenied for a token refused (UseJoinToken).
  grpc::Status IssueCertificate(grpc::ServerContext*, const v1::IssueCertificateRequest*,
                                v1::IssueCertificateResponse*) override;
  // Signs the CSR's key as the node whose certificate the call came with
  // (the policy admits nodes only).
  grpc::Status RenewCertificate(grpc::ServerContext*, const v1::RenewCertificateRequest*,
                                v1::RenewCertificateResponse*) override;

 private:
  node::Node& node_;
  std::shared_ptr<const Authority> authority_;
};

}  // namespace blixard::api
