// The VM workload of the simulator (SimConfig::vms): every node also runs
// the node agent over a fake hypervisor, heartbeats to the leader and
// applies the fence rule; the leader's member runs the daemon's own
// liveness (node/member_liveness.cc: heartbeats acked, DOWN/READY, the
// VMs of dead nodes moved), placement passes and drain pacing
// (node/member_controllers.cc). The fake hypervisors report
// every start and end to one ledger of what runs where, which fails the run
// the moment a VM starts on a node while it is alive on another.
//
// Faults for this workload: host crashes (the VMs die with the host), network
// loss and partitions, leadership transfer. Not modelled: a daemon that stops
// while its VMs run on (a paused process, a daemon crash with qemu VMs
// surviving it): a stopped daemon cannot fence (see control/liveness.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "sim/cluster.h"
#include "control/liveness.h"
#include "vmm/fake_hypervisor.h"

namespace blixard::sim::detail {

constexpr int64_t kVmTtlMs = 3000;
inline const int64_t kVmFenceMarginMs = control::FenceConfigForTtl(kVmTtlMs).margin_ms;  // the daemon's
constexpr int64_t kVmStepMs = 50;  // fence poll; heartbeat, agent and controllers run on multiples

// A VM name's hash, as the trace shows it.
inline uint64_t VmNameHash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// One node's VM side. The host (hypervisor) outlives a daemon incarnation
// only in principle; here every crash is a host crash.
struct VmSide {
  std::unique_ptr<vmm::FakeHypervisor> host;
  std::unique_ptr<agent::AgentHost> agent_host;
  std::unique_ptr<agent::Agent> agent;
  std::unique_ptr<control::FenceRule> fence;
  uint64_t registered_term = 0;   // the leader's term of register_index
  uint64_t register_index = 0;    // last registration proposed; wait until applied
  uint64_t step = 0;
};

// What runs where: fed by the fake hypervisors' events.
class VmLedger {
 public:
  // Returns a non-empty message when `vm` starts on `host` while alive
  // elsewhere.
  std::string OnEvent(int64_t at, uint64_t host, const std::string& vm, const std::string& what);
  void HostDown(uint64_t host);
  size_t starts() const { return starts_; }
  size_t alive() const;

 private:
  std::map<std::string, std::set<uint64_t>> alive_;
  size_t starts_ = 0;
};

// What the servers do for the workers on their VM steps (Workers).
class VmServerHooks {
 public:
  virtual ~VmServerHooks() = default;
  // A server's VM step: serve its streams (with progress every other call).
  virtual void ServerStep(SimNode& s, bool progress) = 0;
  // A server's process ends (crash, shutdown): its streams break.
  virtual void ServerDown(SimNode& s) = 0;
};

// The VM workload of one run, over the world's nodes.
class VmWorkload {
 public:
  explicit VmWorkload(Cluster& w) : w_(w) {}
  void set_server_hooks(VmServerHooks* hooks) { servers_ = hooks; }

  // -- a node's process --
  void Start(SimNode& n);
  // The host goes down with the node: its VMs die.
  void HostDown(SimNode& n);

  // -- the agent's host on node `id` --
  std::optional<std::vector<v1::Vm>> PlacedHere(NodeId id);
  void Report(NodeId id, const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation);
  void StoppedForMove(NodeId id, const std::string& name, uint64_t move_index);
  // A command of node `id`'s agent, forwarded to the leader and proposed there.
  void Forward(NodeId id, std::string data);

  // -- checks --
  // "node over capacity": on `n`'s applied state, the VMs that hold capacity
  // on a node (state::HoldsCapacity) fit in what it reported.
  Status CapacityHolds(const SimNode& n) const;
  // "anti-affinity": on `n`'s applied state, no node holds two VMs (that
  // hold capacity there) of one anti-affinity group.
  Status AntiAffinityHolds(const SimNode& n) const;
  // "drains finish": once the cluster is quiet, every drain is done within
  // a bound, but for VMs that fit on no other node while the drain has no
  // deadline or it is still ahead.
  void DrainsFinish();
  VmLedger& ledger() { return ledger_; }

 private:
  void ScheduleStep(SimNode& n, Time delay);
  void Step(SimNode& n);
  void Heartbeat(SimNode& n);
  // A member without a node record gets one with a capacity of its own
  // (the daemon's join): proposed by the leader.
  void RegisterMembers(SimNode& l);
  std::string DrainWaitingOn(const state::ClusterState& st, int64_t wall) const;

  Cluster& w_;
  VmServerHooks* servers_ = nullptr;
  VmLedger ledger_;
};

}  // namespace blixard::sim::detail
