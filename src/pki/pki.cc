#include "pki/pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>
#include <memory>

namespace blixard::pki {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using Names = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using Big = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

// OpenSSL's last error, cleared, after `what`.
Status SslError(const std::string& what) {
  std::string reason;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    reason = buf;  // the first queued is the root cause; keep the last read
  }
  return Status::Internal(what + (reason.empty() ? "" : ": " + reason));
}

Bio MemBio(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

std::string BioString(BIO* b) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<Key> ReadKey(const std::string& pem) {
  Bio b = MemBio(pem);
  Key k(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
  if (!k) {
    ERR_clear_error();
    return Status::InvalidArgument("not a PEM private key");
  }
  return k;
}

Result<Cert> ReadX509(const std::string& pem) {
  Bio b = MemBio(pem);
  Cert c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
  if (!c) {
    ERR_clear_error();
    return Status::InvalidArgument("not a PEM certificate");
  }
  return c;
}

Result<std::string> KeyPem(EVP_PKEY* k) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(b.get(), k, nullptr, nullptr, 0, nullptr, nullptr)) return SslError("writing a key");
  return BioString(b.get());
}

Result<std::string> CertPem(X509* c) {
  Bio b(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(b.get(), c)) return SslError("writing a certificate");
  return BioString(b.get());
}

Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return SslError("building extension " + value);
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? Status::Ok() : SslError("adding extension " + value);
}

// A certificate for `pub` named `cn`, valid from a minute ago (clocks of
// two hosts differ a little) for `lifetime_s`, with a random serial.
Result<Cert> NewCert(EVP_PKEY* pub, const std::string& cn, int64_t lifetime_s) {
  Cert c(X509_new());
  if (!c || !X509_set_version(c.get(), 2)) return SslError("making a certificate");
  Big serial(BN_new());
  if (!serial || !BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(c.get()))) {
    return SslError("making a serial number");
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(c.get()), -kBackdateS) ||
      !X509_gmtime_adj(X509_getm_notAfter(c.get()), static_cast<long>(lifetime_s))) {
    return SslError("setting the validity");
  }
  if (!X509_set_pubkey(c.get(), pub)) return SslError("setting the public key");
  X509_NAME* name = X509_get_subject_name(c.get());
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                  -1, -1, 0)) {
    return SslError("setting the subject");
  }
  return c;
}

// For a reader of the certificate (X.509 caps it at 64 characters); the
// URI SAN is what names the identity.
std::string CommonName(const Identity& id) { return id.Describe().substr(0, 64); }

}  // namespace

Result<std::string> NewPrivateKey() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return SslError("generating a P-256 key");
  return KeyPem(k.get());
}

Result<KeyAndCert> NewCa(const std::string& cluster_id, int64_t lifetime_s) {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return SslError("generating the CA key");
  auto c = NewCert(k.get(), "blixard cluster " + cluster_id + " CA", lifetime_s);
  if (!c.ok()) return c.status();
  X509* cert = c->get();
  if (!X509_set_issuer_name(cert, X509_get_subject_name(cert))) return SslError("setting the issuer");
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"}}) {
    if (Status s = AddExt(cert, cert, nid, value); !s.ok()) return s;
  }
  if (!X509_sign(cert, k.get(), EVP_sha256())) return SslError("signing the CA");
  auto key_pem = KeyPem(k.get());
  if (!key_pem.ok()) return key_pem.status();
  auto cert_pem = CertPem(cert);
  if (!cert_pem.ok()) return cert_pem.status();
  return KeyAndCert{*key_pem, *cert_pem};
}

Result<std::string> NewCsr(const std::string& key_pem, const Identity& identity) {
  auto k = ReadKey(key_pem);
  if (!k.ok()) return k.status();
  Req r(X509_REQ_new());
  if (!r || !X509_REQ_set_pubkey(r.get(), k->get())) return SslError("making a CSR");
  const std::string cn = CommonName(identity);
  X509_NAME* name = X509_REQ_get_subject_name(r.get());
  if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()),
                                  -1, -1, 0) ||
      !X509_REQ_sign(r.get(), k->get(), EVP_sha256())) {
    return SslError("signing the CSR");
  }
  Bio b(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509_REQ(b.get(), r.get())) return SslError("writing the CSR");
  return BioString(b.get());
}

Result<std::string> SignCsr(const KeyAndCert& ca, const std::string& csr_pem, const Identity& identity,
                            int64_t lifetime_s) {
  Bio b = MemBio(csr_pem);
  Req r(PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr));
  if (!r) {
    ERR_clear_error();
    return Status::InvalidArgument("the certificate request is not a PEM CSR");
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(r.get());
  if (pub == nullptr || X509_REQ_verify(r.get(), pub) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("the certificate request's signature does not verify");
  }
  auto ca_key = ReadKey(ca.key_pem);
  if (!ca_key.ok()) return ca_key.status();
  auto ca_cert = ReadX509(ca.cert_pem);
  if (!ca_cert.ok()) return ca_cert.status();
  const std::string uri = ToUri(identity);
  auto c = NewCert(pub, CommonName(identity), lifetime_s);
  if (!c.ok()) return c.status();
  X509* cert = c->get();
  if (!X509_set_issuer_name(cert, X509_get_subject_name(ca_cert->get()))) return SslError("setting the issuer");
  const std::string san = identity.is_node() ? "URI:" + uri + ",DNS:" + kNodeTlsName : "URI:" + uri;
  for (auto [nid, value] : {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair<int, std::string>{NID_key_usage, "critical,digitalSignature"},
                            std::pair<int, std::string>{NID_ext_key_usage, "serverAuth,clientAuth"},
                            std::pair<int, std::string>{NID_authority_key_identifier, "keyid"},
                            std::pair<int, std::string>{NID_subject_alt_name, san}}) {
    if (Status s = AddExt(cert, ca_cert->get(), nid, value); !s.ok()) return s;
  }
  if (!X509_sign(cert, ca_key->get(), EVP_sha256())) return SslError("signing the certificate");
  return CertPem(cert);
}

Result<KeyAndCert> Issue(const KeyAndCert& ca, const Identity& identity, int64_t lifetime_s) {
  auto key = NewPrivateKey();
  if (!key.ok()) return key.status();
  auto csr = NewCsr(*key, identity);
  if (!csr.ok()) return csr.status();
  auto cert = SignCsr(ca, *csr, identity, lifetime_s);
  if (!cert.ok()) return cert.status();
  return KeyAndCert{*key, *cert};
}

Result<CertInfo> ReadCert(const std::string& cert_pem) {
  auto c = ReadX509(cert_pem);
  if (!c.ok()) return c.status();
  CertInfo info;
  Names names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c->get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI) continue;
    const ASN1_STRING* s = gn->d.uniformResourceIdentifier;
    info.uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<size_t>(ASN1_STRING_length(s)));
    break;
  }
  std::tm tm{};
  if (!ASN1_TIME_to_tm(X509_get0_notAfter(c->get()), &tm)) return SslError("reading the expiry");
  info.not_after_unix = timegm(&tm);
  if (!ASN1_TIME_to_tm(X509_get0_notBefore(c->get()), &tm)) return SslError("reading the start of validity");
  info.not_before_unix = timegm(&tm);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(c->get(), EVP_sha256(), md, &n)) return SslError("hashing the certificate");
  info.sha256_hex = Hex(std::string_view(reinterpret_cast<const char*>(md), n));
  info.is_ca = X509_check_ca(c->get()) != 0;
  Big serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->get()), nullptr));
  if (!serial) return SslError("reading the serial number");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return SslError("reading the serial number");
  info.serial_hex = hex;
  OPENSSL_free(hex);
  for (char& ch : info.serial_hex) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // BN_bn2hex writes whole bytes ("0e50…"): the serial has no leading zero.
  const size_t first = info.serial_hex.find_first_not_of('0');
  info.serial_hex.erase(0, first == std::string::npos ? info.serial_hex.size() - 1 : first);
  return info;
}

Status VerifyIssuedBy(const std::string& ca_pem, const std::string& cert_pem) {
  auto ca = ReadX509(ca_pem);
  if (!ca.ok()) return ca.status();
  auto c = ReadX509(cert_pem);
  if (!c.ok()) return c.status();
  Store store(X509_STORE_new());
  StoreCtx ctx(X509_STORE_CTX_new());
  if (!store || !ctx || !X509_STORE_add_cert(store.get(), ca->get()) ||
      !X509_STORE_CTX_init(ctx.get(), store.get(), c->get(), nullptr)) {
    return SslError("setting up verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Status::PermissionDenied(std::string("certificate not accepted: ") + X509_verify_cert_error_string(err));
  }
  return Status::Ok();
}

bool KeyMatchesCert(const std::string& key_pem, const std::string& cert_pem) {
  auto k = ReadKey(key_pem);
  auto c = ReadX509(cert_pem);
  if (!k.ok() || !c.ok()) return false;
  const bool ok = X509_check_private_key(c->get(), k->get()) == 1;
  ERR_clear_error();
  return ok;
}

std::string RandomHex(size_t n) {
  std::string bytes(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n)) != 1) {
    std::abort();  // no entropy: nothing secure can be made
  }
  return Hex(bytes);
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace blixard::pki
