// Join tokens: what a new node needs to join a cluster safely, on one line
// (as kubeadm's --discovery-token-ca-cert-hash and k3s's K10 tokens):
//   blx1.<ca-sha256>.<server|worker>.<expires-unix>.<nonce>.<mac>
// The joining node checks the server's CA against <ca-sha256> before it
// sends anything; the server signs the node's certificate only for a token
// whose <mac> (HMAC-SHA256 under the cluster's token key, held by servers
// only) covers the rest, and whose expiry is ahead.
//
// Tokens are stateless: any server verifies one with the token key alone.
// They can therefore not be used up (--uses) or revoked before they
// expire; that needs replicated token records (issue 17, not done yet).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pki/identity.h"

namespace blixard::pki {

struct JoinToken {
  std::string ca_sha256;                         // hex fingerprint of the cluster CA
  Identity::Kind kind = Identity::Kind::kServer;  // kServer or kWorker
  int64_t expires_unix = 0;
  std::string nonce;
  std::string mac;
};

// A new random token key (hex, 32 bytes).
std::string NewTokenKey();

JoinToken MakeJoinToken(const std::string& token_key, const std::string& ca_sha256, Identity::Kind kind,
                        int64_t expires_unix);
std::string Encode(const JoinToken& t);
// kInvalidArgument saying what is malformed.
Result<JoinToken> ParseJoinToken(std::string_view s);
// kOk, or kPermissionDenied: a forged or altered token, or one that expired.
Status CheckJoinToken(const std::string& token_key, const JoinToken& t, int64_t now_unix);

}  // namespace blixard::pki
