// The wall clock, for timestamps that travel inside commands (the state
// machine itself never reads a clock).
#pragma once

#include <chrono>
#include <cstdint>

namespace blixard {

inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace blixard
