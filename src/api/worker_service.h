// WorkerService (proto/blixard/v1/internal.proto), served by every server:
// workers register, write their VM status and watch the VMs placed on them
// (src/state/assignments.h). Writes go through Node::Propose (forwarded to
// the leader); the assignment stream is read from this server's applied
// state (AssignmentStreams: callback streams, woken on apply).
#pragma once

#include "api/assignment_streams.h"
#include "blixard/v1/internal.grpc.pb.h"
#include "node/node.h"

namespace blixard::api {

// WatchAssignments is a callback method; the others are synchronous.
class WorkerServiceImpl final
    : public v1::WorkerService::WithCallbackMethod_WatchAssignments<v1::WorkerService::Service> {
 public:
  // REQUIRES: destroyed after the gRPC server it is registered with has
  // shut down.
  explicit WorkerServiceImpl(node::Node& node) : node_(node), streams_(node) {}

  // Refuses (with what to change): another cluster's worker
  // (FAILED_PRECONDITION), an id that a server or another address holds, or
  // an address another node holds (ALREADY_EXISTS). Otherwise records the
  // node as a WORKER (health kept on re-registration, READY when new).
  grpc::Status RegisterWorker(grpc::ServerContext* ctx, const v1::RegisterWorkerRequest* req,
                              v1::RegisterWorkerResponse* resp) override;
  // Only report_vm_status, vm_stopped_for_move and update_node about the
  // worker itself.
  grpc::Status WorkerWrite(grpc::ServerContext* ctx, const v1::WorkerWriteRequest* req,
                           v1::WorkerWriteResponse* resp) override;
  // First message: a diff from `from_version` if this server still knows
  // that set, else the full set, never older than from_version (UNAVAILABLE
  // if this server does not reach it in time: try another). Then a diff
  // whenever the set changes, and an empty one at most every 100 ms while
  // the applied index moves (so a fenced worker learns it caught up).
  // A diff is sent as soon as the change is applied on this server.
  grpc::ServerWriteReactor<v1::AssignmentUpdate>* WatchAssignments(
      grpc::CallbackServerContext* ctx, const v1::WatchAssignmentsRequest* req) override;

  // How many times a stream of `node_id` read its node's set (an
  // unchanged node's set is not read; for tests).
  uint64_t assignment_set_reads(uint64_t node_id) const { return streams_.set_reads(node_id); }
  // How many times a stream of `node_id` was looked at (for tests).
  uint64_t assignment_looks(uint64_t node_id) const { return streams_.looks(node_id); }

 private:
  grpc::Status CheckCluster(const std::string& cluster_id) const;

  node::Node& node_;
  AssignmentStreams streams_;
};

}  // namespace blixard::api
