// Membership: joining through an existing member, adding and removing
// members, leadership transfer (the voter controller runs in the member,
// member_controllers.cc).
#include <spdlog/spdlog.h>

#include <thread>

#include "common/wall_clock.h"
#include "node/node_impl.h"
#include "state/commands.h"

namespace blixard::node {
namespace {

// What one step of a membership operation did in a loop pass.
struct Step {
  enum Kind { kNotLeader, kDone, kWait, kRetry } kind = kDone;
  std::shared_ptr<ApplyPromise> promise;  // kWait: completes when the entry applies
};

// A membership change takes several steps at the leader (demote, remove,
// hand leadership over): its forward waits for the whole of it.
Route::Options MembershipRoute() {
  Route::Options o;
  o.bounded_forwards = false;
  return o;
}

// Waits for the entry behind `step` to apply; kRetry after a short pause.
Status Await(const Step& step, Deadline deadline) {
  if (step.kind == Step::kRetry) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Status::Ok();
  }
  if (step.kind != Step::kWait) return Status::Ok();
  auto future = step.promise->get_future();
  if (future.wait_until(deadline) != std::future_status::ready) {
    return Status::Unavailable("membership change not committed before the deadline "
                               "(no quorum?); it may still take effect");
  }
  try {
    Result<state::ApplyResult> r = future.get();
    if (!r.ok()) return r.status();
    return r->status.code() == StatusCode::kAlreadyExists ? Status::Ok() : r->status;
  } catch (const std::future_error&) {
    return Status::Unavailable("node is shutting down");
  }
}

}  // namespace

Status Node::Impl::JoinExisting(Deadline deadline) {
  Status last = Status::Unavailable("no member answered");
  auto backoff = std::chrono::milliseconds(100);
  for (size_t attempt = 0; Clock::now() < deadline; ++attempt) {
    const std::string& via = config_.join[attempt % config_.join.size()];
    Deadline d = std::min(deadline, Clock::now() + std::chrono::seconds(10));
    auto r = clients_.Join(via, config_.id, config_.address, d);
    if (r.ok()) {
      if (Status s = store_->PutMeta("cluster_id", r->cluster_id); !s.ok()) return s;
      for (const auto& m : r->members) SetAddress(m.id, m.address);
      spdlog::info("joined cluster {} through {} as node {}", r->cluster_id, via, config_.id);
      return Status::Ok();
    }
    last = r.status();
    if (last.code() != StatusCode::kUnavailable) {
      return Status(last.code(), "joining through " + via + " was refused: " + last.message());
    }
    spdlog::warn("join through {} failed, retrying: {}", via, last.message());
    std::this_thread::sleep_for(std::min(backoff, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - Clock::now())));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
  return Status::Unavailable("could not join the cluster before the deadline: " + last.message());
}

namespace {

Member::ApplyCallback Fulfil(std::shared_ptr<ApplyPromise> promise) {
  return [promise = std::move(promise)](Result<state::ApplyResult> r) { promise->set_value(std::move(r)); };
}

}  // namespace

JoinResult Node::Impl::MembersSnapshot() const {
  NodeStatus st = GetStatus();
  return JoinResult{st.cluster_id, st.members};
}

Attempt<JoinResult> Node::Impl::AddMemberLocal(uint64_t id, const std::string& address,
                                               Deadline deadline) {
  while (true) {
    auto step = OnLoop<Step>(
        [&]() -> Result<Step> {
          if (member_->raft().role() != raft::Role::kLeader) return Step{Step::kNotLeader, nullptr};
          const raft::ConfState& conf = member_->raft().conf();
          {
            std::lock_guard lk(status_mu_);
            for (const auto& [m, a] : addresses_) {
              if (a == address && m != id && conf.IsMember(m)) {
                return Status::AlreadyExists("address " + address + " is already used by node " +
                                             std::to_string(m) + "; give each node its own --bind");
              }
            }
            auto it = addresses_.find(id);
            if (conf.IsMember(id)) {
              if (it != addresses_.end() && it->second == address) return Step{Step::kDone, nullptr};
              return Status::AlreadyExists(
                  "node id " + std::to_string(id) + " is already a member at " +
                  (it == addresses_.end() ? std::string("another address") : it->second) +
                  "; choose another --id");
            }
          }
          SetAddress(id, address);
          raft::ConfChange cc{raft::ConfChangeType::kAddLearner, id, address};
          auto idx = member_->ProposeConfChange(cc, nullptr);
          if (!idx.ok()) {
            return idx.status().code() == StatusCode::kFailedPrecondition ? Step{Step::kRetry, nullptr}
                                                                           : Step{Step::kNotLeader, nullptr};
          }
          // Record the member in the replicated state too (addresses survive
          // log compaction through snapshots).
          v1::Node n;
          n.set_id(id);
          n.set_address(address);
          n.set_role(v1::NODE_ROLE_LEARNER);
          n.set_health(v1::NODE_HEALTH_READY);
          n.set_registered_at_unix_ms(NowUnixMs());
          std::string data = state::EncodeCommand(state::MakeRegisterNode(n, NowUnixMs()));
          auto promise = std::make_shared<ApplyPromise>();
          auto reg = member_->Propose(std::move(data), Fulfil(promise));
          if (!reg.ok()) return Step{Step::kNotLeader, nullptr};
          spdlog::info("adding node {} at {} as a learner", id, address);
          return Step{Step::kWait, promise};
        },
        deadline);
    if (!step.ok()) return {false, step.status()};
    if (step->kind == Step::kNotLeader) return Attempt<JoinResult>::NotLeader();
    if (Status s = Await(*step, deadline); !s.ok()) return {false, s};
    if (step->kind == Step::kRetry) {
      if (Clock::now() >= deadline) {
        return {false, Status::Unavailable("another membership change is in progress; retry")};
      }
      continue;
    }
    return {false, MembersSnapshot()};
  }
}

Result<JoinResult> Node::Impl::AddMember(uint64_t id, const std::string& address, Deadline deadline) {
  if (id == 0) return Status::InvalidArgument("node id 0 is reserved: use 1 or more");
  if (address.empty()) return Status::InvalidArgument("the joining node's address is empty");
  return RouteToLeader<JoinResult>(
      deadline, [&] { return AddMemberLocal(id, address, deadline); },
      [&](const std::string& leader, Deadline until) -> Attempt<JoinResult> {
        v1::ForwardRequest req = NewForward();
        req.mutable_add_member()->set_node_id(id);
        req.mutable_add_member()->set_address(address);
        auto resp = clients_.Forward(leader, req, until);
        // Adding a member is idempotent: when the leader we knew cannot be
        // reached, wait for the next one rather than give up.
        if (!resp.ok() && resp.status().code() == StatusCode::kUnavailable) {
          return Attempt<JoinResult>::NotLeader();
        }
        if (!resp.ok()) return {false, resp.status()};
        if (resp->not_leader()) return Attempt<JoinResult>::NotLeader();
        if (resp->code() != 0) {
          return {false, Status(static_cast<StatusCode>(resp->code()), resp->message())};
        }
        JoinResult jr;
        jr.cluster_id = resp->cluster_id();
        for (const auto& m : resp->members()) {
          jr.members.push_back(MemberStatus{m.id(), m.address(), m.voter() ? "voter" : "learner"});
        }
        return {false, std::move(jr)};
      },
      MembershipRoute());
}

Attempt<bool> Node::Impl::RemoveMemberLocal(uint64_t id, Deadline deadline) {
  bool first = true;
  while (true) {
    auto step = OnLoop<Step>(
        [&]() -> Result<Step> {
          if (member_->raft().role() != raft::Role::kLeader) return Step{Step::kNotLeader, nullptr};
          const raft::ConfState conf = member_->raft().conf();
          if (!conf.IsMember(id)) {
            if (first) {
              return Status::NotFound("node " + std::to_string(id) + " is not a member");
            }
            if (!member_->state().FindNode(id)) return Step{Step::kDone, nullptr};
            std::string data = state::EncodeCommand(state::MakeRemoveNode(id, NowUnixMs()));
            auto promise = std::make_shared<ApplyPromise>();
            auto idx = member_->Propose(std::move(data), Fulfil(promise));
            if (!idx.ok()) return Step{Step::kNotLeader, nullptr};
            return Step{Step::kWait, promise};
          }
          member_->MarkRemoving(id);
          if (id == config_.id) {
            // Hand leadership to the most caught-up other voter, then let
            // the new leader do the removal (thesis §4.2.2).
            uint64_t best = 0, best_match = 0;
            for (const auto& p : member_->raft().progress()) {
              if (p.id != id && p.voter && (best == 0 || p.match > best_match)) {
                best = p.id;
                best_match = p.match;
              }
            }
            if (best == 0) {
              return Status::FailedPrecondition("node " + std::to_string(id) +
                                                " is the only voter; add another member first");
            }
            spdlog::info("removing myself: transferring leadership to node {} first", best);
            member_->raft().transfer_leader(best);
            return Step{Step::kNotLeader, nullptr};
          }
          raft::ConfChange cc{conf.IsVoter(id) ? raft::ConfChangeType::kDemote
                                               : raft::ConfChangeType::kRemove,
                              id, ""};
          if (cc.type == raft::ConfChangeType::kDemote && conf.voters.size() == 1) {
            return Status::FailedPrecondition("node " + std::to_string(id) + " is the only voter");
          }
          auto promise = std::make_shared<ApplyPromise>();
          auto idx = member_->ProposeConfChange(cc, Fulfil(promise));
          if (!idx.ok()) {
            return idx.status().code() == StatusCode::kFailedPrecondition ? Step{Step::kRetry, nullptr}
                                                                           : Step{Step::kNotLeader, nullptr};
          }
          spdlog::info("{} node {}", cc.type == raft::ConfChangeType::kDemote ? "demoting" : "removing",
                       id);
          return Step{Step::kWait, promise};
        },
        deadline);
    first = false;
    if (!step.ok()) return {false, step.status()};
    if (step->kind == Step::kNotLeader) return Attempt<bool>::NotLeader();
    if (step->kind == Step::kDone) return {false, true};
    if (Status s = Await(*step, deadline); !s.ok()) return {false, s};
    if (Clock::now() >= deadline) {
      return {false, Status::Unavailable("removal not finished before the deadline; retry")};
    }
  }
}

Status Node::Impl::RemoveMember(uint64_t id, Deadline deadline) {
  if (id == 0) return Status::InvalidArgument("node id 0 is reserved");
  auto r = RouteToLeader<bool>(
      deadline, [&] { return RemoveMemberLocal(id, deadline); },
      [&](const std::string& leader, Deadline until) {
        v1::ForwardRequest req = NewForward();
        req.mutable_remove_member()->set_node_id(id);
        return ForwardAck(leader, req, until);
      },
      MembershipRoute());
  return r.status();
}

Attempt<bool> Node::Impl::TransferLeaderLocal(uint64_t to) {
  auto r = OnLoop<Step>(
      [&]() -> Result<Step> {
        if (member_->raft().role() != raft::Role::kLeader) return Step{Step::kNotLeader, nullptr};
        if (to == config_.id) return Step{Step::kDone, nullptr};
        if (!member_->raft().conf().IsVoter(to)) {
          return Status::FailedPrecondition("node " + std::to_string(to) +
                                            " is not a voter; transfer leadership to a voter");
        }
        if (Status s = member_->raft().transfer_leader(to); !s.ok()) return s;
        spdlog::info("transferring leadership to node {}", to);
        return Step{Step::kDone, nullptr};
      },
      Clock::now() + std::chrono::seconds(5));
  if (!r.ok()) return {false, r.status()};
  if (r->kind == Step::kNotLeader) return Attempt<bool>::NotLeader();
  return {false, true};
}

Status Node::Impl::TransferLeader(uint64_t to, Deadline deadline) {
  if (to == 0) return Status::InvalidArgument("node id 0 is reserved");
  auto r = RouteToLeader<bool>(
      deadline, [&] { return TransferLeaderLocal(to); },
      [&](const std::string& leader, Deadline until) {
        v1::ForwardRequest req = NewForward();
        req.mutable_transfer_leader()->set_to_node_id(to);
        return ForwardAck(leader, req, until);
      },
      MembershipRoute());
  if (!r.ok()) return r.status();
  std::unique_lock lk(status_mu_);
  if (!status_cv_.wait_until(lk, deadline, [&] { return status_.leader_id == to; })) {
    return Status::Unavailable("node " + std::to_string(to) +
                               " did not take leadership before the deadline; is it caught up and reachable?");
  }
  return Status::Ok();
}

}  // namespace blixard::node
