#include "node/reply_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace blixard::node {
namespace {

TEST(ReplyThread, RunsBatchesInOrderOffTheCallersThread) {
  ReplyThread replies;
  std::vector<int> seen;  // written by the reply thread only, read after Stop
  std::vector<std::thread::id> threads;
  int next = 0;
  for (int b = 0; b < 50; ++b) {
    std::vector<ReplyThread::Callback> batch;
    for (int i = 0; i < 7; ++i) {
      batch.push_back([&seen, &threads, n = next++] {
        seen.push_back(n);
        threads.push_back(std::this_thread::get_id());
      });
    }
    replies.Run(batch);
    EXPECT_TRUE(batch.empty());
  }
  replies.Stop();
  ASSERT_EQ(seen.size(), 350u);
  for (int i = 0; i < 350; ++i) EXPECT_EQ(seen[i], i);
  for (auto id : threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(ReplyThread, AfterStopRunsOnTheCallersThread) {
  ReplyThread replies;
  replies.Stop();
  replies.Stop();  // idempotent
  std::thread::id ran_on;
  std::vector<ReplyThread::Callback> batch{[&] { ran_on = std::this_thread::get_id(); }};
  replies.Run(batch);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

// Producers queue batches while Stop() runs: every callback runs exactly
// once, and every one queued before Stop() began has run when it returns.
TEST(ReplyThread, StopRacingRunLosesAndRepeatsNothing) {
  for (int round = 0; round < 20; ++round) {
    constexpr int kProducers = 4, kBatches = 200, kPerBatch = 5;
    std::vector<std::unique_ptr<std::atomic<int>>> runs;
    for (int i = 0; i < kProducers * kBatches * kPerBatch; ++i) {
      runs.push_back(std::make_unique<std::atomic<int>>(0));
    }
    std::atomic<int> queued{0}, ran{0};
    auto replies = std::make_unique<ReplyThread>();
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int b = 0; b < kBatches; ++b) {
          std::vector<ReplyThread::Callback> batch;
          for (int i = 0; i < kPerBatch; ++i) {
            std::atomic<int>* slot = runs[(p * kBatches + b) * kPerBatch + i].get();
            batch.push_back([slot, &ran] {
              slot->fetch_add(1);
              ran.fetch_add(1);
            });
          }
          replies->Run(batch);
          queued.fetch_add(kPerBatch);
        }
      });
    }
    while (queued.load() < kProducers * kBatches * kPerBatch / 2) std::this_thread::yield();
    const int before_stop = queued.load();
    replies->Stop();
    EXPECT_GE(ran.load(), before_stop);
    for (auto& t : producers) t.join();
    replies.reset();
    for (auto& r : runs) ASSERT_EQ(r->load(), 1);
  }
}

}  // namespace
}  // namespace blixard::node
