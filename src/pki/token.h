// Tokens: a secret on one line that lets its holder in. Each names a
// record of the replicated state (v1::Token) by its public id; the state
// keeps only the SHA-256 of the secret, so a copy of the state (a
// snapshot, a data dir) lets no one in.
//
//   join token    blx2.<ca-sha256>.<id>.<secret>
//     What a new node needs to join safely (as kubeadm's
//     --discovery-token-ca-cert-hash and k3s's K10 tokens): the joining
//     node checks the server's CA against <ca-sha256> before it sends
//     anything; the server signs its certificate only for a token whose
//     record exists, matches, has not expired and is not used up.
//   client token  blxt.<id>.<secret>
//     A bearer token (`Authorization: Bearer …`, over TLS only) naming a
//     client with a role, as Nomad's ACL tokens.
//
// <id> is 16 and <secret> 32 lowercase hex digits (64 and 128 random bits).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace blixard::pki {

struct JoinToken {
  std::string ca_sha256;  // hex fingerprint of the cluster CA
  std::string id;
  std::string secret;
};

struct ClientToken {
  std::string id;
  std::string secret;
};

JoinToken NewJoinToken(const std::string& ca_sha256);
ClientToken NewClientToken();

std::string Encode(const JoinToken& t);
std::string Encode(const ClientToken& t);
// kInvalidArgument saying what is malformed.
Result<JoinToken> ParseJoinToken(std::string_view s);
Result<ClientToken> ParseClientToken(std::string_view s);
// The id of either kind of token, or `s` itself when it is an id (16 hex
// digits): what `token revoke` takes. kInvalidArgument otherwise.
Result<std::string> TokenIdOf(std::string_view s);

// SHA-256 of `secret`, lowercase hex: what the state keeps.
std::string SecretSha256(std::string_view secret);
// Whether `secret` hashes to `sha256_hex`, in time that does not depend on
// where they differ.
bool SecretMatches(std::string_view secret, std::string_view sha256_hex);

}  // namespace blixard::pki
