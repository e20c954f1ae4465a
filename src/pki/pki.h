// The cluster's certificate authority and the certificates it signs, with
// OpenSSL 3: ECDSA P-256 keys (gRPC 1.51 accepts them on both sides of a
// TLS handshake), SHA-256 signatures, PEM everywhere.
//
// Who a certificate speaks for is its URI subject alternative name, a
// SPIFFE ID (identity.h). The signer decides the names: SignCsr takes only
// the public key from a CSR, so a CSR cannot ask for an identity its
// token does not grant. Node certificates (server, worker) also carry the
// DNS name kNodeTlsName, which every client checks the server's
// certificate against (the cluster's own CA is the trust, not DNS).
// Thread safety: every function is safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pki/identity.h"

namespace blixard::pki {

inline constexpr char kNodeTlsName[] = "blixard-node";
inline constexpr int64_t kDefaultCaLifetimeS = 10LL * 365 * 24 * 3600;
inline constexpr int64_t kDefaultCertLifetimeS = 365LL * 24 * 3600;
// A certificate is valid from this long before it is signed (clocks of
// other hosts may be behind).
inline constexpr int64_t kBackdateS = 60;

struct KeyAndCert {
  std::string key_pem;   // PKCS#8 private key
  std::string cert_pem;
};

// A fresh P-256 private key (PEM).
Result<std::string> NewPrivateKey();

// A self-signed CA for `cluster_id`, valid `lifetime_s` from now.
Result<KeyAndCert> NewCa(const std::string& cluster_id, int64_t lifetime_s = kDefaultCaLifetimeS);

// A certificate signing request for `key_pem`'s public key, naming
// `identity` (the signer ignores the name; it is there for a reader).
Result<std::string> NewCsr(const std::string& key_pem, const Identity& identity);

// Signs the public key of `csr_pem` (its self-signature is checked) as
// `identity`, valid `lifetime_s` from now, with the CA of `ca`.
// kInvalidArgument for a malformed or badly signed CSR.
Result<std::string> SignCsr(const KeyAndCert& ca, const std::string& csr_pem, const Identity& identity,
                            int64_t lifetime_s = kDefaultCertLifetimeS);

// A new key and a certificate for it signed by `ca` (a node signing for
// itself, or the local admin's credential).
Result<KeyAndCert> Issue(const KeyAndCert& ca, const Identity& identity,
                         int64_t lifetime_s = kDefaultCertLifetimeS);

struct CertInfo {
  std::string uri;            // the first URI SAN, "" if none
  int64_t not_after_unix = 0;
  int64_t not_before_unix = 0;  // a minute before it was signed (clock skew)
  std::string sha256_hex;     // of the DER encoding: the certificate's fingerprint
  std::string serial_hex;     // lowercase, no leading zeros
  bool is_ca = false;
};
// kInvalidArgument when `cert_pem` holds no certificate.
Result<CertInfo> ReadCert(const std::string& cert_pem);
// When it was signed (not_before + kBackdateS).
inline int64_t SignedAtUnix(const CertInfo& c) { return c.not_before_unix + kBackdateS; }
// How long it lasts from then (at least 1 s).
inline int64_t LifetimeS(const CertInfo& c) { return c.not_after_unix - SignedAtUnix(c) > 1 ? c.not_after_unix - SignedAtUnix(c) : 1; }

// Whether `cert_pem` is signed by the CA `ca_pem` and valid now: kOk, or
// kPermissionDenied saying why (OpenSSL's reason).
Status VerifyIssuedBy(const std::string& ca_pem, const std::string& cert_pem);

// Whether `key_pem` is the private key of `cert_pem`.
bool KeyMatchesCert(const std::string& key_pem, const std::string& cert_pem);

// `n` random bytes from OpenSSL's CSPRNG, as lowercase hex.
std::string RandomHex(size_t n);
// Lowercase hex of `bytes`.
std::string Hex(std::string_view bytes);

}  // namespace blixard::pki
