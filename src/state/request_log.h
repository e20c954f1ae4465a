// The client writes a cluster remembers having applied, by request id, so
// that a write retried after its answer was lost (a forward to a leader
// that died, a leader that lost its role after the entry committed) is
// answered as the first attempt was instead of being applied twice. The
// Raft thesis (§6.3) keeps such a table per client session; here each
// write carries an id of its own (v1::RequestId), set by the member that
// first received it, so no session has to be opened or expired.
//
// Only successful writes are remembered: a failed command changed nothing,
// so running it again is the same as running it once, later.
//
// Bound: the last kCapacity ids, oldest forgotten first. A retry comes
// within its client's deadline (seconds) of the first attempt, which at
// the cluster's measured write rates (~15k/s) is well inside it.
// Deterministic: what is remembered depends only on the applied commands,
// and it is part of the snapshot (in order), so every replica agrees.
// Thread safety: none (one owner, like ClusterState).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include <absl/container/flat_hash_set.h>

#include "blixard/v1/state.pb.h"

namespace blixard::state {

class RequestLog {
 public:
  static constexpr size_t kCapacity = 100'000;

  struct Id {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const Id&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Id& id) {
      return H::combine(std::move(h), id.hi, id.lo);
    }
  };
  static Id From(const v1::RequestId& id) { return Id{id.hi(), id.lo()}; }

  bool Contains(const Id& id) const { return ids_.contains(id); }
  // Remembers `id` (no-op if it is already remembered), forgetting the
  // oldest beyond kCapacity. O(1).
  void Add(const Id& id);
  size_t size() const { return order_.size(); }

  // Appends the remembered ids, oldest first.
  void EncodeTo(v1::ClusterStateSnapshot& snap) const;
  // Replaces the content with the snapshot's ids. False (and nothing
  // changed) if they hold a duplicate or more than kCapacity.
  bool RestoreFrom(const v1::ClusterStateSnapshot& snap);

  bool operator==(const RequestLog& o) const { return order_ == o.order_; }

 private:
  std::deque<Id> order_;  // oldest first
  absl::flat_hash_set<Id> ids_;
};

}  // namespace blixard::state
