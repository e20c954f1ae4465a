// Scheduler + commit path figures, in process: a burst of N pending VMs over
// 1,000 nodes is placed by the leader's placement controller (the pure
// scheduler), each pass's placements encoded as PlaceVms commands, decoded
// and applied to the state machine, as the daemon's loop does (Raft
// replication and fsync are left out: they are measured by cluster_bench).
// Also: state machine heap per VM, snapshot size and encode/restore time.
//
// Prints: sched_bench: vms=N nodes=1000 schedule_s=… apply_s=… placements_per_s=… passes=…
//         sched_bench: memory vms=N heap_bytes_per_vm=… snapshot_bytes=… snapshot_encode_ms=… snapshot_restore_ms=…
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "control/placement.h"
#include "state/cluster_state.h"
#include "state/commands.h"

namespace {

using namespace blixard;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Heap in use: small chunks plus the big ones malloc maps on their own.
size_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

void Must(const state::ApplyResult& r) {
  if (!r.status.ok()) {
    fprintf(stderr, "apply failed: %s\n", r.status.ToString().c_str());
    exit(1);
  }
}

void Run(size_t vms, size_t nodes) {
  auto st = std::make_unique<state::ClusterState>();
  uint64_t index = 0;
  for (size_t i = 1; i <= nodes; ++i) {
    v1::Node n;
    n.set_id(i);
    n.set_address("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":7001");
    n.set_role(v1::NODE_ROLE_WORKER);
    n.set_health(v1::NODE_HEALTH_READY);
    n.mutable_capacity()->set_vcpus(128);
    n.mutable_capacity()->set_memory_mib(262144);
    (*n.mutable_labels())["zone"] = "z" + std::to_string(i % 3);
    Must(st->Apply(state::MakeRegisterNode(n, 1), ++index));
  }
  // The creates arrive as a follower gets them: encoded log entries, each
  // decoded and applied (the last tenth is timed, at a state of ~N VMs).
  std::vector<std::string> creates;
  creates.reserve(vms);
  for (size_t i = 0; i < vms; ++i) {
    v1::VmSpec spec;
    char name[32];
    snprintf(name, sizeof(name), "vm-%07zu", i);
    spec.set_name(name);
    spec.set_vcpus(1);
    spec.set_memory_mib(128);
    creates.push_back(state::EncodeCommand(state::MakeCreateVm(spec, true, 1)));
  }
  const size_t heap_before = HeapInUse();
  const size_t timed_from = vms - vms / 10;
  Clock::time_point create_t0;
  for (size_t i = 0; i < vms; ++i) {
    if (i == timed_from) create_t0 = Clock::now();
    auto cmd = state::DecodeCommand(creates[i]);
    Must(st->Apply(*cmd, ++index));
  }
  const double create_us =
      Seconds(Clock::now() - create_t0) * 1e6 / static_cast<double>(vms - timed_from);

  control::PlacementController ctl;
  Clock::duration schedule{}, apply{};
  size_t placed = 0, passes = 0;
  while (placed < vms) {
    auto t0 = Clock::now();
    control::PlacementStep step = ctl.Step(*st, 2);
    auto t1 = Clock::now();
    if (step.placements.empty()) {
      fprintf(stderr, "stuck: %zu of %zu placed\n", placed, vms);
      exit(1);
    }
    const std::string data = state::EncodeCommand(state::MakePlaceVms(step.placements, 2));
    auto cmd = state::DecodeCommand(data);
    Must(st->Apply(*cmd, ++index));
    auto t2 = Clock::now();
    schedule += t1 - t0;
    apply += t2 - t1;
    placed += step.placements.size();
    ++passes;
  }
  const double total = Seconds(schedule + apply);
  printf(
      "sched_bench: vms=%zu nodes=%zu schedule_s=%.3f encode_apply_s=%.3f placements_per_s=%.0f "
      "passes=%zu create_decode_apply_us=%.2f\n",
      vms, nodes, Seconds(schedule), Seconds(apply), placed / total, passes, create_us);

  const size_t heap_after = HeapInUse();
  auto t0 = Clock::now();
  const std::string snap = st->EncodeSnapshot();
  auto t1 = Clock::now();
  state::ClusterState restored;
  if (Status s = restored.RestoreSnapshot(snap); !s.ok()) {
    fprintf(stderr, "restore failed: %s\n", s.ToString().c_str());
    exit(1);
  }
  auto t2 = Clock::now();
  printf("sched_bench: memory vms=%zu heap_bytes_per_vm=%.0f snapshot_bytes=%zu snapshot_bytes_per_vm=%.0f "
         "snapshot_encode_ms=%.1f snapshot_restore_ms=%.1f\n",
         vms, static_cast<double>(heap_after - heap_before) / vms, snap.size(),
         static_cast<double>(snap.size()) / vms, Seconds(t1 - t0) * 1000, Seconds(t2 - t1) * 1000);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t nodes = 1000;
  if (argc > 1) {
    Run(std::strtoul(argv[1], nullptr, 10), nodes);
    return 0;
  }
  Run(10000, nodes);
  Run(100000, nodes);
  return 0;
}
