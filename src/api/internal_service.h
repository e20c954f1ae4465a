// InternalService: the leader's side of writes forwarded by other members,
// and liveness heartbeats (answered by the handler the daemon sets).
#pragma once

#include <functional>

#include "blixard/v1/internal.grpc.pb.h"
#include "node/node.h"

namespace blixard::api {

class InternalServiceImpl final : public v1::InternalService::Service {
 public:
  explicit InternalServiceImpl(node::Node& node) : node_(node) {}
  grpc::Status Forward(grpc::ServerContext* ctx, const v1::ForwardRequest* req,
                       v1::ForwardResponse* resp) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                         v1::HeartbeatResponse* resp) override;

  using HeartbeatHandler =
      std::function<v1::HeartbeatResponse(const v1::HeartbeatRequest&, node::Deadline)>;
  // REQUIRES: set before the server starts. Without one, Heartbeat is UNIMPLEMENTED.
  void SetHeartbeatHandler(HeartbeatHandler h) { heartbeat_ = std::move(h); }

 private:
  node::Node& node_;
  HeartbeatHandler heartbeat_;
};

}  // namespace blixard::api
