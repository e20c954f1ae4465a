#include "rpc/security.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "pki/pki.h"
#include "rpc/authn.h"

namespace blixard::rpc {

namespace {
std::mutex process_mu;
RpcSecurity& Process() {
  static RpcSecurity* s = new RpcSecurity;
  return *s;
}
}  // namespace

void SetProcessSecurity(RpcSecurity security) {
  std::lock_guard lk(process_mu);
  Process() = std::move(security);
}

RpcSecurity ProcessSecurity() {
  std::lock_guard lk(process_mu);
  return Process();
}

bool IsUnixAddress(const std::string& address) { return address.rfind("unix:", 0) == 0; }

namespace {

// The provider of a TlsMaterial with a watch_dir: one per material, shared
// by every channel and server built with it (each provider has a thread).
std::shared_ptr<grpc::experimental::CertificateProviderInterface> ProviderOf(const TlsMaterial& m) {
  static std::mutex mu;
  static auto* providers =
      new std::map<std::string, std::weak_ptr<grpc::experimental::CertificateProviderInterface>>;
  const std::string key = m.watch_dir + "|" + std::to_string(m.watch_every_s);
  std::lock_guard lk(mu);
  if (auto p = (*providers)[key].lock()) return p;
  auto p = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      m.watch_dir + "/node.key", m.watch_dir + "/node.crt", m.watch_dir + "/ca.crt", m.watch_every_s);
  (*providers)[key] = p;
  return p;
}

}  // namespace

// The TLS part of a kTls channel's credentials.
std::shared_ptr<grpc::ChannelCredentials> TlsChannelCredentials(const TlsMaterial& tls) {
  if (tls.watch_dir.empty()) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = tls.ca_pem;
    o.pem_private_key = tls.key_pem;
    o.pem_cert_chain = tls.cert_pem;
    return grpc::SslCredentials(o);
  }
  grpc::experimental::TlsChannelCredentialsOptions o;
  o.set_certificate_provider(ProviderOf(tls));
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_verify_server_certs(true);
  // The server's certificate names kNodeTlsName (the channel's target name
  // override, channels.h), whatever address it was reached at.
  o.set_certificate_verifier(std::make_shared<grpc::experimental::HostNameCertificateVerifier>());
  // That verifier checks the name at the handshake; gRPC's check of each
  // call's host against the certificate would only log a mismatch with the
  // address before it honours the override.
  o.set_check_call_host(false);
  return grpc::experimental::TlsCredentials(o);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const RpcSecurity& security, const std::string& target) {
  if (IsUnixAddress(target)) return grpc::InsecureChannelCredentials();
  switch (security.mode) {
    case RpcSecurity::Mode::kInsecure:
      return grpc::InsecureChannelCredentials();
    case RpcSecurity::Mode::kTls: {
      auto tls = TlsChannelCredentials(*security.tls);
      if (security.bearer_token.empty()) return tls;
      return grpc::CompositeChannelCredentials(tls, grpc::AccessTokenCredentials(security.bearer_token));
    }
    case RpcSecurity::Mode::kFetchCa: {
      grpc::experimental::TlsChannelCredentialsOptions o;
      o.set_verify_server_certs(false);
      o.set_check_call_host(false);
      o.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
      return grpc::experimental::TlsCredentials(o);
    }
  }
  return nullptr;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const RpcSecurity& security, const std::string& address) {
  if (IsUnixAddress(address) || security.mode != RpcSecurity::Mode::kTls) return grpc::InsecureServerCredentials();
  if (!security.tls->watch_dir.empty()) {
    grpc::experimental::TlsServerCredentialsOptions o(ProviderOf(*security.tls));
    o.watch_root_certs();
    o.watch_identity_key_cert_pairs();
    o.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
    auto creds = grpc::experimental::TlsServerCredentials(o);
    creds->SetAuthMetadataProcessor(NewAuthenticator(security.tls, security.policy));
    return creds;
  }
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  o.pem_root_certs = security.tls->ca_pem;
  o.pem_key_cert_pairs.push_back({security.tls->key_pem, security.tls->cert_pem});
  auto creds = grpc::SslServerCredentials(o);
  creds->SetAuthMetadataProcessor(NewAuthenticator(security.tls, security.policy));
  return creds;
}

std::optional<int> MaxConnectionAgeMs(const RpcSecurity& security, const std::string& address) {
  if (IsUnixAddress(address) || security.mode != RpcSecurity::Mode::kTls || security.tls->watch_dir.empty()) {
    return std::nullopt;
  }
  auto info = pki::ReadCert(security.tls->cert_pem);
  if (!info.ok()) return std::nullopt;
  const int64_t age_s = std::clamp<int64_t>(pki::LifetimeS(*info) / 6, 1, 24 * 3600);
  return static_cast<int>(age_s * 1000);
}

std::optional<pki::Identity> CallerOf(const grpc::ServerContextBase* ctx) {
  if (!IsSecureCall(ctx)) return std::nullopt;
  const auto& md = ctx->client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) {
    const auto token = BearerToken(std::string_view(it->second.data(), it->second.size()));
    if (!token) return std::nullopt;
    auto id = VerifyToken(*token);
    if (!id.ok()) return std::nullopt;
    return *id;
  }
  auto auth = ctx->auth_context();
  const std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return std::nullopt;
  return IdentityOf(std::string(pems[0].data(), pems[0].size()));
}

bool IsSecureCall(const grpc::ServerContextBase* ctx) {
  auto auth = ctx->auth_context();
  if (!auth) return false;
  const std::vector<grpc::string_ref> v = auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (v.empty()) return false;
  const std::string_view type(v[0].data(), v[0].size());
  return type == GRPC_SSL_TRANSPORT_SECURITY_TYPE || type == GRPC_TLS_TRANSPORT_SECURITY_TYPE;
}

bool CallerIsNode(const grpc::ServerContextBase* ctx) {
  if (!IsSecureCall(ctx)) return true;
  auto caller = CallerOf(ctx);
  return caller && caller->is_node();
}

}  // namespace blixard::rpc
