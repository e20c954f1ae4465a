// Node::Impl: writes (proposals on the loop, routed to the leader when this
// member does not lead) and linearizable reads (ReadIndex).
#include "node/node_impl.h"
#include "state/commands.h"

namespace blixard::node {

Attempt<state::ApplyResult> Node::Impl::ProposeLocal(const std::string& data, Deadline deadline) {
  auto promise = std::make_shared<ApplyPromise>();
  auto future = promise->get_future();
  auto not_leader = std::make_shared<std::atomic<bool>>(false);
  if (!Post([this, data, promise, not_leader]() mutable {
        auto idx = raft_->propose(data);
        if (!idx.ok()) {
          *not_leader = true;
          promise->set_value(idx.status());
          return;
        }
        proposals_[*idx] = ProposalWaiter{raft_->term(), promise};
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
    return {false, std::move(r)};
  } catch (const std::future_error&) {  // task dropped at shutdown
    return {false, Status::Unavailable("node is shutting down; the write may or may not be applied")};
  }
}

void Node::Impl::ProposeAsync(v1::Command cmd, Deadline deadline, Node::ApplyCallback done) {
  auto once = std::make_shared<ApplyOnce>(std::move(done));
  std::string data;
  if (!cmd.SerializeToString(&data)) {
    (*once)(Status::Internal("cannot encode command"));
    return;
  }
  // Tried here first; a member that does not lead (or a leader that has
  // just lost the role) routes it like Propose, on a thread that may block.
  auto shared = std::make_shared<v1::Command>(std::move(cmd));
  RunOrPost([this, data = std::move(data), shared = std::move(shared), deadline, once]() mutable {
    auto idx = raft_->propose(std::move(data));
    if (idx.ok()) {
      proposals_[*idx] = ProposalWaiter{raft_->term(), std::move(once), deadline, std::move(shared)};
      return;
    }
    RunBlocking([this, shared = std::move(shared), deadline, once]() mutable {
      (*once)(Propose(std::move(*shared), deadline));
    });
  });
}

Result<state::ApplyResult> Node::Impl::Propose(v1::Command cmd, Deadline deadline) {
  std::string data;
  if (!cmd.SerializeToString(&data)) return Status::Internal("cannot encode command");
  return RouteToLeader<state::ApplyResult>(
      deadline, [&] { return ProposeLocal(data, deadline); },
      [&](const std::string& address) -> Attempt<state::ApplyResult> {
        v1::ForwardRequest req = NewForward();
        req.set_command(data);
        auto resp = clients_.Forward(address, req, deadline);
        if (!resp.ok()) return {false, resp.status()};
        if (resp->not_leader()) return Attempt<state::ApplyResult>::NotLeader();
        state::ApplyResult ar;
        ar.status = Status(static_cast<StatusCode>(resp->code()), resp->message());
        if (resp->has_vm()) ar.vm = resp->vm();
        return {false, std::move(ar)};
      });
}

std::future<Result<state::ApplyResult>> Node::Impl::ProposeInTerm(v1::Command cmd, uint64_t term) {
  auto promise = std::make_shared<ApplyPromise>();
  auto future = promise->get_future();
  std::string data = state::EncodeCommand(cmd);
  if (!Post([this, data = std::move(data), term, promise]() mutable {
        if (raft_->role() != raft::Role::kLeader || raft_->term() != term) {
          promise->set_value(Status::FailedPrecondition(
              "node " + std::to_string(config_.id) + " does not lead in term " + std::to_string(term)));
          return;
        }
        auto idx = raft_->propose(std::move(data));
        if (!idx.ok()) {
          promise->set_value(idx.status());
          return;
        }
        proposals_[*idx] = ProposalWaiter{term, promise};
      })) {
    promise->set_value(Status::Unavailable("node is shutting down"));
  }
  return future;
}

Result<uint64_t> Node::Impl::LastIndexInTerm(uint64_t term, Deadline deadline) {
  return OnLoop<uint64_t>(
      [this, term]() -> Result<uint64_t> {
        if (raft_->role() != raft::Role::kLeader || raft_->term() != term) {
          return Status::FailedPrecondition("node " + std::to_string(config_.id) +
                                            " does not lead in term " + std::to_string(term));
        }
        return raft_->last_index();
      },
      deadline);
}

Status Node::Impl::ReadBarrier(Deadline deadline) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  if (!Post([this, promise] {
        std::string ctx = std::to_string(config_.id) + "/" + std::to_string(++read_seq_);
        Status s = raft_->read_index(ctx);
        if (!s.ok()) {
          promise->set_value(Status::Unavailable(
              "no leader to confirm a linearizable read; retry, or read with --stale"));
          return;
        }
        reads_[ctx] = ReadWaiter{0, promise};
      })) {
    return Status::Unavailable("node is shutting down");
  }
  if (future.wait_until(deadline) != std::future_status::ready) {
    return Status::Unavailable("linearizable read not confirmed before the deadline "
                               "(no quorum?); retry, or read with --stale");
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    return Status::Unavailable("node is shutting down");
  }
}

}  // namespace blixard::node
