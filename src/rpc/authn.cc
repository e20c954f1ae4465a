#include "rpc/authn.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <mutex>
#include <unordered_map>

#include "pki/pki.h"

namespace blixard::rpc {
namespace {

constexpr size_t kMaxCached = 4096;

// What a certificate proved, once checked.
struct Checked {
  Status status;           // kOk, or why it is refused (kUnauthenticated)
  pki::Identity identity;  // when ok
  int64_t not_after = 0;
  std::string serial;
};

// The process's RevocationCheck (SetRevocationCheck) on `serial`.
bool IsRevoked(const std::string& serial);

class Authenticator : public grpc::AuthMetadataProcessor {
 public:
  Authenticator(std::shared_ptr<const TlsMaterial> tls, CallPolicy policy)
      : tls_(std::move(tls)), policy_(std::move(policy)) {
    auto own = pki::ReadCert(tls_->cert_pem);
    if (own.ok()) {
      auto id = pki::ParseUri(own->uri);
      if (id.ok()) cluster_id_ = id->cluster_id;
    }
  }

  // Runs on gRPC's own thread, inline: it takes no lock for long and does
  // no I/O but for a refusal's log line.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& metadata, grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    std::string method;
    if (auto it = metadata.find(":path"); it != metadata.end()) method.assign(it->second.data(), it->second.size());
    auto caller = Identify(metadata, context);
    if (!caller.ok()) return Refuse(method, caller.status());
    if (policy_) {
      if (Status s = policy_(method, *caller); !s.ok()) return Refuse(method, s, *caller);
    }
    return grpc::Status::OK;
  }

 private:
  // Who makes the call: the client of its bearer token when it has one,
  // else the identity of its connection's certificate, else nobody
  // (nullopt); or why it is refused (kUnauthenticated).
  Result<std::optional<pki::Identity>> Identify(const InputMetadata& metadata, grpc::AuthContext* context) {
    if (auto it = metadata.find("authorization"); it != metadata.end()) {
      const auto token = BearerToken(std::string_view(it->second.data(), it->second.size()));
      if (!token) return Status::Unauthenticated("the authorization metadata is not 'Bearer <token>'");
      auto id = VerifyToken(*token);
      if (!id.ok()) return id.status();
      return std::optional<pki::Identity>(*id);
    }
    const std::vector<grpc::string_ref> pems = context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (pems.empty()) return std::optional<pki::Identity>();
    const Checked c = Check(std::string(pems[0].data(), pems[0].size()));
    if (!c.status.ok()) return c.status;
    if (std::time(nullptr) >= c.not_after) {
      return Status::Unauthenticated("the client certificate of " + c.identity.Describe() + " expired; renew it");
    }
    if (IsRevoked(c.serial)) {
      return Status::Unauthenticated("the certificate of " + c.identity.Describe() + " (serial " + c.serial +
                                     ") was revoked; ask an admin for a new one");
    }
    return std::optional<pki::Identity>(c.identity);
  }

  Checked Check(const std::string& pem) {
    {
      std::lock_guard lk(mu_);
      if (auto it = cache_.find(pem); it != cache_.end()) return it->second;
    }
    Checked c = CheckUncached(pem);
    std::lock_guard lk(mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_.emplace(pem, c);
    return c;
  }

  Checked CheckUncached(const std::string& pem) const {
    Checked c;
    if (Status s = pki::VerifyIssuedBy(tls_->ca_pem, pem); !s.ok()) {
      c.status = Status::Unauthenticated("the client certificate is not one of this cluster's (" + s.message() + ")");
      return c;
    }
    auto info = pki::ReadCert(pem);
    if (!info.ok()) {
      c.status = Status::Unauthenticated("unreadable client certificate: " + info.status().message());
      return c;
    }
    auto id = pki::ParseUri(info->uri);
    if (!id.ok()) {
      c.status = Status::Unauthenticated("the client certificate names no Blixard identity: " + id.status().message());
      return c;
    }
    if (!cluster_id_.empty() && id->cluster_id != cluster_id_) {
      c.status = Status::Unauthenticated("the client certificate belongs to cluster " + id->cluster_id +
                                         ", this is cluster " + cluster_id_);
      return c;
    }
    c.identity = *id;
    c.not_after = info->not_after_unix;
    c.serial = info->serial_hex;
    return c;
  }

  grpc::Status Refuse(const std::string& method, const Status& s,
                      const std::optional<pki::Identity>& caller = std::nullopt) {
    // One line per cause, not per call: a misconfigured peer retries often.
    const std::string key = method + "|" + s.message();
    bool first = false;
    {
      std::lock_guard lk(mu_);
      if (logged_.size() >= kMaxCached) logged_.clear();
      first = logged_.emplace(key, true).second;
    }
    if (first) {
      spdlog::warn("refused {} from {}: {}", method.empty() ? "a call" : method,
                   caller ? caller->Describe() : std::string("a caller without a certificate"), s.ToString());
    }
    const auto code = s.code() == StatusCode::kPermissionDenied ? grpc::StatusCode::PERMISSION_DENIED
                                                                : grpc::StatusCode::UNAUTHENTICATED;
    return grpc::Status(code, s.message());
  }

  const std::shared_ptr<const TlsMaterial> tls_;
  const CallPolicy policy_;
  std::string cluster_id_;
  std::mutex mu_;
  std::unordered_map<std::string, Checked> cache_;
  std::unordered_map<std::string, bool> logged_;
};

std::mutex verifier_mu;
TokenVerifier& Verifier() {
  static auto* v = new TokenVerifier;
  return *v;
}
RevocationCheck& Revocations() {
  static auto* r = new RevocationCheck;
  return *r;
}

bool IsRevoked(const std::string& serial) {
  RevocationCheck check;
  {
    std::lock_guard lk(verifier_mu);
    check = Revocations();
  }
  return check && check(serial);
}

}  // namespace

void SetRevocationCheck(RevocationCheck check) {
  std::lock_guard lk(verifier_mu);
  Revocations() = std::move(check);
}

void SetTokenVerifier(TokenVerifier verifier) {
  std::lock_guard lk(verifier_mu);
  Verifier() = std::move(verifier);
}

Result<pki::Identity> VerifyToken(std::string_view token) {
  TokenVerifier v;
  {
    std::lock_guard lk(verifier_mu);
    v = Verifier();
  }
  if (!v) return Status::Unauthenticated("this node takes no bearer tokens: use a client certificate");
  return v(token);
}

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  authorization.remove_prefix(kScheme.size());
  return authorization;
}

std::optional<pki::Identity> IdentityOf(const std::string& pem) {
  static std::mutex mu;
  static auto* cache = new std::unordered_map<std::string, std::optional<pki::Identity>>;
  {
    std::lock_guard lk(mu);
    if (auto it = cache->find(pem); it != cache->end()) return it->second;
  }
  std::optional<pki::Identity> id;
  if (auto info = pki::ReadCert(pem); info.ok()) {
    if (auto parsed = pki::ParseUri(info->uri); parsed.ok()) id = *parsed;
  }
  std::lock_guard lk(mu);
  if (cache->size() >= kMaxCached) cache->clear();
  cache->emplace(pem, id);
  return id;
}

std::shared_ptr<grpc::AuthMetadataProcessor> NewAuthenticator(std::shared_ptr<const TlsMaterial> tls,
                                                              CallPolicy policy) {
  return std::make_shared<Authenticator>(std::move(tls), std::move(policy));
}

}  // namespace blixard::rpc
