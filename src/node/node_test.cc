// Node with an in-memory store and no peers (a one-member cluster):
// asynchronous proposals are answered exactly once, also when the node
// stops with answers in flight.
#include "node/node.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "state/commands.h"
#include "storage/mem_log_store.h"
#include "support/process.h"

namespace blixard::node {
namespace {

v1::Command Create(const std::string& name) {
  v1::VmSpec spec;
  spec.set_name(name);
  spec.set_vcpus(1);
  spec.set_memory_mib(64);
  return state::MakeCreateVm(spec, false, 1'700'000'000'000);
}

// Starts `threads` writer threads; thread t proposes the creates of vm-i
// for i in [t * per_thread, (t + 1) * per_thread), passing each answer to
// `answer(i, result)` (on whichever thread answers) and counting each
// proposal made in `sent`. The caller joins the threads.
std::vector<std::thread> StartWriters(Node& node, int threads, int per_thread,
                                      std::function<void(int, Result<state::ApplyResult>)> answer,
                                      std::atomic<int>& sent) {
  auto shared =
      std::make_shared<std::function<void(int, Result<state::ApplyResult>)>>(std::move(answer));
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&node, &sent, shared, t, per_thread] {
      for (int j = 0; j < per_thread; ++j) {
        const int i = t * per_thread + j;
        node.ProposeAsync(
            Create("vm-" + std::to_string(i)), Clock::now() + std::chrono::seconds(60),
            [shared, i](Result<state::ApplyResult> r) { (*shared)(i, std::move(r)); });
        sent.fetch_add(1);
      }
    });
  }
  return writers;
}

std::unique_ptr<Node> StartLeader(int64_t liveness_ttl_ms = 0) {
  NodeConfig config;
  config.id = 1;
  config.liveness_ttl_ms = liveness_ttl_ms;
  config.address = "127.0.0.1:1";
  config.tick_ms = 10;
  auto node = Node::Start(config, std::make_unique<storage::MemLogStore>(),
                          Clock::now() + std::chrono::seconds(10));
  if (!node.ok()) return nullptr;
  testing::WaitUntil([&] { return (*node)->GetStatus().leader_id == 1; }, std::chrono::seconds(30));
  return std::move(node).value();
}

TEST(Node, AsyncProposalsAreAnsweredOnceWithTheirRecord) {
  auto node = StartLeader();
  ASSERT_NE(node, nullptr);
  ASSERT_EQ(node->GetStatus().leader_id, 1u);
  constexpr int kWrites = 500;
  std::vector<std::unique_ptr<std::atomic<int>>> calls;
  std::vector<std::string> names(kWrites);
  for (int i = 0; i < kWrites; ++i) calls.push_back(std::make_unique<std::atomic<int>>(0));
  std::atomic<int> ok{0}, done{0};
  for (int i = 0; i < kWrites; ++i) {
    node->ProposeAsync(Create("vm-" + std::to_string(i)), Clock::now() + std::chrono::seconds(60),
                       [&, i](Result<state::ApplyResult> r) {
                         if (r.ok() && r->status.ok() && r->vm) {
                           names[i] = r->vm->spec().name();
                           ok.fetch_add(1);
                         }
                         calls[i]->fetch_add(1);
                         done.fetch_add(1);
                       });
  }
  EXPECT_TRUE(testing::WaitUntil([&] { return done.load() == kWrites; }, std::chrono::seconds(60)));
  node->Stop();
  EXPECT_EQ(ok.load(), kWrites);
  for (int i = 0; i < kWrites; ++i) {
    EXPECT_EQ(calls[i]->load(), 1) << i;
    EXPECT_EQ(names[i], "vm-" + std::to_string(i));
  }
  size_t vms = 0;
  node->Read([&](const state::ClusterState& s) { vms = s.vm_count(); });
  EXPECT_EQ(vms, size_t{kWrites});
}

// The leader's side of liveness runs in its member (Member::Heartbeat and
// its ticks): a heartbeat is acked with the leader's term and last index, a
// node that never heartbeats is marked DOWN after the TTL and its VM is
// unplaced so that it may run elsewhere; a heard node stays READY.
TEST(Node, TheLeaderAcksHeartbeatsAndMovesTheVmsOfASilentNode) {
  constexpr int64_t kTtlMs = 300;
  auto node = StartLeader(kTtlMs);
  ASSERT_NE(node, nullptr);
  const Deadline far = Clock::now() + std::chrono::seconds(30);
  const int64_t now = 1'700'000'000'000;
  v1::Node two;
  two.set_id(2);
  two.set_address("127.0.0.1:2");
  two.set_role(v1::NODE_ROLE_WORKER);
  two.set_health(v1::NODE_HEALTH_READY);
  ASSERT_TRUE(node->Propose(state::MakeRegisterNode(two, now), far).ok());
  ASSERT_TRUE(node->Propose(Create("a"), far).ok());
  auto placed = node->Propose(state::MakePlaceVms({{"a", 2, 0}}, now), far);
  ASSERT_TRUE(placed.ok() && placed->status.ok()) << (placed.ok() ? placed->status : placed.status()).ToString();

  auto ack = node->Heartbeat(1, far);
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->term, node->GetStatus().term);
  EXPECT_GE(ack->last_index, node->GetStatus().applied_index) << "the ack covers what was applied before it";

  // Node 1 keeps heartbeating; node 2 is silent.
  auto health = [&](uint64_t id) {
    v1::NodeHealth h = v1::NODE_HEALTH_UNSPECIFIED;
    node->Read([&](const state::ClusterState& st) {
      if (const v1::Node* n = st.FindNode(id)) h = n->health();
    });
    return h;
  };
  auto vm_node = [&] {
    uint64_t on = 99;
    node->Read([&](const state::ClusterState& st) { on = st.FindVm("a")->node_id(); });
    return on;
  };
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        EXPECT_TRUE(node->Heartbeat(1, far).ok());
        return health(2) == v1::NODE_HEALTH_DOWN && vm_node() != 2;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(health(1), v1::NODE_HEALTH_READY) << "a heard node stays READY";

  // Node 2 comes back: READY again once it is heard.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        EXPECT_TRUE(node->Heartbeat(2, far).ok());
        return health(2) == v1::NODE_HEALTH_READY;
      },
      std::chrono::seconds(30)));
  node->Stop();
}

TEST(Node, AHeartbeatToAMemberWithoutLivenessIsRefusedWithTheReason) {
  auto node = StartLeader();
  ASSERT_NE(node, nullptr);
  auto ack = node->Heartbeat(1, Clock::now() + std::chrono::seconds(5));
  ASSERT_FALSE(ack.ok());
  EXPECT_EQ(ack.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(ack.status().message().find("no liveness"), std::string::npos) << ack.status().ToString();
}

// Writers on many threads at once (as gRPC's): a write that finds the loop
// idle runs its pass on the writer's thread, the others queue behind it;
// none is lost or answered twice.
TEST(Node, WritesFromManyThreadsAtOnceAreAllAppliedAndAnsweredOnce) {
  auto node = StartLeader();
  ASSERT_NE(node, nullptr);
  constexpr int kThreads = 8, kPerThread = 4000;
  std::vector<std::unique_ptr<std::atomic<int>>> calls;
  for (int i = 0; i < kThreads * kPerThread; ++i) {
    calls.push_back(std::make_unique<std::atomic<int>>(0));
  }
  std::atomic<int> ok{0}, done{0}, sent{0};
  std::vector<std::thread> writers = StartWriters(
      *node, kThreads, kPerThread,
      [&](int i, Result<state::ApplyResult> r) {
        if (r.ok() && r->status.ok()) ok.fetch_add(1);
        calls[i]->fetch_add(1);
        done.fetch_add(1);
      },
      sent);
  for (auto& w : writers) w.join();
  EXPECT_TRUE(testing::WaitUntil([&] { return done.load() == kThreads * kPerThread; },
                                 std::chrono::seconds(60)));
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  for (int i = 0; i < kThreads * kPerThread; ++i) ASSERT_EQ(calls[i]->load(), 1) << i;
  size_t vms = 0;
  node->Read([&](const state::ClusterState& s) { vms = s.vm_count(); });
  EXPECT_EQ(vms, size_t{kThreads * kPerThread});
  node->Stop();
}

// Stop() while writes are queued, applying and being answered: each
// callback runs exactly once, before Stop() returns; an OK answer means the
// record is in the state.
TEST(Node, StopWithAnswersInFlightAnswersEachOnceBeforeReturning) {
  for (int round = 0; round < 5; ++round) {
    auto node = StartLeader();
    ASSERT_NE(node, nullptr);
    constexpr int kThreads = 2, kPerThread = 400;
    std::vector<std::unique_ptr<std::atomic<int>>> calls;
    std::vector<std::unique_ptr<std::atomic<bool>>> acked;
    for (int i = 0; i < kThreads * kPerThread; ++i) {
      calls.push_back(std::make_unique<std::atomic<int>>(0));
      acked.push_back(std::make_unique<std::atomic<bool>>(false));
    }
    std::atomic<int> done{0}, sent{0};
    std::vector<std::thread> writers = StartWriters(
        *node, kThreads, kPerThread,
        [&](int i, Result<state::ApplyResult> r) {
          if (r.ok() && r->status.ok()) acked[i]->store(true);
          calls[i]->fetch_add(1);
          done.fetch_add(1);
        },
        sent);
    // Stop once some writes were answered and others are still queued.
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (done.load() < 50 && Clock::now() < deadline) std::this_thread::yield();
    const int sent_before_stop = sent.load();
    node->Stop();
    const int answered_at_stop = done.load();
    for (auto& w : writers) w.join();
    // Proposals made before Stop() returned were all answered by then; the
    // later ones are refused on the caller's thread.
    EXPECT_EQ(done.load(), kThreads * kPerThread);
    EXPECT_GE(answered_at_stop, sent_before_stop);
    EXPECT_GE(answered_at_stop, 50);
    int acks = 0;
    for (int i = 0; i < kThreads * kPerThread; ++i) {
      ASSERT_EQ(calls[i]->load(), 1) << i;
      if (!acked[i]->load()) continue;
      ++acks;
      bool present = false;
      node->Read([&](const state::ClusterState& s) {
        present = s.FindVm("vm-" + std::to_string(i)) != nullptr;
      });
      EXPECT_TRUE(present) << "acknowledged vm-" << i << " missing";
    }
    EXPECT_GE(acks, 1);
  }
}

// The leader's side of InternalService.Forward: only members may forward,
// and a forwarded create is judged as the public API judges one.
TEST(Node, ForwardsAreTakenFromMembersOnlyAndJudgedAsTheApiWould) {
  auto node = StartLeader();
  ASSERT_NE(node, nullptr);
  auto forward = [&](uint64_t from, const v1::Command& cmd) {
    v1::ForwardRequest req;
    req.set_from_node(from);
    req.set_cluster_id(node->cluster_id());
    req.set_command(cmd.SerializeAsString());
    return node->HandleForward(req, Clock::now() + std::chrono::seconds(10));
  };
  v1::ForwardResponse r = forward(7, Create("from-a-stranger"));
  EXPECT_EQ(r.code(), static_cast<int32_t>(StatusCode::kPermissionDenied)) << r.message();
  EXPECT_NE(r.message().find("not a member"), std::string::npos) << r.message();

  v1::Command relative = Create("relative-kernel");
  relative.mutable_create_vm()->mutable_spec()->set_kernel("vmlinuz");
  r = forward(1, relative);
  EXPECT_EQ(r.code(), static_cast<int32_t>(StatusCode::kInvalidArgument)) << r.message();
  EXPECT_NE(r.message().find("is relative"), std::string::npos) << r.message();

  r = forward(1, Create("fine"));
  EXPECT_EQ(r.code(), 0) << r.message();
  bool found_stranger = false, found_relative = false, found_fine = false;
  node->Read([&](const state::ClusterState& st) {
    found_stranger = st.FindVm("from-a-stranger") != nullptr;
    found_relative = st.FindVm("relative-kernel") != nullptr;
    found_fine = st.FindVm("fine") != nullptr;
  });
  EXPECT_FALSE(found_stranger);
  EXPECT_FALSE(found_relative);
  EXPECT_TRUE(found_fine);
}

}  // namespace
}  // namespace blixard::node
