// A worker's connection to the servers of its cluster (the worker role,
// worker.h): registration, writes proposed through a server, and the stream
// of the VMs placed on it (WatchAssignments, src/state/assignments.h),
// resumed from the version it holds after a reconnect.
//
// Thread safety: WorkerLink's methods may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "blixard/v1/internal.pb.h"
#include "common/status.h"
#include "node/node.h"
#include "state/assignments.h"

namespace blixard::daemon {

// A worker's connection to the servers: registration, writes, and the
// assignment stream. Also used by bench/ to simulate many workers.
class WorkerLink {
 public:
  // `servers`: where to register, write and watch (tried in turn).
  // `cluster_id`: the one remembered from an earlier run, or empty.
  WorkerLink(uint64_t id, std::vector<std::string> servers, std::string cluster_id);
  ~WorkerLink();  // Stop()s

  // Registers `offer` (address, capacity, labels; id is set here), trying
  // each server in turn until one answers or the deadline. Returns the
  // cluster id. A refusal (wrong cluster, id or address in use) is
  // returned at once with the server's message; kUnavailable when no server
  // answered in time.
  Result<std::string> Register(const v1::Node& offer, node::Deadline deadline);
  // Proposes `cmd` (report_vm_status, vm_stopped_for_move or update_node
  // about this worker)
  // through a server; moves on to the next server when one is unreachable.
  Status Write(const v1::Command& cmd, node::Deadline deadline);

  // Starts watching the assignments on a thread of its own; `on_change`
  // runs (on that thread) after each update that changed the set.
  void Watch(std::function<void()> on_change);
  void Stop();

  // The VMs placed here, or nothing before the first set arrived.
  std::optional<std::vector<v1::Vm>> Placed() const;
  // VM `name` if it is placed here (nothing before the first set arrived,
  // or when it is not), without copying the rest of the set.
  std::optional<v1::Vm> PlacedVm(const std::string& name) const;
  uint64_t version() const;
  uint64_t applied_index() const;  // see AssignmentView::applied_index
  uint64_t id() const { return id_; }
  std::string cluster_id() const;
  // The server after the last one used for writes and heartbeats (round
  // robin): where to try next.
  std::string NextServer();
  // How many times the stream was (re)opened, and how many of those began
  // with a full set (the rest resumed with a diff).
  uint64_t streams_opened() const { return opened_; }
  uint64_t full_sets() const { return full_sets_; }

 private:
  void WatchLoop();
  struct Impl;

  const uint64_t id_;
  const std::vector<std::string> servers_;
  std::unique_ptr<Impl> impl_;
  mutable std::mutex mu_;
  std::string cluster_id_;
  state::AssignmentView view_;
  size_t next_ = 0;        // writes and heartbeats
  size_t watch_next_ = 0;  // the stream: kept while it works, so a reconnect can resume
  std::function<void()> on_change_;
  std::atomic<uint64_t> opened_{0}, full_sets_{0};
  bool stopping_ = false;
  std::condition_variable stop_cv_;
  std::thread thread_;
};

}  // namespace blixard::daemon
