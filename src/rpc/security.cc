#include "rpc/security.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_context.h>

#include <mutex>

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

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const RpcSecurity& security, const std::string& target) {
  if (IsUnixAddress(target)) return grpc::InsecureChannelCredentials();
  switch (security.mode) {
    case RpcSecurity::Mode::kInsecure:
      return grpc::InsecureChannelCredentials();
    case RpcSecurity::Mode::kTls: {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = security.tls->ca_pem;
      o.pem_private_key = security.tls->key_pem;
      o.pem_cert_chain = security.tls->cert_pem;
      return grpc::SslCredentials(o);
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
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  o.pem_root_certs = security.tls->ca_pem;
  o.pem_key_cert_pairs.push_back({security.tls->key_pem, security.tls->cert_pem});
  auto creds = grpc::SslServerCredentials(o);
  creds->SetAuthMetadataProcessor(NewAuthenticator(security.tls, security.policy));
  return creds;
}

std::optional<pki::Identity> CallerOf(const grpc::ServerContextBase* ctx) {
  if (!IsSecureCall(ctx)) return std::nullopt;
  auto auth = ctx->auth_context();
  const std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) return std::nullopt;
  return IdentityOf(std::string(pems[0].data(), pems[0].size()));
}

bool IsSecureCall(const grpc::ServerContextBase* ctx) {
  auto auth = ctx->auth_context();
  if (!auth) return false;
  const std::vector<grpc::string_ref> v = auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  return !v.empty() && std::string_view(v[0].data(), v[0].size()) == "ssl";
}

bool CallerIsNode(const grpc::ServerContextBase* ctx) {
  if (!IsSecureCall(ctx)) return true;
  auto caller = CallerOf(ctx);
  return caller && caller->is_node();
}

}  // namespace blixard::rpc
