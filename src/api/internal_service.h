// InternalService: the leader's side of writes forwarded by other members.
#pragma once

#include "blixard/v1/internal.grpc.pb.h"
#include "node/node.h"

namespace blixard::api {

class InternalServiceImpl final : public v1::InternalService::Service {
 public:
  explicit InternalServiceImpl(node::Node& node) : node_(node) {}
  grpc::Status Forward(grpc::ServerContext* ctx, const v1::ForwardRequest* req,
                       v1::ForwardResponse* resp) override;

 private:
  node::Node& node_;
};

}  // namespace blixard::api
