// Writes routed to the leader by the member a client reached, with the
// daemon's routing decisions (node::Route, node/route.h) driven by events
// in virtual time: a member that leads proposes; one that knows the leader
// forwards over the simulated network and waits at most
// node::Route::kForwardAttemptTimeout for the answer; one that knows none,
// or whose attempt failed (the leader down: connection refused; no answer;
// the leader lost its role or its entry was overwritten), waits for another
// leader and tries again, until the write's deadline. The daemon's blocking
// driver is Node::Impl::RouteToLeader (node/node_impl.h).
#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "sim/world.h"
#include "state/commands.h"

namespace blixard::sim::detail {

namespace {

node::Route::Clock::time_point AtMs(Time t) { return node::Route::Clock::time_point(std::chrono::milliseconds(t)); }

Time ToMs(node::Route::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

void World::RouteWrite(SimNode& n, uint64_t client, uint64_t attempt, size_t op, std::string data, Time deadline) {
  node::Route::Options options;
  options.give_up_at_once = cfg_.bug == InjectedBug::kForwardGivesUp;
  const uint64_t rid = ++n.next_route;
  n.routes.emplace(std::piecewise_construct, std::forward_as_tuple(rid),
                   std::forward_as_tuple(client, attempt, op, std::move(data), n.id, deadline, std::move(options)));
  RouteStep(n, rid);
}

void World::RouteStep(SimNode& n, uint64_t rid) {
  auto it = n.routes.find(rid);
  if (it == n.routes.end()) return;
  SimRoute& r = it->second;
  node::LeaderView v;
  v.leader_id = n.raft().leader();
  v.term = n.raft().term();
  v.removed = n.removed;
  if (v.leader_id != kNoNode && v.leader_id != n.id && Find(v.leader_id) != nullptr) {
    v.leader_address = "node-" + std::to_string(v.leader_id);
  }
  const node::Route::Step step = r.route.Next(v, AtMs(events_.now()));
  const uint64_t seq = ++r.try_seq;
  switch (step.kind) {
    case node::Route::Step::kFail: {
      const Time deadline = ToMs(r.route.deadline());
      if (step.failure.code() == StatusCode::kUnavailable && events_.now() < deadline) {
        Fail("writes ride out failover",
             "node " + std::to_string(n.id) + " gave up on a write " + std::to_string(deadline - events_.now()) +
                 " ms before its deadline: " + step.failure.message());
        return;
      }
      Reply reply;
      reply.kind = r.route.attempts() > 0 ? Reply::kUnknown : Reply::kFailed;
      RouteDone(n, rid, reply);
      return;
    }
    case node::Route::Step::kWait: {
      r.waiting = true;
      r.wait_leader = step.leader_id;
      r.wait_term = step.term;
      ResumeRoute(n.id, rid, seq, std::max<Time>(0, ToMs(step.until) - events_.now()));
      return;
    }
    case node::Route::Step::kLocal:
      LeaderWrite(n, n.id, rid, seq, r.data, r.op);
      return;
    case node::Route::Step::kForward: {
      if (r.route.attempts() == 1) ++result_.writes_forwarded;
      const NodeId router = n.id;
      const NodeId leader = v.leader_id;
      Trace(Ev::kRoute, router, leader, OpId(r.op), seq);
      net_.Send(router, leader, [this, router, leader, rid, seq, data = r.data, op = r.op] {
        SimNode* l = Find(leader);
        if (l == nullptr || !l->up) {
          // A dead process's port refuses the connection.
          net_.Send(leader, router, [this, router, rid, seq] {
            Reply refused;
            refused.kind = Reply::kRetry;
            RouteTried(router, rid, seq, refused, "connection refused");
          });
          return;
        }
        const uint64_t inc = l->incarnation;
        OnNode(*l, [this, router, leader, inc, rid, seq, data, op] {
          SimNode* l = Find(leader);
          if (l == nullptr || !l->up || l->incarnation != inc || failed()) return;
          LeaderWrite(*l, router, rid, seq, data, op);
        });
      });
      events_.After(std::max<Time>(0, ToMs(step.until) - events_.now()), [this, router, rid, seq] {
        Reply timeout;
        timeout.kind = Reply::kRetry;
        RouteTried(router, rid, seq, timeout, "no answer within the attempt (deadline exceeded)");
      });
      return;
    }
  }
}

void World::RouteTried(NodeId router, uint64_t rid, uint64_t try_seq, const Reply& r, const std::string& why) {
  Later(router, 0, [this, rid, try_seq, r, why](SimNode& n) {
    auto it = n.routes.find(rid);
    if (it == n.routes.end() || it->second.try_seq != try_seq || it->second.waiting) return;
    switch (r.kind) {
      case Reply::kOk:
        RouteDone(n, rid, r);
        return;
      case Reply::kNotLeader:
        it->second.route.Tried(false, Status::Unavailable("not leader"));
        break;
      default:
        it->second.route.Tried(true, Status::Unavailable(why));
        break;
    }
    RouteStep(n, rid);
  });
}

void World::LeaderWrite(SimNode& l, NodeId router, uint64_t rid, uint64_t try_seq, const std::string& data,
                        size_t op) {
  const PendingWrite w{router, rid, try_seq, op};
  Reply refused;
  refused.kind = Reply::kNotLeader;
  if (l.raft().role() != Role::kLeader) {
    AnswerAttempt(l.id, w, refused);
    return;
  }
  const bool ack_on_propose = cfg_.bug == InjectedBug::kAckOnPropose;
  auto index = std::make_shared<Index>(0);
  const NodeId id = l.id;
  // The member's waiter: the entry applied (OK), or another leader's
  // entry overwrote it (routed again).
  node::Member::ApplyCallback done = [this, id, w, index](Result<state::ApplyResult> r) {
    Reply reply;
    reply.kind = r.ok() ? Reply::kOk : Reply::kRetry;
    reply.index = *index;
    AnswerAttempt(id, w, reply);
  };
  auto idx = l.member->Propose(data, ack_on_propose ? nullptr : std::move(done));
  if (!idx.ok()) {
    AnswerAttempt(l.id, w, refused);
    return;
  }
  *index = *idx;
  Trace(Ev::kPropose, l.id, OpId(op), *idx, l.raft().term());
  if (ack_on_propose) {
    Reply r;
    r.index = *idx;
    AnswerAttempt(l.id, w, r);
  }
  AfterInput(l);
}

void World::AnswerAttempt(NodeId from, const PendingWrite& w, const Reply& r) {
  // The router's own attempt is answered in a later event (not inside the
  // Ready handling that applied it); a forward's over the network.
  if (w.router == from) {
    RouteTried(w.router, w.route, w.try_seq, r, "the entry was overwritten by another leader's");
    return;
  }
  net_.Send(from, w.router, [this, w, r] {
    RouteTried(w.router, w.route, w.try_seq, r, "the leader lost its role before the write applied");
  });
}

void World::RouteDone(SimNode& n, uint64_t rid, Reply r) {
  auto it = n.routes.find(rid);
  if (it == n.routes.end()) return;
  SimRoute route = std::move(it->second);
  n.routes.erase(it);
  if (route.route.attempts() > 1) ++result_.writes_retried;
  if (route.client == 0) {
    probes_[n.id] = r.kind;
    return;
  }
  ReplyTo(n.id, route.client, route.attempt, route.op, r);
}

void World::WakeRoutes(SimNode& n) {
  const NodeId leader = n.raft().leader();
  const Term term = n.raft().term();
  if (leader == kNoNode) return;
  for (const auto& [rid, r] : n.routes) {
    if (r.waiting && (leader != r.wait_leader || term != r.wait_term)) ResumeRoute(n.id, rid, r.try_seq, 0);
  }
}

void World::ResumeRoute(NodeId id, uint64_t rid, uint64_t try_seq, Time delay) {
  Later(id, delay, [this, rid, try_seq](SimNode& n) {
    auto it = n.routes.find(rid);
    if (it == n.routes.end() || it->second.try_seq != try_seq || !it->second.waiting) return;
    it->second.waiting = false;
    RouteStep(n, rid);
  });
}

uint64_t World::OpId(size_t op) const { return op == kProbeOp ? 0 : history_.ops()[op].id; }

// Probes every member of the leader's configuration (a process that was
// removed and has not noticed yet may still route to the leader it knew).
void World::ProbeForwarding() {
  const Time deadline = events_.now() + kClientOpDeadlineMs;
  SimNode* l = Leader();
  if (l == nullptr) return;  // Converged() found one
  std::vector<NodeId> members = l->raft().conf().voters;
  members.insert(members.end(), l->raft().conf().learners.begin(), l->raft().conf().learners.end());
  probes_.clear();
  for (NodeId id : members) {
    SimNode* n = Find(id);
    if (n == nullptr || !Working(*n)) continue;
    v1::Command cmd = state::MakeDeleteVm("probe-" + std::to_string(id), kEpochMs + events_.now());
    cmd.mutable_request_id()->set_hi(0);
    cmd.mutable_request_id()->set_lo(id);
    RouteWrite(*n, 0, 0, kProbeOp, state::EncodeCommand(cmd), deadline);
    if (failed()) return;
  }
  const auto stop = [this, &members] { return failed() || probes_.size() == members.size(); };
  events_.RunUntil(deadline + 1000, stop);
  if (failed()) return;
  for (NodeId id : members) {
    auto it = probes_.find(id);
    if (it == probes_.end() || it->second != Reply::kOk) {
      Fail("forwarding", "after the cluster was quiet, a write sent to member " + std::to_string(id) + " was " +
                             (it == probes_.end() ? "not answered" : "not applied") + " within " +
                             std::to_string(kClientOpDeadlineMs) + " ms");
      return;
    }
  }
}

}  // namespace blixard::sim::detail
