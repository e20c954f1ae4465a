#include "api/node_local_vms.h"

#include <chrono>
#include <thread>

#include "api/convert.h"

namespace blixard::api {
namespace {

constexpr auto kLogPollInterval = std::chrono::milliseconds(200);

}  // namespace

NodeLocalVms::NodeLocalVms(uint64_t node_id, vmm::Hypervisor& hypervisor, agent::Agent& agent,
                           PlacedHere placed_here)
    : node_id_(node_id), hypervisor_(hypervisor), agent_(agent), placed_here_(std::move(placed_here)) {}

grpc::Status NodeLocalVms::StreamLogs(grpc::ServerContext* ctx, const v1::VmLogsRequest& req,
                                      grpc::ServerWriter<v1::VmLogChunk>* writer) {
  const std::string& name = req.name();
  uint64_t offset = 0;
  // The boot being streamed: its start time, and its process while alive.
  int64_t started_at = -1;
  int pid = 0;
  while (!ctx->IsCancelled()) {
    auto info = hypervisor_.Inspect(name);
    if (info.ok()) {
      const bool new_boot = (started_at != -1 && info->started_at_unix_ms != started_at) ||
                            (pid != 0 && info->pid != 0 && info->pid != pid);
      if (new_boot) offset = 0;
      started_at = info->started_at_unix_ms;
      if (info->pid != 0) pid = info->pid;
    }
    bool more = true;
    while (more && info.ok()) {
      auto chunk = hypervisor_.ConsoleLog(name, offset);
      if (!chunk.ok()) {
        if (chunk.status().code() == StatusCode::kNotFound) break;  // cleaned up meanwhile
        return ToGrpc(chunk.status());
      }
      more = !chunk->data.empty();
      offset = chunk->next_offset;
      if (!more) break;
      v1::VmLogChunk out;
      out.set_data(std::move(chunk->data));
      if (!writer->Write(out)) return grpc::Status::OK;  // the client went away
    }
    if (!info.ok() && info.status().code() != StatusCode::kNotFound) return ToGrpc(info.status());
    // Not started here yet (kNotFound): an empty log so far.
    if (!req.follow()) return grpc::Status::OK;
    if (!placed_here_(name)) return grpc::Status::OK;  // deleted or moved: this log is over
    std::this_thread::sleep_for(kLogPollInterval);
  }
  return grpc::Status::OK;
}

Result<agent::Agent::Observed> NodeLocalVms::PauseOrResume(const std::string& name, bool pause) {
  auto observed = pause ? agent_.Pause(name) : agent_.Resume(name);
  if (observed.status().code() == StatusCode::kNotFound) {
    return Status::FailedPrecondition("vm " + name + " has not been started on node " +
                                      std::to_string(node_id_) + " yet");
  }
  return observed;
}

grpc::Status NodeLocalVms::ListHostVms(v1::ListHostVmsResponse* resp) {
  resp->set_node_id(node_id_);
  auto vms = hypervisor_.List();
  if (!vms.ok()) return ToGrpc(vms.status());
  for (const vmm::VmInfo& info : *vms) {
    v1::HostVm* vm = resp->add_vms();
    vm->set_name(info.name);
    vm->set_state(vmm::VmStateName(info.state));
    vm->set_pid(info.pid);
    vm->set_alive(info.alive());
  }
  return grpc::Status::OK;
}

}  // namespace blixard::api
