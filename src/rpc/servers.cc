#include "rpc/servers.h"

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string_view>

namespace blixard::rpc {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";


}  // namespace

ServerOptions ServerOptions::Member(size_t max_message_bytes) {
  ServerOptions o;
  o.security = ProcessSecurity();
  o.max_receive_bytes = max_message_bytes;
  o.accept_idle_pings = true;
  return o;
}

ServerOptions ServerOptions::Worker() {
  ServerOptions o;
  o.security = ProcessSecurity();
  return o;
}

bool UnixSocketInUse(const std::string& address) {
  if (!IsUnixAddress(address)) return false;
  const std::string path = address.substr(kUnixPrefix.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  bool in_use = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return in_use;
}

Result<StartedServer> StartServer(const std::string& address,
                                  const std::vector<grpc::Service*>& services,
                                  const ServerOptions& options) {
  if (UnixSocketInUse(address)) return Status::Unavailable(address + " is in use by another server");
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (options.max_receive_bytes) {
    builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(*options.max_receive_bytes, INT_MAX)));
  }
  if (options.accept_idle_pings) {
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  }
  if (options.interceptors) builder.experimental().SetInterceptorCreators(options.interceptors());
  if (auto age = MaxConnectionAgeMs(options.security, address)) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, *age);
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, *age);
  }
  StartedServer started;
  builder.AddListeningPort(address, ServerCredentials(options.security, address), &started.port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  started.server = builder.BuildAndStart();
  if (!started.server || (!IsUnixAddress(address) && started.port == 0)) {
    if (started.server) started.server->Shutdown();
    return Status::Unavailable("cannot listen on " + address + ": the address is in use or invalid");
  }
  // Without TLS on a unix socket, the file's permissions are the
  // protection: only the server's own user (and root) may connect.
  if (IsUnixAddress(address) && ::chmod(address.substr(5).c_str(), 0600) != 0) {
    started.server->Shutdown();
    return Status::Unavailable("cannot make " + address + " private (chmod 0600): " + std::strerror(errno));
  }
  return started;
}

}  // namespace blixard::rpc
