#include "node/route.h"

#include <gtest/gtest.h>

namespace blixard::node {
namespace {

using Clock = Route::Clock;
using Step = Route::Step;

const Clock::time_point kT0{std::chrono::seconds(1000)};
const Clock::time_point kDeadline = kT0 + std::chrono::seconds(10);

LeaderView Leads(uint64_t id, uint64_t term, std::string address = "") {
  LeaderView v;
  v.leader_id = id;
  v.term = term;
  v.leader_address = std::move(address);
  return v;
}

TEST(RouteTest, LeaderRunsLocallyFollowerForwardsWithABoundedAttempt) {
  Route here(1, kDeadline);
  EXPECT_EQ(here.Next(Leads(1, 2), kT0).kind, Step::kLocal);

  Route there(2, kDeadline);
  const Step s = there.Next(Leads(1, 2, "10.0.0.1:7001"), kT0);
  ASSERT_EQ(s.kind, Step::kForward);
  EXPECT_EQ(s.address, "10.0.0.1:7001");
  EXPECT_EQ(s.until, kT0 + Route::kForwardAttemptTimeout);
}

TEST(RouteTest, MembershipForwardsWaitForTheWholeDeadline) {
  Route::Options o;
  o.bounded_forwards = false;
  Route r(2, kDeadline, o);
  EXPECT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).until, kDeadline);
}

TEST(RouteTest, NoLeaderWaitsThenTriesTheNewOne) {
  Route r(2, kDeadline);
  Step s = r.Next(Leads(0, 3), kT0);
  ASSERT_EQ(s.kind, Step::kWait);
  EXPECT_EQ(s.until, kT0 + Route::kRetryInterval);
  s = r.Next(Leads(3, 4, "c:1"), kT0 + std::chrono::milliseconds(50));
  EXPECT_EQ(s.kind, Step::kForward);
  EXPECT_EQ(s.address, "c:1");
}

TEST(RouteTest, AFailedForwardWaitsForAnotherLeaderAndIsTriedAgain) {
  Route r(2, kDeadline);
  ASSERT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kForward);
  r.Tried(Attempt<bool>::Retry(Status::Unavailable("connection refused")));
  Step s = r.Next(Leads(1, 2, "a:1"), kT0);
  ASSERT_EQ(s.kind, Step::kWait);
  EXPECT_EQ(s.leader_id, 1u);  // wait for a leader other than (1, term 2)
  EXPECT_EQ(s.term, 2u);
  s = r.Next(Leads(3, 3, "c:1"), kT0 + std::chrono::milliseconds(100));
  EXPECT_EQ(s.kind, Step::kForward);
  EXPECT_EQ(s.address, "c:1");
  EXPECT_EQ(r.attempts(), 2u);
}

TEST(RouteTest, AtTheDeadlineTheMessageNamesTheLeaderAndTheElection) {
  Route r(2, kDeadline);
  ASSERT_EQ(r.Next(Leads(1, 2, "10.0.0.1:7001"), kT0).kind, Step::kForward);
  r.Tried(Attempt<bool>::Retry(Status::Unavailable("connection refused")));
  ASSERT_EQ(r.Next(Leads(1, 2, "10.0.0.1:7001"), kT0).kind, Step::kWait);
  const Step s = r.Next(Leads(0, 3), kDeadline);
  ASSERT_EQ(s.kind, Step::kFail);
  EXPECT_EQ(s.failure.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.failure.message().find("the leader, node 1 at 10.0.0.1:7001, did not answer: connection refused"),
            std::string::npos)
      << s.failure.message();
  EXPECT_NE(s.failure.message().find("an election is under way (node 2 is at term 3)"), std::string::npos)
      << s.failure.message();
}

TEST(RouteTest, NoQuorumSaysSo) {
  Route r(2, kDeadline);
  ASSERT_EQ(r.Next(Leads(0, 5), kT0).kind, Step::kWait);
  const Step s = r.Next(Leads(0, 5), kDeadline);
  ASSERT_EQ(s.kind, Step::kFail);
  EXPECT_NE(s.failure.message().find("no leader was elected before the deadline"), std::string::npos);
}

TEST(RouteTest, NotLeaderIsTriedAgainWithoutAFailureToReport) {
  Route r(2, kDeadline);
  ASSERT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kForward);
  r.Tried(Attempt<bool>::NotLeader());
  EXPECT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kWait);
  const Step s = r.Next(Leads(1, 2, "a:1"), kDeadline);
  ASSERT_EQ(s.kind, Step::kFail);
  EXPECT_NE(s.failure.message().find("did not accept the request before the deadline"), std::string::npos);
}

TEST(RouteTest, ARemovedMemberRefusesAtOnce) {
  Route r(2, kDeadline);
  LeaderView v = Leads(1, 2, "a:1");
  v.removed = true;
  const Step s = r.Next(v, kT0);
  ASSERT_EQ(s.kind, Step::kFail);
  EXPECT_EQ(s.failure.code(), StatusCode::kFailedPrecondition);
}

TEST(RouteTest, ReadsRunHereOnceALeaderIsKnown) {
  Route::Options o;
  o.local_only = true;
  o.read_hint = "; or read with --stale";
  Route r(2, kDeadline, o);
  EXPECT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kLocal);
  r.Tried(Attempt<bool>::Retry(Status::Aborted("leader changed")));
  ASSERT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kWait);
  const Step s = r.Next(Leads(0, 3), kDeadline);
  ASSERT_EQ(s.kind, Step::kFail);
  EXPECT_NE(s.failure.message().find("or read with --stale"), std::string::npos);
}

TEST(RouteTest, GiveUpAtOnceFailsAtTheFirstRetry) {
  Route::Options o;
  o.give_up_at_once = true;
  Route r(2, kDeadline, o);
  ASSERT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kForward);
  r.Tried(Attempt<bool>::Retry(Status::Unavailable("connection refused")));
  EXPECT_EQ(r.Next(Leads(1, 2, "a:1"), kT0).kind, Step::kFail);
}

}  // namespace
}  // namespace blixard::node
