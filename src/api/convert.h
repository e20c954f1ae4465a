// Small helpers shared by the service handlers.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>

#include "common/status.h"
#include "common/wall_clock.h"
#include "node/node.h"

namespace blixard::api {

inline grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

// When the server gives up: a little before the client's deadline (a tenth
// of the time left, 150-500 ms), so that a request that cannot be served in
// time (no quorum, no leader) ends with the server's UNAVAILABLE and its
// reason rather than the client's bare DEADLINE_EXCEEDED. The reserve
// covers the answer's way back on a loaded host (20 ms was once too little
// for a 1 s CLI call on 2 busy cores). kDefaultTimeout from now when the
// client set no deadline.
inline node::Deadline DeadlineOf(const grpc::ServerContextBase* ctx) {
  constexpr auto kDefaultTimeout = std::chrono::seconds(10);
  auto client = ctx->deadline();
  auto remaining = client - std::chrono::system_clock::now();
  if (client == std::chrono::system_clock::time_point::max() || remaining > std::chrono::hours(1)) {
    remaining = kDefaultTimeout;
  }
  auto reserve = std::clamp<std::chrono::system_clock::duration>(
      remaining / 10, std::chrono::milliseconds(150), std::chrono::milliseconds(500));
  remaining = std::max<std::chrono::system_clock::duration>(remaining - reserve, {});
  return node::Clock::now() + std::chrono::duration_cast<node::Clock::duration>(remaining);
}

}  // namespace blixard::api
