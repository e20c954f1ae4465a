#include "api/cluster_service.h"

#include "api/convert.h"

namespace blixard::api {
namespace {

grpc::Status NotYet(const char* what, const char* issue) {
  return {grpc::StatusCode::UNIMPLEMENTED,
          std::string(what) + " arrives with " + issue + "; not built yet"};
}

}  // namespace

grpc::Status ClusterServiceImpl::JoinCluster(grpc::ServerContext* ctx,
                                             const v1::JoinClusterRequest* req,
                                             v1::JoinClusterResponse* resp) {
  const std::string mine = node_.cluster_id();
  if (!req->cluster_id().empty() && !mine.empty() && req->cluster_id() != mine) {
    return ToGrpc(Status::FailedPrecondition("the joining node belongs to cluster " +
                                             req->cluster_id() + ", this is cluster " + mine +
                                             "; wipe its data dir to join this one"));
  }
  auto r = node_.AddMember(req->node_id(), req->address(), DeadlineOf(ctx));
  if (!r.ok()) return ToGrpc(r.status());
  resp->set_cluster_id(r->cluster_id);
  for (const auto& m : r->members) {
    v1::Member* pm = resp->add_members();
    pm->set_id(m.id);
    pm->set_address(m.address);
    pm->set_role(m.role == "voter" ? v1::NODE_ROLE_VOTER : v1::NODE_ROLE_LEARNER);
  }
  return grpc::Status::OK;
}

grpc::Status ClusterServiceImpl::LeaveCluster(grpc::ServerContext* ctx,
                                              const v1::LeaveClusterRequest*,
                                              v1::LeaveClusterResponse*) {
  return ToGrpc(node_.RemoveMember(node_.id(), DeadlineOf(ctx)));
}

grpc::Status ClusterServiceImpl::RemoveMember(grpc::ServerContext* ctx,
                                              const v1::RemoveMemberRequest* req,
                                              v1::RemoveMemberResponse*) {
  return ToGrpc(node_.RemoveMember(req->node_id(), DeadlineOf(ctx)));
}

grpc::Status ClusterServiceImpl::TransferLeader(grpc::ServerContext* ctx,
                                                const v1::TransferLeaderRequest* req,
                                                v1::TransferLeaderResponse* resp) {
  if (Status s = node_.TransferLeader(req->to_node_id(), DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  resp->set_leader_id(req->to_node_id());
  return grpc::Status::OK;
}

void ClusterServiceImpl::FillMembers(const node::NodeStatus& st,
                                     google::protobuf::RepeatedPtrField<v1::Member>* out) {
  for (const auto& m : st.members) {
    v1::Member* pm = out->Add();
    pm->set_id(m.id);
    pm->set_address(m.address);
    pm->set_role(m.role == "voter"     ? v1::NODE_ROLE_VOTER
                 : m.role == "standby" ? v1::NODE_ROLE_STANDBY
                                       : v1::NODE_ROLE_LEARNER);
    pm->set_match_index(m.match_index);
    pm->set_last_contact_ms_ago(m.last_contact_ms);
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
