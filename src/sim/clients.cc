#include <string>
#include <vector>

#include "sim/world.h"
#include "state/commands.h"

namespace blixard::sim::detail {

namespace {

// A client's write carries a request id (as the daemon's node gives every
// write), so a route that tries it again is answered, not applied twice.
std::string Stamped(Client& c, v1::Command cmd) {
  cmd.mutable_request_id()->set_hi(c.id);
  cmd.mutable_request_id()->set_lo(++c.requests);
  return state::EncodeCommand(cmd);
}

}  // namespace

// ---------------------------------------------------------------- clients

void World::ClientNext(Client& c) {
  if (failed() || settling_ || events_.now() >= cfg_.duration_ms) return;
  Op op;
  op.client = c.id;
  op.id = history_.ops().size();
  op.invoke = events_.now();
  const int64_t now = kEpochMs + events_.now();
  const uint64_t roll = prng_.Below(100);
  if (c.live.empty() || roll < 40) {
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kCreate;
    c.name = "vm-" + std::to_string(c.id) + "-" + std::to_string(c.seq++);
    v1::VmSpec spec;
    spec.set_name(c.name);
    spec.set_vcpus(static_cast<uint32_t>(prng_.Range(1, 4)));
    spec.set_memory_mib(static_cast<uint64_t>(128 << prng_.Below(4)));
    if (cfg_.vms) {
      // Placement rules and restart policies, now and then (the workers
      // carry zone labels a-c; the servers none).
      if (prng_.OneIn(4)) spec.set_anti_affinity_group("g" + std::to_string(prng_.Below(3)));
      if (prng_.OneIn(8)) spec.add_constraints(prng_.OneIn(2) ? "zone!=a" : "zone=b");
      if (prng_.OneIn(4)) spec.set_restart_policy(static_cast<v1::RestartPolicy>(prng_.Range(1, 3)));
    }
    c.data = Stamped(c, state::MakeCreateVm(spec, prng_.OneIn(2), now));
    op.what = "create " + c.name;
  } else if (roll < 60) {
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kSetDesired;
    c.name = prng_.Pick(c.live);
    const bool run = prng_.OneIn(2);
    c.data = Stamped(
        c, state::MakeSetVmDesiredState(c.name, run ? v1::DESIRED_STATE_RUNNING : v1::DESIRED_STATE_STOPPED, now));
    op.what = std::string(run ? "start " : "stop ") + c.name;
  } else if (cfg_.vms && roll < 63) {
    // Drain (now and then with a deadline a few seconds ahead) or undrain
    // a node; the leader's drain controller moves its VMs off.
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kDrain;
    const NodeId node = static_cast<NodeId>(prng_.Range(1, cfg_.nodes + cfg_.workers));  // workers too
    const bool drain = prng_.Below(5) < 3;
    const int64_t deadline = drain && prng_.OneIn(2) ? now + prng_.Range(500, 8000) : 0;
    c.data = Stamped(c, state::MakeSetNodeDrain(node, drain, deadline, now));
    op.what = (drain ? "drain node " : "undrain node ") + std::to_string(node) +
              (deadline != 0 ? " deadline +" + std::to_string(deadline - now) + "ms" : "");
  } else if (roll < 70) {
    op.kind = OpKind::kWrite;
    c.write_kind = WriteKind::kDelete;
    const size_t i = prng_.Below(c.live.size());
    c.name = c.live[i];
    c.live.erase(c.live.begin() + static_cast<ptrdiff_t>(i));
    c.data = Stamped(c, state::MakeDeleteVm(c.name, now));
    op.what = "delete " + c.name;
  } else {
    op.kind = OpKind::kRead;
    c.name = prng_.Pick(c.live);
    op.must_find = true;
    c.data.clear();
    op.what = "read " + c.name;
  }
  if (op.kind == OpKind::kWrite) op.hash = EntryHash(raft::Entry{0, 0, raft::EntryType::kNormal, c.data});
  c.op = history_.Invoke(std::move(op));
  c.busy = true;
  ClientSend(c);
}

void World::ClientSend(Client& c) {
  const uint64_t attempt = ++c.attempt;
  const uint64_t cid = c.id;
  SimNode* n = Find(c.target);
  if (n == nullptr || n->removed) {
    const std::vector<NodeId> m = Members();
    c.target = prng_.Pick(m);
  }
  const NodeId target = c.target;
  net_.Send(c.ep, target, [this, cid, attempt, target] {
    SimNode* n = Find(target);
    if (n == nullptr || !n->up || failed()) return;
    const uint64_t inc = n->incarnation;
    OnNode(*n, [this, cid, attempt, target, inc] {
      SimNode* n = Find(target);
      if (n == nullptr || !n->up || n->incarnation != inc || failed()) return;
      NodeRequest(*n, clients_[cid - 1], attempt);
    });
  }, /*reliable=*/true);
  // A write is the member's to route until its deadline; a read is tried
  // once per attempt.
  const Op& op = history_.at(c.op);
  const Time timeout = op.kind == OpKind::kWrite
                           ? op.invoke + kClientOpDeadlineMs + kClientAttemptTimeoutMs - events_.now()
                           : kClientAttemptTimeoutMs;
  events_.After(timeout, [this, cid, attempt] {
    Client& c = clients_[cid - 1];
    if (c.busy && c.attempt == attempt && !failed()) ClientDone(c, Outcome::kUnknown);
  });
}

void World::NodeRequest(SimNode& n, Client& c, uint64_t attempt) {
  if (attempt != c.attempt || !c.busy) return;  // the client gave up on this attempt
  const Op& op = history_.at(c.op);
  Reply r;
  if (op.kind == OpKind::kWrite) {
    RouteWrite(n, c.id, attempt, c.op, c.data, op.invoke + kClientOpDeadlineMs);
    return;
  }
  if (cfg_.bug == InjectedBug::kLocalRead) {
    r.index = n.applied();
    r.served = n.applied();
    r.found = n.state().FindVm(c.name) != nullptr;
    ReplyTo(n.id, c.id, attempt, c.op, r);
    return;
  }
  // The member's ReadIndex read, answered once it applied up to the read
  // index; refused (to be tried elsewhere) when no leader is known or the
  // leader changed meanwhile.
  const NodeId id = n.id;
  const uint64_t cid = c.id;
  const size_t op_index = c.op;
  auto refuse = [this, id, cid, attempt, op_index](NodeId leader) {
    Reply r;
    r.kind = Reply::kNotLeader;
    r.hint = leader == id ? kNoNode : leader;
    ReplyTo(id, cid, attempt, op_index, r);
  };
  Status s = n.member->ReadIndex([this, id, cid, attempt, op_index, name = c.name, refuse](Status s, Index index) {
    SimNode& n = *Find(id);
    if (!s.ok()) {
      refuse(n.raft().leader());
      return;
    }
    Reply r;
    r.kind = Reply::kOk;
    r.index = index;
    r.served = n.applied();
    r.found = !name.empty() && n.state().FindVm(name) != nullptr;
    ReplyTo(id, cid, attempt, op_index, r);
  });
  if (!s.ok()) {
    refuse(n.raft().leader());
    return;
  }
  AfterInput(n);
}

void World::ReplyTo(NodeId from, uint64_t client, uint64_t attempt, size_t op, const Reply& r) {
  Trace(Ev::kClientReply, from, client, history_.at(op).id, r.kind, r.index);
  net_.Send(from, kClientBase + client, [this, client, attempt, r] { OnReply(clients_[client - 1], attempt, r); },
            /*reliable=*/true);
}

void World::OnReply(Client& c, uint64_t attempt, const Reply& r) {
  if (!c.busy || c.attempt != attempt || failed()) return;
  Op& op = history_.at(c.op);
  switch (r.kind) {
    case Reply::kOk:
      op.index = r.index;
      op.served = r.served;
      op.found = r.found;
      if (op.kind == OpKind::kWrite && c.write_kind == WriteKind::kCreate) c.live.push_back(c.name);
      ClientDone(c, Outcome::kOk);
      return;
    case Reply::kFailed:
      ClientDone(c, Outcome::kFail);
      return;
    case Reply::kUnknown:
    case Reply::kRetry:
      ClientDone(c, Outcome::kUnknown);
      return;
    case Reply::kNotLeader:
      // Refused without proposing: safe to retry elsewhere until the deadline.
      if (events_.now() - op.invoke > kClientOpDeadlineMs) {
        ClientDone(c, Outcome::kFail);
        return;
      }
      if (r.hint != kNoNode && Find(r.hint) != nullptr && !prng_.OneIn(8)) {
        c.target = r.hint;
      } else {
        const std::vector<NodeId> m = Members();
        c.target = prng_.Pick(m);
      }
      ++c.attempt;  // the old attempt's timeout no longer applies
      {
        const uint64_t cid = c.id;
        const uint64_t a = c.attempt;
        events_.After(prng_.Range(10, 100), [this, cid, a] {
          Client& c = clients_[cid - 1];
          if (c.busy && c.attempt == a && !failed()) ClientSend(c);
        });
      }
      return;
  }
}

void World::ClientDone(Client& c, Outcome outcome) {
  Op& op = history_.at(c.op);
  op.outcome = outcome;
  op.complete = events_.now();
  Trace(Ev::kOpDone, c.id, op.id, static_cast<uint64_t>(outcome), op.index);
  if (!Check(history_checker_.OnComplete(op, safety_.committed()), "linearizability")) return;
  if (op.kind == OpKind::kWrite) {
    if (outcome == Outcome::kOk) ++result_.writes_ok;
    if (outcome == Outcome::kFail) ++result_.writes_failed;
    if (outcome == Outcome::kUnknown) ++result_.writes_unknown;
  } else if (outcome == Outcome::kOk) {
    ++result_.reads_ok;
  }
  c.busy = false;
  ++c.attempt;
  if (outcome == Outcome::kUnknown) {
    // The member it asked may be down: the next operation goes elsewhere.
    const std::vector<NodeId> m = Members();
    c.target = prng_.Pick(m);
  }
  const uint64_t cid = c.id;
  events_.After(prng_.Range(1, 60), [this, cid] { ClientNext(clients_[cid - 1]); });
}

}  // namespace blixard::sim::detail
