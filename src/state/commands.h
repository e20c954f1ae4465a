// Builders for the commands ClusterState applies, and their wire encoding
// (the data of normal Raft entries). `now_ms` is the proposer's wall clock;
// apply never reads a clock of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "blixard/v1/state.pb.h"
#include "common/status.h"

namespace blixard::state {

// start=false creates the VM stopped.
v1::Command MakeCreateVm(const v1::VmSpec& spec, bool start, int64_t now_ms);
v1::Command MakeDeleteVm(std::string_view name, int64_t now_ms);
v1::Command MakeSetVmDesiredState(std::string_view name, v1::DesiredState state, int64_t now_ms);
v1::Command MakeStartVm(std::string_view name, int64_t now_ms);  // desired RUNNING
v1::Command MakeStopVm(std::string_view name, int64_t now_ms);   // desired STOPPED
// Desired RUNNING and a new generation even if it was RUNNING already: the
// node agent restarts a running VM.
v1::Command MakeRestartVm(std::string_view name, int64_t now_ms);
// Sets label `key` of VM `name` to `value` (generation unchanged).
v1::Command MakeUpdateVmLabels(std::string_view name, std::string_view key, std::string_view value,
                               int64_t now_ms);
// `seq`: the reporting agent's sequence number (ReportVmStatus.seq; 0 =
// unordered, e.g. the leader failing the VMs of a dead node);
// `observed_generation`: the VM's generation on the state the agent acted on
// (VmStatus.observed_generation; 0 = not said).
v1::Command MakeReportVmStatus(std::string_view name, uint64_t node_id, v1::VmPhase phase,
                               std::string_view message, int64_t now_ms, uint64_t seq = 0,
                               uint64_t observed_generation = 0);
v1::Command MakeRegisterNode(const v1::Node& node, int64_t now_ms);
v1::Command MakeRemoveNode(uint64_t id, int64_t now_ms);
v1::Command MakeInitCluster(std::string_view cluster_id, int64_t now_ms);
v1::Command MakeSetVmSubnet(std::string_view cidr, int64_t now_ms);

// The node's own report of its capacity and labels (UpdateNode): the
// capacity/host_capacity/reserved/cpu_overcommit_percent/labels of `node`.
v1::Command MakeUpdateNode(const v1::Node& node, int64_t now_ms);
// deadline_unix_ms: 0 = none.
v1::Command MakeSetNodeDrain(uint64_t id, bool draining, int64_t deadline_unix_ms, int64_t now_ms);
v1::Command MakeSetClusterSetting(std::string_view key, std::string_view value, int64_t now_ms);
v1::Command MakeCreateToken(v1::Token token, int64_t now_ms);
v1::Command MakeRevokeToken(std::string_view id, int64_t now_ms);
v1::Command MakeRevokeCertificate(v1::RevokedCertificate certificate, int64_t now_ms);
v1::Command MakeUseToken(std::string_view id, std::string_view secret_sha256, v1::TokenKind kind, int64_t now_ms);

struct PendingReason {
  std::string name;
  uint64_t expected_generation = 0;
  std::string reason;
};
v1::Command MakeSetPendingReasons(const std::vector<PendingReason>& reasons, int64_t now_ms);

struct Placement {
  std::string name;
  uint64_t node_id = 0;              // 0 = unplace
  uint64_t expected_generation = 0;  // 0 = do not check
};
v1::Command MakePlaceVms(const std::vector<Placement>& placements, int64_t now_ms);

struct HealthChange {
  uint64_t node_id = 0;
  v1::NodeHealth health = v1::NODE_HEALTH_READY;  // READY or DOWN
  bool operator==(const HealthChange&) const = default;
};
v1::Command MakeSetNodesHealth(const std::vector<HealthChange>& changes, int64_t now_ms);

// Drain moves (Vm.moving_off_node): the first half of a move marks the VM;
// the node it leaves confirms it stopped (MakeVmStoppedForMove).
struct MoveOff {
  std::string name;
  uint64_t node_id = 0;              // the node it is placed on (draining)
  uint64_t expected_generation = 0;  // 0 = do not check
  bool operator==(const MoveOff&) const = default;
};
v1::Command MakeMoveVmsOff(const std::vector<MoveOff>& moves, int64_t now_ms);
v1::Command MakeVmStoppedForMove(std::string_view name, uint64_t node_id, uint64_t move_index,
                                 int64_t now_ms);

// Deterministic serialization: map entries sorted, so equal messages give
// equal bytes on every replica.
std::string SerializeDeterministic(const google::protobuf::MessageLite& msg);

// Entry data <-> command. Encoding is deterministic.
std::string EncodeCommand(const v1::Command& cmd);
// kInvalidArgument if the bytes do not parse as a Command.
Result<v1::Command> DecodeCommand(std::string_view data);

}  // namespace blixard::state
