// ClusterState: snapshots (canonical encoding, restore), Digest, equality
// and CheckInvariants. See cluster_state.h.
#include <string>
#include <utility>

#include "state/cluster_state.h"
#include "state/cluster_state_internal.h"
#include "state/commands.h"
#include "state/network.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

// FNV-1a 64 with a final avalanche (splitmix64), enough to tell replicas apart.
uint64_t Hash64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

}  // namespace

using internal::IsSettableDesiredState;

v1::ClusterStateSnapshot ClusterState::ToSnapshot(bool with_applied_index) const {
  v1::ClusterStateSnapshot snap;
  snap.set_format_version(kSnapshotFormatVersion);
  snap.set_cluster_id(cluster_id_);
  snap.set_vm_subnet(vm_subnet_);
  snap.mutable_vms()->Reserve(static_cast<int>(vms_.size()));
  for (const auto& [name, vm] : vms_) *snap.add_vms() = vm;
  snap.mutable_nodes()->Reserve(static_cast<int>(nodes_.size()));
  for (const auto& [id, node] : nodes_) *snap.add_nodes() = node;
  if (with_applied_index) snap.set_applied_index(applied_index_);
  for (const auto& [k, v] : settings_) (*snap.mutable_settings())[k] = v;
  for (const auto& [id, t] : tokens_) *snap.add_tokens() = t;
  for (const auto& [serial, r] : revoked_) *snap.add_revoked_certificates() = r;
  requests_.EncodeTo(snap);
  return snap;
}

std::string ClusterState::EncodeSnapshot() const {
  return SerializeDeterministic(ToSnapshot(/*with_applied_index=*/true));
}

Status ClusterState::RestoreSnapshot(const std::string& data) {
  v1::ClusterStateSnapshot snap;
  if (!snap.ParseFromString(data)) {
    return Status::Corruption("cluster state snapshot of " + std::to_string(data.size()) +
                              " bytes does not parse");
  }
  if (snap.format_version() != kSnapshotFormatVersion) {
    return Status::Corruption("cluster state snapshot has format version " +
                              std::to_string(snap.format_version()) + ", this build reads " +
                              std::to_string(kSnapshotFormatVersion));
  }
  ClusterState next;
  next.cluster_id_ = snap.cluster_id();
  if (!snap.vm_subnet().empty()) {
    auto subnet = ParseSubnet(snap.vm_subnet());
    if (!subnet.ok()) {
      return Status::Corruption("cluster state snapshot: " + subnet.status().message());
    }
    next.vm_subnet_ = subnet->ToString() == kDefaultVmSubnet ? "" : subnet->ToString();
  }
  next.applied_index_ = snap.applied_index();
  for (const auto& [k, v] : snap.settings()) {
    if (Status s = ValidateClusterSetting(k, v); !s.ok() || v.empty()) {
      return Status::Corruption("cluster state snapshot has an invalid setting " + Quote(k));
    }
    next.settings_[k] = v;
  }
  for (v1::Token& t : *snap.mutable_tokens()) {
    if (Status s = ValidateToken(t); !s.ok()) return Status::Corruption("cluster state snapshot: " + s.message());
    if (!next.tokens_.empty() && !(next.tokens_.rbegin()->first < t.id())) {
      return Status::Corruption("cluster state snapshot token " + Quote(t.id()) + " is out of order or duplicated");
    }
    std::string id = t.id();
    next.tokens_.emplace_hint(next.tokens_.end(), std::move(id), std::move(t));
  }
  for (v1::RevokedCertificate& r : *snap.mutable_revoked_certificates()) {
    if (Status s = ValidateRevokedCertificate(r); !s.ok()) {
      return Status::Corruption("cluster state snapshot: " + s.message());
    }
    if (!next.revoked_.empty() && !(next.revoked_.rbegin()->first < r.serial())) {
      return Status::Corruption("cluster state snapshot revoked certificate " + Quote(r.serial()) +
                                " is out of order or duplicated");
    }
    std::string serial = r.serial();
    next.revoked_.emplace_hint(next.revoked_.end(), std::move(serial), std::move(r));
  }
  if (!next.requests_.RestoreFrom(snap)) {
    return Status::Corruption("cluster state snapshot holds " +
                              std::to_string(snap.applied_requests_size()) +
                              " remembered requests with a duplicate, or more than " +
                              std::to_string(RequestLog::kCapacity));
  }
  for (v1::Vm& vm : *snap.mutable_vms()) {
    if (!next.vms_.empty() && !(next.vms_.rbegin()->first < vm.spec().name())) {
      return Status::Corruption("cluster state snapshot vm " + Quote(vm.spec().name()) +
                                " is out of order or duplicated");
    }
    std::string name = vm.spec().name();
    next.IndexVm(vm.node_id(), name);
    next.IndexNetwork(vm);
    auto placed = next.vms_.emplace_hint(next.vms_.end(), std::move(name), std::move(vm));
    next.NotePending(placed->second);
    next.Account(placed->second, +1);
  }
  for (v1::Node& node : *snap.mutable_nodes()) {
    if (!next.nodes_.empty() && !(next.nodes_.rbegin()->first < node.id())) {
      return Status::Corruption("cluster state snapshot node " + std::to_string(node.id()) +
                                " is out of order or duplicated");
    }
    const uint64_t id = node.id();
    next.nodes_.emplace_hint(next.nodes_.end(), id, std::move(node));
  }
  if (Status s = next.CheckInvariants(); !s.ok()) {
    return Status::Corruption("cluster state snapshot is invalid: " + s.message());
  }
  next.all_changed_at_ = next.applied_index_;
  next.skip_fit_check_ = skip_fit_check_;
  *this = std::move(next);
  return Status::Ok();
}

uint64_t ClusterState::Digest() const {
  return Hash64(SerializeDeterministic(ToSnapshot(/*with_applied_index=*/false)));
}

Status ClusterState::CheckInvariants() const {
  auto broken = [](std::string what) { return Status::Internal("invariant broken: " + what); };
  if (!cluster_id_.empty()) {
    if (Status s = ValidateClusterId(cluster_id_); !s.ok()) return broken(s.message());
  }
  for (const auto& [serial, r] : revoked_) {
    if (r.serial() != serial) return broken("revoked certificate keyed " + Quote(serial) + " has serial " + Quote(r.serial()));
    if (Status s = ValidateRevokedCertificate(r); !s.ok()) return broken(s.message());
  }
  for (const auto& [id, t] : tokens_) {
    if (t.id() != id) return broken("token keyed " + Quote(id) + " has id " + Quote(t.id()));
    if (Status s = ValidateToken(t); !s.ok()) return broken(s.message());
  }
  for (const auto& [id, node] : nodes_) {
    if (node.id() != id) {
      return broken("node keyed " + std::to_string(id) + " has id " + std::to_string(node.id()));
    }
    if (Status s = ValidateNode(node); !s.ok()) return broken(s.message());
  }
  size_t pending_count = 0;
  for (const auto& [name, vm] : vms_) {
    const std::string what = "vm " + Quote(name);
    if (vm.spec().name() != name) {
      return broken(what + " has spec name " + Quote(vm.spec().name()));
    }
    if (Status s = ValidateVmSpec(vm.spec()); !s.ok()) return broken(s.message());
    if (vm.generation() < 1) return broken(what + " has generation 0");
    if (!IsSettableDesiredState(vm.desired_state())) {
      return broken(what + " has desired state " + std::to_string(vm.desired_state()));
    }
    if (!v1::VmPhase_IsValid(vm.status().phase()) ||
        vm.status().phase() == v1::VM_PHASE_UNSPECIFIED) {
      return broken(what + " has phase " + std::to_string(vm.status().phase()));
    }
    if (vm.created_index() > applied_index_) {
      return broken(what + " was created at index " + std::to_string(vm.created_index()) +
                    ", after the applied index " + std::to_string(applied_index_));
    }
    if (vm.node_id() != 0 && !nodes_.contains(vm.node_id())) {
      return broken(what + " is placed on unregistered node " + std::to_string(vm.node_id()));
    }
    if (vm.moving_off_node() != 0 && vm.moving_off_node() != vm.node_id()) {
      return broken(what + " is moving off node " + std::to_string(vm.moving_off_node()) +
                    " but placed on node " + std::to_string(vm.node_id()));
    }
    if (vm.stopped_for_move() && vm.moving_off_node() == 0) {
      return broken(what + " is stopped for a move but not moving");
    }
    auto indexed = by_node_.find(vm.node_id());
    if (indexed == by_node_.end() || !indexed->second.contains(name)) {
      return broken(what + " is missing from the index of node " + std::to_string(vm.node_id()));
    }
    const bool waits = vm.node_id() == 0 && vm.desired_state() == v1::DESIRED_STATE_RUNNING;
    if (waits != pending_.contains(name)) {
      return broken(what + (waits ? " waits for placement but is missing from" : " is wrongly in") +
                    " the pending index");
    }
    if (waits) ++pending_count;
  }
  if (pending_count != pending_.size()) {
    return broken("the pending index holds " + std::to_string(pending_.size()) + " VMs, not " +
                  std::to_string(pending_count));
  }
  if (Status s = CheckNetworkInvariants(); !s.ok()) return s;
  size_t indexed_count = 0;
  for (const auto& [node_id, names] : by_node_) {
    if (names.empty()) return broken("empty index entry for node " + std::to_string(node_id));
    indexed_count += names.size();
  }
  if (indexed_count != vms_.size()) {
    return broken("the node index holds " + std::to_string(indexed_count) + " VMs, not " +
                  std::to_string(vms_.size()));
  }
  return CheckUsage();
}

bool ClusterState::operator==(const ClusterState& other) const {
  if (applied_index_ != other.applied_index_ || cluster_id_ != other.cluster_id_ ||
      settings_ != other.settings_ || tokens_.size() != other.tokens_.size() ||
      revoked_.size() != other.revoked_.size() ||
      vms_.size() != other.vms_.size() || nodes_.size() != other.nodes_.size()) {
    return false;
  }
  return EncodeSnapshot() == other.EncodeSnapshot();
}

}  // namespace blixard::state
