#include "api/cluster_service.h"

#include <map>

#include <spdlog/spdlog.h>

#include "api/access.h"
#include "api/convert.h"
#include "api/token_service.h"
#include "rpc/security.h"
#include "control/drain.h"
#include "scheduler/scheduler.h"
#include "state/commands.h"
#include "state/settings.h"
#include "state/validation.h"

namespace blixard::api {
grpc::Status ClusterServiceImpl::JoinCluster(grpc::ServerContext* ctx,
                                             const v1::JoinClusterRequest* req,
                                             v1::JoinClusterResponse* resp) {
  if (auto caller = rpc::CallerOf(ctx); caller && caller->is_node() && caller->node_id != req->node_id()) {
    return ToGrpc(Status::PermissionDenied(caller->Describe() + " may not join as node " +
                                           std::to_string(req->node_id()) + ": its certificate names node " +
                                           std::to_string(caller->node_id)));
  }
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
  node_.Read([&](const state::ClusterState& state) {
    for (v1::Member& pm : *out) {
      if (const v1::Node* n = state.FindNode(pm.id())) pm.set_cert_expires_unix(n->cert_expires_unix());
    }
  });
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

grpc::Status ClusterServiceImpl::CreateJoinToken(grpc::ServerContext* ctx, const v1::CreateJoinTokenRequest* req,
                                                 v1::CreateJoinTokenResponse* resp) {
  if (!authority_) {
    return ToGrpc(Status::FailedPrecondition("this node runs with --insecure: nodes join it without a token"));
  }
  auto made = api::CreateJoinToken(node_, *authority_, *req, CallerName(ctx), DeadlineOf(ctx));
  if (!made.ok()) return ToGrpc(made.status());
  *resp = std::move(made).value();
  return grpc::Status::OK;
}

grpc::Status ClusterServiceImpl::ListMembers(grpc::ServerContext*, const v1::ListMembersRequest*,
                                             v1::ListMembersResponse* resp) {
  const node::NodeStatus st = node_.GetStatus();
  FillMembers(st, resp->mutable_members());
  resp->set_leader_id(st.leader_id);
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::ListNodes(grpc::ServerContext* ctx, const v1::ListNodesRequest*,
                                        v1::ListNodesResponse* resp) {
  if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  // A server's role is its place in the Raft configuration now (promotions
  // and demotions do not rewrite its record); a worker's is its record's.
  std::map<uint64_t, v1::NodeRole> raft_roles;
  for (const auto& m : node_.GetStatus().members) {
    raft_roles[m.id] = m.role == "voter"     ? v1::NODE_ROLE_VOTER
                       : m.role == "standby" ? v1::NODE_ROLE_STANDBY
                                             : v1::NODE_ROLE_LEARNER;
  }
  node_.Read([&](const state::ClusterState& s) {
    for (const auto& [id, n] : s.nodes()) {
      v1::Node* out = resp->add_nodes();
      *out = n;
      if (auto it = raft_roles.find(id); it != raft_roles.end() && n.role() != v1::NODE_ROLE_WORKER) {
        out->set_role(it->second);
      }
      v1::NodeUsage* u = resp->add_usage();
      u->set_node_id(id);
      const scheduler::Resources used = scheduler::Used(s, id);
      u->mutable_used()->set_vcpus(static_cast<uint32_t>(used.vcpus));
      u->mutable_used()->set_memory_mib(used.memory_mib);
      u->mutable_used()->set_disk_mib(used.disk_mib);
      u->set_vm_count(static_cast<uint32_t>(s.VmCountOnNode(id)));
      if (n.draining()) {
        const control::DrainProgress p = control::ProgressOf(s, id);
        u->set_drain_left(static_cast<uint32_t>(p.left));
        u->set_drain_moving(static_cast<uint32_t>(p.moving));
      }
    }
  });
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::Write(grpc::ServerContext* ctx, v1::Command cmd) {
  auto r = ProposeAudited(node_, std::move(cmd), CallerName(ctx), DeadlineOf(ctx));
  if (!r.ok()) return ToGrpc(r.status());
  return ToGrpc(r->status);
}

grpc::Status NodeServiceImpl::DrainNode(grpc::ServerContext* ctx, const v1::DrainNodeRequest* req,
                                        v1::DrainNodeResponse*) {
  constexpr int64_t kMaxDeadlineSeconds = 7 * 24 * 3600;
  if (req->node_id() == 0) return ToGrpc(Status::InvalidArgument("node id 0 is invalid: use 1 or more"));
  if (req->deadline_seconds() < 0 || req->deadline_seconds() > kMaxDeadlineSeconds) {
    return ToGrpc(Status::InvalidArgument(
        "drain deadline " + std::to_string(req->deadline_seconds()) +
        " s is out of range: use 0 (none: VMs move as room appears) to 604800 (7 days)"));
  }
  const int64_t now = NowUnixMs();
  const int64_t deadline = req->deadline_seconds() == 0 ? 0 : now + req->deadline_seconds() * 1000;
  return Write(ctx, state::MakeSetNodeDrain(req->node_id(), true, deadline, now));
}

grpc::Status NodeServiceImpl::UndrainNode(grpc::ServerContext* ctx, const v1::UndrainNodeRequest* req,
                                          v1::UndrainNodeResponse*) {
  if (req->node_id() == 0) return ToGrpc(Status::InvalidArgument("node id 0 is invalid: use 1 or more"));
  return Write(ctx, state::MakeSetNodeDrain(req->node_id(), false, 0, NowUnixMs()));
}

grpc::Status NodeServiceImpl::SetClusterSetting(grpc::ServerContext* ctx,
                                                const v1::SetClusterSettingRequest* req,
                                                v1::SetClusterSettingResponse*) {
  if (Status s = state::ValidateClusterSetting(req->key(), req->value()); !s.ok()) return ToGrpc(s);
  return Write(ctx, state::MakeSetClusterSetting(req->key(), req->value(), NowUnixMs()));
}

grpc::Status NodeServiceImpl::GetClusterSettings(grpc::ServerContext* ctx,
                                                 const v1::GetClusterSettingsRequest*,
                                                 v1::GetClusterSettingsResponse* resp) {
  if (Status s = node_.ReadBarrier(DeadlineOf(ctx)); !s.ok()) return ToGrpc(s);
  node_.Read([&](const state::ClusterState& s) {
    for (const auto& setting : state::ClusterSettings()) {
      (*resp->mutable_settings())[std::string(setting.key)] = s.Setting(setting.key, setting.default_value);
    }
  });
  return grpc::Status::OK;
}

}  // namespace blixard::api
