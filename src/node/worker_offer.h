// A worker keeps its record's capacity and labels in step with what it
// offers while it runs: every period it reads the host again (the CPUs it
// may run on, memory, its data dir's file system; node/capacity.h), applies
// its --capacity-*, --reserve-*, --cpu-overcommit and --label flags, and when
// the result differs from what it last reported, reports it (UpdateNode
// through a server, WorkerLink::Write). Registration at each start carries
// the offer of that start (changed flags after a restart); this carries what
// changes under a running worker (e.g. its CPU affinity narrowed).
//
// Thread safety: constructed and destroyed on one thread; runs its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "blixard/v1/state.pb.h"
#include "node/capacity.h"

namespace blixard::node {

class WorkerLink;

class WorkerOfferReporter {
 public:
  // `registered`: the offer the worker registered with (id and address set).
  WorkerOfferReporter(WorkerLink& link, CapacityOptions options, std::string data_dir,
                      v1::Node registered, std::chrono::milliseconds period);
  ~WorkerOfferReporter();  // stops and joins

 private:
  void Run();
  WorkerLink& link_;
  const CapacityOptions options_;
  const std::string data_dir_;
  v1::Node reported_;  // only the thread touches it
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace blixard::node
