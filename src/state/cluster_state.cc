#include "state/cluster_state.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <set>
#include <utility>

#include "state/network.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

std::string VmNotFound(std::string_view name) { return "vm " + Quote(name) + " not found"; }

std::string NodeNotFound(uint64_t id) { return "node " + std::to_string(id) + " not found"; }

// Canonical bytes: deterministic serialization sorts map entries, so equal
// messages give equal bytes on every replica.
std::string SerializeDeterministic(const google::protobuf::MessageLite& msg) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    msg.SerializeToCodedStream(&coded);
  }
  return out;
}

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

// Phases in which the VM's process exists on its node.
bool IsUp(v1::VmPhase p) {
  return p == v1::VM_PHASE_STARTING || p == v1::VM_PHASE_RUNNING || p == v1::VM_PHASE_READY ||
         p == v1::VM_PHASE_PAUSED;
}

}  // namespace

bool HoldsCapacity(const v1::Vm& vm) {
  if (vm.desired_state() == v1::DESIRED_STATE_RUNNING || IsUp(vm.status().phase()) ||
      vm.status().phase() == v1::VM_PHASE_STOPPING) {
    return true;
  }
  // Not up as far as the last report says; but a report made before the
  // stop (or no report since the placement) does not say that nothing runs:
  // the node's agent, on a state where the VM was to run, may be starting
  // it now. Only a report on the current generation (whose desired state is
  // STOPPED) does: that agent starts nothing more.
  return vm.node_id() != 0 && vm.status().observed_generation() != vm.generation();
}

namespace {

bool IsSettableDesiredState(v1::DesiredState s) {
  return s == v1::DESIRED_STATE_RUNNING || s == v1::DESIRED_STATE_STOPPED;
}

Status CheckDesiredState(int value, std::string_view what) {
  if (IsSettableDesiredState(static_cast<v1::DesiredState>(value))) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " desired state " + std::to_string(value) +
                                 " is invalid: use RUNNING or STOPPED");
}

}  // namespace

std::string MovingOffMessage(uint64_t node_id) {
  return "moving off draining node " + std::to_string(node_id);
}

void ClusterState::IndexVm(uint64_t node_id, const std::string& name) {
  by_node_[node_id].insert(name);
}

void ClusterState::UnindexVm(uint64_t node_id, std::string_view name) {
  auto it = by_node_.find(node_id);
  if (it == by_node_.end()) return;
  if (auto n = it->second.find(name); n != it->second.end()) it->second.erase(n);
  if (it->second.empty()) by_node_.erase(it);
}

// Moves a VM to `node_id` (0 = unplaced). The previous node's observed status
// no longer says anything about the VM, so the phase goes back to PENDING.
void ClusterState::MoveVm(v1::Vm& vm, uint64_t node_id, int64_t now, std::string message) {
  UnindexVm(vm.node_id(), vm.spec().name());
  IndexVm(node_id, vm.spec().name());
  vm.set_node_id(node_id);
  vm.clear_status_seq();  // the next node's agent numbers its own reports
  vm.clear_moving_off_node();  // a move ends with the VM's next placement
  vm.clear_move_index();
  vm.clear_stopped_for_move();
  vm.set_generation(vm.generation() + 1);
  v1::VmStatus* status = vm.mutable_status();
  status->set_phase(v1::VM_PHASE_PENDING);
  status->clear_observed_generation();
  status->set_message(std::move(message));
  status->set_updated_at_unix_ms(now);
}

ApplyResult ClusterState::Apply(const v1::Command& cmd, uint64_t index, bool want_vm) {
  ApplyResult out;
  want_vm_ = want_vm;
  if (index <= applied_index_) {
    out.status = Status::FailedPrecondition(
        "log index " + std::to_string(index) + " is not after the applied index " +
        std::to_string(applied_index_) + ": each entry is applied once, in log order");
    return out;
  }
  applied_index_ = index;
  const int64_t now = cmd.now_unix_ms();
  std::vector<uint64_t> touched;
  bool known = NodesTouchedBy(cmd, touched);
  std::vector<std::string_view> named;
  const bool by_name = VmsNamedBy(cmd, named);
  if (by_name) {
    for (std::string_view n : named) {
      if (const v1::Vm* vm = FindVm(n)) Account(*vm, -1);
    }
  }
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm:
      out.status = ApplyCreateVm(cmd.create_vm(), now, index, out);
      break;
    case v1::Command::kDeleteVm:
      out.status = ApplyDeleteVm(cmd.delete_vm(), out);
      break;
    case v1::Command::kSetVmDesiredState:
      out.status = ApplySetVmDesiredState(cmd.set_vm_desired_state(), now, out);
      break;
    case v1::Command::kReportVmStatus:
      out.status = ApplyReportVmStatus(cmd.report_vm_status(), now, out);
      break;
    case v1::Command::kRegisterNode:
      out.status = ApplyRegisterNode(cmd.register_node(), now);
      break;
    case v1::Command::kRemoveNode:
      out.status = ApplyRemoveNode(cmd.remove_node(), now);
      break;
    case v1::Command::kInitCluster:
      out.status = ApplyInitCluster(cmd.init_cluster());
      break;
    case v1::Command::kPlaceVms:
      out.status = ApplyPlaceVms(cmd.place_vms(), now);
      break;
    case v1::Command::kSetVmSubnet:
      out.status = ApplySetVmSubnet(cmd.set_vm_subnet());
      break;
    case v1::Command::kUpdateVmLabels:
      out.status = ApplyUpdateVmLabels(cmd.update_vm_labels(), out);
      break;
    case v1::Command::kUpdateNode:
      out.status = ApplyUpdateNode(cmd.update_node());
      break;
    case v1::Command::kSetNodeDrain:
      out.status = ApplySetNodeDrain(cmd.set_node_drain(), now);
      break;
    case v1::Command::kSetClusterSetting:
      out.status = ApplySetClusterSetting(cmd.set_cluster_setting());
      break;
    case v1::Command::kSetPendingReasons:
      out.status = ApplySetPendingReasons(cmd.set_pending_reasons(), now);
      break;
    case v1::Command::kSetNodesHealth:
      out.status = ApplySetNodesHealth(cmd.set_nodes_health(), now);
      break;
    case v1::Command::kMoveVmsOff:
      out.status = ApplyMoveVmsOff(cmd.move_vms_off(), now, index);
      break;
    case v1::Command::kVmStoppedForMove:
      out.status = ApplyVmStoppedForMove(cmd.vm_stopped_for_move(), now, out);
      break;
    case v1::Command::OP_NOT_SET:
      out.status = Status::InvalidArgument(
          "command has no operation: set one of create_vm, delete_vm, set_vm_desired_state, "
          "report_vm_status, register_node, remove_node, init_cluster, place_vms, set_vm_subnet, "
          "update_vm_labels, update_node, set_node_drain, set_cluster_setting, set_pending_reasons, "
          "set_nodes_health, move_vms_off, vm_stopped_for_move");
      break;
  }
  if (by_name) {
    for (std::string_view n : named) {
      if (const v1::Vm* vm = FindVm(n)) Account(*vm, +1);
    }
  }
  if (!out.status.ok()) {
    out.vm.reset();
    return out;
  }
  known = NodesTouchedBy(cmd, touched) && known;
  if (!by_name) {
    if (!known) {
      usage_.clear();
      for (const auto& [name, vm] : vms_) Account(vm, +1);
    } else {
      for (uint64_t n : touched) RecountUsage(n);
    }
  }
  if (!known) all_changed_at_ = index;
  for (uint64_t n : touched) changed_at_[n] = index;
  return out;
}

Status ClusterState::ApplyCreateVm(const v1::CreateVm& op, int64_t now, uint64_t index,
                                   ApplyResult& out) {
  if (Status s = ValidateVmSpec(op.spec()); !s.ok()) return s;
  v1::DesiredState desired = op.desired_state() == v1::DESIRED_STATE_UNSPECIFIED
                                 ? v1::DESIRED_STATE_RUNNING
                                 : op.desired_state();
  if (Status s = CheckDesiredState(desired, "vm " + Quote(op.spec().name())); !s.ok()) return s;
  auto it = vms_.lower_bound(op.spec().name());
  if (it != vms_.end() && it->first == op.spec().name()) {
    return Status::AlreadyExists("vm " + Quote(op.spec().name()) + " already exists");
  }
  v1::Vm vm;
  *vm.mutable_spec() = op.spec();
  vm.set_desired_state(desired);
  vm.set_node_id(0);
  vm.mutable_status()->set_phase(v1::VM_PHASE_PENDING);
  vm.mutable_status()->set_message("waiting for placement");
  vm.mutable_status()->set_updated_at_unix_ms(now);
  vm.set_generation(1);
  vm.set_created_at_unix_ms(now);
  vm.set_created_index(index);
  if (Status s = ReserveNetwork(vm); !s.ok()) return s;
  it = vms_.emplace_hint(it, op.spec().name(), std::move(vm));
  IndexVm(0, it->first);
  IndexNetwork(it->second);
  Answer(out, it->second);
  return Status::Ok();
}

Status ClusterState::ApplyDeleteVm(const v1::DeleteVm& op, ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  UnindexVm(it->second.node_id(), it->first);
  UnindexNetwork(it->second);
  out.vm = std::move(it->second);
  vms_.erase(it);
  return Status::Ok();
}

Status ClusterState::ApplySetVmDesiredState(const v1::SetVmDesiredState& op, int64_t now,
                                            ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  if (Status s = CheckDesiredState(op.desired_state(), "vm " + Quote(op.name())); !s.ok()) {
    return s;
  }
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  v1::Vm& vm = it->second;
  if (vm.desired_state() != op.desired_state() || op.restart()) {
    // A stopped VM gave its node's capacity back (see HoldsCapacity), so
    // starting it again goes through the scheduler; one that still runs
    // there, or may (its node has not reported on the stop), keeps its
    // place (and its capacity) and is started in place: placed elsewhere, it
    // could run on two nodes at once.
    if (op.desired_state() == v1::DESIRED_STATE_RUNNING &&
        vm.desired_state() == v1::DESIRED_STATE_STOPPED && vm.node_id() != 0 && !HoldsCapacity(vm)) {
      MoveVm(vm, 0, now, "waiting for placement");
    }
    vm.set_desired_state(op.desired_state());
    vm.set_generation(vm.generation() + 1);
  }
  Answer(out, vm);
  return Status::Ok();
}

Status ClusterState::ApplyUpdateVmLabels(const v1::UpdateVmLabels& op, ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  google::protobuf::Map<std::string, std::string> labels = it->second.spec().labels();
  labels[op.key()] = op.value();
  if (Status s = ValidateLabels(labels, "vm " + Quote(op.name())); !s.ok()) return s;
  *it->second.mutable_spec()->mutable_labels() = std::move(labels);
  Answer(out, it->second);
  return Status::Ok();
}

Status ClusterState::ApplyReportVmStatus(const v1::ReportVmStatus& op, int64_t now,
                                         ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  const v1::VmStatus& reported = op.status();
  if (!v1::VmPhase_IsValid(reported.phase()) || reported.phase() == v1::VM_PHASE_UNSPECIFIED) {
    return Status::InvalidArgument("vm " + Quote(op.name()) + " phase " +
                                   std::to_string(reported.phase()) +
                                   " is invalid: use PENDING, STARTING, RUNNING, READY, "
                                   "PAUSED, STOPPING, STOPPED or FAILED");
  }
  if (reported.message().size() > kMaxStatusMessageLength) {
    return Status::InvalidArgument("vm " + Quote(op.name()) + " status message is " +
                                   std::to_string(reported.message().size()) +
                                   " bytes long: use at most " +
                                   std::to_string(kMaxStatusMessageLength));
  }
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  v1::Vm& vm = it->second;
  if (op.node_id() == 0 || vm.node_id() != op.node_id()) {
    std::string where = vm.node_id() == 0 ? "is not placed on any node"
                                          : "is placed on node " + std::to_string(vm.node_id());
    return Status::FailedPrecondition("vm " + Quote(op.name()) + " " + where + ", not node " +
                                      std::to_string(op.node_id()) +
                                      ": only the node it is placed on reports its status");
  }
  if (op.seq() != 0) {
    // A delayed report (e.g. a retried forward) older than one applied
    // since would take the status back: ignored, not an error.
    if (op.seq() <= vm.status_seq()) {
      Answer(out, vm);
      return Status::Ok();
    }
    vm.set_status_seq(op.seq());
  }
  v1::VmStatus* status = vm.mutable_status();
  if (!IsUp(reported.phase())) {
    status->set_running_since_unix_ms(0);
  } else if (!IsUp(status->phase())) {
    status->set_running_since_unix_ms(now);
  }
  status->set_phase(reported.phase());
  status->set_observed_generation(reported.observed_generation());
  status->set_message(reported.message());
  status->set_updated_at_unix_ms(now);
  Answer(out, vm);
  return Status::Ok();
}

Status ClusterState::ApplyRegisterNode(const v1::RegisterNode& op, int64_t now) {
  if (Status s = ValidateNode(op.node()); !s.ok()) return s;
  auto it = nodes_.lower_bound(op.node().id());
  if (it != nodes_.end() && it->first == op.node().id()) {
    // Re-registration keeps the first registration time and the drain (the
    // operator's, not the node's); a record without capacity (e.g. the
    // leader's registration of a joining member) keeps what the node itself
    // reported (UpdateNode).
    v1::Node next = op.node();
    const v1::Node& prev = it->second;
    next.set_registered_at_unix_ms(prev.registered_at_unix_ms());
    next.set_draining(prev.draining());
    next.set_drain_started_unix_ms(prev.drain_started_unix_ms());
    next.set_drain_deadline_unix_ms(prev.drain_deadline_unix_ms());
    if (!next.has_capacity() || (next.capacity().vcpus() == 0 && next.capacity().memory_mib() == 0)) {
      *next.mutable_capacity() = prev.capacity();
      *next.mutable_host_capacity() = prev.host_capacity();
      *next.mutable_reserved() = prev.reserved();
      next.set_cpu_overcommit_percent(prev.cpu_overcommit_percent());
      if (next.labels().empty()) *next.mutable_labels() = prev.labels();
    }
    it->second = std::move(next);
  } else {
    it = nodes_.emplace_hint(it, op.node().id(), op.node());
    it->second.set_registered_at_unix_ms(now);
  }
  return Status::Ok();
}

Status ClusterState::ApplyRemoveNode(const v1::RemoveNode& op, int64_t now) {
  if (op.id() == 0) return Status::InvalidArgument("node id 0 is invalid: use an id of 1 or more");
  auto it = nodes_.find(op.id());
  if (it == nodes_.end()) return Status::NotFound(NodeNotFound(op.id()));
  nodes_.erase(it);
  // VMs placed there go back to the scheduler; no placement may name a node
  // that is not registered.
  if (auto placed = by_node_.find(op.id()); placed != by_node_.end()) {
    const NameSet names = placed->second;  // MoveVm edits the index
    for (const std::string& name : names) {
      MoveVm(vms_.find(name)->second, 0, now, "node " + std::to_string(op.id()) + " was removed");
    }
  }
  return Status::Ok();
}

Status ClusterState::ApplyInitCluster(const v1::InitCluster& op) {
  if (Status s = ValidateClusterId(op.cluster_id()); !s.ok()) return s;
  if (cluster_id_.empty()) {
    cluster_id_ = op.cluster_id();
    return Status::Ok();
  }
  if (cluster_id_ == op.cluster_id()) return Status::Ok();
  return Status::FailedPrecondition("cluster id is already " + Quote(cluster_id_) + ", not " +
                                    Quote(op.cluster_id()) + ": it is set once, at bootstrap");
}

Status ClusterState::ApplyPlaceVms(const v1::PlaceVms& op, int64_t now) {
  if (op.placements().empty()) {
    return Status::InvalidArgument("place_vms has no placements: give at least one");
  }
  // Check everything first so a rejected batch changes nothing.
  std::vector<VmMap::iterator> targets;
  targets.reserve(op.placements_size());
  std::set<std::string_view> seen;
  for (const v1::VmPlacement& p : op.placements()) {
    if (Status s = ValidateVmName(p.name()); !s.ok()) return s;
    if (!seen.insert(p.name()).second) {
      return Status::InvalidArgument("vm " + Quote(p.name()) +
                                     " is placed twice in one batch: place each VM once");
    }
    auto it = vms_.find(p.name());
    if (it == vms_.end()) return Status::NotFound(VmNotFound(p.name()));
    if (p.node_id() != 0 && !nodes_.contains(p.node_id())) {
      return Status::NotFound(NodeNotFound(p.node_id()) + ": place vm " + Quote(p.name()) +
                              " on a registered node");
    }
    if (p.expected_generation() != 0 && p.expected_generation() != it->second.generation()) {
      return Status::FailedPrecondition("vm " + Quote(p.name()) + " is at generation " +
                                        std::to_string(it->second.generation()) + ", not " +
                                        std::to_string(p.expected_generation()) +
                                        ": it changed since it was scheduled");
    }
    targets.push_back(it);
  }
  if (Status s = skip_fit_check_ ? Status::Ok() : CheckPlacementsFit(op, targets); !s.ok()) return s;
  for (size_t i = 0; i < targets.size(); ++i) {
    const uint64_t node_id = op.placements(static_cast<int>(i)).node_id();
    v1::Vm& vm = targets[i]->second;
    if (vm.node_id() == node_id) continue;
    MoveVm(vm, node_id, now,
           node_id == 0 ? "waiting for placement" : "placed on node " + std::to_string(node_id));
  }
  return Status::Ok();
}

// A batch is decided on the leader's applied state, which may be behind the
// log (a new leader that has not applied its predecessor's last entries):
// no placement may take a node past the capacity it reported. Nodes that
// reported none are not checked (the scheduler never picks them).
Status ClusterState::CheckPlacementsFit(const v1::PlaceVms& op,
                                        const std::vector<VmMap::iterator>& targets) const {
  struct Load {
    uint64_t vcpus = 0, memory_mib = 0;
  };
  std::map<uint64_t, Load> added;  // what the batch brings to each node
  std::set<const v1::Vm*> leaving;  // a VM may be named twice
  for (size_t i = 0; i < targets.size(); ++i) {
    const uint64_t to = op.placements(static_cast<int>(i)).node_id();
    const v1::Vm& vm = targets[i]->second;
    if (vm.node_id() == to) continue;
    leaving.insert(&vm);
    if (to == 0 || vm.desired_state() != v1::DESIRED_STATE_RUNNING) continue;
    added[to].vcpus += vm.spec().vcpus();
    added[to].memory_mib += vm.spec().memory_mib();
  }
  for (const auto& [node_id, add] : added) {
    const v1::NodeCapacity& cap = nodes_.at(node_id).capacity();
    if (cap.vcpus() == 0 && cap.memory_mib() == 0) continue;
    const NodeUsage& now_used = UsageOn(node_id);
    Load used{now_used.vcpus, now_used.memory_mib};
    for (const v1::Vm* vm : leaving) {
      if (vm->node_id() != node_id || !HoldsCapacity(*vm)) continue;
      used.vcpus -= vm->spec().vcpus();
      used.memory_mib -= vm->spec().memory_mib();
    }
    if (used.vcpus + add.vcpus > cap.vcpus() || used.memory_mib + add.memory_mib > cap.memory_mib()) {
      return Status::FailedPrecondition(
          "node " + std::to_string(node_id) + " has " + std::to_string(cap.vcpus()) + " vCPUs / " +
          std::to_string(cap.memory_mib()) + " MiB, " + std::to_string(used.vcpus) + " / " +
          std::to_string(used.memory_mib) + " in use; the batch adds " + std::to_string(add.vcpus) +
          " / " + std::to_string(add.memory_mib) + ": it was scheduled on an older state");
    }
  }
  return Status::Ok();
}

Status ClusterState::ApplyUpdateNode(const v1::UpdateNode& op) {
  auto it = nodes_.find(op.id());
  if (it == nodes_.end()) {
    return Status::NotFound(NodeNotFound(op.id()) + ": a node reports its capacity once registered");
  }
  v1::Node next = it->second;
  *next.mutable_capacity() = op.capacity();
  *next.mutable_host_capacity() = op.host_capacity();
  *next.mutable_reserved() = op.reserved();
  next.set_cpu_overcommit_percent(op.cpu_overcommit_percent());
  *next.mutable_labels() = op.labels();
  if (Status s = ValidateNode(next); !s.ok()) return s;
  it->second = std::move(next);
  return Status::Ok();
}

Status ClusterState::ApplySetNodeDrain(const v1::SetNodeDrain& op, int64_t now) {
  auto it = nodes_.find(op.id());
  if (it == nodes_.end()) return Status::NotFound(NodeNotFound(op.id()));
  if (op.deadline_unix_ms() < 0 || (!op.draining() && op.deadline_unix_ms() != 0)) {
    return Status::InvalidArgument("drain deadline " + std::to_string(op.deadline_unix_ms()) +
                                   " is invalid: give a unix time in ms (0 = none), and only when draining");
  }
  v1::Node& n = it->second;
  if (op.draining()) {
    // Draining again only moves the deadline; the drain keeps its start.
    if (!n.draining()) n.set_drain_started_unix_ms(now);
    n.set_draining(true);
    n.set_drain_deadline_unix_ms(op.deadline_unix_ms());
  } else {
    n.set_draining(false);
    n.set_drain_started_unix_ms(0);
    n.set_drain_deadline_unix_ms(0);
    CancelMovesOff(op.id(), now);
  }
  return Status::Ok();
}

void ClusterState::CancelMovesOff(uint64_t node_id, int64_t now) {
  auto placed = by_node_.find(node_id);
  if (placed == by_node_.end()) return;
  const NameSet names = placed->second;  // MoveVm edits the index
  for (const std::string& name : names) {
    v1::Vm& vm = vms_.find(name)->second;
    if (vm.moving_off_node() != node_id) continue;
    if (vm.stopped_for_move()) {
      MoveVm(vm, 0, now, "waiting for placement");
      continue;
    }
    vm.clear_moving_off_node();
    vm.clear_move_index();
    vm.mutable_status()->set_message("drain of node " + std::to_string(node_id) + " cancelled");
    vm.mutable_status()->set_updated_at_unix_ms(now);
  }
}

Status ClusterState::ApplyMoveVmsOff(const v1::MoveVmsOff& op, int64_t now, uint64_t index) {
  for (const v1::VmMoveOff& m : op.moves()) {
    if (Status s = ValidateVmName(m.name()); !s.ok()) return s;
  }
  for (const v1::VmMoveOff& m : op.moves()) {
    auto it = vms_.find(m.name());
    auto node = nodes_.find(m.node_id());
    if (it == vms_.end() || node == nodes_.end() || !node->second.draining()) continue;
    v1::Vm& vm = it->second;
    if (vm.node_id() != m.node_id() || vm.moving_off_node() != 0) continue;
    if (m.expected_generation() != 0 && m.expected_generation() != vm.generation()) continue;
    vm.set_moving_off_node(m.node_id());
    vm.set_move_index(index);
    vm.set_stopped_for_move(false);
    vm.mutable_status()->set_message(MovingOffMessage(m.node_id()));
    vm.mutable_status()->set_updated_at_unix_ms(now);
  }
  return Status::Ok();
}

Status ClusterState::ApplyVmStoppedForMove(const v1::VmStoppedForMove& op, int64_t now,
                                           ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  v1::Vm& vm = it->second;
  if (op.node_id() == 0 || vm.node_id() != op.node_id() || vm.moving_off_node() != op.node_id() ||
      vm.move_index() != op.move_index()) {
    return Status::FailedPrecondition("vm " + Quote(op.name()) + " is not moving off node " +
                                      std::to_string(op.node_id()) + " under move " +
                                      std::to_string(op.move_index()) +
                                      ": the move ended or was cancelled");
  }
  vm.set_stopped_for_move(true);
  v1::VmStatus* status = vm.mutable_status();
  status->set_phase(v1::VM_PHASE_STOPPED);
  // The node stopped it and starts nothing marked: it has seen this generation.
  status->set_observed_generation(vm.generation());
  status->set_running_since_unix_ms(0);
  status->set_message("stopped; " + MovingOffMessage(op.node_id()));
  status->set_updated_at_unix_ms(now);
  Answer(out, vm);
  return Status::Ok();
}

Status ClusterState::ApplySetClusterSetting(const v1::SetClusterSetting& op) {
  if (Status s = ValidateClusterSetting(op.key(), op.value()); !s.ok()) return s;
  if (op.value().empty()) {
    if (auto it = settings_.find(op.key()); it != settings_.end()) settings_.erase(it);
  } else {
    settings_[op.key()] = op.value();
  }
  return Status::Ok();
}

Status ClusterState::ApplySetPendingReasons(const v1::SetPendingReasons& op, int64_t now) {
  for (const v1::PendingReason& r : op.reasons()) {
    if (Status s = ValidateVmName(r.name()); !s.ok()) return s;
    if (r.reason().size() > kMaxStatusMessageLength) {
      return Status::InvalidArgument("pending reason for vm " + Quote(r.name()) + " is " +
                                     std::to_string(r.reason().size()) +
                                     " bytes long: use at most " +
                                     std::to_string(kMaxStatusMessageLength));
    }
  }
  for (const v1::PendingReason& r : op.reasons()) {
    auto it = vms_.find(r.name());
    if (it == vms_.end()) continue;
    v1::Vm& vm = it->second;
    if (vm.node_id() != 0 || vm.generation() != r.expected_generation()) continue;
    v1::VmStatus* status = vm.mutable_status();
    if (status->message() == r.reason()) continue;
    status->set_message(r.reason());
    status->set_updated_at_unix_ms(now);
  }
  return Status::Ok();
}

Status ClusterState::ApplySetNodesHealth(const v1::SetNodesHealth& op, int64_t now) {
  for (const v1::NodeHealthChange& c : op.changes()) {
    if (c.health() != v1::NODE_HEALTH_READY && c.health() != v1::NODE_HEALTH_DOWN) {
      return Status::InvalidArgument("node " + std::to_string(c.node_id()) + " health " +
                                     std::to_string(c.health()) +
                                     " is invalid here: liveness sets READY or DOWN");
    }
  }
  for (const v1::NodeHealthChange& c : op.changes()) {
    auto it = nodes_.find(c.node_id());
    if (it == nodes_.end() || it->second.health() == c.health()) continue;
    it->second.set_health(c.health());
    it->second.set_health_changed_unix_ms(now);
  }
  return Status::Ok();
}

std::string ClusterState::Setting(std::string_view key, std::string_view fallback) const {
  auto it = settings_.find(key);
  return std::string(it == settings_.end() ? fallback : std::string_view(it->second));
}

const v1::Vm* ClusterState::FindVm(std::string_view name) const {
  auto it = vms_.find(name);
  return it == vms_.end() ? nullptr : &it->second;
}

std::vector<const v1::Vm*> ClusterState::VmsOnNode(uint64_t node_id) const {
  std::vector<const v1::Vm*> out;
  auto it = by_node_.find(node_id);
  if (it == by_node_.end()) return out;
  out.reserve(it->second.size());
  for (const std::string& name : it->second) out.push_back(&vms_.find(name)->second);
  return out;
}

bool ClusterState::ForEachVmOnNode(uint64_t node_id, std::string_view after, std::string_view upto,
                                   const std::function<bool(const v1::Vm*)>& fn) const {
  auto it = by_node_.find(node_id);
  if (it == by_node_.end()) return true;
  const NameSet& names = it->second;
  for (auto n = after.empty() ? names.begin() : names.upper_bound(after); n != names.end(); ++n) {
    if (!upto.empty() && std::string_view(*n) > upto) break;
    if (!fn(&vms_.find(*n)->second)) return false;
  }
  return true;
}

size_t ClusterState::VmCountOnNode(uint64_t node_id) const {
  auto it = by_node_.find(node_id);
  return it == by_node_.end() ? 0 : it->second.size();
}

const v1::Node* ClusterState::FindNode(uint64_t id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<v1::Vm> ClusterState::ListVms() const {
  std::vector<v1::Vm> out;
  out.reserve(vms_.size());
  for (const auto& [name, vm] : vms_) out.push_back(vm);
  return out;
}

std::vector<v1::Node> ClusterState::ListNodes() const {
  std::vector<v1::Node> out;
  out.reserve(nodes_.size());
  for (const auto& [id, node] : nodes_) out.push_back(node);
  return out;
}

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
  for (v1::Vm& vm : *snap.mutable_vms()) {
    if (!next.vms_.empty() && !(next.vms_.rbegin()->first < vm.spec().name())) {
      return Status::Corruption("cluster state snapshot vm " + Quote(vm.spec().name()) +
                                " is out of order or duplicated");
    }
    std::string name = vm.spec().name();
    next.IndexVm(vm.node_id(), name);
    next.IndexNetwork(vm);
    auto placed = next.vms_.emplace_hint(next.vms_.end(), std::move(name), std::move(vm));
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
  for (const auto& [id, node] : nodes_) {
    if (node.id() != id) {
      return broken("node keyed " + std::to_string(id) + " has id " + std::to_string(node.id()));
    }
    if (Status s = ValidateNode(node); !s.ok()) return broken(s.message());
  }
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
      settings_ != other.settings_ ||
      vms_.size() != other.vms_.size() || nodes_.size() != other.nodes_.size()) {
    return false;
  }
  return EncodeSnapshot() == other.EncodeSnapshot();
}

}  // namespace blixard::state
