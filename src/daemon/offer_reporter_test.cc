#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "daemon/capacity.h"

namespace blixard::daemon {
namespace {

using std::chrono::milliseconds;

v1::Node Offer(uint32_t vcpus) {
  v1::Node n;
  n.set_id(1);
  n.mutable_capacity()->set_vcpus(vcpus);
  n.mutable_capacity()->set_memory_mib(1024);
  return n;
}

// What the reporter reads (the "host") and what it wrote, shared with its thread.
struct Host {
  std::mutex mu;
  std::condition_variable cv;
  uint32_t vcpus = 4;
  int reads = 0;
  int failures_left = 0;  // writes to refuse first
  std::vector<uint32_t> written;

  OfferReporter::Read Reader() {
    return [this]() -> Result<v1::Node> {
      std::lock_guard lk(mu);
      ++reads;
      cv.notify_all();
      return Offer(vcpus);
    };
  }
  OfferReporter::Write Writer() {
    return [this](const v1::Node& offer) {
      std::lock_guard lk(mu);
      if (failures_left > 0) {
        --failures_left;
        cv.notify_all();
        return Status::Unavailable("no server answered");
      }
      written.push_back(offer.capacity().vcpus());
      cv.notify_all();
      return Status::Ok();
    };
  }
  // Waits until `pred` holds (under mu) or 10 s pass.
  template <typename Pred>
  bool Wait(Pred pred) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(10), pred);
  }
};

TEST(OfferReporter, WritesWhatChangesUnderTheNodeAndNothingWhileItStaysTheSame) {
  Host host;
  OfferReporter reporter("node 1", host.Reader(), host.Writer(), Offer(4), milliseconds(1));
  // Several reads of an unchanged offer: nothing written.
  ASSERT_TRUE(host.Wait([&] { return host.reads >= 5; }));
  {
    std::lock_guard lk(host.mu);
    EXPECT_TRUE(host.written.empty());
    host.vcpus = 1;  // e.g. its CPU affinity narrowed
  }
  ASSERT_TRUE(host.Wait([&] { return !host.written.empty(); }));
  const int reads = host.reads;
  ASSERT_TRUE(host.Wait([&] { return host.reads >= reads + 5; }));
  std::lock_guard lk(host.mu);
  EXPECT_EQ(host.written, std::vector<uint32_t>{1}) << "written once, then the same again";
}

TEST(OfferReporter, WithNothingWrittenYetWritesFirstAndRetriesAFailedWrite) {
  Host host;
  host.failures_left = 3;
  OfferReporter reporter("worker 11", host.Reader(), host.Writer(), std::nullopt, milliseconds(1));
  ASSERT_TRUE(host.Wait([&] { return !host.written.empty(); }));
  const int reads = host.reads;
  ASSERT_TRUE(host.Wait([&] { return host.reads >= reads + 5; }));
  std::lock_guard lk(host.mu);
  EXPECT_EQ(host.written, std::vector<uint32_t>{4});
}

}  // namespace
}  // namespace blixard::daemon
