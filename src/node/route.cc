#include "node/route.h"

#include <algorithm>

namespace blixard::node {

Route::Step Route::Next(const LeaderView& v, Clock::time_point now) {
  if (v.removed) {
    return Fail(Status::FailedPrecondition(
        "node " + std::to_string(self_) +
        " was removed from the cluster and no longer serves writes; "
        "send the request to another member, or wipe this node's data dir to join again"));
  }
  if (!give_up_.ok()) return Fail(give_up_);
  // After an attempt, wait for another leader (or the retry interval)
  // before trying again.
  if (phase_ == Phase::kTried) return Wait(seen_, now);
  if (phase_ == Phase::kWaited && now >= deadline_) {
    return Fail(Status::Unavailable(Failure(v) + options_.read_hint));
  }
  seen_ = v;
  Step st;
  if (v.leader_id == self_ || (options_.local_only && v.leader_id != 0)) {
    phase_ = Phase::kTried;
    forwarded_ = false;
    ++attempts_;
    st.kind = Step::kLocal;
    return st;
  }
  if (v.leader_id != 0 && !v.leader_address.empty()) {
    phase_ = Phase::kTried;
    forwarded_ = true;
    ++attempts_;
    st.kind = Step::kForward;
    st.address = v.leader_address;
    st.until = options_.bounded_forwards ? std::min(deadline_, now + kForwardAttemptTimeout) : deadline_;
    return st;
  }
  return Wait(v, now);
}

Route::Step Route::Wait(const LeaderView& from, Clock::time_point now) {
  phase_ = Phase::kWaited;
  Step st;
  st.kind = Step::kWait;
  st.leader_id = from.leader_id;
  st.term = from.term;
  st.until = std::min(deadline_, now + kRetryInterval);
  return st;
}

void Route::Tried(bool retry, const Status& why) {
  if (!retry) return;  // not leader: nothing to report, wait and ask again
  if (forwarded_) {
    last_failure_ = "the leader, node " + std::to_string(seen_.leader_id) + " at " + seen_.leader_address +
                    ", did not answer: " + why.message();
  } else {
    last_failure_ = why.message();
  }
  if (options_.give_up_at_once) give_up_ = Status::Unavailable(last_failure_);
}

std::string Route::Failure(const LeaderView& now) const {
  const std::string where = "node " + std::to_string(self_) + " is at term " + std::to_string(now.term);
  std::string election;
  if (now.leader_id == 0) {
    election = "an election is under way (" + where + ")";
  } else if (now.leader_id == self_) {
    election = "node " + std::to_string(self_) + " took over at term " + std::to_string(now.term) +
               ", too late for this request";
  } else {
    election = "node " + std::to_string(self_) + " still sees node " + std::to_string(now.leader_id) +
               " as leader at term " + std::to_string(now.term);
  }
  if (!last_failure_.empty()) {
    return last_failure_ + "; no other leader took over before the deadline: " + election +
           ". Retry, or check that a majority of the voters are up and reachable";
  }
  if (seen_.leader_id == 0) {
    return "no leader was elected before the deadline (" + where +
           "): the cluster has no quorum (are a majority of voters up and reachable?)";
  }
  return "the leader, node " + std::to_string(seen_.leader_id) +
         ", did not accept the request before the deadline; retry";
}

}  // namespace blixard::node
