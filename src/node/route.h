// Routing one request to the leader, as a step function with no I/O, no
// threads and no clock of its own: the daemon's node drives it with
// blocking calls (forwarding.cc), the simulator with events in virtual time
// (src/sim/routes.cc). Both run the same decisions:
//   - a removed member refuses (the request should go elsewhere);
//   - a member that leads runs the request itself;
//   - a member that knows a leader forwards to it, for at most
//     kForwardAttemptTimeout per attempt (a paused or cut-off leader does
//     not hold the request until its deadline);
//   - a member that knows none, or whose attempt must be tried again (the
//     leader could not be reached, lost its role, or its entry was
//     overwritten), waits until another leader is known or a short retry
//     interval passes, and tries again;
//   - at the deadline it fails with a message that names the leader it
//     could not reach and the election under way.
// Trying again is safe because every write carries a request id: a second
// attempt of a write that did apply is answered, not applied
// (state/request_log.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace blixard::node {

// The result of trying a request once, here or at the leader: handled
// (result set); refused by a member that does not lead, nothing done
// (not_leader); or to be tried again on whichever member leads next
// (retry; result says what went wrong, for the message at the deadline).
template <typename T>
struct Attempt {
  bool not_leader = false;
  Result<T> result = Status::Unavailable("not attempted");
  bool retry = false;
  static Attempt NotLeader() { return Attempt{true, Status::Unavailable("not leader")}; }
  static Attempt Retry(Status why) { return Attempt{false, std::move(why), true}; }
  bool done() const { return !not_leader && !retry; }
};

// What the routing member sees of the cluster when it decides.
struct LeaderView {
  uint64_t leader_id = 0;  // 0: none known
  uint64_t term = 0;
  bool removed = false;        // this member was removed from the cluster
  std::string leader_address;  // where to forward; empty when unknown
};

class Route {
 public:
  using Clock = std::chrono::steady_clock;
  // A forward waits this long for the leader's answer before it is tried
  // again (the leader may be paused or cut off; a new one may lead).
  static constexpr Clock::duration kForwardAttemptTimeout = std::chrono::seconds(2);
  // How long a member waits for another leader before it tries again
  // (the same leader may have refused during a leadership transfer).
  static constexpr Clock::duration kRetryInterval = std::chrono::milliseconds(100);

  struct Step {
    enum Kind { kLocal, kForward, kWait, kFail } kind = kFail;
    std::string address;         // kForward: the leader's
    Clock::time_point until{};   // kForward: the attempt's deadline; kWait: wait at most until
    uint64_t leader_id = 0;      // kWait: wait for a leader other than (leader_id, term)
    uint64_t term = 0;
    Status failure;              // kFail: what to answer
  };

  struct Options {
    // Tests only (the simulator's bite test): give up at the first attempt
    // that must be tried again instead of waiting for the next leader.
    bool give_up_at_once = false;
    // A forward is bounded by kForwardAttemptTimeout (writes, whose retries
    // are answered by request id), or only by the deadline (membership
    // changes, which take several steps at the leader).
    bool bounded_forwards = true;
    // Reads: every attempt runs here once a leader is known (a follower's
    // ReadIndex goes through the core to the leader).
    bool local_only = false;
    std::string read_hint;  // appended to the deadline's message (reads: "; or read with --stale")
  };

  Route(uint64_t self, Clock::time_point deadline) : Route(self, deadline, Options{}) {}
  Route(uint64_t self, Clock::time_point deadline, Options options)
      : self_(self), deadline_(deadline), options_(std::move(options)) {}

  // What to do now, given what this member sees. After kLocal or kForward
  // the driver reports the attempt with Tried before asking again; after
  // kWait it asks again once the wait ends.
  Step Next(const LeaderView& now_seen, Clock::time_point now);

  // The attempt Next asked for did not finish the request.
  template <typename T>
  void Tried(const Attempt<T>& a) {
    Tried(a.retry, a.result.ok() ? Status::Ok() : a.result.status());
  }
  void Tried(bool retry, const Status& why);

  // Attempts that reached the leader or ran here (for the simulator's
  // figures, and so that a failure can say whether the write may have
  // applied).
  uint64_t attempts() const { return attempts_; }
  Clock::time_point deadline() const { return deadline_; }

 private:
  enum class Phase { kFresh, kTried, kWaited };
  Step Fail(Status s) {
    Step st;
    st.kind = Step::kFail;
    st.failure = std::move(s);
    return st;
  }
  // A wait for a leader other than `from`'s, at most kRetryInterval.
  Step Wait(const LeaderView& from, Clock::time_point now);
  // The message at the deadline, as of `now_seen` (seen_: the view of the
  // last decision).
  std::string Failure(const LeaderView& now_seen) const;

  uint64_t self_;
  Clock::time_point deadline_;
  Options options_;
  Phase phase_ = Phase::kFresh;
  LeaderView seen_;
  bool forwarded_ = false;   // the last attempt was a forward (for the message)
  std::string last_failure_;  // why the last attempt must be tried again
  Status give_up_;            // give_up_at_once: the failure to answer
  uint64_t attempts_ = 0;
};

}  // namespace blixard::node
