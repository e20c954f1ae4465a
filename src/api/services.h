// The public gRPC services (proto/blixard/v1/blixard.proto) over one Node.
// Handlers validate every request, then propose a command or read state;
// errors are gRPC status codes whose message says what to change.
#pragma once

#include <memory>

namespace grpc {
class ServerBuilder;
}

namespace blixard::node {
class Node;
}

namespace blixard::api {

// Owns the service objects; must outlive the server they are registered on.
class ApiServices {
 public:
  explicit ApiServices(node::Node& node);
  ~ApiServices();
  void RegisterWith(grpc::ServerBuilder& builder);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blixard::api
