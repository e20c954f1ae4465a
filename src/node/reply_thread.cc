#include "node/reply_thread.h"

#include "common/thread_name.h"

namespace blixard::node {

ReplyThread::ReplyThread()
    : thread_([this] {
        SetThreadName("replies");
        Loop();
      }) {}

ReplyThread::~ReplyThread() { Stop(); }

void ReplyThread::Run(std::vector<Callback>& batch) {
  if (batch.empty()) return;
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      if (queued_.empty()) {
        queued_.swap(batch);
      } else {
        for (Callback& c : batch) queued_.push_back(std::move(c));
        batch.clear();
      }
      wake = idle_;
    }
  }
  if (wake) cv_.notify_one();
  // Stopping: the thread may be gone; the caller runs its own.
  for (Callback& c : batch) c();
  batch.clear();
}

void ReplyThread::Stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  std::lock_guard lk(join_mu_);
  if (thread_.joinable()) thread_.join();
}

void ReplyThread::Loop() {
  std::vector<Callback> running;
  std::unique_lock lk(mu_);
  while (true) {
    if (queued_.empty()) {
      if (stopping_) return;
      idle_ = true;
      cv_.wait(lk, [&] { return stopping_ || !queued_.empty(); });
      idle_ = false;
      continue;
    }
    running.swap(queued_);
    lk.unlock();
    for (Callback& c : running) c();
    running.clear();
    lk.lock();
  }
}

}  // namespace blixard::node
