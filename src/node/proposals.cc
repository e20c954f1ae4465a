// Node::Impl: writes (proposals on the loop, routed to the leader when this
// member does not lead) and linearizable reads (ReadIndex).
#include "node/node_impl.h"
#include "state/commands.h"

namespace blixard::node {

Attempt<state::ApplyResult> Node::Impl::ProposeLocal(const std::string& data,
                                                     std::shared_ptr<const v1::Command> cmd, Deadline deadline) {
  auto promise = std::make_shared<ApplyPromise>();
  auto future = promise->get_future();
  auto not_leader = std::make_shared<std::atomic<bool>>(false);
  if (!Post([this, data, cmd = std::move(cmd), promise, not_leader]() mutable {
        Member::ProposeOptions o;
        o.cmd = std::move(cmd);
        auto idx = member_->Propose(
            data, [promise](Result<state::ApplyResult> r) { promise->set_value(std::move(r)); }, std::move(o));
        if (!idx.ok()) {
          *not_leader = true;
          promise->set_value(idx.status());
        }
      })) {
    return {false, Status::Unavailable("node is shutting down")};
  }
  if (future.wait_until(deadline) != std::future_status::ready) {
    return {false, Status::Unavailable("write not committed before the deadline (no quorum?); "
                                       "it may or may not be applied")};
  }
  try {
    Result<state::ApplyResult> r = future.get();
    if (*not_leader) return Attempt<state::ApplyResult>::NotLeader();
    if (!r.ok() && IsLeaderChange(r.status())) return Attempt<state::ApplyResult>::Retry(r.status());
    return {false, std::move(r)};
  } catch (const std::future_error&) {  // task dropped at shutdown
    return {false, Status::Unavailable("node is shutting down; the write may or may not be applied")};
  }
}

void Node::Impl::StampRequest(v1::Command& cmd) {
  if (cmd.has_request_id()) return;
  cmd.mutable_request_id()->set_hi(request_nonce_);
  cmd.mutable_request_id()->set_lo(request_seq_.fetch_add(1, std::memory_order_relaxed) + 1);
}

void Node::Impl::ProposeAsync(v1::Command cmd, Deadline deadline, Node::ApplyCallback done) {
  auto once = std::make_shared<ApplyOnce>(std::move(done));
  StampRequest(cmd);
  std::string data;
  if (!cmd.SerializeToString(&data)) {
    (*once)(Status::Internal("cannot encode command"));
    return;
  }
  // Tried here first; a member that does not lead (or a leader that has
  // just lost the role) routes it like Propose, on a thread that may block.
  auto shared = std::make_shared<v1::Command>(std::move(cmd));
  RunOrPost([this, data = std::move(data), shared = std::move(shared), deadline, once]() mutable {
    Member::ProposeOptions o;
    o.deadline = deadline;
    o.deferred = true;
    o.cmd = shared;
    // Overwritten by another leader's entry, nothing applied: routed again
    // (to whichever member leads now) while the deadline allows, as a
    // blocked write is by ProposeLocal's caller.
    auto idx = member_->Propose(
        std::move(data),
        [this, shared, deadline, once](Result<state::ApplyResult> r) {
          if (r.ok() || !IsLeaderChange(r.status()) || Clock::now() >= deadline ||
              !RunBlocking([this, shared, deadline, once] { (*once)(Propose(*shared, deadline)); })) {
            (*once)(std::move(r));
          }
        },
        std::move(o));
    if (idx.ok()) return;
    RunBlocking([this, shared = std::move(shared), deadline, once]() mutable {
      (*once)(Propose(std::move(*shared), deadline));
    });
  });
}

Result<state::ApplyResult> Node::Impl::Propose(v1::Command cmd, Deadline deadline) {
  StampRequest(cmd);
  std::string data;
  if (!cmd.SerializeToString(&data)) return Status::Internal("cannot encode command");
  const auto shared = std::make_shared<const v1::Command>(std::move(cmd));
  return RouteToLeader<state::ApplyResult>(
      deadline, [&] { return ProposeLocal(data, shared, deadline); },
      [&](const std::string& address, Deadline until) -> Attempt<state::ApplyResult> {
        v1::ForwardRequest req = NewForward();
        req.set_command(data);
        auto resp = clients_.Forward(address, req, until);
        // The leader died, cannot be reached, or did not commit the write
        // within the attempt (it may have applied it: the request id makes
        // a second attempt an answer, not a second write); tried again on
        // whichever member leads next.
        if (!resp.ok() && (resp.status().code() == StatusCode::kUnavailable ||
                           resp.status().code() == StatusCode::kDeadlineExceeded)) {
          return Attempt<state::ApplyResult>::Retry(resp.status());
        }
        if (!resp.ok()) return {false, resp.status()};
        if (resp->not_leader()) return Attempt<state::ApplyResult>::NotLeader();
        if (resp->code() == static_cast<int32_t>(StatusCode::kUnavailable)) {
          return Attempt<state::ApplyResult>::Retry(Status::Unavailable(resp->message()));
        }
        state::ApplyResult ar;
        ar.status = Status(static_cast<StatusCode>(resp->code()), resp->message());
        if (resp->has_vm()) ar.vm = resp->vm();
        return {false, std::move(ar)};
      });
}

Result<Member::HeartbeatAck> Node::Impl::Heartbeat(uint64_t node_id, Deadline deadline) {
  using Ack = Result<Member::HeartbeatAck>;
  auto promise = std::make_shared<std::promise<Ack>>();
  auto future = promise->get_future();
  if (!Post([this, node_id, promise] {
        Status s = member_->Heartbeat(node_id, [promise](Ack a) { promise->set_value(std::move(a)); });
        if (!s.ok()) promise->set_value(std::move(s));
      })) {
    return Status::Unavailable("node is shutting down");
  }
  if (future.wait_until(deadline) != std::future_status::ready) {
    return Status::Unavailable("leadership not confirmed before the heartbeat's deadline (no quorum?)");
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    return Status::Unavailable("node is shutting down");
  }
}

// Like a write, a linearizable read waits out an election within its
// deadline: a member with no leader, or whose leader changed while the
// read was under way (the request may have gone to a leader that died),
// asks again once a leader is known.
Status Node::Impl::ReadBarrier(Deadline deadline) {
  Route::Options o;
  o.local_only = true;
  o.read_hint = "; or read with --stale";
  auto once = [&] { return ReadBarrierOnce(deadline); };
  return RouteToLeader<bool>(
             deadline, once, [&](const std::string&, Deadline) { return once(); }, std::move(o))
      .status();
}

Attempt<bool> Node::Impl::ReadBarrierOnce(Deadline deadline) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  if (!Post([this, promise] {
        Status s = member_->ReadIndex([promise](Status s, raft::Index) { promise->set_value(std::move(s)); });
        if (!s.ok()) promise->set_value(std::move(s));
      })) {
    return {false, Status::Unavailable("node is shutting down")};
  }
  if (future.wait_until(deadline) != std::future_status::ready) {
    return {false, Status::Unavailable("linearizable read not confirmed before the deadline "
                                       "(no quorum?); retry, or read with --stale")};
  }
  try {
    Status s = future.get();
    if (IsLeaderChange(s)) return Attempt<bool>::Retry(s);
    return {false, s.ok() ? Result<bool>(true) : Result<bool>(s)};
  } catch (const std::future_error&) {
    return {false, Status::Unavailable("node is shutting down")};
  }
}

}  // namespace blixard::node
