#include "rpc/channels.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include <algorithm>

#include "pki/pki.h"
#include <climits>

namespace blixard::rpc {
namespace {

constexpr size_t k64MiB = 64 << 20;

int ClampToInt(size_t bytes) { return static_cast<int>(std::min<size_t>(bytes, INT_MAX)); }

grpc::ChannelArguments Arguments(const ChannelOptions& o) {
  grpc::ChannelArguments args;
  if (o.max_receive_bytes) args.SetMaxReceiveMessageSize(ClampToInt(*o.max_receive_bytes));
  if (o.max_send_bytes) args.SetMaxSendMessageSize(ClampToInt(*o.max_send_bytes));
  if (o.initial_backoff_ms) args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, *o.initial_backoff_ms);
  if (o.connect_timeout_ms) args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, *o.connect_timeout_ms);
  if (o.max_backoff_ms) args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, *o.max_backoff_ms);
  if (o.keepalive) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, o.keepalive->time_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, o.keepalive->timeout_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging an idle stream
  }
  if (o.own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace

ChannelOptions ChannelOptions::RaftStream(size_t max_message_bytes, int initial_backoff_ms,
                                          int max_backoff_ms) {
  ChannelOptions o;
  o.security = ProcessSecurity();
  o.max_send_bytes = max_message_bytes;
  o.initial_backoff_ms = initial_backoff_ms;
  o.max_backoff_ms = max_backoff_ms;
  // Lets a blackholed TCP peer fail fast without cutting short a slow but
  // live one.
  o.connect_timeout_ms = 1000;
  o.keepalive = Keepalive{.time_ms = 2000, .timeout_ms = 2000};
  // The member's MemberCall channel to the same peer has its own.
  o.own_connection = true;
  return o;
}

ChannelOptions ChannelOptions::MemberCall() {
  ChannelOptions o = WorkerLink();
  o.max_send_bytes = k64MiB;
  return o;
}

ChannelOptions ChannelOptions::WorkerLink() {
  ChannelOptions o;
  o.security = ProcessSecurity();
  o.max_receive_bytes = k64MiB;
  o.initial_backoff_ms = 50;
  o.connect_timeout_ms = 1000;
  o.max_backoff_ms = 1000;
  return o;
}

ChannelOptions ChannelOptions::VmProxy() {
  ChannelOptions o;
  o.security = ProcessSecurity();
  return o;
}

ChannelOptions ChannelOptions::Cli() {
  ChannelOptions o;
  o.security = ProcessSecurity();
  o.max_receive_bytes = k64MiB;
  return o;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, const ChannelOptions& options) {
  grpc::ChannelArguments args = Arguments(options);
  // Node certificates name pki::kNodeTlsName; the cluster CA, not DNS,
  // says which servers are the cluster's.
  if (options.security.mode == RpcSecurity::Mode::kTls) args.SetSslTargetNameOverride(pki::kNodeTlsName);
  auto credentials = ChannelCredentials(options.security, target);
  if (!options.interceptors) return grpc::CreateCustomChannel(target, credentials, args);
  return grpc::experimental::CreateCustomChannelWithInterceptors(target, credentials, args,
                                                                 options.interceptors());
}

}  // namespace blixard::rpc
