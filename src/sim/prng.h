// The simulator's only source of randomness: one seeded generator
// (xoshiro256**, seeded through splitmix64) and the few distributions the
// simulator needs, written here so that results do not depend on the
// standard library's unspecified std::*_distribution algorithms.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace blixard::sim {

class Prng {
 public:
  explicit Prng(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n);
  // Uniform in [lo, hi], inclusive. REQUIRES: lo <= hi.
  int64_t Range(int64_t lo, int64_t hi);
  // True with probability per_mille / 1000.
  bool PerMille(uint32_t per_mille) { return Below(1000) < per_mille; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }
  // A seed for a derived generator (e.g. a Raft node's election timer).
  uint64_t Fork() { return Next(); }
  // REQUIRES: !v.empty().
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }
  // Fisher-Yates with this generator.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(i)]);
  }

 private:
  uint64_t s_[4];
};

// Stable 64-bit hashes for digests and entry identity (FNV-1a, then a
// splitmix finaliser so nearby inputs spread).
uint64_t Hash64(std::string_view data, uint64_t seed = 0);
uint64_t Mix64(uint64_t x);
inline uint64_t HashCombine(uint64_t h, uint64_t v) { return Mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2))); }

}  // namespace blixard::sim
