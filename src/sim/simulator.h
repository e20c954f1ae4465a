// The deterministic simulator: N complete Blixard nodes (Raft core +
// in-memory log store + ClusterState), clients and a nemesis in one process,
// driven by one event queue in virtual time and one seeded PRNG. A run is a
// pure function of its SimConfig: the same seed gives the same digest, bit
// for bit, and a failing seed replays exactly.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/status.h"
#include "sim/event_queue.h"

namespace blixard::sim {

// Fault kinds the nemesis may inject (bit set).
enum FaultKind : uint32_t {
  kFaultNet = 1u << 0,         // message drop, duplication, long delays (delay/reorder is always on)
  kFaultPartition = 1u << 1,   // symmetric, one-way, leader isolated, bridge, flapping link
  kFaultCrash = 1u << 2,       // crash and restart from storage
  kFaultPause = 1u << 3,       // process paused: no ticks, deliveries held until resume
  kFaultDisk = 1u << 4,        // a failing Save(): the node stops and restarts
  kFaultMembership = 1u << 5,  // add learner, promote, demote, remove
  kFaultTransfer = 1u << 6,    // leadership transfer
  kFaultAll = (1u << 7) - 1,
};
// "all", "none", or a comma list of net,partition,crash,pause,disk,membership,transfer.
Result<uint32_t> ParseFaults(const std::string& spec);
std::string FaultsToString(uint32_t faults);

// A deliberately broken node, to prove the checks bite (tests only).
enum class InjectedBug : uint8_t {
  kNone,
  kAckOnPropose,  // acknowledge a write as soon as it is appended, before commit
  kLocalRead,     // serve reads from local state without ReadIndex
  kLyingDisk,     // a crash loses every log entry after the snapshot, though Save() said it was durable
  kNoFence,       // SimConfig::vms: a node cut off from the leader keeps its VMs running
  // SimConfig::vms: the leader's scheduler sees twice the vCPUs each node has,
  // and the state machine applies placement batches without its capacity check.
  kNoCapacityRefusal,
  kNoDrainMoves,  // SimConfig::vms: the leader never starts moving a VM off a draining node
  // SimConfig::vms: the leader's scheduler ignores anti-affinity groups, and
  // the state machine applies placement batches without its check.
  kNoAntiAffinity,
  kWorkerNoFence,  // SimConfig::workers: a worker cut off from the leader keeps its VMs running
  kNoVoterPromotion,  // SimConfig::max_voters: the voter controller demotes but never promotes
  kForwardGivesUp,    // a member routing a write gives up at the first failed attempt
};

// The --inject-bug name of `bug`, and back.
const char* BugName(InjectedBug bug);
Result<InjectedBug> ParseBug(const std::string& name);

struct SimConfig {
  uint64_t seed = 1;
  int nodes = 3;
  Time duration_ms = 30'000;  // faults and new client operations stop after this
  Time settle_ms = 30'000;    // then: heal everything, wait for convergence at most this long
  uint32_t faults = kFaultAll;
  int clients = 4;
  bool verbose = false;           // print every event to `out`
  std::ostream* out = nullptr;    // for verbose
  InjectedBug bug = InjectedBug::kNone;
  // The VM workload (vms.h): agents, fake hypervisors, liveness, fencing and
  // rescheduling, checked for "no VM running on two nodes at any instant".
  // Faults are limited to crash, partition, net and transfer.
  bool vms = false;
  // Worker nodes (src/sim/workers.h): hosts that run VMs without being Raft
  // members, with ids after the members'. Implies `vms`. With workers, the
  // clients are 4 + workers/10 (unless more are asked for) and the nemesis
  // also crashes workers and cuts them off from the servers.
  int workers = 0;
  // 0: every node is a voter, and the nemesis (kFaultMembership) adds,
  // promotes, demotes and removes members at random. N > 0: the first N
  // nodes bootstrap as voters and the rest as learners, and the leader runs
  // the daemon's voter controller (control/voters.h) on every tick, which
  // must keep N voters once the cluster is quiet (membership faults off).
  int max_voters = 0;
};

struct SimResult {
  bool ok = true;
  std::string check;    // the property that failed
  std::string failure;  // its message, then the last events
  uint64_t digest = 0;
  uint64_t committed = 0;  // final commit index
  uint64_t elections = 0;  // terms that had a leader
  // Virtual ms from a leader's crash to a new leader committing in its term.
  std::vector<Time> election_ms;
  // The same, for crashes that left every other node up, no partition and no
  // message loss, and no other fault until the new leader committed (the
  // failover a healthy cluster sees).
  std::vector<Time> election_clean_ms;
  Time virtual_ms = 0;
  uint64_t events = 0;
  uint64_t writes_ok = 0, writes_failed = 0, writes_unknown = 0, reads_ok = 0;
  // Writes routed by a member that did not lead (forwarded), and writes
  // whose route tried more than once (the leader died, lost its role, or
  // its entry was overwritten).
  uint64_t writes_forwarded = 0, writes_retried = 0;
  uint64_t crashes = 0, snapshots_sent = 0, conf_changes = 0;
  uint64_t vm_starts = 0;  // VM starts on the fake hypervisors (SimConfig::vms)
  uint64_t worker_vm_starts = 0;  // of which on workers
  // Workers' heartbeats passed on to the leader by followers, and those
  // refused because too many were being passed on (control::DecideHeartbeat).
  uint64_t heartbeats_passed_on = 0, heartbeats_refused_busy = 0;
  std::string DigestHex() const;
};

SimResult RunSimulation(const SimConfig& config);

}  // namespace blixard::sim
