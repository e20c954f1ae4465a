// Small helpers shared by the service handlers.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "common/status.h"
#include "common/wall_clock.h"
#include "node/node.h"

namespace blixard::api {

inline grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

// The client's deadline, or kDefaultTimeout from now when it set none.
inline node::Deadline DeadlineOf(const grpc::ServerContext* ctx) {
  constexpr auto kDefaultTimeout = std::chrono::seconds(10);
  auto now_sys = std::chrono::system_clock::now();
  auto client = ctx->deadline();
  auto remaining = client - now_sys;
  if (client == std::chrono::system_clock::time_point::max() || remaining > std::chrono::hours(1)) {
    remaining = kDefaultTimeout;
  }
  return node::Clock::now() + std::chrono::duration_cast<node::Clock::duration>(remaining);
}

}  // namespace blixard::api
