#include "api/certificate_service.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include "api/convert.h"
#include "api/token_service.h"
#include "pki/token.h"
#include "rpc/security.h"

namespace blixard::api {

grpc::Status CertificateServiceImpl::GetCaCertificate(grpc::ServerContext*, const v1::GetCaCertificateRequest*,
                                                      v1::GetCaCertificateResponse* resp) {
  resp->set_ca_pem(authority_->ca.cert_pem);
  return grpc::Status::OK;
}

grpc::Status CertificateServiceImpl::IssueCertificate(grpc::ServerContext* ctx, const v1::IssueCertificateRequest* req,
                                                      v1::IssueCertificateResponse* resp) {
  auto token = pki::ParseJoinToken(req->token());
  if (!token.ok()) return ToGrpc(token.status());
  if (req->node_id() == 0) return ToGrpc(Status::InvalidArgument("node id 0 is reserved: use --id 1 or more"));
  const auto kind = req->worker() ? pki::Identity::Kind::kWorker : pki::Identity::Kind::kServer;
  // The id must be new to the cluster: a token does not let its holder
  // take over a node that exists (remove that one first). Checked before
  // the token's use is spent.
  if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  const std::string id_text = std::to_string(req->node_id());
  for (const auto& m : node_.GetStatus().members) {
    if (m.id != req->node_id()) continue;
    if (kind == pki::Identity::Kind::kWorker) {
      return ToGrpc(Status::AlreadyExists("node id " + id_text + " is a server of this cluster; give the worker "
                                          "another --id"));
    }
    return ToGrpc(Status::AlreadyExists("node id " + id_text + " is already a member at " + m.address +
                                        "; choose another --id"));
  }
  std::string registered;
  node_.Read([&](const state::ClusterState& st) {
    if (const v1::Node* n = st.FindNode(req->node_id())) registered = n->address().empty() ? "?" : n->address();
  });
  if (!registered.empty()) {
    return ToGrpc(Status::AlreadyExists("node id " + id_text + " is already registered at " + registered +
                                        "; choose another --id (or remove node " + id_text + " first)"));
  }
  // Checked before the use is spent too: a CSR that cannot be signed.
  const pki::Identity id = kind == pki::Identity::Kind::kWorker
                               ? pki::Identity::Worker(authority_->cluster_id, req->node_id())
                               : pki::Identity::Server(authority_->cluster_id, req->node_id());
  auto cert = pki::SignCsr(authority_->ca, req->csr_pem(), id, authority_->cert_lifetime_s);
  if (!cert.ok()) return ToGrpc(cert.status());
  if (Status s = UseJoinToken(node_, *authority_, req->token(), kind, DeadlineOf(ctx)); !s.ok()) {
    spdlog::warn("refused a certificate for {} to {}: {}", id.Describe(), ctx->peer(), s.message());
    return ToGrpc(s);
  }
  resp->set_cert_pem(*cert);
  resp->set_ca_pem(authority_->ca.cert_pem);
  resp->set_cluster_id(authority_->cluster_id);
  if (id.kind == pki::Identity::Kind::kServer) resp->set_ca_key_pem(authority_->ca.key_pem);
  spdlog::info("audit: issued a certificate for {} to {} (join token {})", id.Describe(), ctx->peer(), token->id);
  return grpc::Status::OK;
}

grpc::Status CertificateServiceImpl::RenewCertificate(grpc::ServerContext* ctx, const v1::RenewCertificateRequest* req,
                                                      v1::RenewCertificateResponse* resp) {
  const auto caller = rpc::CallerOf(ctx);
  if (!caller || !caller->is_node()) {
    return ToGrpc(Status::PermissionDenied("only a node renews its certificate, with the one it has"));
  }
  auto cert = pki::SignCsr(authority_->ca, req->csr_pem(), *caller, authority_->cert_lifetime_s);
  if (!cert.ok()) return ToGrpc(cert.status());
  resp->set_cert_pem(*cert);
  spdlog::info("audit: renewed the certificate of {}", caller->Describe());
  return grpc::Status::OK;
}

}  // namespace blixard::api
