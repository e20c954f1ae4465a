// Every gRPC server of Blixard is built here: credentials (security.h),
// the receive limit, keepalive policy and server interceptors. Servers never
// share a port: gRPC's SO_REUSEPORT is off, so a busy port fails to start
// instead of "succeeding" beside the server that holds it, and a unix
// socket that a live server still answers on is refused (gRPC would replace
// the file).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "rpc/security.h"

namespace grpc {
class Server;
class Service;
namespace experimental {
class ServerInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace blixard::rpc {

// Makes the interceptors of the server built (gRPC owns them).
using ServerInterceptors =
    std::function<std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>()>;

// What is not set is gRPC's default (receive 4 MiB).
struct ServerOptions {
  RpcSecurity security;  // the presets: ProcessSecurity() (security.h)
  std::optional<size_t> max_receive_bytes;
  // Accepts a client's pings once a second even when no call sends data.
  // Needed where Raft streams (ChannelOptions::RaftStream, a ping every 2 s)
  // arrive: a client-streaming call gives the server nothing to send back,
  // and with gRPC's default (one ping per 5 min without data) the server
  // counts those pings as abuse and closes the connection (GOAWAY
  // too_many_pings) after a few seconds of quiet.
  bool accept_idle_pings = false;
  ServerInterceptors interceptors;

  // A server member (src/daemon/server.h): the public API, the internal and
  // worker services and the Raft peer service on one port; requests up to
  // `max_message_bytes` (--max-message-bytes).
  static ServerOptions Member(size_t max_message_bytes);
  // A worker (src/daemon/worker.h): the calls servers proxy to the VMs it runs.
  static ServerOptions Worker();
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the TCP port bound (useful with port 0); 0 for unix:/path
};

// Whether `address` is unix:/path and a server answers on that socket.
bool UnixSocketInUse(const std::string& address);

// Starts a server on `address` (HOST:PORT, port 0 picks a free one, or
// unix:/path) serving `services` (not owned; they must outlive the server).
// kUnavailable naming the address when it is in use or invalid.
Result<StartedServer> StartServer(const std::string& address,
                                  const std::vector<grpc::Service*>& services,
                                  const ServerOptions& options);

}  // namespace blixard::rpc
