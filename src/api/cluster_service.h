// ClusterService and NodeService: membership and node inventory.
#pragma once

#include <memory>

#include "api/certificate_service.h"
#include "blixard/v1/blixard.grpc.pb.h"
#include "node/node.h"

namespace blixard::api {

class ClusterServiceImpl final : public v1::ClusterService::Service {
 public:
  explicit ClusterServiceImpl(node::Node& node) : node_(node) {}

  grpc::Status JoinCluster(grpc::ServerContext*, const v1::JoinClusterRequest*,
                           v1::JoinClusterResponse*) override;
  grpc::Status LeaveCluster(grpc::ServerContext*, const v1::LeaveClusterRequest*,
                            v1::LeaveClusterResponse*) override;
  grpc::Status RemoveMember(grpc::ServerContext*, const v1::RemoveMemberRequest*,
                            v1::RemoveMemberResponse*) override;
  grpc::Status TransferLeader(grpc::ServerContext*, const v1::TransferLeaderRequest*,
                              v1::TransferLeaderResponse*) override;
  grpc::Status GetClusterStatus(grpc::ServerContext*, const v1::GetClusterStatusRequest*,
                                v1::GetClusterStatusResponse*) override;
  grpc::Status ListMembers(grpc::ServerContext*, const v1::ListMembersRequest*,
                           v1::ListMembersResponse*) override;
  grpc::Status CreateJoinToken(grpc::ServerContext*, const v1::CreateJoinTokenRequest*,
                               v1::CreateJoinTokenResponse*) override;
  // REQUIRES: before the server starts. Null (the default): an --insecure
  // node, which makes no tokens.
  void SetAuthority(std::shared_ptr<const Authority> authority) { authority_ = std::move(authority); }

 private:
  void FillMembers(const node::NodeStatus& st,
                   google::protobuf::RepeatedPtrField<v1::Member>* out);
  node::Node& node_;
  std::shared_ptr<const Authority> authority_;
};

class NodeServiceImpl final : public v1::NodeService::Service {
 public:
  explicit NodeServiceImpl(node::Node& node) : node_(node) {}
  grpc::Status ListNodes(grpc::ServerContext*, const v1::ListNodesRequest*,
                         v1::ListNodesResponse*) override;
  grpc::Status DrainNode(grpc::ServerContext*, const v1::DrainNodeRequest*,
                         v1::DrainNodeResponse*) override;
  grpc::Status UndrainNode(grpc::ServerContext*, const v1::UndrainNodeRequest*,
                           v1::UndrainNodeResponse*) override;
  grpc::Status SetClusterSetting(grpc::ServerContext*, const v1::SetClusterSettingRequest*,
                                 v1::SetClusterSettingResponse*) override;
  grpc::Status GetClusterSettings(grpc::ServerContext*, const v1::GetClusterSettingsRequest*,
                                  v1::GetClusterSettingsResponse*) override;

 private:
  grpc::Status Write(grpc::ServerContext* ctx, v1::Command cmd);
  node::Node& node_;
};

}  // namespace blixard::api
