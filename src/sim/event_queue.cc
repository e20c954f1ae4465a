#include "sim/event_queue.h"

#include <algorithm>
#include <cassert>

namespace blixard::sim {

void EventQueue::At(Time at, Fn fn) {
  assert(at >= now_);
  heap_.push_back(Event{at, next_seq_++, std::move(fn)});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

bool EventQueue::Step() {
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  Event ev = std::move(heap_.back());
  heap_.pop_back();
  now_ = ev.at;
  ++executed_;
  ev.fn();
  return true;
}

bool EventQueue::RunUntil(Time until, const std::function<bool()>& stop) {
  while (!heap_.empty() && heap_.front().at <= until) {
    Step();
    if (stop && stop()) return false;
  }
  if (now_ < until) now_ = until;
  return true;
}

}  // namespace blixard::sim
