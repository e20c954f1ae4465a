#include <cstdio>
#include <iterator>
#include <string>

#include "sim/world.h"

namespace blixard::sim::detail {

const char* PartitionName(uint64_t k) {
  static const char* const kNames[] = {"split", "isolate-leader", "one-way-out", "one-way-in", "bridge", "flap-on",
                                       "flap-off"};
  return k < std::size(kNames) ? kNames[k] : "?";
}

const char* ConfTypeName(uint64_t t) {
  static const char* const kNames[] = {"add-learner", "promote", "demote", "remove"};
  return t < std::size(kNames) ? kNames[t] : "?";
}

std::string FormatTrace(const TraceRec& r) {
  char buf[256];
  const auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  switch (r.ev) {
    case Ev::kTick: snprintf(buf, sizeof buf, "node %llu tick", u(r.a)); break;
    case Ev::kDeliver:
      snprintf(buf, sizeof buf, "%s %llu->%llu term=%llu index=%llu%s", raft::MessageTypeName(static_cast<raft::MessageType>(r.a)),
               u(r.b), u(r.c), u(r.d), u(r.e >> 1), (r.e & 1) ? " reject" : "");
      break;
    case Ev::kCrash: snprintf(buf, sizeof buf, "node %llu CRASH (was %s)", u(r.a), r.b ? "leader" : "not leader"); break;
    case Ev::kRestart: snprintf(buf, sizeof buf, "node %llu restart (snapshot %llu, %llu entries)", u(r.a), u(r.b), u(r.c)); break;
    case Ev::kShutdown: snprintf(buf, sizeof buf, "node %llu shut down (removed from the cluster)", u(r.a)); break;
    case Ev::kPause: snprintf(buf, sizeof buf, "node %llu PAUSE", u(r.a)); break;
    case Ev::kResume: snprintf(buf, sizeof buf, "node %llu resume (%llu held deliveries)", u(r.a), u(r.b)); break;
    case Ev::kDiskFault: snprintf(buf, sizeof buf, "node %llu disk will fail after %llu writes", u(r.a), u(r.b)); break;
    case Ev::kStorageError: snprintf(buf, sizeof buf, "node %llu storage write FAILED: stopping", u(r.a)); break;
    case Ev::kPartition:
      snprintf(buf, sizeof buf, "PARTITION %s node=%llu mask=%llx", PartitionName(r.a), u(r.b), u(r.c));
      break;
    case Ev::kHeal: snprintf(buf, sizeof buf, "heal all partitions"); break;
    case Ev::kNetConfig:
      snprintf(buf, sizeof buf, "network drop=%llu%% dup=%llu%% long-delay=%llu%% (per mille)", u(r.a), u(r.b), u(r.c));
      break;
    case Ev::kLeader: snprintf(buf, sizeof buf, "node %llu became LEADER term=%llu last=%llu", u(r.a), u(r.b), u(r.c)); break;
    case Ev::kPropose:
      snprintf(buf, sizeof buf, "node %llu proposed op #%llu at index %llu term %llu", u(r.a), u(r.b), u(r.c), u(r.d));
      break;
    case Ev::kClientReply:
      snprintf(buf, sizeof buf, "node %llu -> client %llu op #%llu: %s index=%llu", u(r.a), u(r.b), u(r.c),
               r.d == 0 ? "ok" : r.d == 1 ? "not-leader" : "failed", u(r.e));
      break;
    case Ev::kOpDone:
      snprintf(buf, sizeof buf, "client %llu op #%llu %s index=%llu", u(r.a), u(r.b),
               OutcomeName(static_cast<Outcome>(r.c)), u(r.d));
      break;
    case Ev::kSnapshotTaken: snprintf(buf, sizeof buf, "node %llu snapshot+compact at %llu", u(r.a), u(r.b)); break;
    case Ev::kSnapshotInstalled: snprintf(buf, sizeof buf, "node %llu installed snapshot at %llu", u(r.a), u(r.b)); break;
    case Ev::kConfPropose:
      snprintf(buf, sizeof buf, "leader %llu proposes %s node %llu: %s", u(r.a), ConfTypeName(r.b), u(r.c),
               r.d ? "accepted" : "refused");
      break;
    case Ev::kConfApplied: snprintf(buf, sizeof buf, "committed %s node %llu at index %llu", ConfTypeName(r.a), u(r.b), u(r.c)); break;
    case Ev::kTransfer: snprintf(buf, sizeof buf, "leader %llu transfers leadership to %llu: %s", u(r.a), u(r.b), r.c ? "ok" : "refused"); break;
    case Ev::kVm: {
      static const char* kWhat[] = {"vm start", "vm end", "FENCE (kills its VMs)", "unfenced"};
      snprintf(buf, sizeof buf, "node %llu %s %llx", u(r.a), r.b < 4 ? kWhat[r.b] : "?", u(r.c));
      break;
    }
    case Ev::kWorker: {
      static const char* kHow[] = {"both ways", "both ways", "worker cannot send", "worker cannot receive"};
      switch (r.b) {
        case 0: snprintf(buf, sizeof buf, "worker %llu CRASH (its VMs die)", u(r.a)); break;
        case 1: snprintf(buf, sizeof buf, "worker %llu starts", u(r.a)); break;
        case 2: snprintf(buf, sizeof buf, "worker %llu registered", u(r.a)); break;
        case 3: snprintf(buf, sizeof buf, "worker %llu watches server %llu from version %llu", u(r.a), u(r.c), u(r.d)); break;
        case 4: snprintf(buf, sizeof buf, "worker %llu: stream from server %llu broke", u(r.a), u(r.c)); break;
        case 5: snprintf(buf, sizeof buf, "worker %llu: full set from server %llu at version %llu", u(r.a), u(r.c), u(r.d)); break;
        case 6: snprintf(buf, sizeof buf, "worker %llu: stream from server %llu resumed with a diff to %llu", u(r.a), u(r.c), u(r.d)); break;
        case 7: snprintf(buf, sizeof buf, "worker %llu: refused an update from server %llu (version %llu): resubscribes", u(r.a), u(r.c), u(r.d)); break;
        case 8:
          snprintf(buf, sizeof buf, "PARTITION %llu workers cut off from %llu servers, %s", u(r.a), u(r.c), r.d < 4 ? kHow[r.d] : "?");
          break;
        case 9: snprintf(buf, sizeof buf, "heal the workers' cuts"); break;
        case 10: snprintf(buf, sizeof buf, "worker %llu daemon CRASH (its VMs run on)", u(r.a)); break;
        case 11: snprintf(buf, sizeof buf, "worker %llu fence guard killed %llu VMs", u(r.a), u(r.c)); break;
        default: snprintf(buf, sizeof buf, "worker %llu ?", u(r.a)); break;
      }
      break;
    }
    case Ev::kRoute:
      snprintf(buf, sizeof buf, "node %llu forwards op %llu to leader %llu (attempt %llu)", u(r.a), u(r.c), u(r.b),
               u(r.d));
      break;
    case Ev::kSettle: snprintf(buf, sizeof buf, "SETTLE: faults off, all nodes up, network healed"); break;
    case Ev::kCrashArmed:
      snprintf(buf, sizeof buf, "node %llu will crash in its next Ready, after %s", u(r.a),
               r.b == 1   ? "persisting"
               : r.b == 2 ? "sending"
               : r.b == 3 ? "applying"
                          : "a leader's early send");
      break;
  }
  char line[320];
  snprintf(line, sizeof line, "t=%7lldms %s", static_cast<long long>(r.t), buf);
  return line;
}

}  // namespace blixard::sim::detail
