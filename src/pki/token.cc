#include "pki/token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <vector>

#include "pki/pki.h"

namespace blixard::pki {
namespace {

constexpr std::string_view kVersion = "blx1";
constexpr size_t kMacHexChars = 32;  // 128 bits

const char* KindName(Identity::Kind k) { return k == Identity::Kind::kWorker ? "worker" : "server"; }

std::string Mac(const std::string& key, const JoinToken& t) {
  const std::string msg = std::string(kVersion) + "." + t.ca_sha256 + "." + KindName(t.kind) + "." +
                          std::to_string(t.expires_unix) + "." + t.nonce;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
       msg.size(), md, &n);
  return Hex(std::string_view(reinterpret_cast<const char*>(md), n)).substr(0, kMacHexChars);
}

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

}  // namespace

std::string NewTokenKey() { return RandomHex(32); }

JoinToken MakeJoinToken(const std::string& token_key, const std::string& ca_sha256, Identity::Kind kind,
                        int64_t expires_unix) {
  JoinToken t;
  t.ca_sha256 = ca_sha256;
  t.kind = kind;
  t.expires_unix = expires_unix;
  t.nonce = RandomHex(8);
  t.mac = Mac(token_key, t);
  return t;
}

std::string Encode(const JoinToken& t) {
  return std::string(kVersion) + "." + t.ca_sha256 + "." + KindName(t.kind) + "." +
         std::to_string(t.expires_unix) + "." + t.nonce + "." + t.mac;
}

Result<JoinToken> ParseJoinToken(std::string_view s) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t dot = s.find('.', start);
    parts.push_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const auto bad = [](const std::string& why) {
    return Status::InvalidArgument("malformed join token (" + why +
                                   "); make one with 'blixard cluster token create' on a server");
  };
  if (parts.size() != 6 || parts[0] != kVersion) return bad("expected blx1.<ca>.<role>.<expiry>.<nonce>.<mac>");
  JoinToken t;
  if (parts[1].size() != 64 || !IsHex(parts[1])) return bad("the CA fingerprint is not 64 hex digits");
  t.ca_sha256 = std::string(parts[1]);
  if (parts[2] == "server") {
    t.kind = Identity::Kind::kServer;
  } else if (parts[2] == "worker") {
    t.kind = Identity::Kind::kWorker;
  } else {
    return bad("the role is not server or worker");
  }
  auto [end, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), t.expires_unix);
  if (ec != std::errc() || end != parts[3].data() + parts[3].size()) return bad("the expiry is not a number");
  if (!IsHex(parts[4]) || !IsHex(parts[5])) return bad("the nonce or the mac is not hex");
  t.nonce = std::string(parts[4]);
  t.mac = std::string(parts[5]);
  return t;
}

Status CheckJoinToken(const std::string& token_key, const JoinToken& t, int64_t now_unix) {
  const std::string want = Mac(token_key, t);
  if (want.size() != t.mac.size() || CRYPTO_memcmp(want.data(), t.mac.data(), want.size()) != 0) {
    return Status::PermissionDenied("the join token was not made by this cluster (or was altered)");
  }
  if (now_unix >= t.expires_unix) {
    return Status::PermissionDenied("the join token expired " + std::to_string(now_unix - t.expires_unix) +
                                    " s ago; make a new one with 'blixard cluster token create'");
  }
  return Status::Ok();
}

}  // namespace blixard::pki
