// `blixard cluster ...` (ClusterService) and `blixard node list|drain|undrain`
// (NodeService).
#include <fmt/format.h>

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
  v1::GetClusterStatusResponse resp;
  auto status = stub->GetClusterStatus(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, ClusterStatusText(resp));
}

int ClusterMembers(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::ListMembersResponse resp;
  auto status = stub->ListMembers(client.Context().get(), v1::ListMembersRequest(), &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, MemberTable(resp.members(), 0));
}

int ClusterTransferLeader(const ClientOptions& o, uint64_t to_node_id) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::TransferLeaderRequest req;
  req.set_to_node_id(to_node_id);
  v1::TransferLeaderResponse resp;
  auto status = stub->TransferLeader(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, fmt::format("leader is now node {}\n", resp.leader_id()));
}

int ClusterRemove(const ClientOptions& o, uint64_t node_id) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::RemoveMemberRequest req;
  req.set_node_id(node_id);
  v1::RemoveMemberResponse resp;
  auto status = stub->RemoveMember(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, fmt::format("node {} removed from the cluster\n", node_id));
}

int ClusterLeave(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::LeaveClusterResponse resp;
  auto status = stub->LeaveCluster(client.Context().get(), v1::LeaveClusterRequest(), &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, fmt::format("node at {} left the cluster\n", o.addr));
}

int NodeList(const ClientOptions& o) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  v1::ListNodesResponse resp;
  auto status = stub->ListNodes(client.Context().get(), v1::ListNodesRequest(), &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, NodeTable(resp.nodes(), NowUnixMs()));
}

int NodeDrain(const ClientOptions& o, uint64_t node_id, int64_t deadline_seconds) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  v1::DrainNodeRequest req;
  req.set_node_id(node_id);
  req.set_deadline_seconds(deadline_seconds);
  v1::DrainNodeResponse resp;
  auto status = stub->DrainNode(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, fmt::format("node {} draining\n", node_id));
}

int NodeUndrain(const ClientOptions& o, uint64_t node_id) {
  Client client(o);
  auto stub = v1::NodeService::NewStub(client.channel());
  v1::UndrainNodeRequest req;
  req.set_node_id(node_id);
  v1::UndrainNodeResponse resp;
  auto status = stub->UndrainNode(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, fmt::format("node {} accepts VMs again\n", node_id));
}

}  // namespace blixard::cli
