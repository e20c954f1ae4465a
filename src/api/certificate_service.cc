#include "api/certificate_service.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "api/convert.h"
#include "pki/token.h"

namespace blixard::api {

Result<v1::CreateJoinTokenResponse> CreateJoinToken(const Authority& authority, const std::string& role,
                                                    int64_t ttl_s) {
  pki::Identity::Kind kind;
  if (role == "server" || role.empty()) {
    kind = pki::Identity::Kind::kServer;
  } else if (role == "worker") {
    kind = pki::Identity::Kind::kWorker;
  } else {
    return Status::InvalidArgument("unknown node role '" + role + "'; use --role server or --role worker");
  }
  if (ttl_s == 0) ttl_s = 3600;
  if (ttl_s < 1 || ttl_s > 30LL * 24 * 3600) {
    return Status::InvalidArgument("--ttl must be between 1s and 720h, not " + std::to_string(ttl_s) + "s");
  }
  const pki::JoinToken t = pki::MakeJoinToken(authority.token_key, authority.ca_sha256, kind, std::time(nullptr) + ttl_s);
  v1::CreateJoinTokenResponse resp;
  resp.set_token(pki::Encode(t));
  resp.set_expires_unix(t.expires_unix);
  return resp;
}

grpc::Status CertificateServiceImpl::GetCaCertificate(grpc::ServerContext*, const v1::GetCaCertificateRequest*,
                                                      v1::GetCaCertificateResponse* resp) {
  resp->set_ca_pem(authority_->ca.cert_pem);
  return grpc::Status::OK;
}

grpc::Status CertificateServiceImpl::IssueCertificate(grpc::ServerContext* ctx, const v1::IssueCertificateRequest* req,
                                                      v1::IssueCertificateResponse* resp) {
  auto token = pki::ParseJoinToken(req->token());
  if (!token.ok()) return ToGrpc(token.status());
  if (Status s = pki::CheckJoinToken(authority_->token_key, *token, std::time(nullptr)); !s.ok()) {
    spdlog::warn("refused a certificate for node {} from {}: {}", req->node_id(), ctx->peer(), s.message());
    return ToGrpc(s);
  }
  if (req->node_id() == 0) return ToGrpc(Status::InvalidArgument("node id 0 is reserved: use --id 1 or more"));
  // The id must be new to the cluster: a token does not let its holder
  // take over a node that exists (remove that one first).
  if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  const std::string id_text = std::to_string(req->node_id());
  for (const auto& m : node_.GetStatus().members) {
    if (m.id != req->node_id()) continue;
    if (token->kind == pki::Identity::Kind::kWorker) {
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
  const pki::Identity id = token->kind == pki::Identity::Kind::kWorker
                               ? pki::Identity::Worker(authority_->cluster_id, req->node_id())
                               : pki::Identity::Server(authority_->cluster_id, req->node_id());
  auto cert = pki::SignCsr(authority_->ca, req->csr_pem(), id);
  if (!cert.ok()) return ToGrpc(cert.status());
  resp->set_cert_pem(*cert);
  resp->set_ca_pem(authority_->ca.cert_pem);
  resp->set_cluster_id(authority_->cluster_id);
  if (id.kind == pki::Identity::Kind::kServer) {
    resp->set_ca_key_pem(authority_->ca.key_pem);
    resp->set_token_key(authority_->token_key);
  }
  spdlog::info("issued a certificate for {} to {} (join token {})", id.Describe(), ctx->peer(), token->nonce);
  return grpc::Status::OK;
}

}  // namespace blixard::api
