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
};

// Whether `caller` (nullopt: no certificate) may call `method`
// ("/blixard.v1.VmService/CreateVm"): kOk, or the refusal
// (kUnauthenticated, kPermissionDenied) with a message saying what to do.
using CallPolicy =
    std::function<Status(const std::string& method, const std::optional<pki::Identity>& caller)>;

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

  static RpcSecurity Insecure() { return {}; }
  static RpcSecurity Tls(std::shared_ptr<const TlsMaterial> tls, CallPolicy policy = {}) {
    return {Mode::kTls, std::move(tls), std::move(policy)};
  }
  static RpcSecurity FetchCa() { return {Mode::kFetchCa, nullptr, {}}; }
  bool is_tls() const { return mode != Mode::kInsecure; }
};

// The identity this process shows on the channels it builds with the
// presets of channels.h (a node's certificate, the CLI's credential): one
// per process. Set once at start, before any channel is built; kInsecure
// until then (unit tests, which build their own options).
void SetProcessSecurity(RpcSecurity security);
RpcSecurity ProcessSecurity();

// The credentials of a channel to `target` or of a server on `address`.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const RpcSecurity& security, const std::string& target);
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const RpcSecurity& security, const std::string& address);

bool IsUnixAddress(const std::string& address);

// Who made the call `ctx` serves, as the server's authenticator found it:
// nullopt on a call without a certificate, and on every call of a server
// that does not use TLS (insecure or a unix socket).
std::optional<pki::Identity> CallerOf(const grpc::ServerContextBase* ctx);
// Whether the call came over TLS (else: --insecure or a unix socket, where
// reaching the port is the only proof).
bool IsSecureCall(const grpc::ServerContextBase* ctx);
// Whether the caller may act as a node of the cluster (a proxied call, a
// heartbeat for another node): a node certificate over TLS; anyone
// without TLS.
bool CallerIsNode(const grpc::ServerContextBase* ctx);

}  // namespace blixard::rpc
