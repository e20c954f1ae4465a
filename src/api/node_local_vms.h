// What acts on a VM running on this node: the console log stream and the
// hypervisor's own list (through the hypervisor), pause and resume (through
// the node's agent, which serialises them with its own actions and its fence). A server's
// VmService (vm_service.h) and a worker's (worker_vm_service.h) both serve
// these for the VMs placed on them, and each says what "placed here" means
// (a server: its applied state; a worker: its assignment stream).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>

#include <cstdint>
#include <functional>
#include <string>

#include "blixard/v1/blixard.pb.h"
#include "agent/agent.h"
#include "common/status.h"
#include "rpc/security.h"
#include "vmm/hypervisor.h"

namespace blixard::api {

// Set on calls a server proxies to the node that runs the VM, so that two
// nodes whose views disagree about where a VM runs do not bounce a call
// forever.
inline constexpr char kProxiedHeader[] = "x-blixard-proxied";
// Honoured only from a cluster node (rpc::CallerIsNode): a client that
// sets it is served as if it had not.
inline bool WasProxied(const grpc::ServerContext* ctx) {
  return ctx->client_metadata().count(kProxiedHeader) > 0 && rpc::CallerIsNode(ctx);
}

class NodeLocalVms {
 public:
  // Whether vm `name` is placed on this node now.
  using PlacedHere = std::function<bool(const std::string& name)>;
  // `hypervisor` and `agent` (the agent running this node's VMs on it) are
  // not owned and must outlive this.
  NodeLocalVms(uint64_t node_id, vmm::Hypervisor& hypervisor, agent::Agent& agent, PlacedHere placed_here);

  // From offset 0 of the current boot; with follow, polls for more until
  // the client goes away or the VM is no longer placed here. A new boot
  // (restart) starts a new log, which is then streamed from its beginning.
  grpc::Status StreamLogs(grpc::ServerContext* ctx, const v1::VmLogsRequest& req,
                          grpc::ServerWriter<v1::VmLogChunk>* writer);

  // What to record after a pause or resume (Agent::Pause, Agent::Resume).
  // kFailedPrecondition when the VM was not started here yet; kUnavailable
  // while the agent is held.
  Result<agent::Agent::Observed> PauseOrResume(const std::string& name, bool pause);
  // The number of the agent's next status report (Agent::NextReportSeq), to
  // record the result of a pause or resume in order with its reports.
  uint64_t NextReportSeq() { return agent_.NextReportSeq(); }

  grpc::Status ListHostVms(v1::ListHostVmsResponse* resp);

 private:
  const uint64_t node_id_;
  vmm::Hypervisor& hypervisor_;
  agent::Agent& agent_;
  const PlacedHere placed_here_;
};

}  // namespace blixard::api
