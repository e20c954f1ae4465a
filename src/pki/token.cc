#include "pki/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <vector>

#include "pki/pki.h"

namespace blixard::pki {
namespace {

constexpr std::string_view kJoinPrefix = "blx2";
constexpr std::string_view kClientPrefix = "blxt";
constexpr size_t kIdBytes = 8;
constexpr size_t kSecretBytes = 16;

bool IsHex(std::string_view s, size_t digits) {
  if (s.size() != digits) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t dot = s.find('.', start);
    parts.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

}  // namespace

JoinToken NewJoinToken(const std::string& ca_sha256) {
  return JoinToken{ca_sha256, RandomHex(kIdBytes), RandomHex(kSecretBytes)};
}

ClientToken NewClientToken() { return ClientToken{RandomHex(kIdBytes), RandomHex(kSecretBytes)}; }

std::string Encode(const JoinToken& t) {
  return std::string(kJoinPrefix) + "." + t.ca_sha256 + "." + t.id + "." + t.secret;
}

std::string Encode(const ClientToken& t) { return std::string(kClientPrefix) + "." + t.id + "." + t.secret; }

Result<JoinToken> ParseJoinToken(std::string_view s) {
  const auto bad = [](const std::string& why) {
    return Status::InvalidArgument("malformed join token (" + why +
                                   "); make one with 'blixard cluster token create' on a server");
  };
  const std::vector<std::string_view> parts = Split(s);
  if (parts[0] == "blx1") return bad("blx1 tokens are of an older release");
  if (parts.size() != 4 || parts[0] != kJoinPrefix) return bad("expected blx2.<ca-sha256>.<id>.<secret>");
  if (!IsHex(parts[1], 64)) return bad("the CA fingerprint is not 64 hex digits");
  if (!IsHex(parts[2], 2 * kIdBytes)) return bad("the id is not 16 hex digits");
  if (!IsHex(parts[3], 2 * kSecretBytes)) return bad("the secret is not 32 hex digits");
  return JoinToken{std::string(parts[1]), std::string(parts[2]), std::string(parts[3])};
}

Result<ClientToken> ParseClientToken(std::string_view s) {
  const auto bad = [](const std::string& why) {
    return Status::InvalidArgument("malformed client token (" + why +
                                   "); make one with 'blixard token create --role ROLE'");
  };
  const std::vector<std::string_view> parts = Split(s);
  if (parts.size() != 3 || parts[0] != kClientPrefix) return bad("expected blxt.<id>.<secret>");
  if (!IsHex(parts[1], 2 * kIdBytes)) return bad("the id is not 16 hex digits");
  if (!IsHex(parts[2], 2 * kSecretBytes)) return bad("the secret is not 32 hex digits");
  return ClientToken{std::string(parts[1]), std::string(parts[2])};
}

Result<std::string> TokenIdOf(std::string_view s) {
  if (IsHex(s, 2 * kIdBytes)) return std::string(s);
  if (auto j = ParseJoinToken(s); j.ok()) return j->id;
  if (auto c = ParseClientToken(s); c.ok()) return c->id;
  return Status::InvalidArgument("'" + std::string(s.substr(0, 80)) +
                                 "' is neither a token id (16 hex digits, as 'token list' shows) nor a token");
}

std::string SecretSha256(std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(secret.data(), secret.size(), md, &n, EVP_sha256(), nullptr);
  return Hex(std::string_view(reinterpret_cast<const char*>(md), n));
}

bool SecretMatches(std::string_view secret, std::string_view sha256_hex) {
  const std::string got = SecretSha256(secret);
  return got.size() == sha256_hex.size() && CRYPTO_memcmp(got.data(), sha256_hex.data(), got.size()) == 0;
}

}  // namespace blixard::pki
