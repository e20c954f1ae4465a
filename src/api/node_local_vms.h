// What acts on a VM running on this node through its hypervisor: the console
// log stream, pause/resume, and the hypervisor's own list. A server's
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
#include "common/status.h"
#include "vmm/hypervisor.h"

namespace blixard::api {

// Set on calls a server proxies to the node that runs the VM, so that two
// nodes whose views disagree about where a VM runs do not bounce a call
// forever.
inline constexpr char kProxiedHeader[] = "x-blixard-proxied";
inline bool WasProxied(const grpc::ServerContext* ctx) {
  return ctx->client_metadata().count(kProxiedHeader) > 0;
}

class NodeLocalVms {
 public:
  // Whether vm `name` is placed on this node now.
  using PlacedHere = std::function<bool(const std::string& name)>;
  // `hypervisor` is not owned and must outlive this.
  NodeLocalVms(uint64_t node_id, vmm::Hypervisor& hypervisor, PlacedHere placed_here);

  // From offset 0 of the current boot; with follow, polls for more until
  // the client goes away or the VM is no longer placed here. A new boot
  // (restart) starts a new log, which is then streamed from its beginning.
  grpc::Status StreamLogs(grpc::ServerContext* ctx, const v1::VmLogsRequest& req,
                          grpc::ServerWriter<v1::VmLogChunk>* writer);

  // What to record after a pause or resume: the words the node agent reports
  // on its passes too.
  struct Observed {
    v1::VmPhase phase = v1::VM_PHASE_UNSPECIFIED;
    std::string message;
  };
  // kFailedPrecondition when the VM was not started here yet.
  Result<Observed> PauseOrResume(const std::string& name, bool pause);

  grpc::Status ListHostVms(v1::ListHostVmsResponse* resp);

 private:
  const uint64_t node_id_;
  vmm::Hypervisor& hypervisor_;
  const PlacedHere placed_here_;
};

}  // namespace blixard::api
