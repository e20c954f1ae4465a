// The replicated cluster state machine: VMs and nodes, changed only by
// Apply(command) on committed Raft entries.
//
// Determinism: Apply reads no clock, randomness or I/O; a time it needs comes
// from Command.now_unix_ms. The same commands at the same indices produce the
// same state (operator==) and the same Digest() on every replica.
// Atomicity: a command that fails changes nothing but applied_index().
// Thread safety: none; one owner (the node's loop thread) drives it. Readers
// on other threads need their own synchronisation or a copy.
// Cost: FindVm is one hash probe (VmTable). Apply is O(log n) in the number
// of VMs (plus O(p log n) for p published ports and O(a) for a bridge
// address among a allocated), except RemoveNode (O(k log n)
// for the k VMs placed on the node), PlaceVms and SetPendingReasons (O(k log n)
// for k entries); UsageOn is kept VM by VM, and RemoveNode and SetNodeDrain
// recount the node (O(k)). Snapshot, Digest, operator== and CheckInvariants
// are O(n).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "state/request_log.h"
#include "state/vm_table.h"

namespace blixard::state {

struct ApplyResult {
  Status status;
  // The VM record after the command, for commands that target one VM
  // (CreateVm, SetVmDesiredState, UpdateVmLabels, ReportVmStatus; DeleteVm: the deleted
  // record). Empty on failure and for other commands.
  std::optional<v1::Vm> vm;
};

// The status message of a VM that a drain moves off `node_id`:
// "moving off draining node N".
std::string MovingOffMessage(uint64_t node_id);

// A VM placed on a node takes its demand (vCPUs, memory) from the node while
// it wants to run or may still run: a VM being stopped keeps its room until
// its node reports it not running on the generation that stopped it
// (VmStatus.observed_generation), since an earlier report may precede a
// start made on an older state. The scheduler and ApplyPlaceVms both count
// this; a stopped VM that holds none is unplaced when started again.
bool HoldsCapacity(const v1::Vm& vm);

// What the VMs that hold capacity on one node (HoldsCapacity) take from it.
struct NodeUsage {
  uint64_t vcpus = 0;
  uint64_t memory_mib = 0;
  // Anti-affinity group -> how many of those VMs are in it.
  std::map<std::string, uint32_t, std::less<>> groups;
  bool operator==(const NodeUsage&) const = default;
};

class ClusterState {
 public:
  using VmMap = VmTable::Map;                    // by name
  using NodeMap = std::map<uint64_t, v1::Node>;  // by id

  static constexpr uint32_t kSnapshotFormatVersion = 1;

  ClusterState() = default;

  // Applies one committed command at log index `index`.
  // REQUIRES: index > applied_index(); otherwise kFailedPrecondition and no
  // change (an entry is never applied twice). Gaps are allowed: Raft entries
  // that carry no command (no-ops, membership changes) are not applied here.
  //
  // Errors: kInvalidArgument (no op, invalid spec/name/node/enum),
  // A command whose request_id is among the remembered requests
  // (RequestLog) changes nothing and succeeds, answered with the VM it names
  // as it is now: a retried write is applied once.
  //
  // kAlreadyExists (CreateVm of an existing name), kNotFound (unknown VM or
  // node), kFailedPrecondition (status report from a node the VM is not
  // placed on, generation mismatch, different cluster id).
  // On any error nothing changes except applied_index(), which always
  // advances to `index` so the caller can track progress.
  // want_vm=false: the result's `vm` stays empty (nobody waits for the
  // answer, e.g. on a follower), which saves copying the record.
  ApplyResult Apply(const v1::Command& cmd, uint64_t index, bool want_vm = true);

  // Log index of the last command passed to Apply (or restored); 0 if none.
  uint64_t applied_index() const { return applied_index_; }
  const std::string& cluster_id() const { return cluster_id_; }
  // The subnet bridge VMs get addresses from: set by SetVmSubnet, else
  // kDefaultVmSubnet (state/network.h).
  std::string vm_subnet() const;
  // Which VM publishes (protocol, host port), protocol as v1::PortProtocol
  // (TCP for UNSPECIFIED); null if none. Published ports are unique
  // cluster-wide: CreateVm refuses a port another VM publishes.
  const std::string* PublisherOf(int protocol, uint32_t host_port) const;
  // Cluster settings (SetClusterSetting), by key; unset keys are absent.
  const std::map<std::string, std::string, std::less<>>& settings() const { return settings_; }
  // The value of `key`, or `fallback` when unset.
  std::string Setting(std::string_view key, std::string_view fallback) const;

  // Tokens (state.proto's Token), by id.
  using TokenMap = std::map<std::string, v1::Token, std::less<>>;
  const TokenMap& tokens() const { return tokens_; }
  // Client certificates revoked before they expire, by serial.
  using RevokedMap = std::map<std::string, v1::RevokedCertificate, std::less<>>;
  const RevokedMap& revoked_certificates() const { return revoked_; }
  bool IsRevoked(std::string_view serial) const { return revoked_.find(serial) != revoked_.end(); }

  // Null if absent. The pointer is valid until the next Apply/Restore.
  const v1::Token* FindToken(std::string_view id) const;
  const v1::Vm* FindVm(std::string_view name) const;
  const v1::Node* FindNode(uint64_t id) const;
  // Copies, sorted by name / id.
  std::vector<v1::Vm> ListVms() const;
  std::vector<v1::Node> ListNodes() const;
  size_t vm_count() const { return vms_.size(); }
  size_t node_count() const { return nodes_.size(); }
  // Read-only views without copying, for the scheduler and controllers.
  // Valid until the next Apply/Restore.
  const VmMap& vms() const { return vms_.map(); }
  const NodeMap& nodes() const { return nodes_; }
  // The VMs placed on `node_id`, sorted by name; node_id 0 gives the VMs
  // waiting for placement. O(k log n) for k results, from an index kept by
  // Apply, so an agent or the scheduler need not scan every VM.
  std::vector<const v1::Vm*> VmsOnNode(uint64_t node_id) const;
  size_t VmCountOnNode(uint64_t node_id) const;
  // Calls fn on the VMs placed on `node_id` (0: unplaced) in name order,
  // those with after < name (no lower bound if `after` is empty) and
  // name <= upto (no upper bound if empty), until fn returns false.
  // Returns false iff fn did. O(log n + k) for k visited.
  bool ForEachVmOnNode(uint64_t node_id, std::string_view after, std::string_view upto,
                       const std::function<bool(const v1::Vm*)>& fn) const;
  // The same over the VMs waiting for placement: unplaced and desired
  // running (a stopped VM waits for nothing). From an index kept by Apply,
  // so a placement pass costs O(log n + k) however many stopped VMs the
  // state holds.
  bool ForEachPendingVm(std::string_view after, std::string_view upto,
                        const std::function<bool(const v1::Vm*)>& fn) const;
  size_t PendingVmCount() const { return pending_.size(); }
  // The sum over the VMs placed on `node_id` that hold capacity there. O(1):
  // kept by Apply and RestoreSnapshot (derived, like VmsOnNode's index), so
  // the scheduler and the placement check need not visit a node's VMs.
  const NodeUsage& UsageOn(uint64_t node_id) const;

  // The index of the last applied command that may have changed the VMs
  // placed on `node_id` (0: the unplaced ones): a VM placed there or taken
  // away, or any field of one there changed. A reader holding that set as
  // of an index >= this need not read it again. Conservative: never older
  // than the last real change, possibly newer (after a restore it is the
  // restored index for every node). Derived, like VmsOnNode's index: not in
  // snapshots, Digest or operator==. O(1).
  uint64_t AssignmentsChangedAt(uint64_t node_id) const;

  // Serialized ClusterStateSnapshot, canonical: VMs sorted by name, nodes by
  // id, deterministic protobuf serialization (map entries sorted). Equal
  // states encode to equal bytes.
  std::string EncodeSnapshot() const;
  // Replaces the whole state with a snapshot. kDataLoss if the bytes do not
  // parse, the format version is unknown, or the content breaks an invariant
  // (unsorted or duplicate entries, invalid specs, ...); then the state is
  // unchanged.
  Status RestoreSnapshot(const std::string& data);

  // 64-bit hash of the canonical snapshot content (cluster id, VMs, nodes,
  // settings, tokens, revoked certificates, remembered requests).
  // applied_index is left out, so replicas that hold the same content agree,
  // and a failed command leaves the digest unchanged.
  uint64_t Digest() const;

  // Checks: names valid and unique and equal to the map key, specs valid,
  // generation >= 1, desired state RUNNING or STOPPED, phase a valid enum,
  // each bridge VM with one address of the subnet that no other VM has (and
  // no other VM with one), no host port published twice,
  // created_index <= applied_index, every placement names a registered node,
  // node records valid and keyed by id, cluster id valid if set.
  // kInternal with the first violation found.
  Status CheckInvariants() const;

  // Tests only (proof that the simulator's capacity and anti-affinity checks
  // bite): placement batches are applied without CheckPlacementsFit. Kept across
  // RestoreSnapshot; not part of the content.
  void SkipPlacementFitCheckForTesting() { skip_fit_check_ = true; }

  // Compares content and applied_index.
  bool operator==(const ClusterState& other) const;
  bool operator!=(const ClusterState& other) const { return !(*this == other); }

 private:
  // Sets out.vm to `vm` unless the current Apply was told want_vm=false.
  void Answer(ApplyResult& out, const v1::Vm& vm) const {
    if (want_vm_) out.vm = vm;
  }
  v1::ClusterStateSnapshot ToSnapshot(bool with_applied_index) const;

  Status ApplyCreateVm(const v1::CreateVm& op, int64_t now, uint64_t index, ApplyResult& out);
  Status ApplyDeleteVm(const v1::DeleteVm& op, ApplyResult& out);
  Status ApplySetVmDesiredState(const v1::SetVmDesiredState& op, int64_t now, ApplyResult& out);
  Status ApplyUpdateVmLabels(const v1::UpdateVmLabels& op, ApplyResult& out);
  Status ApplyReportVmStatus(const v1::ReportVmStatus& op, int64_t now, ApplyResult& out);
  Status ApplyRegisterNode(const v1::RegisterNode& op, int64_t now);
  Status ApplyRemoveNode(const v1::RemoveNode& op, int64_t now);
  Status ApplyInitCluster(const v1::InitCluster& op);
  Status ApplyPlaceVms(const v1::PlaceVms& op, int64_t now);
  Status ApplySetVmSubnet(const v1::SetVmSubnet& op);
  // CreateVm's network part: refuses published ports another VM holds and
  // gives a bridge VM the lowest free address of the subnet. Changes
  // nothing on error.
  Status ReserveNetwork(v1::Vm& vm);
  void IndexNetwork(const v1::Vm& vm);
  void UnindexNetwork(const v1::Vm& vm);
  Status CheckNetworkInvariants() const;
  Status ApplyUpdateNode(const v1::UpdateNode& op);
  Status ApplySetNodeDrain(const v1::SetNodeDrain& op, int64_t now);
  Status ApplySetClusterSetting(const v1::SetClusterSetting& op);
  // Tokens (cluster_state_tokens.cc).
  Status ApplyCreateToken(const v1::CreateToken& op, const std::string& actor, int64_t now);
  Status ApplyRevokeToken(const v1::RevokeToken& op);
  Status ApplyUseToken(const v1::UseToken& op, int64_t now);
  Status ApplyRevokeCertificate(const v1::RevokeCertificate& op, const std::string& actor, int64_t now);
  Status ApplySetPendingReasons(const v1::SetPendingReasons& op, int64_t now);
  Status CheckPlacementsFit(const v1::PlaceVms& op, const std::vector<VmMap::iterator>& targets) const;
  Status ApplySetNodesHealth(const v1::SetNodesHealth& op, int64_t now);
  Status ApplyMoveVmsOff(const v1::MoveVmsOff& op, int64_t now, uint64_t index);
  Status ApplyVmStoppedForMove(const v1::VmStoppedForMove& op, int64_t now, ApplyResult& out);
  // Undrain: marks not yet confirmed are cancelled (the VM stays), VMs
  // already stopped for their move go back to the scheduler.
  void CancelMovesOff(uint64_t node_id, int64_t now);

  // Every VM (and only VMs) under its node_id, 0 = unplaced. Derived from
  // vms_; kept in step by Apply and RestoreSnapshot.
  using NameSet = std::set<std::string, std::less<>>;
  void IndexVm(uint64_t node_id, const std::string& name);
  void UnindexVm(uint64_t node_id, std::string_view name);
  void MoveVm(v1::Vm& vm, uint64_t node_id, int64_t now, std::string message);
  // Puts `vm` in pending_ or takes it out, after its node or desired state changed.
  void NotePending(const v1::Vm& vm);
  // ForEachVmOnNode over one name set of the indexes.
  bool ForEachNamed(const NameSet& names, std::string_view after, std::string_view upto,
                    const std::function<bool(const v1::Vm*)>& fn) const;
  // Appends the nodes whose VMs `cmd` may change, as the state is now
  // (called before and after applying it). False for a command that could
  // change any node's (then every node counts as changed). `named` and
  // `by_name` are what VmsNamedBy gave for `cmd`.
  bool NodesTouchedBy(const v1::Command& cmd, bool by_name, const std::vector<std::string_view>& named,
                      std::vector<uint64_t>& nodes) const;
  // Usage (cluster_state_usage.cc). Sets `names` to the VMs `cmd` may change
  // (sorted, unique) and returns true, or returns false for a command that
  // may change VMs it does not name (then whole nodes are recounted).
  bool VmsNamedBy(const v1::Command& cmd, std::vector<std::string_view>& names) const;
  // Adds (sign +1) or takes away (-1) what `vm` holds on its node.
  void Account(const v1::Vm& vm, int sign);
  // Command.actor into the VM a user's command changed (created_by, updated_by).
  void RecordActor(const v1::Command& cmd, ApplyResult& out);
  NodeUsage UsageByScan(uint64_t node_id) const;
  void RecountUsage(uint64_t node_id);
  Status CheckUsage() const;

  std::string cluster_id_;
  std::map<std::string, std::string, std::less<>> settings_;
  TokenMap tokens_;
  RevokedMap revoked_;
  VmTable vms_;
  NodeMap nodes_;
  std::map<uint64_t, NameSet> by_node_;
  NameSet pending_;        // derived like by_node_: ForEachPendingVm
  std::string vm_subnet_;  // empty = kDefaultVmSubnet
  // Derived from vms_ like by_node_: (protocol, host port) -> VM, and
  // allocated bridge address (host order) -> VM.
  std::map<std::pair<int, uint32_t>, std::string> published_;
  std::map<uint32_t, std::string> addresses_;
  // AssignmentsChangedAt: per node, and for every node.
  std::unordered_map<uint64_t, uint64_t> changed_at_;
  uint64_t all_changed_at_ = 0;
  std::unordered_map<uint64_t, NodeUsage> usage_;  // UsageOn; no entry = nothing used
  RequestLog requests_;  // successful client writes, by request id
  uint64_t applied_index_ = 0;
  bool skip_fit_check_ = false;
  bool want_vm_ = true;  // during Apply: its want_vm (see Answer)
};

}  // namespace blixard::state
