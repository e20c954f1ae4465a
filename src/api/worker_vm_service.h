// VmService on a worker (`blixard node --role worker` listens on its
// --bind): only what needs the node that runs the VM (StreamVmLogs, PauseVm,
// ResumeVm, ListHostVms), for the VMs placed on this worker. A server
// proxies these calls here for VMs placed on the worker (vm_service.h);
// every other call is for a server and is refused with FAILED_PRECONDITION
// saying so.
//
// Thread safety: the handlers may run on any gRPC thread at once.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "api/node_local_vms.h"
#include "blixard/v1/blixard.grpc.pb.h"
#include "common/status.h"

namespace blixard::api {

class WorkerVmService final : public v1::VmService::Service {
 public:
  struct Hooks {
    // The VM `name` if it is placed on this worker (its assignment stream).
    std::function<std::optional<v1::Vm>(const std::string& name)> placed;
    // Records a VM's observed phase in the cluster (through a server).
    // `vm`: the record acted on (its generation is the one observed).
    std::function<Status(const v1::Vm& vm, v1::VmPhase phase, const std::string& message)> report;
  };
  // `hypervisor` and `agent` (the agent running this worker's VMs on it) are
  // not owned and must outlive the service.
  WorkerVmService(uint64_t id, vmm::Hypervisor& hypervisor, agent::Agent& agent, Hooks hooks);

  grpc::Status StreamVmLogs(grpc::ServerContext*, const v1::VmLogsRequest*,
                            grpc::ServerWriter<v1::VmLogChunk>*) override;
  grpc::Status PauseVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status ResumeVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status ListHostVms(grpc::ServerContext*, const v1::ListHostVmsRequest*,
                           v1::ListHostVmsResponse*) override;

  grpc::Status CreateVm(grpc::ServerContext*, const v1::CreateVmRequest*, v1::CreateVmResponse*) override;
  grpc::Status StartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status StopVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status DeleteVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::DeleteVmResponse*) override;
  grpc::Status GetVm(grpc::ServerContext*, const v1::GetVmRequest*, v1::VmResponse*) override;
  grpc::Status ListVms(grpc::ServerContext*, const v1::ListVmsRequest*, v1::ListVmsResponse*) override;
  grpc::Status WatchVms(grpc::ServerContext*, const v1::WatchVmsRequest*,
                        grpc::ServerWriter<v1::VmEvent>*) override;
  grpc::Status RestartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) override;
  grpc::Status UpdateVmLabels(grpc::ServerContext*, const v1::UpdateVmLabelsRequest*,
                              v1::VmResponse*) override;

 private:
  // OK when `name` is placed here (then `*vm` is its record).
  grpc::Status PlacedHere(const grpc::ServerContext* ctx, const std::string& name, v1::Vm* vm);
  grpc::Status PauseOrResume(const grpc::ServerContext* ctx, const std::string& name, bool pause,
                             v1::VmResponse* resp);
  grpc::Status ForAServer(const char* what) const;

  const uint64_t id_;
  const Hooks hooks_;
  NodeLocalVms local_;
};

}  // namespace blixard::api
