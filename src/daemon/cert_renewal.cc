#include "daemon/cert_renewal.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "blixard/v1/internal.grpc.pb.h"
#include "common/file.h"
#include "rpc/channels.h"

namespace blixard::daemon {
namespace {

Result<std::string> ReadTls(const std::string& dir, const char* name) {
  auto r = ReadWholeFile(dir + "/" + name);
  if (!r.ok()) return r.status();
  if (!*r) return Status::NotFound(dir + "/" + name + " is missing");
  return **r;
}

// Checks `cert` (for `key`, of `identity`, by the CA in `dir`) and writes
// it over node.crt: what ReadCert says of it.
Result<pki::CertInfo> Install(const std::string& dir, const std::string& key, const pki::Identity& identity,
                              const std::string& cert) {
  auto ca = ReadTls(dir, "ca.crt");
  if (!ca.ok()) return ca.status();
  auto info = pki::ReadCert(cert);
  if (!info.ok()) return info.status();
  if (info->uri != pki::ToUri(identity) || !pki::KeyMatchesCert(key, cert)) {
    return Status::PermissionDenied("the renewed certificate is not " + identity.Describe() + "'s for its key");
  }
  if (Status s = pki::VerifyIssuedBy(*ca, cert); !s.ok()) return s;
  if (Status s = WriteFileAtomically(dir + "/node.crt", cert, 0600); !s.ok()) return s;
  return info;
}

}  // namespace

int64_t RenewalDueUnix(const pki::CertInfo& cert) { return pki::SignedAtUnix(cert) + pki::LifetimeS(cert) * 2 / 3; }

CertRenewal::CertRenewal(std::string what, pki::CertInfo current, Renew renew,
                         std::function<void(const pki::CertInfo&)> renewed)
    : what_(std::move(what)), current_(std::move(current)), renew_(std::move(renew)), renewed_(std::move(renewed)) {}

CertRenewal::~CertRenewal() { Stop(); }

void CertRenewal::Start() {
  thread_ = std::thread([this] { Run(); });
}

void CertRenewal::Stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertRenewal::Run() {
  std::unique_lock lk(mu_);
  int64_t due = RenewalDueUnix(current_);
  spdlog::info("the certificate of {} is valid until {}; renewing it from {}", what_, current_.not_after_unix, due);
  while (!stop_) {
    const auto at = std::chrono::system_clock::from_time_t(static_cast<std::time_t>(due));
    if (cv_.wait_until(lk, at, [this] { return stop_; })) return;
    if (std::chrono::system_clock::now() < at) continue;
    lk.unlock();
    Result<pki::CertInfo> r = renew_();
    lk.lock();
    const int64_t now = std::time(nullptr);
    if (r.ok()) {
      current_ = *r;
      due = RenewalDueUnix(current_);
      spdlog::info("renewed the certificate of {}: valid until {}", what_, current_.not_after_unix);
      if (renewed_) renewed_(current_);
    } else {
      // Again after a tenth of the time left: often near the end.
      const int64_t left = std::max<int64_t>(current_.not_after_unix - now, 0);
      due = now + std::clamp<int64_t>(left / 10, 1, 300);
      spdlog::warn("renewing the certificate of {} failed ({}); trying again in {} s{}", what_,
                   r.status().ToString(), due - now, left == 0 ? " (it has expired: other nodes refuse it)" : "");
    }
  }
}

CertRenewal::Renew ServerRenewal(std::string tls_dir, pki::Identity identity,
                                 std::shared_ptr<const api::Authority> authority) {
  return [dir = std::move(tls_dir), identity = std::move(identity), authority]() -> Result<pki::CertInfo> {
    auto key = ReadTls(dir, "node.key");
    if (!key.ok()) return key.status();
    auto csr = pki::NewCsr(*key, identity);
    if (!csr.ok()) return csr.status();
    auto cert = pki::SignCsr(authority->ca, *csr, identity, authority->cert_lifetime_s);
    if (!cert.ok()) return cert.status();
    auto info = Install(dir, *key, identity, *cert);
    if (!info.ok()) return info;
    // The local admin's credential, when it is due as well.
    auto admin = ReadTls(dir, "admin.crt");
    auto admin_info = admin.ok() ? pki::ReadCert(*admin) : Result<pki::CertInfo>(admin.status());
    if (admin_info.ok() && std::time(nullptr) < RenewalDueUnix(*admin_info)) {
      return info;
    }
    auto admin_id = admin_info.ok() ? pki::ParseUri(admin_info->uri) : Result<pki::Identity>(admin_info.status());
    const pki::Identity who = admin_id.ok() ? *admin_id
                                            : pki::Identity::Client(identity.cluster_id, pki::Role::kAdmin,
                                                                    "local-admin-" + std::to_string(identity.node_id));
    auto fresh = pki::Issue(authority->ca, who, authority->cert_lifetime_s);
    if (!fresh.ok()) return fresh.status();
    // The key first: a reader that finds the old certificate with it fails
    // once and reads again (the CLI reads both at each start).
    if (Status s = WriteFileAtomically(dir + "/admin.key", fresh->key_pem, 0600); !s.ok()) return s;
    if (Status s = WriteFileAtomically(dir + "/admin.crt", fresh->cert_pem, 0600); !s.ok()) return s;
    return info;
  };
}

CertRenewal::Renew WorkerRenewal(std::string tls_dir, pki::Identity identity, std::vector<std::string> servers) {
  return [dir = std::move(tls_dir), identity = std::move(identity), servers = std::move(servers)]() -> Result<pki::CertInfo> {
    auto key = ReadTls(dir, "node.key");
    if (!key.ok()) return key.status();
    auto csr = pki::NewCsr(*key, identity);
    if (!csr.ok()) return csr.status();
    Status last = Status::Unavailable("no server to ask");
    for (const std::string& addr : servers) {
      auto stub = v1::CertificateService::NewStub(rpc::NewChannel(addr, rpc::ChannelOptions::WorkerLink()));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::RenewCertificateRequest req;
      req.set_csr_pem(*csr);
      v1::RenewCertificateResponse resp;
      grpc::Status s = stub->RenewCertificate(&ctx, req, &resp);
      if (s.ok()) return Install(dir, *key, identity, resp.cert_pem());
      last = Status(static_cast<StatusCode>(s.error_code()), "through " + addr + ": " + s.error_message());
    }
    return last;
  };
}

}  // namespace blixard::daemon
