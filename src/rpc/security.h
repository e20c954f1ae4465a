// How the two ends of a gRPC connection prove who they are. Every channel
// and server of Blixard takes its credentials from here (channels.h,
// servers.h), so this is the one place where transport security is chosen.
//
// With kTls, both ends present certificates of the cluster CA (pki/pki.h):
// a channel checks the server's certificate against the CA and the name
// pki::kNodeTlsName; a server checks the client's certificate, when it
// presents one, on every call (authn.h), and asks the CallPolicy whether
// that caller may make that call. Unix-socket addresses are never TLS:
// the socket file's permissions (0600, servers.h) protect them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "pki/identity.h"

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
class ServerContextBase;
}  // namespace grpc

namespace blixard::rpc {

struct TlsMaterial {
  std::string ca_pem;    // the cluster CA: the only root trusted
  std::string cert_pem;  // this end's certificate ("" for a client without one)
  std::string key_pem;
  // When set: the directory holding these as ca.crt, node.crt and node.key
  // (daemon/credentials.h), which gRPC reads again every `watch_every_s`
  // seconds (its FileWatcherCertificateProvider), so that a certificate
  // renewed there (daemon/cert_renewal.h) is what new connections show,
  // without a restart. cert_pem and key_pem are then what was there at
  // start. Empty: the PEMs above, fixed.
  std::string watch_dir = {};
  unsigned watch_every_s = 60;
};

// Whether `caller` (nullopt: no certificate) may call `method`
// ("/blixard.v1.VmService/CreateVm"): kOk, or the refusal
// (kUnauthenticated, kPermissionDenied) with a message saying what to do.
using CallPolicy =
    std::function<Status(const std::string& method, const std::optional<pki::Identity>& caller)>;

// Who a client's bearer token (the text after "Bearer ") names, as this
// process's copy of the cluster state knows it: the identity, or why it is
// refused (kUnauthenticated, saying what to do).
using TokenVerifier = std::function<Result<pki::Identity>(std::string_view token)>;

struct RpcSecurity {
  enum class Mode {
    // Plain TCP: anyone who reaches the port is trusted (--insecure).
    kInsecure,
    // Mutual TLS with the cluster CA.
    kTls,
    // A channel that checks nothing of the server: only to fetch the CA
    // certificate, whose fingerprint the caller then compares with a join
    // token's before it trusts or sends anything.
    kFetchCa,
  };
  Mode mode = Mode::kInsecure;
  std::shared_ptr<const TlsMaterial> tls;  // kTls
  // kTls servers: checked on every call. Empty: every caller is allowed.
  CallPolicy policy;
  // kTls channels: sent on every call as `authorization: Bearer <token>`;
  // the server then takes the caller from the token, not the certificate.
  std::string bearer_token = {};

  static RpcSecurity Insecure() { return {}; }
  static RpcSecurity Tls(std::shared_ptr<const TlsMaterial> tls, CallPolicy policy = {}) {
    return {Mode::kTls, std::move(tls), std::move(policy), {}};
  }
  static RpcSecurity FetchCa() { return {Mode::kFetchCa, nullptr, {}, {}}; }
  bool is_tls() const { return mode != Mode::kInsecure; }
};

// The identity this process shows on the channels it builds with the
// presets of channels.h (a node's certificate, the CLI's credential): one
// per process. Set once at start, before any channel is built; kInsecure
// until then (unit tests, which build their own options).
void SetProcessSecurity(RpcSecurity security);
RpcSecurity ProcessSecurity();

// Whether the certificate with this serial (pki::CertInfo::serial_hex) was
// revoked, as this process's copy of the cluster state knows it.
using RevocationCheck = std::function<bool(const std::string& serial)>;
// Set once by a server, before it serves; unset: nothing is revoked.
void SetRevocationCheck(RevocationCheck check);

// The bearer tokens a kTls server of this process takes (authn.h, CallerOf):
// one verifier per process, set before it serves. Unset: a call with a
// token is refused.
void SetTokenVerifier(TokenVerifier verifier);

// The credentials of a channel to `target` or of a server on `address`.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const RpcSecurity& security, const std::string& target);
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const RpcSecurity& security, const std::string& address);

bool IsUnixAddress(const std::string& address);

// How long a server on `address` keeps a client's connection before it asks
// the client to make a new one (GOAWAY; calls under way get as long again):
// with renewed certificates (TlsMaterial::watch_dir), a client authenticated
// by a certificate that expires later would otherwise keep a connection on
// it, and be refused once it expired (authn.h checks the expiry on each
// call). A sixth of the server's certificate lifetime (renewal comes at two
// thirds, so every connection moves to renewed certificates well before the
// old ones expire), 1 s to 24 h. nullopt without watched TLS.
std::optional<int> MaxConnectionAgeMs(const RpcSecurity& security, const std::string& address);

// Who made the call `ctx` serves, as the server's authenticator found it:
// the client its bearer token names, else the identity of its certificate;
// nullopt on a call with neither, and on every call of a server that does
// not use TLS (insecure or a unix socket).
std::optional<pki::Identity> CallerOf(const grpc::ServerContextBase* ctx);
// Whether the call came over TLS (else: --insecure or a unix socket, where
// reaching the port is the only proof).
bool IsSecureCall(const grpc::ServerContextBase* ctx);
// Whether the caller may act as a node of the cluster (a proxied call, a
// heartbeat for another node): a node certificate over TLS; anyone
// without TLS.
bool CallerIsNode(const grpc::ServerContextBase* ctx);

}  // namespace blixard::rpc
