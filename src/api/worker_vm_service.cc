#include "api/worker_vm_service.h"

#include "api/convert.h"
#include "state/validation.h"

namespace blixard::api {

WorkerVmService::WorkerVmService(uint64_t id, vmm::Hypervisor& hypervisor, agent::Agent& agent,
                                 Hooks hooks)
    : id_(id),
      hooks_(std::move(hooks)),
      local_(id, hypervisor, agent, [this](const std::string& name) { return hooks_.placed(name).has_value(); }) {}

grpc::Status WorkerVmService::PlacedHere(const grpc::ServerContext* ctx, const std::string& name,
                                         v1::Vm* vm) {
  if (Status s = state::ValidateVmName(name); !s.ok()) return ToGrpc(s);
  auto placed = hooks_.placed(name);
  if (!placed && WasProxied(ctx)) {  // this worker's stream is behind the server's state
    return ToGrpc(Status::Unavailable("vm " + name + " is not placed on worker " + std::to_string(id_) +
                                      " as far as it knows yet; retry once the placement settles"));
  }
  if (!placed) {
    return ToGrpc(Status::FailedPrecondition(
        "vm " + name + " is not placed on worker " + std::to_string(id_) +
        " as far as it knows: send the request to a server, which finds the node that runs it"));
  }
  *vm = std::move(*placed);
  return grpc::Status::OK;
}

grpc::Status WorkerVmService::StreamVmLogs(grpc::ServerContext* ctx, const v1::VmLogsRequest* req,
                                           grpc::ServerWriter<v1::VmLogChunk>* writer) {
  v1::Vm vm;
  if (auto s = PlacedHere(ctx, req->name(), &vm); !s.ok()) return s;
  return local_.StreamLogs(ctx, *req, writer);
}

grpc::Status WorkerVmService::PauseOrResume(const grpc::ServerContext* ctx, const std::string& name,
                                            bool pause, v1::VmResponse* resp) {
  v1::Vm vm;
  if (auto s = PlacedHere(ctx, name, &vm); !s.ok()) return s;
  auto observed = local_.PauseOrResume(name, pause);
  if (!observed.ok()) return ToGrpc(observed.status());
  // Recorded now, so that the cluster shows it at once; the agent reports
  // the same words on its passes.
  if (Status s = hooks_.report(vm, observed->phase, observed->message); !s.ok()) {
    return ToGrpc(Status(s.code(), "vm " + name + " was " + (pause ? "paused" : "resumed") +
                                       ", but recording that failed: " + s.message()));
  }
  vm.mutable_status()->set_phase(observed->phase);
  vm.mutable_status()->set_message(observed->message);
  *resp->mutable_vm() = std::move(vm);
  return grpc::Status::OK;
}

grpc::Status WorkerVmService::PauseVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                      v1::VmResponse* resp) {
  return PauseOrResume(ctx, req->name(), true, resp);
}

grpc::Status WorkerVmService::ResumeVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                       v1::VmResponse* resp) {
  return PauseOrResume(ctx, req->name(), false, resp);
}

grpc::Status WorkerVmService::ListHostVms(grpc::ServerContext*, const v1::ListHostVmsRequest*,
                                          v1::ListHostVmsResponse* resp) {
  return local_.ListHostVms(resp);
}

grpc::Status WorkerVmService::ForAServer(const char* what) const {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      std::string(what) + " is served by the servers, and node " + std::to_string(id_) +
                          " is a worker (it serves only vm logs, pause, resume and host-vms for "
                          "its own VMs): send it to a server (--addr)");
}

grpc::Status WorkerVmService::CreateVm(grpc::ServerContext*, const v1::CreateVmRequest*,
                                       v1::CreateVmResponse*) {
  return ForAServer("vm create");
}
grpc::Status WorkerVmService::StartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) {
  return ForAServer("vm start");
}
grpc::Status WorkerVmService::StopVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) {
  return ForAServer("vm stop");
}
grpc::Status WorkerVmService::DeleteVm(grpc::ServerContext*, const v1::VmNameRequest*,
                                       v1::DeleteVmResponse*) {
  return ForAServer("vm delete");
}
grpc::Status WorkerVmService::GetVm(grpc::ServerContext*, const v1::GetVmRequest*, v1::VmResponse*) {
  return ForAServer("vm get");
}
grpc::Status WorkerVmService::ListVms(grpc::ServerContext*, const v1::ListVmsRequest*,
                                      v1::ListVmsResponse*) {
  return ForAServer("vm list");
}
grpc::Status WorkerVmService::WatchVms(grpc::ServerContext*, const v1::WatchVmsRequest*,
                                       grpc::ServerWriter<v1::VmEvent>*) {
  return ForAServer("vm watch");
}
grpc::Status WorkerVmService::RestartVm(grpc::ServerContext*, const v1::VmNameRequest*, v1::VmResponse*) {
  return ForAServer("vm restart");
}
grpc::Status WorkerVmService::UpdateVmLabels(grpc::ServerContext*, const v1::UpdateVmLabelsRequest*,
                                             v1::VmResponse*) {
  return ForAServer("vm label");
}

}  // namespace blixard::api
