#include "api/services.h"

#include <grpcpp/grpcpp.h>

#include "api/cluster_service.h"
#include "api/internal_service.h"
#include "api/vm_service.h"

namespace blixard::api {

struct ApiServices::Impl {
  Impl(node::Node& n, vmm::Hypervisor* hv, agent::Agent* agent)
      : vm(n, hv, agent), cluster(n), nodes(n), internal(n) {}
  VmServiceImpl vm;
  ClusterServiceImpl cluster;
  NodeServiceImpl nodes;
  InternalServiceImpl internal;
};

ApiServices::ApiServices(node::Node& node, vmm::Hypervisor* hypervisor, agent::Agent* agent)
    : impl_(std::make_unique<Impl>(node, hypervisor, agent)) {}
ApiServices::~ApiServices() = default;

void ApiServices::SetHeartbeatHandler(
    std::function<v1::HeartbeatResponse(const v1::HeartbeatRequest&, node::Deadline)> handler) {
  impl_->internal.SetHeartbeatHandler(std::move(handler));
}

std::vector<grpc::Service*> ApiServices::Services() {
  return {&impl_->vm, &impl_->cluster, &impl_->nodes, &impl_->internal};
}

}  // namespace blixard::api
