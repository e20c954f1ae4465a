// Every gRPC channel of Blixard is built here: credentials (security.h),
// message size limits, reconnect backoff, keepalive and client
// interceptors. A call site picks the preset named for its purpose, or, in
// tests and benchmarks, fills ChannelOptions itself. Every preset shows the
// process's identity (ProcessSecurity, security.h).
// Thread safety: the functions may be called from any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rpc/security.h"

namespace grpc {
class Channel;
namespace experimental {
class ClientInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace blixard::rpc {

// Makes a fresh set of interceptors for each channel built (gRPC owns them).
using ClientInterceptors =
    std::function<std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>()>;

// Pings on a connection with nothing to send, so that a peer that vanished
// without a FIN or RST (power loss, partition) fails the channel within
// about time_ms + timeout_ms instead of when TCP's retransmissions give up.
// The server must accept pings that often (ServerOptions::accept_idle_pings).
struct Keepalive {
  int time_ms = 0;
  int timeout_ms = 0;
};

// What is not set is gRPC's default (receive 4 MiB, send unlimited, a
// backoff of 1 s growing to 120 s, a 20 s connect timeout, no keepalive).
struct ChannelOptions {
  RpcSecurity security;
  std::optional<size_t> max_receive_bytes;
  std::optional<size_t> max_send_bytes;
  // Reconnect backoff: the first wait after a failed connect, and the most
  // it grows to. gRPC clamps both to >= 100 ms.
  std::optional<int> initial_backoff_ms;
  std::optional<int> max_backoff_ms;
  // gRPC 1.51 takes its "min reconnect backoff" as the connect timeout, not
  // as a delay: a handshake that takes longer fails.
  std::optional<int> connect_timeout_ms;
  std::optional<Keepalive> keepalive;
  // A connection of its own, not shared with other channels to the same
  // address (gRPC shares one between channels of equal arguments).
  bool own_connection = false;
  ClientInterceptors interceptors;

  // A member's Raft stream to a peer (src/transport): reconnects after
  // `initial_backoff_ms` growing to `max_backoff_ms` (the transport's own
  // backoff for reopening the stream), fails a blackholed peer within 1 s
  // of connecting and a vanished one within ~4 s, sends batches of up to
  // `max_message_bytes`, on a connection of its own.
  static ChannelOptions RaftStream(size_t max_message_bytes, int initial_backoff_ms, int max_backoff_ms);
  // A member's unary calls to another member (forwarding to the leader,
  // heartbeats, joining: src/node/peer_clients.h): 64 MiB each way,
  // reconnects within 50 ms-1 s, a 1 s connect timeout.
  static ChannelOptions MemberCall();
  // A worker's calls and assignment stream to a server
  // (src/daemon/worker_link.h): as MemberCall, with no send limit.
  static ChannelOptions WorkerLink();
  // A server's calls proxied to the worker that runs a VM (logs, pause,
  // resume: src/api/vm_service.cc): gRPC's defaults.
  static ChannelOptions VmProxy();
  // The `blixard` command line's channel to a daemon: 64 MiB answers.
  static ChannelOptions Cli();
};

// A channel to `target` (HOST:PORT or unix:/path), connecting lazily.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, const ChannelOptions& options);

}  // namespace blixard::rpc
