// Routing writes to the leader: the waiting half on the caller's side and the
// leader's side of a forwarded request.
#include <algorithm>

#include "node/node_impl.h"
#include "state/validation.h"

namespace blixard::node {

// Read under the status lock, without copying the status (every write and
// linearizable read asks at least once).
LeaderView Node::Impl::ViewForRoute() const {
  std::lock_guard lk(status_mu_);
  LeaderView v;
  v.leader_id = status_.leader_id;
  v.term = status_.term;
  v.removed = status_.removed;
  if (v.leader_id != 0 && v.leader_id != config_.id) {
    if (auto it = addresses_.find(v.leader_id); it != addresses_.end()) v.leader_address = it->second;
  }
  return v;
}

bool Node::Impl::IsMember(uint64_t id) const {
  std::lock_guard lk(status_mu_);
  return std::any_of(status_.members.begin(), status_.members.end(),
                     [id](const MemberStatus& m) { return m.id == id; });
}

void Node::Impl::WaitForLeaderChange(uint64_t leader, uint64_t term, Deadline until) {
  std::unique_lock lk(status_mu_);
  status_cv_.wait_until(lk, until, [&] {
    return status_.leader_id != 0 && (status_.leader_id != leader || status_.term != term);
  });
}

v1::ForwardRequest Node::Impl::NewForward() const {
  v1::ForwardRequest req;
  req.set_cluster_id(cluster_id());
  req.set_from_node(config_.id);
  return req;
}

Attempt<bool> Node::Impl::ForwardAck(const std::string& leader, const v1::ForwardRequest& req,
                                     Deadline deadline) {
  auto resp = clients_.Forward(leader, req, deadline);
  if (!resp.ok()) return {false, resp.status()};
  if (resp->not_leader()) return Attempt<bool>::NotLeader();
  if (resp->code() != 0) return {false, Status(static_cast<StatusCode>(resp->code()), resp->message())};
  return {false, true};
}

v1::ForwardResponse Node::Impl::HandleForward(const v1::ForwardRequest& req, Deadline deadline) {
  v1::ForwardResponse resp;
  auto fill = [&resp](const Status& s) {
    resp.set_code(static_cast<int32_t>(s.code()));
    resp.set_message(s.message());
  };
  const std::string mine = cluster_id();
  if (!req.cluster_id().empty() && !mine.empty() && req.cluster_id() != mine) {
    fill(Status::FailedPrecondition("request from cluster " + req.cluster_id() +
                                    " reached a member of cluster " + mine));
    return resp;
  }
  // Only members forward (the leader acts on their word: a forwarded write
  // is one of their clients' or agents'). Until connections carry node
  // certificates (issue 17) the sender's id is only claimed; this stops
  // callers that are not even pretending to be a member.
  if (!IsMember(req.from_node())) {
    fill(Status::PermissionDenied("forward from node " + std::to_string(req.from_node()) +
                                  ", which is not a member of this cluster: only members forward "
                                  "requests; send it to the public API instead"));
    return resp;
  }
  auto not_leader = [&] {
    resp.set_not_leader(true);
    resp.set_leader_hint(GetStatus().leader_id);
    fill(Status::Unavailable("not leader"));
  };
  switch (req.op_case()) {
    case v1::ForwardRequest::kCommand: {
      // Judged as the public API judges what enters the cluster: a member
      // running another version, or a caller posing as one, cannot slip in
      // what the API would refuse.
      // Decoded once: apply uses this copy, not the entry's bytes.
      auto cmd = std::make_shared<v1::Command>();
      if (!cmd->ParseFromString(req.command())) {
        fill(Status::InvalidArgument("the forwarded command does not decode"));
        break;
      }
      if (Status s = state::ValidateNewCommand(*cmd); !s.ok()) {
        fill(s);
        break;
      }
      Attempt<state::ApplyResult> a = ProposeLocal(req.command(), std::move(cmd), deadline);
      // Overwritten here (retry): the forwarder routes it to the next leader.
      if (!a.done()) {
        not_leader();
      } else if (!a.result.ok()) {
        fill(a.result.status());
      } else {
        fill(a.result->status);
        if (a.result->vm) {
          *resp.mutable_vm() = *a.result->vm;
        }
      }
      break;
    }
    case v1::ForwardRequest::kAddMember: {
      Attempt<JoinResult> a =
          AddMemberLocal(req.add_member().node_id(), req.add_member().address(), deadline);
      if (a.not_leader) {
        not_leader();
      } else if (!a.result.ok()) {
        fill(a.result.status());
      } else {
        fill(Status::Ok());
        resp.set_cluster_id(a.result->cluster_id);
        for (const auto& m : a.result->members) {
          auto* pm = resp.add_members();
          pm->set_id(m.id);
          pm->set_address(m.address);
          pm->set_voter(m.role == "voter");
        }
      }
      break;
    }
    case v1::ForwardRequest::kRemoveMember: {
      Attempt<bool> a = RemoveMemberLocal(req.remove_member().node_id(), deadline);
      if (a.not_leader) not_leader();
      else fill(a.result.status());
      break;
    }
    case v1::ForwardRequest::kTransferLeader: {
      Attempt<bool> a = TransferLeaderLocal(req.transfer_leader().to_node_id());
      if (a.not_leader) not_leader();
      else fill(a.result.status());
      break;
    }
    case v1::ForwardRequest::OP_NOT_SET:
      fill(Status::InvalidArgument("forward request without an operation"));
      break;
  }
  return resp;
}

}  // namespace blixard::node
