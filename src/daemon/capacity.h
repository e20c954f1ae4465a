// What this node offers the scheduler: its resources (read from the host or
// given by flags), minus a reserve for the host, vCPUs times the overcommit
// ratio (memory is never overcommitted), and its labels. Pure except
// ReadHostResources; the result goes into the replicated node record
// (UpdateNode) when the node starts and whenever it differs from the record.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "blixard/v1/state.pb.h"
#include "common/status.h"

namespace blixard::node {
class Node;
}  // namespace blixard::node

namespace blixard::daemon {

struct HostResources {
  uint64_t vcpus = 0;       // online CPUs (sched_getaffinity)
  uint64_t memory_mib = 0;  // MemTotal of /proc/meminfo
  uint64_t disk_mib = 0;    // size of the data dir's file system (statvfs)
};
HostResources ReadHostResources(const std::string& data_dir);

struct CapacityOptions {
  // 0 = read from the host.
  uint64_t vcpus = 0;       // --capacity-vcpus
  uint64_t memory_mib = 0;  // --capacity-memory
  uint64_t disk_mib = 0;    // --capacity-disk
  // -1 = the default: for a value read from the host, vCPUs 0, memory 10 %
  // (at most 2 GiB), disk 10 % (at most 10 GiB); for a value given by a
  // --capacity-* flag, 0 (the flag says what VMs may use).
  int64_t reserve_vcpus = -1;       // --reserve-vcpus
  int64_t reserve_memory_mib = -1;  // --reserve-memory
  int64_t reserve_disk_mib = -1;    // --reserve-disk
  double cpu_overcommit = 1.0;      // --cpu-overcommit: 1.0-100
  std::vector<std::string> labels;  // --label KEY=VALUE
};

// Fills capacity, host_capacity, reserved, cpu_overcommit_percent and labels
// of a node record. kInvalidArgument (with the flag to change) when the
// reserve takes everything, the ratio is out of range, or a label is bad.
Result<v1::Node> NodeOffer(const CapacityOptions& options, const HostResources& host);

// Whether `record` already says what `offer` does.
bool SameOffer(const v1::Node& record, const v1::Node& offer);

// Keeps a node's record in step with what it offers while it runs, servers
// and workers alike: every `period` it reads the offer again (`read`: the
// host through the node's --capacity-*, --reserve-*, --cpu-overcommit and
// --label flags, e.g. after its CPU affinity narrowed) and, when that
// differs from what it last wrote, writes it (`write`: UpdateNode; a server
// proposes it through its node, ServerOfferWriter, a worker through a
// server). A failed read or write is tried again the next period.
// Thread safety: constructed and destroyed on one thread; runs its own from
// construction to destruction.
class OfferReporter {
 public:
  // The node's offer now (id set).
  using Read = std::function<Result<v1::Node>()>;
  // Records `offer` as the node's; OK once the node's record says it.
  using Write = std::function<Status(const v1::Node& offer)>;
  // `written`: what the record is known to say already (a worker's
  // registration), or nothing (the first period writes).
  OfferReporter(std::string who, Read read, Write write, std::optional<v1::Node> written,
                std::chrono::milliseconds period);
  ~OfferReporter();

 private:
  void Run();
  const std::string who_;  // for the log: "node 1", "worker 11"
  const Read read_;
  const Write write_;
  std::optional<v1::Node> written_;  // only the thread touches it
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

// A server's OfferReporter::Write: proposes UpdateNode through `node` unless
// its record already says `offer`; kUnavailable while it has no record yet
// (before it joined).
OfferReporter::Write ServerOfferWriter(node::Node& node);

}  // namespace blixard::daemon
