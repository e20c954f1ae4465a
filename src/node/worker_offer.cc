#include "node/worker_offer.h"

#include <spdlog/spdlog.h>

#include "common/wall_clock.h"
#include "node/worker.h"
#include "state/commands.h"

namespace blixard::node {

WorkerOfferReporter::WorkerOfferReporter(WorkerLink& link, CapacityOptions options, std::string data_dir,
                                         v1::Node registered, std::chrono::milliseconds period)
    : link_(link),
      options_(std::move(options)),
      data_dir_(std::move(data_dir)),
      reported_(std::move(registered)),
      period_(period),
      thread_([this] { Run(); }) {}

WorkerOfferReporter::~WorkerOfferReporter() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WorkerOfferReporter::Run() {
  std::unique_lock lk(mu_);
  while (!cv_.wait_for(lk, period_, [this] { return stopping_; })) {
    lk.unlock();
    auto offer = NodeOffer(options_, ReadHostResources(data_dir_));
    if (offer.ok() && !SameOffer(reported_, *offer)) {
      offer->set_id(reported_.id());
      offer->set_address(reported_.address());
      Status s = link_.Write(state::MakeUpdateNode(*offer, NowUnixMs()),
                             Clock::now() + std::chrono::seconds(5));
      if (s.ok()) {
        spdlog::info("worker {} now offers {} vCPUs, {} MiB memory, {} MiB disk", reported_.id(),
                     offer->capacity().vcpus(), offer->capacity().memory_mib(),
                     offer->capacity().disk_mib());
        reported_ = std::move(*offer);
      } else {
        spdlog::debug("worker {}: reporting its offer failed, retrying: {}", reported_.id(), s.message());
      }
    }
    lk.lock();
  }
}

}  // namespace blixard::node
