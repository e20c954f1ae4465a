// Raft peer transport: moves raft::Messages between cluster members over
// gRPC (PeerService.Raft in proto/blixard/v1/raft.proto) on each node's one
// API port.
//
// Contract:
// - Send() never blocks the caller (the node loop): messages go to a bounded
//   per-peer queue; when the queue is full or the peer is unreachable, they
//   are dropped (Raft retransmits).
// - Per peer, one long-lived client stream carries batches, one write in
//   flight: all messages queued when a write can start go in one RaftBatch.
//   A write starts on the thread that calls Send() when the stream is idle,
//   else on gRPC's thread when the previous write completes (no thread hop
//   per batch); a thread per peer only opens and closes streams. After a
//   failure the sender reconnects with exponential backoff (50 ms .. 2 s, jittered);
//   what is queued or sent during the backoff is dropped. A stream that had
//   served for a while and is found dead (the peer restarted while it was
//   quiet) gets the batch retried once on a fresh stream instead.
// - Snapshot payloads are split into chunks of at most kSnapshotChunkBytes;
//   the receiver reassembles them and delivers one kSnapshot message.
// - Every batch carries the sender's cluster id; a receiver with a different
//   (non-empty) cluster id refuses the stream with FAILED_PRECONDITION.
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "raft/types.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace blixard::transport {

inline constexpr size_t kSnapshotChunkBytes = 1 << 20;

class Transport {
 public:
  virtual ~Transport() = default;
  // Queues messages for their `to` peers. Messages to unknown peers are dropped.
  virtual void Send(std::vector<raft::Message> messages) = 0;
  // Sets or changes where a peer listens (HOST:PORT or unix:/path).
  virtual void SetPeer(raft::NodeId id, const std::string& address) = 0;
  // Forgets a peer and closes its stream.
  virtual void RemovePeer(raft::NodeId id) = 0;
  // Addresses of the peers currently known.
  virtual std::vector<std::pair<raft::NodeId, std::string>> Peers() const = 0;
  // Stops all sender threads (promptly: calls in progress are cancelled) and
  // forgets all peers; Send() and SetPeer() afterwards do nothing.
  virtual void Stop() = 0;
};

// Receives inbound messages, the ones of one batch per call, in the order
// sent; called on gRPC threads (must not block long).
using MessageSink = std::function<void(std::vector<raft::Message>)>;

struct GrpcTransportOptions {
  raft::NodeId self = raft::kNoNode;
  // Read on every batch (the id may be learnt after start, at join), from
  // the sender threads concurrently. Empty function or value: no id.
  std::function<std::string()> cluster_id;
  size_t max_queue = 4096;            // messages per peer before dropping
  // Largest RaftBatch sent (keep <= the peers' max receive size). Batches
  // are cut below it; a single message above it is dropped with an error.
  size_t max_message_bytes = 64 << 20;
};

std::unique_ptr<Transport> NewGrpcTransport(GrpcTransportOptions options);

// The server side: a PeerService that reassembles chunked snapshots and hands
// each message to `sink`. `cluster_id` as above. Register the returned
// service on the node's gRPC server, one that accepts the senders' idle
// pings (rpc::ServerOptions::accept_idle_pings); it must outlive the server.
std::unique_ptr<grpc::Service> NewPeerService(std::function<std::string()> cluster_id,
                                              MessageSink sink);

}  // namespace blixard::transport
