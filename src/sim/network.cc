#include "sim/network.h"

namespace blixard::sim {

Time Network::DrawDelay() {
  if (config_.long_delay_per_mille != 0 && prng_->PerMille(config_.long_delay_per_mille)) {
    return prng_->Range(config_.long_delay_min, config_.long_delay_max);
  }
  return prng_->Range(config_.min_delay, config_.max_delay);
}

void Network::Send(Endpoint from, Endpoint to, const std::function<void()>& deliver, bool reliable) {
  ++stats_.sent;
  if (!reliable) {
    if (Blocked(from, to)) {
      ++stats_.blocked;
      return;
    }
    if (config_.drop_per_mille != 0 && prng_->PerMille(config_.drop_per_mille)) {
      ++stats_.dropped;
      return;
    }
    if (config_.dup_per_mille != 0 && prng_->PerMille(config_.dup_per_mille)) {
      ++stats_.duplicated;
      Schedule(from, to, deliver, reliable);
    }
  }
  Schedule(from, to, deliver, reliable);
}

void Network::Schedule(Endpoint from, Endpoint to, const std::function<void()>& deliver, bool reliable) {
  events_->After(reliable ? prng_->Range(1, 10) : DrawDelay(), [this, from, to, deliver, reliable] {
    if (!reliable && Blocked(from, to)) {
      ++stats_.blocked;
      return;
    }
    ++stats_.delivered;
    deliver();
  });
}

}  // namespace blixard::sim
