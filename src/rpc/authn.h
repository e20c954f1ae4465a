// The server side of mutual TLS: on every call, checks the client's
// certificate (if it shows one) against the cluster CA and reads who it
// names, then asks the server's CallPolicy. A refusal ends the call with
// its status before any handler runs, and is logged once per cause.
//
// gRPC's handshake requests a client certificate without checking it
// (servers.h), so that a stranger's certificate gets a clear
// UNAUTHENTICATED here rather than a bare handshake failure. A call with a
// bearer token is the token's client (SetTokenVerifier), whatever
// certificate its connection shows. Checks are
// cached per certificate (their expiry is still checked on each call).
// It adds nothing to the auth context: gRPC 1.51 hands the processor the
// connection's context, so a property added per call would pile up there
// (and every lookup would scan the pile); CallerOf reads the certificate.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <memory>
#include <optional>
#include <string>

#include "rpc/security.h"

namespace blixard::rpc {

// The identity `pem` names (its URI SAN), from a process-wide cache: for a
// certificate the authenticator accepted. nullopt if it names none.
std::optional<pki::Identity> IdentityOf(const std::string& pem);

// The bearer token of a call's `authorization` metadata value ("Bearer
// <token>"), or nullopt when it carries none of that scheme.
std::optional<std::string_view> BearerToken(std::string_view authorization);
// The process's TokenVerifier (SetTokenVerifier) on `token`.
Result<pki::Identity> VerifyToken(std::string_view token);

std::shared_ptr<grpc::AuthMetadataProcessor> NewAuthenticator(std::shared_ptr<const TlsMaterial> tls,
                                                              CallPolicy policy);

}  // namespace blixard::rpc
