// The public gRPC services (proto/blixard/v1/blixard.proto) over one Node.
// Handlers validate every request, then propose a command or read state;
// errors are gRPC status codes whose message says what to change.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "blixard/v1/internal.pb.h"
#include "node/node.h"

namespace grpc {
class Service;
}

namespace blixard::node {
class Node;
}
namespace blixard::vmm {
class Hypervisor;
}
namespace blixard::agent {
class Agent;
}

namespace blixard::api {

struct Authority;  // certificate_service.h

// Owns the service objects; must outlive the server they are registered on.
// `hypervisor` and `agent` (not owned; both null on a member that runs no
// VMs) run the VMs placed on this node: they serve their console logs and
// pause/resume; they must outlive the server.
class ApiServices {
 public:
  ApiServices(node::Node& node, vmm::Hypervisor* hypervisor, agent::Agent* agent);
  ~ApiServices();
  // The services to register on the node's server (rpc::StartServer).
  std::vector<grpc::Service*> Services();
  // Answers InternalService.Heartbeat (src/daemon/liveness.h). REQUIRES: before
  // the server starts.
  void SetHeartbeatHandler(
      std::function<v1::HeartbeatResponse(const v1::HeartbeatRequest&, node::Deadline)> handler);
  // The cluster CA of a TLS server: it then makes tokens and client
  // certificates and serves CertificateService. REQUIRES: before Services().
  void SetAuthority(std::shared_ptr<const Authority> authority);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blixard::api
