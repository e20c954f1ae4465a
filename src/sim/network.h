// The simulated network: every message between endpoints (Raft nodes and
// clients) is a scheduled delivery. Delay is drawn per message, so messages
// reorder; the current fault settings drop or duplicate some; one-way blocks
// model partitions (a blocked link loses messages both when they are sent and
// when they would arrive, like a cut cable).
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <utility>

#include "sim/event_queue.h"
#include "sim/prng.h"

namespace blixard::sim {

using Endpoint = uint64_t;

struct NetworkConfig {
  Time min_delay = 1;
  Time max_delay = 50;
  uint32_t drop_per_mille = 0;
  uint32_t dup_per_mille = 0;
  uint32_t long_delay_per_mille = 0;  // a message stuck in a queue somewhere
  Time long_delay_min = 200;
  Time long_delay_max = 2000;
};

struct NetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t dropped = 0;      // random loss
  uint64_t blocked = 0;      // lost to a partition
  uint64_t duplicated = 0;
};

class Network {
 public:
  // `events` and `prng` outlive the network.
  Network(EventQueue* events, Prng* prng) : events_(events), prng_(prng) {}

  const NetworkConfig& config() const { return config_; }
  void set_config(const NetworkConfig& c) { config_ = c; }

  // One-way: messages from `from` to `to` are lost.
  void Block(Endpoint from, Endpoint to) { blocked_.insert({from, to}); }
  void Unblock(Endpoint from, Endpoint to) { blocked_.erase({from, to}); }
  void BlockBoth(Endpoint a, Endpoint b) {
    Block(a, b);
    Block(b, a);
  }
  void UnblockBoth(Endpoint a, Endpoint b) {
    Unblock(a, b);
    Unblock(b, a);
  }
  bool Blocked(Endpoint from, Endpoint to) const { return blocked_.count({from, to}) != 0; }
  void HealAll() { blocked_.clear(); }
  // Unblocks the links `heal(from, to)` names.
  void UnblockIf(const std::function<bool(Endpoint, Endpoint)>& heal) {
    std::erase_if(blocked_, [&](const std::pair<Endpoint, Endpoint>& l) { return heal(l.first, l.second); });
  }
  size_t blocked_links() const { return blocked_.size(); }

  // Schedules `deliver` to run on arrival, unless the message is lost.
  // `reliable` messages (client traffic outside the cluster) are never
  // dropped, duplicated or blocked, only delayed.
  void Send(Endpoint from, Endpoint to, const std::function<void()>& deliver, bool reliable = false);

  const NetworkStats& stats() const { return stats_; }

 private:
  Time DrawDelay();
  void Schedule(Endpoint from, Endpoint to, const std::function<void()>& deliver, bool reliable);

  EventQueue* events_;
  Prng* prng_;
  NetworkConfig config_;
  std::set<std::pair<Endpoint, Endpoint>> blocked_;
  NetworkStats stats_;
};

}  // namespace blixard::sim
