// The server side of mutual TLS: on every call, checks the client's
// certificate (if it shows one) against the cluster CA and reads who it
// names, then asks the server's CallPolicy. A refusal ends the call with
// its status before any handler runs, and is logged once per cause.
//
// gRPC's handshake requests a client certificate without checking it
// (servers.h), so that a stranger's certificate gets a clear
// UNAUTHENTICATED here rather than a bare handshake failure. Checks are
// cached per certificate (their expiry is still checked on each call).
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>

#include "rpc/security.h"

namespace blixard::rpc {

// The auth-context property the authenticator sets: the caller's URI.
inline constexpr char kCallerProperty[] = "blixard_caller";
// Set on every call of a TLS server, whoever the caller.
inline constexpr char kSecureProperty[] = "blixard_tls";

std::shared_ptr<grpc::AuthMetadataProcessor> NewAuthenticator(std::shared_ptr<const TlsMaterial> tls,
                                                              CallPolicy policy);

}  // namespace blixard::rpc
