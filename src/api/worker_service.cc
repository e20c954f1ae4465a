#include "api/worker_service.h"

#include <spdlog/spdlog.h>

#include "api/access.h"
#include "api/convert.h"
#include "state/commands.h"

namespace blixard::api {
namespace {

std::string Id(uint64_t id) { return std::to_string(id); }

}  // namespace

grpc::Status WorkerServiceImpl::CheckCluster(const std::string& cluster_id) const {
  const std::string mine = node_.cluster_id();
  if (!cluster_id.empty() && !mine.empty() && cluster_id != mine) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this worker belongs to cluster " + cluster_id + " (its data dir says so), but "
                        "this server is in cluster " + mine +
                        ": --join a server of its cluster, or start it with a fresh --data-dir");
  }
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::RegisterWorker(grpc::ServerContext* ctx,
                                               const v1::RegisterWorkerRequest* req,
                                               v1::RegisterWorkerResponse* resp) {
  const v1::Node& offer = req->node();
  if (offer.id() == 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node id 0 is reserved: use --id 1 or more");
  }
  if (offer.address().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the worker's address is empty: give --bind");
  }
  if (grpc::Status s = CheckCluster(req->cluster_id()); !s.ok()) return s;
  if (Status s = CheckSpeaksFor(ctx, offer.id()); !s.ok()) return ToGrpc(s);
  const node::Deadline deadline = DeadlineOf(ctx);
  // Check against the newest state (the leader decides the write itself).
  if (Status s = node_.ReadBarrier(deadline); !s.ok()) return ToGrpc(s);
  for (const auto& m : node_.GetStatus().members) {
    if (m.id == offer.id()) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          "node id " + Id(offer.id()) + " is a server (Raft member) at " + m.address +
                              "; choose another --id for the worker");
    }
  }
  v1::Node record = offer;
  record.set_role(v1::NODE_ROLE_WORKER);
  record.set_health(v1::NODE_HEALTH_READY);
  grpc::Status refused = grpc::Status::OK;
  node_.Read([&](const state::ClusterState& st) {
    for (const auto& [id, n] : st.nodes()) {
      if (id == offer.id()) {
        if (n.role() != v1::NODE_ROLE_WORKER) {
          refused = grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                                 "node id " + Id(id) + " is a server at " + n.address() +
                                     "; choose another --id for the worker");
        } else if (n.address() != offer.address()) {
          refused = grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                                 "node id " + Id(id) + " is already registered at " + n.address() +
                                     "; choose another --id, or start it with --bind " + n.address());
        }
        record.set_health(n.health());  // liveness decides when it is READY again
      } else if (n.address() == offer.address()) {
        refused = grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                               "address " + offer.address() + " is already used by node " + Id(id) +
                                   "; give each node its own --bind");
      }
    }
  });
  if (!refused.ok()) return refused;
  auto r = node_.Propose(state::MakeRegisterNode(record, NowUnixMs()), deadline);
  if (!r.ok()) return ToGrpc(r.status());
  if (!r->status.ok()) return ToGrpc(r->status);
  resp->set_cluster_id(node_.cluster_id());
  spdlog::info("worker {} at {} registered", offer.id(), offer.address());
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::WorkerWrite(grpc::ServerContext* ctx, const v1::WorkerWriteRequest* req,
                                            v1::WorkerWriteResponse*) {
  if (grpc::Status s = CheckCluster(req->cluster_id()); !s.ok()) return s;
  if (Status s = CheckSpeaksFor(ctx, req->node_id()); !s.ok()) return ToGrpc(s);
  v1::Command cmd;
  if (!cmd.ParseFromString(req->command())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the command is not a blixard.v1.Command");
  }
  const bool own_report = cmd.has_report_vm_status() && cmd.report_vm_status().node_id() == req->node_id();
  const bool own_move = cmd.has_vm_stopped_for_move() && cmd.vm_stopped_for_move().node_id() == req->node_id();
  const bool own_offer = cmd.has_update_node() && cmd.update_node().id() == req->node_id();
  if (req->node_id() == 0 || !(own_report || own_offer || own_move)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a worker may only report the status of its VMs or its own capacity");
  }
  bool worker = false;
  node_.Read([&](const state::ClusterState& st) {
    const v1::Node* n = st.FindNode(req->node_id());
    worker = n && n->role() == v1::NODE_ROLE_WORKER;
  });
  if (!worker) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "node " + Id(req->node_id()) + " is not a registered worker: register first");
  }
  cmd.set_now_unix_ms(NowUnixMs());
  auto r = node_.Propose(std::move(cmd), DeadlineOf(ctx));
  if (!r.ok()) return ToGrpc(r.status());
  return ToGrpc(r->status);
}

namespace {

// A stream refused before it starts.
class Refused final : public grpc::ServerWriteReactor<v1::AssignmentUpdate> {
 public:
  explicit Refused(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::AssignmentUpdate>* WorkerServiceImpl::WatchAssignments(
    grpc::CallbackServerContext* ctx, const v1::WatchAssignmentsRequest* req) {
  if (grpc::Status s = CheckCluster(req->cluster_id()); !s.ok()) return new Refused(s);
  if (Status s = CheckSpeaksFor(ctx, req->node_id()); !s.ok()) return new Refused(ToGrpc(s));
  if (req->node_id() == 0) {
    return new Refused(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "node id 0 is reserved"));
  }
  return streams_.Open(*req);
}

}  // namespace blixard::api
