// gRPC clients a member uses to talk to other members outside the Raft
// stream: forwarding writes to the leader and asking to join. Channels are
// cached per address. Kept out of node.cc so the loop's translation unit
// does not include gRPC headers.
// Thread safety: all methods may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "blixard/v1/internal.pb.h"
#include "common/status.h"
#include "node/node.h"

namespace blixard::node {

class PeerClients {
 public:
  PeerClients();
  ~PeerClients();

  // InternalService.Forward on `address`. A transport failure is
  // kUnavailable (the write may or may not have been applied).
  Result<v1::ForwardResponse> Forward(const std::string& address, const v1::ForwardRequest& req,
                                      Deadline deadline);

  // InternalService.Heartbeat on `address`; a transport failure is
  // kUnavailable naming the address.
  Result<v1::HeartbeatResponse> Heartbeat(const std::string& address, const v1::HeartbeatRequest& req,
                                          Deadline deadline);

  // ClusterService.JoinCluster on `address`; the server's status is returned
  // as is (with its code), a transport failure as kUnavailable naming the address.
  Result<JoinResult> Join(const std::string& address, uint64_t id, const std::string& my_address,
                          Deadline deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace blixard::node
