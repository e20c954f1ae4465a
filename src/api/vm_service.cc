#include "api/vm_service.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/access.h"
#include "api/convert.h"
#include "common/vm_trace.h"
#include "rpc/channels.h"
#include "state/commands.h"
#include "state/validation.h"

namespace blixard::api {
namespace {

constexpr auto kLogPollInterval = std::chrono::milliseconds(200);

std::unique_ptr<v1::VmService::Stub> StubFor(const std::string& address) {
  return v1::VmService::NewStub(rpc::NewChannel(address, rpc::ChannelOptions::VmProxy()));
}

// The context of a call proxied on behalf of `ctx`: same deadline, marked.
void PrepareProxied(const grpc::ServerContext* ctx, grpc::ClientContext* out) {
  out->AddMetadata(kProxiedHeader, "1");
  if (ctx->deadline() != std::chrono::system_clock::time_point::max()) {
    out->set_deadline(ctx->deadline());
  }
}

// Cancels `upstream` once `ctx` (the client of the proxy) is cancelled.
// gRPC's sync server has no callback for that, so a thread polls.
class CancelRelay {
 public:
  CancelRelay(grpc::ServerContext* ctx, grpc::ClientContext* upstream)
      : thread_([this, ctx, upstream] {
          std::unique_lock lk(mu_);
          while (!done_) {
            if (ctx->IsCancelled()) {
              upstream->TryCancel();
              return;
            }
            cv_.wait_for(lk, kLogPollInterval);
          }
        }) {}
  ~CancelRelay() {
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace

VmServiceImpl::VmServiceImpl(node::Node& node, vmm::Hypervisor* hypervisor, agent::Agent* agent)
    : node_(node) {
  if (!hypervisor || !agent) return;
  local_.emplace(node_.id(), *hypervisor, *agent, [this](const std::string& name) {
    bool placed_here = false;
    node_.Read([&](const state::ClusterState& st) {
      const v1::Vm* vm = st.FindVm(name);
      placed_here = vm && vm->node_id() == node_.id();
    });
    return placed_here;
  });
}

grpc::Status VmServiceImpl::Write(grpc::ServerContext* ctx, v1::Command cmd, v1::Vm* out) {
  auto r = ProposeAudited(node_, std::move(cmd), CallerName(ctx), DeadlineOf(ctx));
  if (!r.ok()) return ToGrpc(r.status());
  if (!r->status.ok()) return ToGrpc(r->status);
  if (out && r->vm) *out = *r->vm;
  return grpc::Status::OK;
}

grpc::Status VmServiceImpl::Barrier(grpc::ServerContext* ctx, bool stale) {
  if (stale) return grpc::Status::OK;
  return ToGrpc(node_.ReadBarrier(DeadlineOf(ctx)));
}

grpc::ServerUnaryReactor* VmServiceImpl::CreateVm(grpc::CallbackServerContext* ctx,
                                                  const v1::CreateVmRequest* req,
                                                  v1::CreateVmResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  vm_trace::Mark(req->spec().name(), "api_create");
  if (Status s = state::ValidateNewVmSpec(req->spec()); !s.ok()) {
    reactor->Finish(ToGrpc(s));
    return reactor;
  }
  // The reactor and `resp` live until Finish; the node calls back once.
  v1::Command cmd = state::MakeCreateVm(req->spec(), req->start(), NowUnixMs());
  cmd.set_actor(CallerName(ctx));
  std::string what = AuditText(cmd);
  node_.ProposeAsync(std::move(cmd), DeadlineOf(ctx),
                     [reactor, resp, what = std::move(what)](Result<state::ApplyResult> r) {
                       if (!r.ok()) return reactor->Finish(ToGrpc(r.status()));
                       if (!r->status.ok()) return reactor->Finish(ToGrpc(r->status));
                       spdlog::info("audit: {}", what);
                       if (r->vm) *resp->mutable_vm() = std::move(*r->vm);
                       reactor->Finish(grpc::Status::OK);
                     });
  return reactor;
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
          "WatchVms is not implemented yet: poll GetVm (as `blixard vm get` and `--wait` do)"};
}

grpc::Status VmServiceImpl::Locate(const grpc::ServerContext* ctx, const std::string& name,
                                   Location* out) {
  if (Status s = state::ValidateVmName(name); !s.ok()) return ToGrpc(s);
  bool found = false;
  uint64_t node_id = 0;
  node_.Read([&](const state::ClusterState& st) {
    const v1::Vm* vm = st.FindVm(name);
    if (!vm) return;
    found = true;
    node_id = vm->node_id();
    out->generation = vm->generation();
    if (const v1::Node* n = st.FindNode(node_id)) out->address = n->address();
  });
  if (!found) return ToGrpc(Status::NotFound("vm \"" + name + "\" not found"));
  if (node_id == 0) {
    out->unplaced = true;
    return ToGrpc(Status::FailedPrecondition("vm " + name + " is not placed on a node yet"));
  }
  if (node_id == node_.id()) {
    if (!local_) {
      return ToGrpc(Status::Unavailable("vm " + name + " is placed on node " +
                                        std::to_string(node_id) + ", which runs no hypervisor"));
    }
    out->here = true;
    return grpc::Status::OK;
  }
  if (WasProxied(ctx)) {
    return ToGrpc(Status::Unavailable("vm " + name + " is placed on node " + std::to_string(node_id) +
                                      " as far as node " + std::to_string(node_.id()) +
                                      " knows, not here; retry once the placement settles"));
  }
  if (out->address.empty()) {
    for (const node::MemberStatus& m : node_.GetStatus().members) {
      if (m.id == node_id) out->address = m.address;
    }
  }
  if (out->address.empty()) {
    return ToGrpc(Status::Unavailable("vm " + name + " is placed on node " + std::to_string(node_id) +
                                      ", whose address is not known here"));
  }
  return grpc::Status::OK;
}

grpc::Status VmServiceImpl::LocateOncePlaced(grpc::ServerContext* ctx, const std::string& name,
                                             Location* out) {
  grpc::Status s = Locate(ctx, name, out);
  if (!out->unplaced) return s;
  struct Wake {
    std::mutex mu;
    std::condition_variable cv;
    uint64_t applied = 0;
  };
  auto wake = std::make_shared<Wake>();
  const uint64_t listener = node_.AddApplyListener([wake](uint64_t applied) {
    std::lock_guard lk(wake->mu);
    wake->applied = applied;
    wake->cv.notify_all();
  });
  struct Unlisten {
    node::Node& node;
    uint64_t id;
    ~Unlisten() { node.RemoveApplyListener(id); }
  } unlisten{node_, listener};
  uint64_t seen = 0;
  while (true) {
    {
      // Woken by the next apply; the bound only lets a cancelled call end.
      std::unique_lock lk(wake->mu);
      wake->cv.wait_for(lk, std::chrono::milliseconds(200), [&] { return wake->applied != seen; });
      seen = wake->applied;
    }
    if (ctx->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the call ended before vm " + name + " was placed");
    }
    *out = Location();
    s = Locate(ctx, name, out);
    if (!out->unplaced) return s;
  }
}

grpc::Status VmServiceImpl::StreamVmLogs(grpc::ServerContext* ctx, const v1::VmLogsRequest* req,
                                         grpc::ServerWriter<v1::VmLogChunk>* writer) {
  Location where;
  if (auto s = req->follow() ? LocateOncePlaced(ctx, req->name(), &where) : Locate(ctx, req->name(), &where);
      !s.ok()) {
    return s;
  }
  if (!where.here) return ProxyLogs(ctx, where.address, *req, writer);
  return local_->StreamLogs(ctx, *req, writer);
}

grpc::Status VmServiceImpl::ProxyLogs(grpc::ServerContext* ctx, const std::string& address,
                                      const v1::VmLogsRequest& req,
                                      grpc::ServerWriter<v1::VmLogChunk>* writer) {
  auto stub = StubFor(address);
  grpc::ClientContext upstream;
  PrepareProxied(ctx, &upstream);
  CancelRelay relay(ctx, &upstream);
  auto reader = stub->StreamVmLogs(&upstream, req);
  v1::VmLogChunk chunk;
  while (reader->Read(&chunk)) {
    if (!writer->Write(chunk)) {
      upstream.TryCancel();
      break;
    }
  }
  grpc::Status s = reader->Finish();
  if (ctx->IsCancelled() || s.error_code() == grpc::StatusCode::CANCELLED) return grpc::Status::OK;
  return s;
}

grpc::Status VmServiceImpl::PauseOrResume(grpc::ServerContext* ctx, const std::string& name,
                                          bool pause, v1::VmResponse* resp) {
  Location where;
  if (auto s = Locate(ctx, name, &where); !s.ok()) return s;
  if (!where.here) {
    grpc::ClientContext upstream;
    PrepareProxied(ctx, &upstream);
    v1::VmNameRequest req;
    req.set_name(name);
    auto stub = StubFor(where.address);
    return pause ? stub->PauseVm(&upstream, req, resp) : stub->ResumeVm(&upstream, req, resp);
  }
  auto observed = local_->PauseOrResume(name, pause);
  if (!observed.ok()) return ToGrpc(observed.status());
  // Record the phase now, so the answer shows it; in the agent's sequence, so
  // a newer report of the agent (e.g. STOPPED) is not taken back by this one.
  const uint64_t seq = local_->NextReportSeq();
  return Write(ctx,
               state::MakeReportVmStatus(name, node_.id(), observed->phase, observed->message,
                                         NowUnixMs(), seq, where.generation),
               resp->mutable_vm());
}

grpc::Status VmServiceImpl::PauseVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                    v1::VmResponse* resp) {
  return PauseOrResume(ctx, req->name(), true, resp);
}

grpc::Status VmServiceImpl::ResumeVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                     v1::VmResponse* resp) {
  return PauseOrResume(ctx, req->name(), false, resp);
}

grpc::Status VmServiceImpl::RestartVm(grpc::ServerContext* ctx, const v1::VmNameRequest* req,
                                      v1::VmResponse* resp) {
  if (Status s = state::ValidateVmName(req->name()); !s.ok()) return ToGrpc(s);
  return Write(ctx, state::MakeRestartVm(req->name(), NowUnixMs()), resp->mutable_vm());
}

grpc::Status VmServiceImpl::UpdateVmLabels(grpc::ServerContext* ctx,
                                           const v1::UpdateVmLabelsRequest* req,
                                           v1::VmResponse* resp) {
  if (Status s = state::ValidateVmName(req->name()); !s.ok()) return ToGrpc(s);
  google::protobuf::Map<std::string, std::string> label;
  label[req->key()] = req->value();
  if (Status s = state::ValidateLabels(label, "vm \"" + req->name() + "\""); !s.ok()) {
    return ToGrpc(s);
  }
  return Write(ctx, state::MakeUpdateVmLabels(req->name(), req->key(), req->value(), NowUnixMs()),
               resp->mutable_vm());
}

grpc::Status VmServiceImpl::ListHostVms(grpc::ServerContext*, const v1::ListHostVmsRequest*,
                                        v1::ListHostVmsResponse* resp) {
  resp->set_node_id(node_.id());
  if (!local_) return grpc::Status::OK;
  return local_->ListHostVms(resp);
}

}  // namespace blixard::api
