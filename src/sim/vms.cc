#include "sim/vms.h"

#include <cstdio>
#include <string>
#include <vector>

#include "control/drain.h"
#include "scheduler/scheduler.h"
#include "state/commands.h"

namespace blixard::sim::detail {

SimNode::~SimNode() = default;

// ---------------------------------------------------------------- ledger

std::string VmLedger::OnEvent(int64_t at, uint64_t host, const std::string& vm, const std::string& what) {
  std::set<uint64_t>& hosts = alive_[vm];
  if (what == "start") {
    ++starts_;
    std::string clash;
    for (uint64_t h : hosts) {
      if (h != host) clash += " " + std::to_string(h);
    }
    hosts.insert(host);
    if (!clash.empty()) {
      return "vm " + vm + " started on node " + std::to_string(host) + " at " + std::to_string(at) +
             "ms while alive on node" + clash;
    }
  } else if (what == "stop" || what == "kill" || what == "crash") {
    hosts.erase(host);
  }
  if (hosts.empty()) alive_.erase(vm);
  return "";
}

void VmLedger::HostDown(uint64_t host) {
  for (auto it = alive_.begin(); it != alive_.end();) {
    it->second.erase(host);
    it = it->second.empty() ? alive_.erase(it) : std::next(it);
  }
}

size_t VmLedger::alive() const { return alive_.size(); }

// ---------------------------------------------------------------- the agent's view of a sim node

namespace {

class SimAgentHost : public agent::AgentHost {
 public:
  SimAgentHost(VmWorkload* w, NodeId id) : w_(w), id_(id) {}
  std::optional<std::vector<v1::Vm>> PlacedHere() override { return w_->PlacedHere(id_); }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation) override {
    w_->Report(id_, name, phase, message, seq, observed_generation);
    return true;
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    w_->StoppedForMove(id_, name, move_index);
    return true;
  }

 private:
  VmWorkload* w_;
  NodeId id_;
};

}  // namespace

// ---------------------------------------------------------------- node lifecycle

void VmWorkload::Start(SimNode& n) {
  if (!n.vms) n.vms = std::make_unique<VmSide>();
  VmSide& v = *n.vms;
  const int64_t now = w_.events().now();
  if (!v.host) {
    vmm::FakeHypervisorOptions o;
    o.host = "node-" + std::to_string(n.id);
    o.now_ms = [this] { return w_.events().now(); };
    const NodeId id = n.id;
    o.on_event = [this, id](int64_t at, const std::string& vm, const std::string& what) {
      if (what == "start" || what == "stop" || what == "kill" || what == "crash") {
        w_.Trace(Ev::kVm, id, what == "start" ? 0 : 1, VmNameHash(vm));
      }
      std::string clash = ledger_.OnEvent(at, id, vm, what);
      if (!clash.empty()) w_.Fail("vm on two nodes", clash);
    };
    v.host = std::make_unique<vmm::FakeHypervisor>(std::move(o));
  }
  v.agent_host = std::make_unique<SimAgentHost>(this, n.id);
  agent::AgentOptions ao;
  ao.stop_grace = std::chrono::milliseconds(0);
  // Virtual time in microseconds: a restarted agent's reports rank after
  // its predecessor's, as with the daemon's wall clock, and runs replay.
  ao.first_report_seq = static_cast<uint64_t>(kEpochMs + w_.events().now()) * 1000;
  v.agent = std::make_unique<agent::Agent>(ao, *v.host, *v.agent_host);
  v.agent->Hold();
  v.fence = std::make_unique<control::FenceRule>(control::FenceConfig{kVmTtlMs, kVmFenceMarginMs}, now);
  v.registered_term = 0;
  v.register_index = 0;
  ScheduleStep(n, w_.prng().Range(1, kVmStepMs));
}

// The host goes down with the node: its VMs die.
void VmWorkload::HostDown(SimNode& n) {
  if (!n.vms) return;
  if (servers_ != nullptr) servers_->ServerDown(n);
  n.vms->agent.reset();
  n.vms->agent_host.reset();
  n.vms->host.reset();
  ledger_.HostDown(n.id);
}

void VmWorkload::ScheduleStep(SimNode& n, Time delay) {
  const uint64_t inc = n.incarnation;
  const NodeId id = n.id;
  w_.events().After(delay, [this, id, inc] {
    SimNode* n = w_.Find(id);
    if (n == nullptr || !n->up || n->incarnation != inc || w_.failed()) return;
    ScheduleStep(*n, kVmStepMs);
    if (n->paused) return;
    Step(*n);
  });
}

void VmWorkload::Step(SimNode& n) {
  VmSide& v = *n.vms;
  const int64_t now = w_.events().now();
  ++v.step;
  // The fence rule, every step.
  switch (v.fence->Step(now, n.applied())) {
    case control::FenceRule::Action::kFence:
      w_.Trace(Ev::kVm, n.id, 2);
      if (w_.config().bug == InjectedBug::kNoFence) break;
      v.agent->Fence("fenced: no heartbeat ack");
      break;
    case control::FenceRule::Action::kOpen:
      w_.Trace(Ev::kVm, n.id, 3);
      v.agent->Open();
      break;
    case control::FenceRule::Action::kNone:
      break;
  }
  if (w_.failed()) return;
  if (v.step % 2 == 0 && n.raft().role() == Role::kLeader) RegisterMembers(n);
  if (w_.failed() || !n.up) return;
  if (servers_ != nullptr) servers_->ServerStep(n, v.step % 2 == 0);
  if (w_.failed() || !n.up) return;
  if (v.step % (control::HeartbeatPeriodMs(kVmTtlMs) / kVmStepMs) == 0) Heartbeat(n);
  if (v.step % 10 == 0) v.agent->Reconcile(agent::Clock::time_point(std::chrono::milliseconds(now)));
}

// ---------------------------------------------------------------- heartbeats

void VmWorkload::Heartbeat(SimNode& n) {
  const NodeId leader = n.raft().leader();
  if (leader == kNoNode) return;
  const NodeId from = n.id;
  const int64_t sent = w_.events().now();
  const uint64_t from_inc = n.incarnation;
  w_.net().Send(from, leader, [this, from, leader, sent, from_inc] {
    SimNode* l = w_.Find(leader);
    if (l == nullptr || !l->up || w_.failed()) return;
    const uint64_t inc = l->incarnation;
    w_.OnNode(*l, [this, from, leader, sent, from_inc, inc] {
      SimNode* l = w_.Find(leader);
      if (l == nullptr || !l->up || l->incarnation != inc || w_.failed() || !l->vms) return;
      // The daemon's leader side (node::Member::Heartbeat): acked once a
      // ReadIndex round confirmed the leadership.
      Status s = l->member->Heartbeat(from, [this, leader, from, from_inc, sent](
                                                  Result<node::Member::HeartbeatAck> ack) {
        if (!ack.ok()) return;
        const uint64_t last = ack->last_index;
        w_.net().Send(leader, from, [this, from, from_inc, sent, last] {
          SimNode* n = w_.Find(from);
          if (n == nullptr || !n->up || n->incarnation != from_inc || w_.failed() || !n->vms) return;
          w_.OnNode(*n, [this, from, from_inc, sent, last] {
            SimNode* n = w_.Find(from);
            if (n == nullptr || !n->up || n->incarnation != from_inc || w_.failed() || !n->vms) return;
            n->vms->fence->OnAck(sent, last, w_.events().now());
          });
        });
      });
      if (s.ok()) w_.AfterInput(*l);
    });
  });
}

// ---------------------------------------------------------------- the leader's controllers

void VmWorkload::RegisterMembers(SimNode& l) {
  VmSide& v = *l.vms;
  if (v.registered_term != l.raft().term()) {
    v.registered_term = l.raft().term();
    v.register_index = 0;
  }
  if (v.register_index > l.applied()) return;  // the last batch is in flight
  const int64_t wall = kEpochMs + w_.events().now();
  std::vector<std::string> cmds;
  // Every member has a node record (the daemon registers itself when it
  // first leads; here the leader registers the members it sees).
  for (const auto* ids : {&l.raft().conf().voters, &l.raft().conf().learners}) {
    for (NodeId id : *ids) {
      if (l.state().FindNode(id) != nullptr) continue;
      v1::Node node;
      node.set_id(id);
      node.set_address("10.0.0." + std::to_string(id) + ":7001");
      node.set_role(v1::NODE_ROLE_VOTER);
      node.set_health(v1::NODE_HEALTH_READY);
      // Nodes of differing sizes, together roomy enough for most of the
      // workload's VMs (1-4 vCPUs each): some wait for room, and the
      // placement check (World::PlacedWithinBound) sees them placed as soon
      // as room appears.
      node.mutable_capacity()->set_vcpus(static_cast<uint32_t>(24 + 8 * (id % 3)));
      node.mutable_capacity()->set_memory_mib(16384);
      cmds.push_back(state::EncodeCommand(state::MakeRegisterNode(node, wall)));
    }
  }
  for (std::string& c : cmds) {
    auto idx = l.raft().propose(std::move(c));
    if (idx.ok()) v.register_index = *idx;
  }
  if (!cmds.empty()) w_.AfterInput(l);
}

// ---------------------------------------------------------------- checks

Status VmWorkload::CapacityHolds(const SimNode& n) const {
  for (const auto& [id, node] : n.state().nodes()) {
    const scheduler::Resources cap = scheduler::Allocatable(node);
    if (cap.vcpus == 0 && cap.memory_mib == 0) continue;  // reported none: never chosen
    const scheduler::Resources used = scheduler::Used(n.state(), id);
    if (used.vcpus <= cap.vcpus && used.memory_mib <= cap.memory_mib) continue;
    std::string vms;
    for (const v1::Vm* vm : n.state().VmsOnNode(id)) {
      if (!scheduler::HoldsCapacity(*vm)) continue;
      vms += " " + vm->spec().name() + "(" + std::to_string(vm->spec().vcpus()) + "c/" +
             std::to_string(vm->spec().memory_mib()) + "M " + v1::VmPhase_Name(vm->status().phase()) + " " +
             v1::DesiredState_Name(vm->desired_state()) + " gen " + std::to_string(vm->generation()) + ")";
    }
    return Status::Internal("on node " + std::to_string(n.id) + "'s state at index " + std::to_string(n.applied()) +
                            ", node " + std::to_string(id) + " holds " + std::to_string(used.vcpus) + "/" +
                            std::to_string(cap.vcpus) + " vCPUs, " + std::to_string(used.memory_mib) + "/" +
                            std::to_string(cap.memory_mib) + " MiB:" + vms);
  }
  return Status::Ok();
}

Status VmWorkload::AntiAffinityHolds(const SimNode& n) const {
  for (const auto& [id, node] : n.state().nodes()) {
    std::map<std::string, std::string> seen;  // group -> VM
    for (const v1::Vm* vm : n.state().VmsOnNode(id)) {
      const std::string& g = vm->spec().anti_affinity_group();
      if (g.empty() || !scheduler::HoldsCapacity(*vm)) continue;
      auto [it, fresh] = seen.emplace(g, vm->spec().name());
      if (fresh) continue;
      return Status::Internal("on node " + std::to_string(n.id) + "'s state at index " + std::to_string(n.applied()) +
                              ", node " + std::to_string(id) + " holds " + it->second + " and " +
                              vm->spec().name() + ", both of anti-affinity group " + g);
    }
  }
  return Status::Ok();
}

// What a drain still waits on that it should not, once the cluster is
// quiet: "" if every drain is done or waits only for room (no deadline, or
// one still ahead, and no VM left there fits on another node).
std::string VmWorkload::DrainWaitingOn(const state::ClusterState& st, int64_t wall) const {
  for (const auto& [id, node] : st.nodes()) {
    if (!node.draining() || control::DrainDone(st, id)) continue;
    const bool overdue = node.drain_deadline_unix_ms() != 0 && wall >= node.drain_deadline_unix_ms();
    for (const v1::Vm* vm : st.VmsOnNode(id)) {
      if (!scheduler::HoldsCapacity(*vm)) continue;
      std::string why;
      if (overdue) {
        why = "its deadline passed " + std::to_string(wall - node.drain_deadline_unix_ms()) + " ms ago";
      } else if (vm->moving_off_node() == id) {
        why = "it is moving off";
      } else if (auto d = scheduler::Schedule(st, {vm}); !d.placements.empty()) {
        why = "it fits on node " + std::to_string(d.placements.front().node_id);
      } else {
        continue;
      }
      return "node " + std::to_string(id) + " still holds " + vm->spec().name() + " (" +
             v1::VmPhase_Name(vm->status().phase()) + "): " + why;
    }
  }
  return "";
}

void VmWorkload::DrainsFinish() {
  w_.WithinBound("drains finish", "a drain was not done",
              [this](SimNode& l) { return DrainWaitingOn(l.state(), kEpochMs + w_.events().now()); });
}

// ---------------------------------------------------------------- the agent's host

std::optional<std::vector<v1::Vm>> VmWorkload::PlacedHere(NodeId id) {
  SimNode* n = w_.Find(id);
  if (n == nullptr || !n->up || n->raft().leader() == kNoNode || n->applied() < n->raft().commit_index()) {
    return std::nullopt;
  }
  std::vector<v1::Vm> out;
  for (const v1::Vm* vm : n->state().VmsOnNode(id)) out.push_back(*vm);
  return out;
}

// Status reports go to the leader (forwarded as the daemon does) and are
// proposed there; lost ones are sent again by a later agent pass.
void VmWorkload::Report(NodeId id, const std::string& name, v1::VmPhase phase, const std::string& message,
                     uint64_t seq, uint64_t observed_generation) {
  Forward(id, state::EncodeCommand(state::MakeReportVmStatus(name, id, phase, message, kEpochMs + w_.events().now(),
                                                               seq, observed_generation)));
}

void VmWorkload::StoppedForMove(NodeId id, const std::string& name, uint64_t move_index) {
  Forward(id, state::EncodeCommand(
                    state::MakeVmStoppedForMove(name, id, move_index, kEpochMs + w_.events().now())));
}

void VmWorkload::Forward(NodeId id, std::string data) {
  SimNode* n = w_.Find(id);
  if (n == nullptr || !n->up) return;
  const NodeId leader = n->raft().leader();
  if (leader == kNoNode) return;
  w_.net().Send(id, leader, [this, leader, data] {
    SimNode* l = w_.Find(leader);
    if (l == nullptr || !l->up || w_.failed()) return;
    const uint64_t inc = l->incarnation;
    w_.OnNode(*l, [this, leader, inc, data] {
      SimNode* l = w_.Find(leader);
      if (l == nullptr || !l->up || l->incarnation != inc || w_.failed()) return;
      if (l->raft().role() != Role::kLeader) return;
      if (l->raft().propose(data).ok()) w_.AfterInput(*l);
    });
  });
}

}  // namespace blixard::sim::detail
