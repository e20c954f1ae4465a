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

TEST(Pki, AnExpiredCertificateIsRefused) {
  auto ca = NewCa("c0ffee");
  ASSERT_TRUE(ca.ok());
  auto old = Issue(*ca, Identity::Server("c0ffee", 1), -3600);
  ASSERT_TRUE(old.ok());
  const Status s = VerifyIssuedBy(ca->cert_pem, old->cert_pem);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("expired"), std::string::npos) << s.message();
}

TEST(JoinTokens, RoundTripAndAreCheckedForForgeryAndExpiry) {
  const std::string key = NewTokenKey();
  const std::string fp(64, 'a');
  const JoinToken t = MakeJoinToken(key, fp, Identity::Kind::kWorker, 2000);
  auto back = ParseJoinToken(Encode(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kind, Identity::Kind::kWorker);
  EXPECT_EQ(back->ca_sha256, fp);
  EXPECT_TRUE(CheckJoinToken(key, *back, 1999).ok());
  const Status expired = CheckJoinToken(key, *back, 2000);
  EXPECT_EQ(expired.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(expired.message().find("expired"), std::string::npos);
  EXPECT_EQ(CheckJoinToken(NewTokenKey(), *back, 1000).code(), StatusCode::kPermissionDenied);
  JoinToken promoted = *back;
  promoted.kind = Identity::Kind::kServer;  // a worker token turned into a server's
  EXPECT_EQ(CheckJoinToken(key, promoted, 1000).code(), StatusCode::kPermissionDenied);
  for (const char* bad : {"", "blx1", "blx2.aa.server.1.ab.cd", "blx1.zz.server.1.ab.cd"}) {
    EXPECT_EQ(ParseJoinToken(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace blixard::pki
