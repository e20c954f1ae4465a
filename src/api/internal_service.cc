#include "api/internal_service.h"

#include "api/access.h"
#include "api/convert.h"

namespace blixard::api {

grpc::Status InternalServiceImpl::Forward(grpc::ServerContext* ctx, const v1::ForwardRequest* req,
                                          v1::ForwardResponse* resp) {
  *resp = node_.HandleForward(*req, DeadlineOf(ctx));
  return grpc::Status::OK;
}

grpc::Status InternalServiceImpl::Heartbeat(grpc::ServerContext* ctx,
                                            const v1::HeartbeatRequest* req,
                                            v1::HeartbeatResponse* resp) {
  if (!heartbeat_) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "this node does not track liveness");
  }
  if (Status s = CheckSpeaksFor(ctx, req->node_id()); !s.ok()) return ToGrpc(s);
  *resp = heartbeat_(*req, DeadlineOf(ctx));
  return grpc::Status::OK;
}

}  // namespace blixard::api
