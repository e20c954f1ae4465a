#include "pki/pki.h"

#include <gtest/gtest.h>

#include <ctime>

#include "pki/token.h"

namespace blixard::pki {
namespace {

TEST(Identity, UrisRoundTripAndStrangersAreRefused) {
  for (const Identity& id : {Identity::Server("c0ffee", 3), Identity::Worker("c0ffee", 12),
                             Identity::Client("c0ffee", Role::kReader, "alice")}) {
    auto back = ParseUri(ToUri(id));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, id);
  }
  EXPECT_EQ(ToUri(Identity::Server("ab", 3)), "spiffe://ab.blixard/server/3");
  for (const char* bad : {"https://ab.blixard/server/3", "spiffe://ab.example/server/3", "spiffe://ab.blixard/server/0",
                          "spiffe://ab.blixard/server/x", "spiffe://ab.blixard/client/root/alice",
                          "spiffe://ab.blixard/client/admin/a b", "spiffe://AB.blixard/server/1",
                          "spiffe://ab.blixard/server/3/extra"}) {
    EXPECT_FALSE(ParseUri(bad).ok()) << bad;
  }
}

TEST(Pki, ACaSignsANodeCertificateThatNamesTheNodeAndVerifies) {
  auto ca = NewCa("c0ffee");
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto ca_info = ReadCert(ca->cert_pem);
  ASSERT_TRUE(ca_info.ok());
  EXPECT_TRUE(ca_info->is_ca);
  EXPECT_EQ(ca_info->sha256_hex.size(), 64u);

  auto node = Issue(*ca, Identity::Server("c0ffee", 2), 3600);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  auto info = ReadCert(node->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->uri, "spiffe://c0ffee.blixard/server/2");
  EXPECT_FALSE(info->is_ca);
  EXPECT_NEAR(static_cast<double>(info->not_after_unix), static_cast<double>(std::time(nullptr) + 3600), 5);
  EXPECT_TRUE(VerifyIssuedBy(ca->cert_pem, node->cert_pem).ok());
  EXPECT_TRUE(KeyMatchesCert(node->key_pem, node->cert_pem));
  EXPECT_FALSE(KeyMatchesCert(ca->key_pem, node->cert_pem));
}

TEST(Pki, AnotherClustersCertificateDoesNotVerify) {
  auto ours = NewCa("aa");
  auto theirs = NewCa("bb");
  ASSERT_TRUE(ours.ok() && theirs.ok());
  auto stranger = Issue(*theirs, Identity::Server("bb", 1));
  ASSERT_TRUE(stranger.ok());
  const Status s = VerifyIssuedBy(ours->cert_pem, stranger->cert_pem);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << s.ToString();
}

TEST(Pki, TheSignerNotTheCsrChoosesTheIdentity) {
  auto ca = NewCa("c0ffee");
  ASSERT_TRUE(ca.ok());
  auto key = NewPrivateKey();
  ASSERT_TRUE(key.ok());
  auto csr = NewCsr(*key, Identity::Server("c0ffee", 1));  // asks to be server 1
  ASSERT_TRUE(csr.ok());
  auto cert = SignCsr(*ca, *csr, Identity::Worker("c0ffee", 9));  // the token grants worker 9
  ASSERT_TRUE(cert.ok()) << cert.status().ToString();
  EXPECT_EQ(ReadCert(*cert)->uri, "spiffe://c0ffee.blixard/worker/9");
  EXPECT_EQ(SignCsr(*ca, "garbage", Identity::Worker("c0ffee", 9)).status().code(), StatusCode::kInvalidArgument);
}

TEST(Pki, SerialsAreLowercaseHexWithoutALeadingZero) {
  auto ca = NewCa("c0ffee");
  ASSERT_TRUE(ca.ok());
  // Serials are random: one in 16 starts with a zero nibble, so 256 of
  // them hold one but once in 15 million runs.
  for (int i = 0; i < 256; ++i) {
    auto issued = Issue(*ca, Identity::Server("c0ffee", 1));
    ASSERT_TRUE(issued.ok());
    const std::string serial = ReadCert(issued->cert_pem)->serial_hex;
    ASSERT_FALSE(serial.empty());
    EXPECT_NE(serial[0], '0') << serial;
    EXPECT_EQ(serial.find_first_not_of("0123456789abcdef"), std::string::npos) << serial;
  }
}

TEST(Pki, AnExpiredCertificateIsRefused) {
  auto ca = NewCa("c0ffee");
  ASSERT_TRUE(ca.ok());
  auto old = Issue(*ca, Identity::Server("c0ffee", 1), -3600);
  ASSERT_TRUE(old.ok());
  const Status s = VerifyIssuedBy(ca->cert_pem, old->cert_pem);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("expired"), std::string::npos) << s.message();
}

TEST(Tokens, RoundTripAndMalformedOnesAreRefusedWithTheFormat) {
  const std::string fp(64, 'a');
  const JoinToken t = NewJoinToken(fp);
  auto back = ParseJoinToken(Encode(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ca_sha256, fp);
  EXPECT_EQ(back->id, t.id);
  EXPECT_EQ(back->secret, t.secret);
  EXPECT_NE(NewJoinToken(fp).id, t.id);
  const ClientToken c = NewClientToken();
  auto cback = ParseClientToken(Encode(c));
  ASSERT_TRUE(cback.ok()) << cback.status().ToString();
  EXPECT_EQ(cback->id, c.id);
  EXPECT_EQ(*TokenIdOf(Encode(t)), t.id);
  EXPECT_EQ(*TokenIdOf(Encode(c)), c.id);
  EXPECT_EQ(*TokenIdOf(c.id), c.id);
  EXPECT_FALSE(TokenIdOf("nonsense").ok());
  for (const char* bad : {"", "blx2", "blx2.aa.0123456789abcdef.00", "blxt.0123456789abcdef.zz",
                          "blx1.aa.server.1.ab.cd"}) {
    EXPECT_EQ(ParseJoinToken(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ParseClientToken(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseJoinToken("blx1.aa.server.1.ab.cd").status().message().find("older release"), std::string::npos);
}

TEST(Tokens, OnlyTheSecretsHashIsKeptAndItMatchesOnlyThatSecret) {
  const ClientToken c = NewClientToken();
  const std::string hash = SecretSha256(c.secret);
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash.find(c.secret), std::string::npos);
  EXPECT_TRUE(SecretMatches(c.secret, hash));
  EXPECT_FALSE(SecretMatches(NewClientToken().secret, hash));
  EXPECT_FALSE(SecretMatches(c.secret, hash.substr(1)));
  // The SHA-256 of "abc" (FIPS 180-2's example).
  EXPECT_EQ(SecretSha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace blixard::pki
