#include "state/request_log.h"

namespace blixard::state {

void RequestLog::Add(const Id& id) {
  if (!ids_.insert(id).second) return;
  order_.push_back(id);
  if (order_.size() > kCapacity) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

void RequestLog::EncodeTo(v1::ClusterStateSnapshot& snap) const {
  snap.mutable_applied_requests()->Reserve(static_cast<int>(order_.size()));
  for (const Id& id : order_) {
    v1::RequestId* out = snap.add_applied_requests();
    out->set_hi(id.hi);
    out->set_lo(id.lo);
  }
}

bool RequestLog::RestoreFrom(const v1::ClusterStateSnapshot& snap) {
  if (static_cast<size_t>(snap.applied_requests_size()) > kCapacity) return false;
  RequestLog next;
  for (const v1::RequestId& r : snap.applied_requests()) {
    const Id id = From(r);
    if (next.Contains(id)) return false;
    next.Add(id);
  }
  *this = std::move(next);
  return true;
}

}  // namespace blixard::state
