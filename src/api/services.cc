#include "api/services.h"

#include <grpcpp/grpcpp.h>

#include "api/certificate_service.h"
#include "api/cluster_service.h"
#include "api/internal_service.h"
#include "api/token_service.h"
#include "api/vm_service.h"

namespace blixard::api {

struct ApiServices::Impl {
  Impl(node::Node& n, vmm::Hypervisor* hv, agent::Agent* agent)
      : vm(n, hv, agent), cluster(n), nodes(n), internal(n), tokens(std::make_unique<TokenServiceImpl>(n, nullptr)),
        node(n) {}
  VmServiceImpl vm;
  ClusterServiceImpl cluster;
  NodeServiceImpl nodes;
  InternalServiceImpl internal;
  std::unique_ptr<TokenServiceImpl> tokens;
  std::unique_ptr<CertificateServiceImpl> certificates;  // TLS servers only
  node::Node& node;
};

ApiServices::ApiServices(node::Node& node, vmm::Hypervisor* hypervisor, agent::Agent* agent)
    : impl_(std::make_unique<Impl>(node, hypervisor, agent)) {}
ApiServices::~ApiServices() = default;

void ApiServices::SetHeartbeatHandler(
    std::function<v1::HeartbeatResponse(const v1::HeartbeatRequest&, node::Deadline)> handler) {
  impl_->internal.SetHeartbeatHandler(std::move(handler));
}

void ApiServices::SetAuthority(std::shared_ptr<const Authority> authority) {
  impl_->cluster.SetAuthority(authority);
  impl_->tokens = std::make_unique<TokenServiceImpl>(impl_->node, authority);
  impl_->certificates = std::make_unique<CertificateServiceImpl>(impl_->node, std::move(authority));
}

std::vector<grpc::Service*> ApiServices::Services() {
  std::vector<grpc::Service*> out = {&impl_->vm, &impl_->cluster, &impl_->nodes, &impl_->internal,
                                     impl_->tokens.get()};
  if (impl_->certificates) out.push_back(impl_->certificates.get());
  return out;
}

}  // namespace blixard::api
