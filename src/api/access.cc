#include "api/access.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <map>
#include <string_view>

#include "rpc/security.h"

namespace blixard::api {
namespace {

// Who may make a call: the least a caller needs.
enum class Need { kNone, kNode, kServer, kReader, kOperator, kAdmin };

const std::map<std::string, Need, std::less<>>& Table() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, Need, std::less<>>;
    const auto add = [&](std::string_view service, std::initializer_list<std::string_view> methods, Need need) {
      for (std::string_view m : methods) t->emplace("/blixard.v1." + std::string(service) + "/" + std::string(m), need);
    };
    add("CertificateService", {"GetCaCertificate", "IssueCertificate"}, Need::kNone);
    add("CertificateService", {"RenewCertificate"}, Need::kNode);
    add("PeerService", {"Raft"}, Need::kServer);
    add("InternalService", {"Forward"}, Need::kServer);
    add("InternalService", {"Heartbeat"}, Need::kNode);
    add("WorkerService", {"RegisterWorker", "WorkerWrite", "WatchAssignments"}, Need::kNode);
    add("ClusterService", {"GetClusterStatus", "ListMembers"}, Need::kReader);
    add("NodeService", {"ListNodes", "GetClusterSettings"}, Need::kReader);
    add("VmService", {"GetVm", "ListVms", "WatchVms", "StreamVmLogs", "ListHostVms"}, Need::kReader);
    add("VmService", {"CreateVm", "StartVm", "StopVm", "DeleteVm", "PauseVm", "ResumeVm", "RestartVm",
                      "UpdateVmLabels"},
        Need::kOperator);
    add("NodeService", {"DrainNode", "UndrainNode"}, Need::kOperator);
    add("ClusterService", {"JoinCluster", "LeaveCluster", "RemoveMember", "TransferLeader", "CreateJoinToken"},
        Need::kAdmin);
    add("NodeService", {"SetClusterSetting"}, Need::kAdmin);
    add("TokenService", {"CreateToken", "ListTokens", "RevokeToken", "CreateCertificate", "RevokeCertificate"},
        Need::kAdmin);
    return t;
  }();
  return *table;
}

int Rank(pki::Role r) {
  switch (r) {
    case pki::Role::kReader: return 0;
    case pki::Role::kOperator: return 1;
    case pki::Role::kAdmin: return 2;
  }
  return -1;
}

std::string_view ShortName(std::string_view method) {
  constexpr std::string_view kPrefix = "/blixard.v1.";
  if (method.substr(0, kPrefix.size()) == kPrefix) method.remove_prefix(kPrefix.size());
  return method;
}

}  // namespace

Status CheckCall(const std::string& method, const std::optional<pki::Identity>& caller) {
  const auto it = Table().find(method);
  if (it == Table().end()) return Status::PermissionDenied("no caller may call " + method);
  const Need need = it->second;
  if (need == Need::kNone) return Status::Ok();
  if (!caller) {
    return Status::Unauthenticated(
        "no credentials: this node accepts only callers with a certificate of its cluster. The CLI finds the "
        "admin credential in the node's data dir (--data-dir, BLIXARD_DATA_DIR or ./data); or run both the "
        "node and the CLI with --insecure");
  }
  const std::string call(ShortName(method));
  switch (caller->kind) {
    case pki::Identity::Kind::kServer:
      return Status::Ok();
    case pki::Identity::Kind::kWorker:
      if (need == Need::kNode) return Status::Ok();
      return Status::PermissionDenied(caller->Describe() + " may not call " + call + ": workers call only the worker services");
    case pki::Identity::Kind::kClient: {
      if (need == Need::kNode || need == Need::kServer) {
        return Status::PermissionDenied(caller->Describe() + " may not call " + call + ": only cluster nodes may");
      }
      const pki::Role least = need == Need::kReader ? pki::Role::kReader
                              : need == Need::kOperator ? pki::Role::kOperator
                                                        : pki::Role::kAdmin;
      if (Rank(caller->role) >= Rank(least)) return Status::Ok();
      return Status::PermissionDenied("role " + std::string(pki::RoleName(caller->role)) + " (" + caller->name +
                                      ") may not call " + call + "; it needs the role " + pki::RoleName(least) +
                                      " or more");
    }
  }
  return Status::PermissionDenied("unknown caller");
}

Status CheckSpeaksFor(const grpc::ServerContextBase* ctx, uint64_t node_id) {
  auto caller = rpc::CallerOf(ctx);
  if (!caller || caller->kind != pki::Identity::Kind::kWorker || caller->node_id == node_id) return Status::Ok();
  return Status::PermissionDenied(caller->Describe() + " may not speak for node " + std::to_string(node_id) +
                                  ": its certificate names node " + std::to_string(caller->node_id));
}

std::string CallerName(const grpc::ServerContextBase* ctx) {
  auto caller = rpc::CallerOf(ctx);
  if (caller) return caller->Describe();
  return rpc::IsSecureCall(ctx) ? "anonymous" : "local";
}

std::string AuditText(const v1::Command& cmd) {
  std::string out = (cmd.actor().empty() ? std::string("the cluster") : cmd.actor()) + " ";
  const google::protobuf::FieldDescriptor* op =
      cmd.GetReflection()->GetOneofFieldDescriptor(cmd, v1::Command::descriptor()->FindOneofByName("op"));
  out += op ? op->name() : "no-op";
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm: return out + " " + cmd.create_vm().spec().name();
    case v1::Command::kDeleteVm: return out + " " + cmd.delete_vm().name();
    case v1::Command::kSetVmDesiredState:
      return out + " " + cmd.set_vm_desired_state().name() + " " + v1::DesiredState_Name(cmd.set_vm_desired_state().desired_state());
    case v1::Command::kUpdateVmLabels:
      return out + " " + cmd.update_vm_labels().name() + " " + cmd.update_vm_labels().key();
    case v1::Command::kSetNodeDrain:
      return out + " node " + std::to_string(cmd.set_node_drain().id()) + (cmd.set_node_drain().draining() ? " on" : " off");
    case v1::Command::kSetClusterSetting:
      return out + " " + cmd.set_cluster_setting().key();
    case v1::Command::kCreateToken: {
      const v1::Token& t = cmd.create_token().token();
      return out + " " + t.id() + (t.name().empty() ? "" : " " + t.name()) + (t.role().empty() ? "" : " " + t.role());
    }
    case v1::Command::kRevokeToken: return out + " " + cmd.revoke_token().id();
    case v1::Command::kUseToken: return out + " " + cmd.use_token().id();
    case v1::Command::kRevokeCertificate: {
      const v1::RevokedCertificate& r = cmd.revoke_certificate().certificate();
      return out + " " + r.serial() + (r.subject().empty() ? "" : " (" + r.subject() + ")");
    }
    default: return out;
  }
}

Result<state::ApplyResult> ProposeAudited(node::Node& node, v1::Command cmd, const std::string& actor,
                                          node::Deadline deadline) {
  cmd.set_actor(actor);
  const std::string what = AuditText(cmd);
  auto r = node.Propose(std::move(cmd), deadline);
  if (r.ok() && r->status.ok()) spdlog::info("audit: {}", what);
  return r;
}

}  // namespace blixard::api
