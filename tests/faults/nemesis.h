// The nemesis of a fault run: a schedule of faults drawn from a seed, and
// the code that applies and heals them on a NetCluster.
//
// Faults: kill -9 of a node (restarted at heal), kill -9 of the leader,
// SIGSTOP of the leader (SIGCONT at heal), a partition that cuts a minority
// from the majority, the leader isolated from every other node, a bridge (A
// sees B and C, B and C do not see each other), a flapping link (cut and
// healed at random moments while the fault lasts), and a whole-cluster
// restart (every node killed, then all started again). Partitions cut only
// node-to-node links; clients reach every node throughout.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <random>
#include <string>
#include <vector>

#include "faults/cluster.h"
#include "faults/netns.h"

namespace blixard::faults {

enum class FaultKind : uint8_t {
  kKill,
  kKillLeader,
  kPauseLeader,
  kPartitionMinority,
  kIsolateLeader,
  kBridge,
  kFlap,
  kRestartAll,
  // Fault points (common/fault_point.h, storage/fault_points.h), only with
  // fault points on:
  kLossyNetwork,       // every node drops 30% of its Raft sends
  kDiskFailure,        // a node's fsyncs fail: it must stop, and recovers at restart
  kCrashAfterPersist,  // the leader dies between persisting a Ready and applying it
};
inline constexpr int kBasicFaultKinds = 8;
inline constexpr int kAllFaultKinds = 11;
const char* FaultName(FaultKind k);

struct Fault {
  FaultKind kind = FaultKind::kKill;
  // Nodes chosen when the schedule is drawn: kill: the victim; partition:
  // the minority; bridge: {A, then B side..., 0, C side...}; flap: the two
  // ends. Leader faults pick the leader when applied.
  std::vector<int> nodes;
  milliseconds hold{2000};  // how long the fault lasts
  uint64_t seed = 0;        // flap timing
};

// `count` faults for a cluster of `nodes`, every kind appearing before any
// repeats (so a short schedule covers them all). Pure: same arguments, same
// schedule.
std::vector<Fault> PlanSchedule(uint64_t seed, int nodes, int count, milliseconds min_hold,
                                milliseconds max_hold, bool fault_points);
std::string Describe(const Fault& f);

class Nemesis {
 public:
  Nemesis(NetCluster& cluster, NetnsLab& lab) : cluster_(cluster), lab_(lab) {}
  // Applies `f` (resolving the leader if needed); returns what was done.
  std::string Apply(const Fault& f);
  // Keeps a flapping link flapping until `until`; other faults just wait.
  void Hold(const Fault& f, std::chrono::steady_clock::time_point until);
  // Undoes everything: links healed, paused nodes continued, fault points
  // off, dead nodes restarted. A node already stopping after a storage
  // failure is waited for and restarted. Call again when a node died
  // later: it is restarted, and counted unexpected unless a fault caused it.
  std::string Heal();
  // Nodes that exited although no fault killed them (a crash, a storage
  // failure): "n2 exited with 1", in the order seen.
  const std::vector<std::string>& unexpected_exits() const { return unexpected_; }

 private:
  std::vector<std::string> unexpected_;
  // node -> exit code a fault point may cause, until the node is restarted
  std::map<int, int> expected_exit_;
  std::map<int, std::set<std::string>> armed_;  // node -> fault points enabled
  NetCluster& cluster_;
  NetnsLab& lab_;
};

}  // namespace blixard::faults
