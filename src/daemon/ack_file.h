// The node's newest acknowledged heartbeat, kept in <data-dir>/liveness so
// that whoever enforces the fence rule (src/control/liveness.h) knows it: the
// daemon after a restart, and the fence guard (daemon/fence_guard.h) while the
// daemon is dead or stopped. Times are CLOCK_MONOTONIC milliseconds (shared
// by every process of the host, reset by a reboot, which ends the VMs too).
//
// Writers and the guard's fence decision serialise on an flock of
// <path>.lock: a daemon saves a fresh ack before it lets its agent start
// anything, so a guard that decided to fence on an older ack has finished
// killing before that save returns, and never kills a VM started after it.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace blixard::daemon {

struct AckRecord {
  int64_t sent_ms = -1;     // send time of the newest acknowledged heartbeat; < 0 = none
  bool sole_voter = false;  // this node was the cluster's only voter then: no other
                            // node can lead, so nothing moves its VMs while it is down
};

class AckFile {
 public:
  explicit AckFile(std::string path) : path_(std::move(path)) {}

  // Holds the file's lock for its lifetime. `wait`: block until it is free;
  // otherwise held() says whether it was free.
  class Lock {
   public:
    Lock(const std::string& lock_path, bool wait);
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    bool held() const { return held_; }

   private:
    int fd_ = -1;
    bool held_ = false;
  };

  // Replaces the record atomically, under the lock. No fsync: the value
  // matters only while the host keeps running.
  Status Save(const AckRecord& record) const;
  // The record, or one with sent_ms < 0 if there is none (or it is unreadable).
  AckRecord Load() const;
  Lock Locked(bool wait = true) const { return Lock(path_ + ".lock", wait); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace blixard::daemon
