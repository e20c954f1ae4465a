// Renewing a node's certificate before it expires, as kubelet and
// cert-manager do: at two thirds of its lifetime, with the same key, a new
// certificate written over <data-dir>/tls/node.crt (atomically). The gRPC
// credentials read that file again (rpc::TlsMaterial::watch_dir), so new
// connections show the new certificate without a restart; connections
// already open keep working (TLS checks a certificate at the handshake).
//
// A server signs its own (it holds the CA) and renews the local admin
// credential beside it; a worker asks a server (CertificateService.
// RenewCertificate, over its current mutual TLS).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/certificate_service.h"
#include "common/status.h"
#include "pki/pki.h"

namespace blixard::daemon {

// When `cert` is due for renewal: two thirds of the way from its signing
// (pki::SignedAtUnix) to its expiry.
int64_t RenewalDueUnix(const pki::CertInfo& cert);

class CertRenewal {
 public:
  // Makes and writes the new certificate: what ReadCert says of it.
  using Renew = std::function<Result<pki::CertInfo>()>;
  // `what` names the certificate in logs ("server 1"); `current` is the
  // certificate in use; `renewed` runs after each renewal (on the
  // renewal's thread).
  CertRenewal(std::string what, pki::CertInfo current, Renew renew,
              std::function<void(const pki::CertInfo&)> renewed);
  ~CertRenewal();
  CertRenewal(const CertRenewal&) = delete;

  void Start();
  // Returns once the thread is gone; idempotent.
  void Stop();

 private:
  void Run();

  const std::string what_;
  pki::CertInfo current_;
  const Renew renew_;
  const std::function<void(const pki::CertInfo&)> renewed_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// A server's renewal: signs the key in `tls_dir` as `identity` with
// `authority` (its lifetime), writes node.crt, and renews the local admin
// credential (admin.crt, admin.key) when it is due too.
CertRenewal::Renew ServerRenewal(std::string tls_dir, pki::Identity identity,
                                 std::shared_ptr<const api::Authority> authority);
// A worker's renewal: asks the servers `servers` (in turn) to sign the key
// in `tls_dir` for the identity of its current certificate.
CertRenewal::Renew WorkerRenewal(std::string tls_dir, pki::Identity identity, std::vector<std::string> servers);

}  // namespace blixard::daemon
