// Writes ride out a failover, as a user sees it: clients that talk to
// followers keep getting true answers while the leader is killed with
// kill -9, and an error names what really failed.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "support/cluster.h"

namespace blixard::testing {
namespace {

constexpr int kNames = 120;
constexpr auto kWriteDeadline = seconds(15);

std::string NameAt(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "race-%03d", i);
  return buf;
}

// One client: creates every name in order through member `via`, labelled
// with its own name so the winner of each name can be read back.
struct RacingClient {
  std::string label;
  uint64_t via = 0;
  std::vector<grpc::Status> answers = std::vector<grpc::Status>(kNames);
  std::atomic<int> done{0};

  void Run(TestCluster& c) {
    auto stub = c.Vms(via);
    for (int i = 0; i < kNames; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + kWriteDeadline);
      v1::CreateVmRequest req;
      req.mutable_spec()->set_name(NameAt(i));
      req.mutable_spec()->set_vcpus(1);
      req.mutable_spec()->set_memory_mib(128);
      (*req.mutable_spec()->mutable_labels())["client"] = label;
      v1::CreateVmResponse resp;
      answers[i] = stub->CreateVm(&ctx, req, &resp);
      done.fetch_add(1);
    }
  }
};

// Two clients create the same names through two followers while the
// leader fails (`fail`): every name is created exactly once, the client
// whose create won (the VM carries its label) is told OK and the other
// ALREADY_EXISTS, and nobody is told UNAVAILABLE: a follower that cannot
// reach the leader waits for the next one within the deadline, and a
// create the old leader applied before it could answer is answered, not
// applied again, when it is retried (its request id).
void RaceThroughFollowers(const std::function<void(TestCluster&, uint64_t leader)>& fail) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  std::vector<uint64_t> followers;
  for (uint64_t id : c.RunningIds()) {
    if (id != leader) followers.push_back(id);
  }
  ASSERT_EQ(followers.size(), 2u);

  RacingClient a, b;
  a.label = "a";
  a.via = followers[0];
  b.label = "b";
  b.via = followers[1];
  std::thread ta([&] { a.Run(c); });
  std::thread tb([&] { b.Run(c); });
  EXPECT_TRUE(WaitUntil([&] { return a.done >= 20 && b.done >= 20; }, seconds(60)));
  fail(c, leader);
  ta.join();
  tb.join();

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(30));
  v1::ListVmsResponse list;
  ASSERT_TRUE(c.Vms(followers[0])->ListVms(&ctx, v1::ListVmsRequest(), &list).ok());
  std::map<std::string, std::string> winner;  // name -> label
  for (const auto& vm : list.vms()) {
    EXPECT_TRUE(winner.emplace(vm.spec().name(), vm.spec().labels().at("client")).second)
        << vm.spec().name() << " listed twice";
  }
  ASSERT_EQ(winner.size(), static_cast<size_t>(kNames));
  for (int i = 0; i < kNames; ++i) {
    const std::string name = NameAt(i);
    ASSERT_TRUE(winner.contains(name)) << name << " was not created";
    for (RacingClient* cl : {&a, &b}) {
      const grpc::Status& s = cl->answers[i];
      const grpc::StatusCode want = winner[name] == cl->label ? grpc::StatusCode::OK
                                                              : grpc::StatusCode::ALREADY_EXISTS;
      EXPECT_EQ(s.error_code(), want)
          << "client " << cl->label << " creating " << name << " (won by " << winner[name]
          << "): " << s.error_message();
    }
  }
}

TEST(Failover, WritesThroughFollowersRideOutAKilledLeader) {
  RaceThroughFollowers([](TestCluster& c, uint64_t leader) { c.Kill9(leader); });
}

// A paused leader (SIGSTOP) accepts connections and never answers: the
// followers' forwards to it time out after node::Route's attempt timeout
// and go to the leader elected meanwhile, instead of waiting out the
// client's 15 s deadline.
TEST(Failover, WritesThroughFollowersRideOutAPausedLeader) {
  RaceThroughFollowers([](TestCluster& c, uint64_t leader) { c.Pause(leader); });
}

// With no quorum left, a write sent to the survivor fails at its deadline
// with the survivor's own message (the leader it could not reach, the
// election under way); the CLI prints that message and does not claim that
// the daemon it asked is unreachable.
TEST(Failover, NoQuorumMessageNamesTheLeaderAndTheElection) {
  TestCluster c;
  ASSERT_TRUE(c.Start(3));
  ASSERT_TRUE(c.WaitForMembers({.voters = 3}));
  const uint64_t leader = c.WaitForLeader();
  ASSERT_NE(leader, 0u);
  uint64_t survivor = 0;
  for (uint64_t id : c.RunningIds()) {
    if (id != leader) survivor = id;
  }
  for (uint64_t id : c.RunningIds()) {
    if (id != survivor) c.Kill9(id);
  }
  CommandResult r = c.Cli(survivor, {"vm", "create", "lonely", "--stopped", "--timeout", "3"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("UNAVAILABLE"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("cannot reach a blixard daemon"), std::string::npos) << r.err;
  const bool names_leader = r.err.find("node " + std::to_string(leader) + " at " + c.Addr(leader)) !=
                            std::string::npos;
  const bool names_election = r.err.find("election is under way") != std::string::npos ||
                              r.err.find("no leader was elected") != std::string::npos;
  EXPECT_TRUE(names_leader || names_election) << r.err;
  EXPECT_TRUE(names_election) << r.err;
}

}  // namespace
}  // namespace blixard::testing
