// Timestamps of the steps of a VM's life through one process, for the
// create -> READY breakdown of bench/vm_bench (bench/README.md).
//
// Off unless the environment variable BLIXARD_VM_TRACE names a file when the
// process first marks a step; then every Mark appends one line
//   <unix time in microseconds> <vm name> <step>
// to it (O_APPEND, one write per line, so several processes may share the
// file). Marking costs one getenv the first time and nothing after when off.
//
// Thread safety: Mark may be called from any thread.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace blixard::vm_trace {

inline int64_t NowUnixUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The trace file's descriptor, or -1 when tracing is off.
inline int TraceFd() {
  static const int fd = [] {
    const char* path = getenv("BLIXARD_VM_TRACE");
    if (!path || !*path) return -1;
    return ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }();
  return fd;
}

inline bool Enabled() { return TraceFd() >= 0; }

// Records that `vm` reached `step` now (or at `at_unix_us` when given).
inline void Mark(std::string_view vm, std::string_view step, int64_t at_unix_us = 0) {
  const int fd = TraceFd();
  if (fd < 0) return;
  std::string line = std::to_string(at_unix_us ? at_unix_us : NowUnixUs());
  line += ' ';
  line += vm;
  line += ' ';
  line += step;
  line += '\n';
  [[maybe_unused]] ssize_t n = ::write(fd, line.data(), line.size());
}

}  // namespace blixard::vm_trace
