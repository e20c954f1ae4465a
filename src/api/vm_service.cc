#include "api/vm_service.h"

#include "api/convert.h"
#include "state/commands.h"
#include "state/validation.h"

namespace blixard::api {

VmServiceImpl::VmServiceImpl(node::Node& node) : node_(node) {}

grpc::Status VmServiceImpl::Write(grpc::ServerContext* ctx, v1::Command cmd, v1::Vm* out) {
  auto r = node_.Propose(std::move(cmd), DeadlineOf(ctx));
  if (!r.ok()) return ToGrpc(r.status());
  if (!r->status.ok()) return ToGrpc(r->status);
  if (out && r->vm) *out = *r->vm;
  return grpc::Status::OK;
}

grpc::Status VmServiceImpl::Barrier(grpc::ServerContext* ctx, bool stale) {
  if (stale) return grpc::Status::OK;
  return ToGrpc(node_.ReadBarrier(DeadlineOf(ctx)));
}

grpc::Status VmServiceImpl::CreateVm(grpc::ServerContext* ctx, const v1::CreateVmRequest* req,
                                     v1::CreateVmResponse* resp) {
  if (Status s = state::ValidateVmSpec(req->spec()); !s.ok()) return ToGrpc(s);
  return Write(ctx, state::MakeCreateVm(req->spec(), req->start(), NowUnixMs()), resp->mutable_vm());
}

grpc::Status VmServiceImpl::SetDesired(grpc::ServerContext* ctx, const std::string& name,
                                       v1::DesiredState desired, v1::VmResponse* resp) {
  if (Status s = state::ValidateVmName(name); !s.ok()) return ToGrpc(s);
  return Write(ctx, state::MakeSetVmDesiredState(name, desired, NowUnixMs()), resp->mutable_vm());
}

grpc::Status VmServiceImpl::StartVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                    v1::VmResponse* resp) {
  return SetDesired(ctx, req->name(), v1::DESIRED_STATE_RUNNING, resp);
}

grpc::Status VmServiceImpl::StopVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                   v1::VmResponse* resp) {
  return SetDesired(ctx, req->name(), v1::DESIRED_STATE_STOPPED, resp);
}

grpc::Status VmServiceImpl::DeleteVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                     v1::DeleteVmResponse*) {
  if (Status s = state::ValidateVmName(req->name()); !s.ok()) return ToGrpc(s);
  return Write(ctx, state::MakeDeleteVm(req->name(), NowUnixMs()), nullptr);
}

grpc::Status VmServiceImpl::GetVm(grpc::ServerContext* ctx, const v1::GetVmRequest* req,
                                  v1::VmResponse* resp) {
  if (Status s = state::ValidateVmName(req->name()); !s.ok()) return ToGrpc(s);
  if (auto s = Barrier(ctx, req->stale()); !s.ok()) return s;
  bool found = false;
  node_.Read([&](const state::ClusterState& st) {
    if (const v1::Vm* vm = st.FindVm(req->name())) {
      *resp->mutable_vm() = *vm;
      found = true;
    }
  });
  if (!found) return ToGrpc(Status::NotFound("vm \"" + req->name() + "\" not found"));
  return grpc::Status::OK;
}

grpc::Status VmServiceImpl::ListVms(grpc::ServerContext* ctx, const v1::ListVmsRequest* req,
                                    v1::ListVmsResponse* resp) {
  if (auto s = Barrier(ctx, req->stale()); !s.ok()) return s;
  node_.Read([&](const state::ClusterState& st) {
    for (auto& vm : st.ListVms()) *resp->add_vms() = std::move(vm);
  });
  return grpc::Status::OK;
}

grpc::Status VmServiceImpl::WatchVms(grpc::ServerContext*, const v1::WatchVmsRequest*,
                                     grpc::ServerWriter<v1::VmEvent>*) {
  return {grpc::StatusCode::UNIMPLEMENTED,
          "WatchVms arrives with the node agent (issue 5: real microVMs); poll GetVm for now"};
}

grpc::Status VmServiceImpl::StreamVmLogs(grpc::ServerContext*, const v1::VmLogsRequest*,
                                         grpc::ServerWriter<v1::VmLogChunk>*) {
  return {grpc::StatusCode::UNIMPLEMENTED,
          "StreamVmLogs arrives with the qemu backend (issue 5: real microVMs); VMs do not run yet"};
}

}  // namespace blixard::api
