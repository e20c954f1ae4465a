// Routing writes to the leader: the waiting half on the caller's side and the
// leader's side of a forwarded request.
#include "node/node_impl.h"

namespace blixard::node {

bool Node::Impl::WaitForLeaderChange(uint64_t leader, uint64_t term, Deadline deadline) {
  // A short interval bounds the wait when the leader stays the same but
  // refused (e.g. a leadership transfer was in progress).
  constexpr auto kRetryInterval = std::chrono::milliseconds(100);
  const Deadline until = std::min(deadline, Clock::now() + kRetryInterval);
  std::unique_lock lk(status_mu_);
  status_cv_.wait_until(lk, until, [&] {
    return status_.leader_id != 0 && (status_.leader_id != leader || status_.term != term);
  });
  return Clock::now() < deadline;
}

std::string Node::Impl::RoutingFailure(const NodeStatus& seen, const std::string& last_failure) const {
  const NodeStatus now = GetStatus();
  const std::string where = "node " + std::to_string(config_.id) + " is at term " +
                            std::to_string(now.term);
  std::string election =
      now.leader_id == 0
          ? "an election is under way (" + where + ")"
          : "node " + std::to_string(config_.id) + " still sees node " +
                std::to_string(now.leader_id) + " as leader at term " + std::to_string(now.term);
  if (!last_failure.empty()) {
    return last_failure + "; no other leader took over before the deadline: " + election +
           ". Retry, or check that a majority of the voters are up and reachable";
  }
  if (seen.leader_id == 0) {
    return "no leader was elected before the deadline (" + where +
           "): the cluster has no quorum (are a majority of voters up and reachable?)";
  }
  return "the leader, node " + std::to_string(seen.leader_id) +
         ", did not accept the request before the deadline; retry";
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
  auto not_leader = [&] {
    resp.set_not_leader(true);
    resp.set_leader_hint(GetStatus().leader_id);
    fill(Status::Unavailable("not leader"));
  };
  switch (req.op_case()) {
    case v1::ForwardRequest::kCommand: {
      Attempt<state::ApplyResult> a = ProposeLocal(req.command(), deadline);
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
