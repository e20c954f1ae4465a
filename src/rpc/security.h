// How the two ends of a gRPC connection prove who they are. Every channel
// and server of Blixard takes its credentials from here (channels.h,
// servers.h), so this is the one place where transport security is chosen.
#pragma once

#include <memory>

namespace grpc {
class ChannelCredentials;
class ServerCredentials;
}  // namespace grpc

namespace blixard::rpc {

struct RpcSecurity {
  enum class Mode {
    // Plain TCP or unix sockets: anyone who reaches the port is trusted.
    kInsecure,
  };
  Mode mode = Mode::kInsecure;
};

// The credentials a channel or a server of `security` uses.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const RpcSecurity& security);
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const RpcSecurity& security);

}  // namespace blixard::rpc
