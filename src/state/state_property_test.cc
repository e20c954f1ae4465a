// Property tests: the state machine is deterministic, snapshots round-trip,
// invariants survive any command sequence, and failures are atomic.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "state/assignments.h"
#include "state/cluster_state.h"
#include "state/commands.h"
#include "state/testing/generators.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

using testing::GenCommand;
using testing::GenCommands;
using testing::GenInvalidVmSpec;
using testing::GenValidVmSpec;

// Applies `cmds` at indices 1, 2, ...
ClusterState Build(const std::vector<v1::Command>& cmds) {
  ClusterState state;
  uint64_t index = 0;
  for (const v1::Command& cmd : cmds) state.Apply(cmd, ++index);
  return state;
}

// The snapshot without applied_index: what a failed command must not change.
std::string Content(const ClusterState& state) {
  v1::ClusterStateSnapshot snap;
  snap.ParseFromString(state.EncodeSnapshot());
  snap.clear_applied_index();
  return SerializeDeterministic(snap);
}

std::string Show(const std::optional<v1::Vm>& vm) {
  return vm ? vm->ShortDebugString() : std::string("<none>");
}

RC_GTEST_PROP(StateProperties, GeneratedValidSpecsAreAccepted, ()) {
  const v1::VmSpec spec = *GenValidVmSpec();
  const Status s = ValidateVmSpec(spec);
  RC_ASSERT(s.ok());
}

RC_GTEST_PROP(StateProperties, GeneratedInvalidSpecsAreRejectedWithWhatIsAllowed, ()) {
  const v1::VmSpec spec = *GenInvalidVmSpec();
  const Status s = ValidateVmSpec(spec);
  RC_ASSERT(s.code() == StatusCode::kInvalidArgument);
  RC_ASSERT(s.message().find("use ") != std::string::npos);
}

RC_GTEST_PROP(StateProperties, RestoreOfSnapshotEqualsOriginal, ()) {
  const ClusterState state = Build(*GenCommands());
  const std::string snap = state.EncodeSnapshot();
  ClusterState restored;
  const Status s = restored.RestoreSnapshot(snap);
  RC_ASSERT(s.ok());
  RC_ASSERT(restored == state);
  RC_ASSERT(restored.Digest() == state.Digest());
  RC_ASSERT(restored.EncodeSnapshot() == snap);
  RC_ASSERT(restored.applied_index() == state.applied_index());
}

RC_GTEST_PROP(StateProperties, SameCommandsGiveSameStateAndDigest, ()) {
  const auto cmds = *GenCommands();
  ClusterState a;
  ClusterState b;
  uint64_t index = 0;
  for (const v1::Command& cmd : cmds) {
    ++index;
    // b gets the command through the wire encoding, as a follower would.
    const ApplyResult ra = a.Apply(cmd, index);
    const Result<v1::Command> decoded = DecodeCommand(EncodeCommand(cmd));
    RC_ASSERT(decoded.ok());
    const ApplyResult rb = b.Apply(*decoded, index);
    RC_ASSERT(ra.status == rb.status);
    RC_ASSERT(Show(ra.vm) == Show(rb.vm));
  }
  RC_ASSERT(a == b);
  RC_ASSERT(a.Digest() == b.Digest());
}

RC_GTEST_PROP(StateProperties, InvariantsHoldAfterEveryCommand, ()) {
  const auto cmds = *GenCommands();
  ClusterState state;
  uint64_t index = 0;
  for (const v1::Command& cmd : cmds) {
    const ApplyResult r = state.Apply(cmd, ++index);
    const Status inv = state.CheckInvariants();
    RC_ASSERT(inv.ok());
    RC_ASSERT(state.applied_index() == index);
    if (r.status.ok() && r.vm && !cmd.has_delete_vm()) {
      const v1::Vm* vm = state.FindVm(r.vm->spec().name());
      RC_ASSERT(vm != nullptr);
      RC_ASSERT(vm->ShortDebugString() == r.vm->ShortDebugString());
    }
  }
}

RC_GTEST_PROP(StateProperties, FailedCommandChangesNothing, ()) {
  ClusterState state = Build(*GenCommands());
  const v1::Command cmd = *GenCommand();
  const std::string before = Content(state);
  const uint64_t digest = state.Digest();
  const ApplyResult r = state.Apply(cmd, state.applied_index() + 1);
  RC_CLASSIFY(r.status.ok(), "applied");
  if (!r.status.ok()) {
    RC_ASSERT(!r.vm.has_value());
    RC_ASSERT(state.Digest() == digest);
    RC_ASSERT(Content(state) == before);
  }
}

// What a worker's stream relies on to skip reading an unchanged node's set:
// a set that changed at index i says i, and one that did not keeps what it
// said before (so an unchanged worker never rereads).
RC_GTEST_PROP(StateProperties, AssignmentsChangedAtNamesEveryChangeOfANodesSetAndOnlyThose, ()) {
  const auto cmds = *GenCommands();
  ClusterState state;
  uint64_t index = 0;
  auto sets = [&] {
    std::map<uint64_t, std::string> out;  // node (0 = unplaced) -> its set, encoded
    for (uint64_t n = 0; n <= 10; ++n) {
      std::string enc;
      for (const auto& [name, vm] : AssignmentsOf(state, n)) enc += vm.ShortDebugString() + "\n";
      out[n] = enc;
    }
    return out;
  };
  auto before = sets();
  for (const v1::Command& cmd : cmds) {
    std::map<uint64_t, uint64_t> was;
    for (uint64_t n = 0; n <= 10; ++n) was[n] = state.AssignmentsChangedAt(n);
    const bool ok = state.Apply(cmd, ++index).status.ok();
    auto after = sets();
    const bool node_records_only = cmd.has_register_node() || cmd.has_update_node() ||
                                   cmd.has_set_nodes_health() || cmd.has_set_cluster_setting();
    for (uint64_t n = 0; n <= 10; ++n) {
      if (after[n] != before[n]) {
        RC_ASSERT(state.AssignmentsChangedAt(n) == index);
      } else if (!ok || node_records_only) {
        RC_ASSERT(state.AssignmentsChangedAt(n) == was[n]);
      }
    }
    before = std::move(after);
  }
}

// Guards the generators: a mix that almost always fails tests nothing. Also
// checks Sample is reproducible, which the simulator relies on.
TEST(StateGenerators, SampledCommandsOftenSucceedAndReplay) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const std::vector<v1::Command> cmds = testing::SampleCommands(seed, 300);
    ASSERT_EQ(cmds.size(), 300u);
    std::map<v1::Command::OpCase, int> ok_by_op;
    ClusterState state;
    uint64_t index = 0;
    int ok = 0;
    for (const v1::Command& cmd : cmds) {
      const ApplyResult r = state.Apply(cmd, ++index);
      if (r.status.ok()) {
        ++ok;
        ++ok_by_op[cmd.op_case()];
      }
    }
    EXPECT_GE(ok, 75) << "seed " << seed;
    EXPECT_GT(ok_by_op[v1::Command::kCreateVm], 0) << "seed " << seed;
    EXPECT_GT(ok_by_op[v1::Command::kPlaceVms], 0) << "seed " << seed;
    EXPECT_GT(ok_by_op[v1::Command::kDeleteVm], 0) << "seed " << seed;
    EXPECT_TRUE(state.CheckInvariants().ok());
    const std::vector<v1::Command> again = testing::SampleCommands(seed, 300);
    EXPECT_EQ(Build(again), state) << "seed " << seed;
  }
}

TEST(StateGenerators, StatusReportsSucceedSometimes) {
  int reports = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    ClusterState state;
    uint64_t index = 0;
    for (const v1::Command& cmd : testing::SampleCommands(seed, 300)) {
      const ApplyResult r = state.Apply(cmd, ++index);
      reports += (r.status.ok() && cmd.has_report_vm_status()) ? 1 : 0;
    }
  }
  EXPECT_GT(reports, 0);
}

}  // namespace
}  // namespace blixard::state
