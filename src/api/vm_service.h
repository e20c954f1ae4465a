// VmService: VM records (desired state). Writes go through Raft; reads are
// linearizable unless the request asks for stale. What acts on the running VM
// itself (console log, pause/resume) is done by the member the VM is placed
// on, through its hypervisor and agent; another member proxies the call to it.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "api/node_local_vms.h"
#include "blixard/v1/blixard.grpc.pb.h"
#include "node/node.h"
#include "vmm/hypervisor.h"

namespace blixard::api {

// CreateVm is a callback method: no thread waits while the write commits;
// the node's loop finishes the call once the write is applied.
class VmServiceImpl final : public v1::VmService::WithCallbackMethod_CreateVm<v1::VmService::Service> {
 public:
  // `hypervisor` runs the VMs placed on this node, with `agent`; both null on
  // a member that runs none (calls for VMs placed here are then
  // UNAVAILABLE). Pause and resume go through the agent and record the phase
  // with its next report number, ordered with its own reports. Not owned;
  // must outlive the server.
  VmServiceImpl(node::Node& node, vmm::Hypervisor* hypervisor, agent::Agent* agent);

  grpc::ServerUnaryReactor* CreateVm(grpc::CallbackServerContext*, const v1::CreateVmRequest*,
                                     v1::CreateVmResponse*) override;
  grpc::Status StartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status StopVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status DeleteVm(grpc::ServerContext*, const v1::VmNameRequest*,
                        v1::DeleteVmResponse*) override;
  grpc::Status GetVm(grpc::ServerContext*, const v1::GetVmRequest*, v1::VmResponse*) override;
  grpc::Status ListVms(grpc::ServerContext*, const v1::ListVmsRequest*,
                       v1::ListVmsResponse*) override;
  grpc::Status WatchVms(grpc::ServerContext*, const v1::WatchVmsRequest*,
                        grpc::ServerWriter<v1::VmEvent>*) override;
  grpc::Status StreamVmLogs(grpc::ServerContext*, const v1::VmLogsRequest*,
                            grpc::ServerWriter<v1::VmLogChunk>*) override;
  grpc::Status PauseVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status ResumeVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status RestartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status UpdateVmLabels(grpc::ServerContext*, const v1::UpdateVmLabelsRequest*,
                              v1::VmResponse*) override;
  grpc::Status ListHostVms(grpc::ServerContext*, const v1::ListHostVmsRequest*,
                           v1::ListHostVmsResponse*) override;

 private:
  // Where a VM runs, from this member's local state: here, or the API
  // address of the member it is placed on.
  struct Location {
    bool here = false;
    bool unplaced = false;  // the VM exists but is on no node (Locate fails)
    std::string address;
    uint64_t generation = 0;  // of the record read
  };
  grpc::Status Locate(const grpc::ServerContext* ctx, const std::string& name, Location* out);
  // Locate, but while the VM exists unplaced it waits (woken by each apply)
  // until it is placed, is gone, or the call ends (CANCELLED): `vm logs -f`
  // right after a create waits for the VM to land, as `kubectl logs -f`
  // waits for its pod.
  grpc::Status LocateOncePlaced(grpc::ServerContext* ctx, const std::string& name, Location* out);
  grpc::Status ProxyLogs(grpc::ServerContext* ctx, const std::string& address,
                         const v1::VmLogsRequest& req, grpc::ServerWriter<v1::VmLogChunk>* writer);
  grpc::Status PauseOrResume(grpc::ServerContext* ctx, const std::string& name, bool pause,
                             v1::VmResponse* resp);
  grpc::Status Write(grpc::ServerContext* ctx, v1::Command cmd, v1::Vm* out);
  grpc::Status SetDesired(grpc::ServerContext* ctx, const std::string& name,
                          v1::DesiredState desired, v1::VmResponse* resp);
  grpc::Status Barrier(grpc::ServerContext* ctx, bool stale);
  node::Node& node_;
  std::optional<NodeLocalVms> local_;  // with a hypervisor and an agent
};

}  // namespace blixard::api
