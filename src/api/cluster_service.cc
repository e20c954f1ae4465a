#include "api/cluster_service.h"

#include <map>

#include "api/convert.h"

namespace blixard::api {
namespace {

grpc::Status NotYet(const char* what, const char* issue) {
  return {grpc::StatusCode::UNIMPLEMENTED,
          std::string(what) + " arrives with " + issue + "; this build runs one-member clusters"};
}

}  // namespace

grpc::Status ClusterServiceImpl::JoinCluster(grpc::ServerContext*, const v1::JoinClusterRequest*,
                                             v1::JoinClusterResponse*) {
  return NotYet("joining a cluster", "multi-node clusters (issue 4)");
}
grpc::Status ClusterServiceImpl::LeaveCluster(grpc::ServerContext*, const v1::LeaveClusterRequest*,
                                              v1::LeaveClusterResponse*) {
  return NotYet("leaving a cluster", "multi-node clusters (issue 4)");
}
grpc::Status ClusterServiceImpl::RemoveMember(grpc::ServerContext*, const v1::RemoveMemberRequest*,
                                              v1::RemoveMemberResponse*) {
  return NotYet("removing a member", "multi-node clusters (issue 4)");
}
grpc::Status ClusterServiceImpl::TransferLeader(grpc::ServerContext*,
                                                const v1::TransferLeaderRequest*,
                                                v1::TransferLeaderResponse*) {
  return NotYet("leadership transfer", "multi-node clusters (issue 4)");
}

void ClusterServiceImpl::FillMembers(const node::NodeStatus& st,
                                     google::protobuf::RepeatedPtrField<v1::Member>* out) {
  std::map<uint64_t, std::string> addresses;
  node_.Read([&](const state::ClusterState& s) {
    for (const auto& n : s.ListNodes()) addresses[n.id()] = n.address();
  });
  for (const auto& m : st.members) {
    v1::Member* pm = out->Add();
    pm->set_id(m.id);
    pm->set_address(addresses[m.id]);
    pm->set_role(m.role == "voter" ? v1::NODE_ROLE_VOTER : v1::NODE_ROLE_LEARNER);
    pm->set_match_index(m.id == st.node_id ? st.last_index : m.match_index);
    pm->set_last_contact_ms_ago(m.id == st.node_id ? 0 : -1);
  }
}

grpc::Status ClusterServiceImpl::GetClusterStatus(grpc::ServerContext* ctx,
                                                  const v1::GetClusterStatusRequest* req,
                                                  v1::GetClusterStatusResponse* resp) {
  if (!req->stale()) {
    if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  }
  node::NodeStatus st = node_.GetStatus();
  resp->set_cluster_id(st.cluster_id);
  resp->set_node_id(st.node_id);
  resp->set_term(st.term);
  resp->set_leader_id(st.leader_id);
  resp->set_commit_index(st.commit_index);
  resp->set_applied_index(st.applied_index);
  resp->set_snapshot_index(st.snapshot_index);
  resp->set_last_index(st.last_index);
  resp->set_role(st.role);
  FillMembers(st, resp->mutable_members());
  return grpc::Status::OK;
}

grpc::Status ClusterServiceImpl::ListMembers(grpc::ServerContext*, const v1::ListMembersRequest*,
                                             v1::ListMembersResponse* resp) {
  FillMembers(node_.GetStatus(), resp->mutable_members());
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::ListNodes(grpc::ServerContext* ctx, const v1::ListNodesRequest*,
                                        v1::ListNodesResponse* resp) {
  if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  node_.Read([&](const state::ClusterState& s) {
    for (const auto& n : s.ListNodes()) *resp->add_nodes() = n;
  });
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::DrainNode(grpc::ServerContext*, const v1::DrainNodeRequest*,
                                        v1::DrainNodeResponse*) {
  return NotYet("draining a node", "the scheduler (issue 6)");
}
grpc::Status NodeServiceImpl::UndrainNode(grpc::ServerContext*, const v1::UndrainNodeRequest*,
                                          v1::UndrainNodeResponse*) {
  return NotYet("undraining a node", "the scheduler (issue 6)");
}

}  // namespace blixard::api
