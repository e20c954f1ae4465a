// Virtual time and the event queue that drives the whole simulated world.
// Events run in (time, sequence) order: two events at the same virtual time
// run in the order they were scheduled, so a run is a pure function of the
// seed.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace blixard::sim {

using Time = int64_t;  // virtual milliseconds since the start of the run

class EventQueue {
 public:
  using Fn = std::function<void()>;

  Time now() const { return now_; }
  // REQUIRES: at >= now().
  void At(Time at, Fn fn);
  void After(Time delay, Fn fn) { At(now_ + delay, std::move(fn)); }
  // Runs the earliest event; false when the queue is empty.
  bool Step();
  // Runs every event scheduled at or before `until`, then sets now() = until.
  // `stop` (if set) is checked after each event; returns false if it fired.
  bool RunUntil(Time until, const std::function<bool()>& stop = nullptr);
  size_t pending() const { return heap_.size(); }
  uint64_t executed() const { return executed_; }

 private:
  struct Event {
    Time at;
    uint64_t seq;
    Fn fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  std::vector<Event> heap_;
  Time now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t executed_ = 0;
};

}  // namespace blixard::sim
