#include "cli/parse.h"

#include <gtest/gtest.h>

namespace blixard::cli {
namespace {

TEST(ParseLabel, SplitsAtTheFirstEquals) {
  auto kv = ParseLabel("env=prod=eu");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "env");
  EXPECT_EQ(kv->second, "prod=eu");
}

TEST(ParseLabel, AllowsAnEmptyValue) {
  auto kv = ParseLabel("tier=");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->first, "tier");
  EXPECT_EQ(kv->second, "");
}

TEST(ParseLabel, RejectsMissingEqualsAndEmptyKey) {
  auto no_eq = ParseLabel("prod");
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_eq.status().message().find("key=value"), std::string::npos);
  auto empty_key = ParseLabel("=prod");
  ASSERT_FALSE(empty_key.ok());
  EXPECT_NE(empty_key.status().message().find("empty key"), std::string::npos);
}

TEST(ParseRestartPolicy, AcceptsTheThreePoliciesInAnyCase) {
  EXPECT_EQ(*ParseRestartPolicy("never"), v1::RESTART_POLICY_NEVER);
  EXPECT_EQ(*ParseRestartPolicy("on-failure"), v1::RESTART_POLICY_ON_FAILURE);
  EXPECT_EQ(*ParseRestartPolicy("on_failure"), v1::RESTART_POLICY_ON_FAILURE);
  EXPECT_EQ(*ParseRestartPolicy("Always"), v1::RESTART_POLICY_ALWAYS);
}

TEST(ParseRestartPolicy, RejectsOthersNamingTheChoices) {
  auto r = ParseRestartPolicy("sometimes");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("never, on-failure, always"), std::string::npos);
  EXPECT_FALSE(ParseRestartPolicy("").ok());
}

TEST(ParseDurationSeconds, AcceptsUnitsAndSums) {
  EXPECT_EQ(*ParseDurationSeconds("90"), 90);
  EXPECT_EQ(*ParseDurationSeconds("90s"), 90);
  EXPECT_EQ(*ParseDurationSeconds("5m"), 300);
  EXPECT_EQ(*ParseDurationSeconds("2h"), 7200);
  EXPECT_EQ(*ParseDurationSeconds("1d"), 86400);
  EXPECT_EQ(*ParseDurationSeconds("1h30m"), 5400);
  EXPECT_EQ(*ParseDurationSeconds("0"), 0);
}

TEST(ParseDurationSeconds, RejectsGarbage) {
  for (const char* bad : {"", "m", "-5m", "5x", "1h30", "5 m", "99999999999999999999d"}) {
    EXPECT_FALSE(ParseDurationSeconds(bad).ok()) << bad;
  }
}

TEST(ParseNetworkMode, AcceptsTheThreeModes) {
  EXPECT_EQ(*ParseNetworkMode("none"), v1::NETWORK_MODE_NONE);
  EXPECT_EQ(*ParseNetworkMode("User"), v1::NETWORK_MODE_USER);
  EXPECT_EQ(*ParseNetworkMode("bridge"), v1::NETWORK_MODE_BRIDGE);
  EXPECT_NE(ParseNetworkMode("tap").status().message().find("none, user, bridge"), std::string::npos);
}

TEST(ParsePublish, HostPortGuestPortWithOptionalAddressAndProtocol) {
  auto p = ParsePublish("8080:80");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->host_port(), 8080u);
  EXPECT_EQ(p->guest_port(), 80u);
  EXPECT_EQ(p->protocol(), v1::PORT_PROTOCOL_UNSPECIFIED);
  EXPECT_EQ(p->host_ip(), "");
  p = ParsePublish("0.0.0.0:5353:53/udp");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->host_ip(), "0.0.0.0");
  EXPECT_EQ(p->host_port(), 5353u);
  EXPECT_EQ(p->guest_port(), 53u);
  EXPECT_EQ(p->protocol(), v1::PORT_PROTOCOL_UDP);
  EXPECT_EQ(ParsePublish("2222:22/TCP")->protocol(), v1::PORT_PROTOCOL_TCP);
}

TEST(ParsePublish, RejectsWhatIsNotHostColonGuest) {
  for (const char* bad : {"", "8080", "8080:", ":80", "0:80", "8080:65536", "x:80", "8080:80/sctp", ":8080:80",
                          "123456:80"}) {
    auto p = ParsePublish(bad);
    EXPECT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.status().message().find("HOST_PORT:GUEST_PORT"), std::string::npos) << p.status().message();
  }
}

}  // namespace
}  // namespace blixard::cli
