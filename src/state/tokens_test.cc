// ClusterState's tokens: created, used, revoked, kept in snapshots.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "state/cluster_state.h"
#include "state/commands.h"
#include "state/testing/cluster_state_fixture.h"

namespace blixard::state {
namespace {

using ::testing::HasSubstr;
using testing::ClusterStateTest;
using testing::kNow;

const std::string kHash(64, 'a');
const std::string kOtherHash(64, 'b');

v1::Token JoinToken(const std::string& id, uint32_t max_uses = 0, int64_t expires = kNow + 3'600'000) {
  v1::Token t;
  t.set_id(id);
  t.set_secret_sha256(kHash);
  t.set_kind(v1::TOKEN_KIND_JOIN_SERVER);
  t.set_expires_unix_ms(expires);
  t.set_max_uses(max_uses);
  return t;
}

v1::Token ClientToken(const std::string& id) {
  v1::Token t;
  t.set_id(id);
  t.set_secret_sha256(kHash);
  t.set_kind(v1::TOKEN_KIND_CLIENT);
  t.set_role("reader");
  t.set_name("alice");
  return t;
}

using TokensTest = ClusterStateTest;

TEST_F(TokensTest, AJoinTokenIsUsedUpAfterItsUses) {
  v1::Command create = MakeCreateToken(JoinToken("00000000000000a1", 2), kNow);
  create.set_actor("client root (admin)");
  ASSERT_TRUE(Run(create).status.ok());
  const v1::Token* t = state_.FindToken("00000000000000a1");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->created_by(), "client root (admin)");
  EXPECT_EQ(t->created_unix_ms(), kNow);
  const v1::Command use = MakeUseToken("00000000000000a1", kHash, v1::TOKEN_KIND_JOIN_SERVER, kNow + 1);
  ASSERT_TRUE(Run(use).status.ok());
  ASSERT_TRUE(Run(use).status.ok());
  EXPECT_EQ(state_.FindToken("00000000000000a1")->uses(), 2u);
  EXPECT_THAT(RunFailing(use, StatusCode::kPermissionDenied).message(), HasSubstr("used up (2 of 2 uses)"));
}

TEST_F(TokensTest, AUseIsRefusedWithTheReasonAndChangesNothing) {
  ASSERT_TRUE(Run(MakeCreateToken(JoinToken("00000000000000a1"), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateToken(ClientToken("00000000000000c1"), kNow)).status.ok());
  EXPECT_THAT(RunFailing(MakeUseToken("00000000000000a1", kOtherHash, v1::TOKEN_KIND_JOIN_SERVER, kNow),
                         StatusCode::kPermissionDenied).message(),
              HasSubstr("does not match"));
  EXPECT_THAT(RunFailing(MakeUseToken("00000000000000a1", kHash, v1::TOKEN_KIND_JOIN_WORKER, kNow),
                         StatusCode::kPermissionDenied).message(),
              HasSubstr("is for a server, not for a worker"));
  EXPECT_THAT(RunFailing(MakeUseToken("00000000000000c1", kHash, v1::TOKEN_KIND_JOIN_WORKER, kNow),
                         StatusCode::kPermissionDenied).message(),
              HasSubstr("is for a client"));
  EXPECT_THAT(RunFailing(MakeUseToken("00000000000000a1", kHash, v1::TOKEN_KIND_JOIN_SERVER, kNow + 3'600'000),
                         StatusCode::kPermissionDenied).message(),
              HasSubstr("expired 0 s ago"));
  EXPECT_THAT(RunFailing(MakeUseToken("00000000000000ff", kHash, v1::TOKEN_KIND_JOIN_SERVER, kNow),
                         StatusCode::kPermissionDenied).message(),
              HasSubstr("unknown or was revoked"));
}

TEST_F(TokensTest, ARevokedTokenIsGoneAndItsIdStaysTaken) {
  ASSERT_TRUE(Run(MakeCreateToken(JoinToken("00000000000000a1"), kNow)).status.ok());
  RunFailing(MakeCreateToken(JoinToken("00000000000000a1"), kNow), StatusCode::kAlreadyExists);
  ASSERT_TRUE(Run(MakeRevokeToken("00000000000000a1", kNow)).status.ok());
  EXPECT_EQ(state_.FindToken("00000000000000a1"), nullptr);
  RunFailing(MakeUseToken("00000000000000a1", kHash, v1::TOKEN_KIND_JOIN_SERVER, kNow), StatusCode::kPermissionDenied);
  RunFailing(MakeRevokeToken("00000000000000a1", kNow), StatusCode::kNotFound);
}

TEST_F(TokensTest, InvalidRecordsAreRefused) {
  v1::Token bad = JoinToken("00000000000000A1");
  RunFailing(MakeCreateToken(bad, kNow), StatusCode::kInvalidArgument);
  bad = ClientToken("00000000000000c1");
  bad.set_role("root");
  EXPECT_THAT(RunFailing(MakeCreateToken(bad, kNow), StatusCode::kInvalidArgument).message(),
              HasSubstr("use admin, operator or reader"));
  bad = ClientToken("00000000000000c1");
  bad.set_name("a b");
  RunFailing(MakeCreateToken(bad, kNow), StatusCode::kInvalidArgument);
  bad = JoinToken("00000000000000a1");
  bad.set_secret_sha256("short");
  RunFailing(MakeCreateToken(bad, kNow), StatusCode::kInvalidArgument);
}

TEST_F(TokensTest, TokensLongExpiredAreDroppedByTheNextCreate) {
  ASSERT_TRUE(Run(MakeCreateToken(JoinToken("00000000000000a1", 0, kNow + 1000), kNow)).status.ok());
  ASSERT_TRUE(Run(MakeCreateToken(ClientToken("00000000000000c1"), kNow)).status.ok());  // never expires
  const int64_t next_day = kNow + 1000 + 24LL * 3600 * 1000 + 1;
  ASSERT_TRUE(Run(MakeCreateToken(JoinToken("00000000000000a2", 0, next_day + 3'600'000), next_day)).status.ok());
  EXPECT_EQ(state_.FindToken("00000000000000a1"), nullptr);
  EXPECT_NE(state_.FindToken("00000000000000c1"), nullptr);
  EXPECT_NE(state_.FindToken("00000000000000a2"), nullptr);
}

TEST_F(TokensTest, TokensAreInTheSnapshotAndTheDigest) {
  const uint64_t empty = state_.Digest();
  ASSERT_TRUE(Run(MakeCreateToken(ClientToken("00000000000000c1"), kNow)).status.ok());
  EXPECT_NE(state_.Digest(), empty);
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  ASSERT_NE(copy.FindToken("00000000000000c1"), nullptr);
  EXPECT_EQ(copy.FindToken("00000000000000c1")->name(), "alice");
  EXPECT_EQ(copy.Digest(), state_.Digest());
  EXPECT_TRUE(copy == state_);
  EXPECT_TRUE(copy.CheckInvariants().ok());
}

TEST_F(TokensTest, ARevokedCertificateIsKeptUntilItWouldHaveExpired) {
  v1::RevokedCertificate r;
  r.set_serial("1f00");
  r.set_expires_unix_ms(kNow + 1000);
  r.set_subject("client otto (operator)");
  v1::Command revoke = MakeRevokeCertificate(r, kNow);
  revoke.set_actor("client root (admin)");
  ASSERT_TRUE(Run(revoke).status.ok());
  EXPECT_TRUE(state_.IsRevoked("1f00"));
  EXPECT_EQ(state_.revoked_certificates().at("1f00").revoked_by(), "client root (admin)");
  ASSERT_TRUE(Run(revoke).status.ok());  // twice is no error
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(state_.EncodeSnapshot()).ok());
  EXPECT_TRUE(copy.IsRevoked("1f00"));
  EXPECT_EQ(copy.Digest(), state_.Digest());
  // The next revocation after it expired drops it.
  v1::RevokedCertificate later;
  later.set_serial("2a");
  ASSERT_TRUE(Run(MakeRevokeCertificate(later, kNow + 2000)).status.ok());
  EXPECT_FALSE(state_.IsRevoked("1f00"));
  EXPECT_TRUE(state_.IsRevoked("2a"));
  for (const char* bad : {"", "0a", "XYZ", "1F"}) {
    v1::RevokedCertificate b;
    b.set_serial(bad);
    RunFailing(MakeRevokeCertificate(b, kNow), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace blixard::state
