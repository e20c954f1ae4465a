// Exclusive ownership of a data directory for the life of a process.
#pragma once

#include <string>

#include "common/status.h"

namespace blixard::daemon {

// Holds an flock on <dir>/blixard.pid (which records the holder's pid; the
// store keeps its own lock on <dir>/LOCK for LMDB's sake). The lock
// dies with the process, so a crash never leaves a stale lock behind.
class DataDirLock {
 public:
  // Creates `dir` if needed and locks it; kFailedPrecondition naming the
  // holder's pid when another process has it.
  static Result<DataDirLock> Acquire(const std::string& dir);
  DataDirLock(DataDirLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace blixard::daemon
