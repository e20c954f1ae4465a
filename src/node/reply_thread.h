// Runs the callbacks of asynchronous proposals (Node::ProposeAsync) off the
// node's loop, in batches.
//
// Answering a gRPC call costs a sendmsg on the thread that finishes it; on
// the loop, that would delay the next persist for every reply. The loop
// collects the callbacks of one pass and hands them over in one batch (one
// lock, at most one wake-up); this thread runs them in the order queued.
//
// Contract:
// - Each callback queued with Run() runs exactly once: on this thread, or,
//   once Stop() has begun, on the caller's thread (inside Run()).
// - Stop() returns after every callback queued before it began has run;
//   callbacks queued while it runs are run before it returns or by their
//   Run() call. Idempotent; must not be called from a callback.
// Thread safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace blixard::node {

class ReplyThread {
 public:
  using Callback = std::function<void()>;

  ReplyThread();
  ~ReplyThread();  // Stop()s
  ReplyThread(const ReplyThread&) = delete;
  ReplyThread& operator=(const ReplyThread&) = delete;

  // Queues `batch` (moved from; left empty) to run in order after every
  // batch queued before it.
  void Run(std::vector<Callback>& batch);
  void Stop();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Callback> queued_;  // under mu_
  bool stopping_ = false;         // under mu_
  bool idle_ = true;              // under mu_: the thread waits (a Run must wake it)
  std::mutex join_mu_;            // one Stop() joins at a time
  std::thread thread_;            // last: starts once the members above exist
};

}  // namespace blixard::node
