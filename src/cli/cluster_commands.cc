// `blixard cluster ...` (ClusterService) and `blixard node list|drain|undrain`
// (NodeService).
#include <fmt/format.h>

#include <map>

#include "blixard/v1/blixard.grpc.pb.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"

namespace blixard::cli {

int ClusterStatus(const ClientOptions& o, bool stale) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::GetClusterStatusRequest req;
  req.set_stale(stale);
  return client.Call(
      *stub, &v1::ClusterService::Stub::GetClusterStatus, req,
      [&](const v1::GetClusterStatusResponse& resp) { return ClusterStatusText(resp); });
}

int ClusterMembers(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  return client.Call(
      *stub, &v1::ClusterService::Stub::ListMembers, v1::ListMembersRequest(),
      [&](const v1::ListMembersResponse& resp) { return MemberTable(resp.members(), resp.leader_id()); });
}

int ClusterTransferLeader(const ClientOptions& o, uint64_t to_node_id) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::TransferLeaderRequest req;
  req.set_to_node_id(to_node_id);
  return client.Call(*stub, &v1::ClusterService::Stub::TransferLeader, req,
                     [&](const v1::TransferLeaderResponse& resp) {
                       return fmt::format("leader is now node {}\n", resp.leader_id());
                     });
}

int ClusterRemove(const ClientOptions& o, uint64_t node_id) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::RemoveMemberRequest req;
  req.set_node_id(node_id);
  return client.Call(*stub, &v1::ClusterService::Stub::RemoveMember, req,
                     [&](const v1::RemoveMemberResponse& resp) {
                       return fmt::format("node {} removed from the cluster\n", node_id);
                     });
}

int ClusterLeave(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  return client.Call(*stub, &v1::ClusterService::Stub::LeaveCluster, v1::LeaveClusterRequest(),
                     [&](const v1::LeaveClusterResponse& resp) {
                       return fmt::format("node at {} left the cluster\n", o.addr);
                     });
}

int NodeList(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  return client.Call(
      *stub, &v1::NodeService::Stub::ListNodes, v1::ListNodesRequest(),
      [&](const v1::ListNodesResponse& resp) { return NodeTable(resp, NowUnixMs()); });
}

int ClusterSet(const ClientOptions& o, const std::string& key, const std::string& value) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  v1::SetClusterSettingRequest req;
  req.set_key(key);
  req.set_value(value);
  return client.Call(*stub, &v1::NodeService::Stub::SetClusterSetting, req,
                     [&](const v1::SetClusterSettingResponse&) {
                       return value.empty() ? fmt::format("{} reset to its default\n", key)
                                            : fmt::format("{} = {}\n", key, value);
                     });
}

int ClusterSettings(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  return client.Call(*stub, &v1::NodeService::Stub::GetClusterSettings,
                     v1::GetClusterSettingsRequest(),
                     [&](const v1::GetClusterSettingsResponse& resp) {
                       std::map<std::string, std::string> sorted(resp.settings().begin(),
                                                                 resp.settings().end());
                       std::string out;
                       for (const auto& [k, v] : sorted) out += k + " = " + v + "\n";
                       return out;
                     });
}

int NodeDrain(const ClientOptions& o, uint64_t node_id, int64_t deadline_seconds) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  v1::DrainNodeRequest req;
  req.set_node_id(node_id);
  req.set_deadline_seconds(deadline_seconds);
  return client.Call(*stub, &v1::NodeService::Stub::DrainNode, req,
                     [&](const v1::DrainNodeResponse& resp) {
                       return fmt::format("node {} draining\n", node_id);
                     });
}

int NodeUndrain(const ClientOptions& o, uint64_t node_id) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  v1::UndrainNodeRequest req;
  req.set_node_id(node_id);
  return client.Call(*stub, &v1::NodeService::Stub::UndrainNode, req,
                     [&](const v1::UndrainNodeResponse& resp) {
                       return fmt::format("node {} accepts VMs again\n", node_id);
                     });
}

}  // namespace blixard::cli
