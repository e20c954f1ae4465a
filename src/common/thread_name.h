// Thread names, so that `top -H`, `perf` and /proc/<pid>/task/*/comm show
// which of a daemon's threads spends the CPU.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace blixard {

// Names the calling thread. Linux keeps the first 15 bytes.
inline void SetThreadName(std::string_view name) {
  char buf[16];
  const size_t n = std::min(name.size(), sizeof(buf) - 1);
  std::memcpy(buf, name.data(), n);
  buf[n] = '\0';
  pthread_setname_np(pthread_self(), buf);
}

}  // namespace blixard
