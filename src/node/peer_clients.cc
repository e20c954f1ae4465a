#include "node/peer_clients.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <mutex>

#include "blixard/v1/blixard.grpc.pb.h"
#include "blixard/v1/internal.grpc.pb.h"
#include "rpc/channels.h"

namespace blixard::node {
namespace {

std::chrono::system_clock::time_point ToSystem(Deadline d) {
  auto left = d - Clock::now();
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(left);
}

Status FromGrpc(const grpc::Status& s, const std::string& address) {
  if (s.ok()) return Status::Ok();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return Status::Unavailable("cannot reach member at " + address + ": " + s.error_message());
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return Status::Unavailable("member at " + address +
                               " did not answer before the deadline: the cluster may have no "
                               "quorum (is a majority of its voters up?)");
  }
  return Status(static_cast<StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

struct PeerClients::Impl {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;

  std::shared_ptr<grpc::Channel> Channel(const std::string& address) {
    std::lock_guard lk(mu);
    auto& ch = channels[address];
    if (!ch) ch = rpc::NewChannel(address, rpc::ChannelOptions::MemberCall());
    return ch;
  }
};

PeerClients::PeerClients() : impl_(std::make_unique<Impl>()) {}
PeerClients::~PeerClients() = default;

Result<v1::ForwardResponse> PeerClients::Forward(const std::string& address,
                                                 const v1::ForwardRequest& req, Deadline deadline) {
  auto stub = v1::InternalService::NewStub(impl_->Channel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(ToSystem(deadline));
  v1::ForwardResponse resp;
  grpc::Status s = stub->Forward(&ctx, req, &resp);
  if (!s.ok()) return FromGrpc(s, address);
  return resp;
}

Result<v1::HeartbeatResponse> PeerClients::Heartbeat(const std::string& address,
                                                     const v1::HeartbeatRequest& req,
                                                     Deadline deadline) {
  auto stub = v1::InternalService::NewStub(impl_->Channel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(ToSystem(deadline));
  v1::HeartbeatResponse resp;
  grpc::Status s = stub->Heartbeat(&ctx, req, &resp);
  if (!s.ok()) return FromGrpc(s, address);
  return resp;
}

Result<JoinResult> PeerClients::Join(const std::string& address, uint64_t id,
                                     const std::string& my_address, Deadline deadline) {
  auto stub = v1::ClusterService::NewStub(impl_->Channel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(ToSystem(deadline));
  v1::JoinClusterRequest req;
  req.set_node_id(id);
  req.set_address(my_address);
  v1::JoinClusterResponse resp;
  grpc::Status s = stub->JoinCluster(&ctx, req, &resp);
  if (!s.ok()) return FromGrpc(s, address);
  JoinResult r;
  r.cluster_id = resp.cluster_id();
  for (const auto& m : resp.members()) {
    MemberStatus ms;
    ms.id = m.id();
    ms.address = m.address();
    ms.role = m.role() == v1::NODE_ROLE_VOTER ? "voter" : "learner";
    r.members.push_back(ms);
  }
  return r;
}

}  // namespace blixard::node
