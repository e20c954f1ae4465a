#include "rpc/security.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

namespace blixard::rpc {

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const RpcSecurity& security) {
  switch (security.mode) {
    case RpcSecurity::Mode::kInsecure:
      return grpc::InsecureChannelCredentials();
  }
  return nullptr;
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const RpcSecurity& security) {
  switch (security.mode) {
    case RpcSecurity::Mode::kInsecure:
      return grpc::InsecureServerCredentials();
  }
  return nullptr;
}

}  // namespace blixard::rpc
