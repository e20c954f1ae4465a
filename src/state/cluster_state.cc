// ClusterState (see cluster_state.h): Apply, the VM commands, cluster
// settings and the queries. Node, placement and drain commands are in
// cluster_state_nodes.cc; snapshots, Digest and CheckInvariants in
// cluster_state_snapshot.cc; addresses and ports in cluster_state_network.cc;
// UsageOn in cluster_state_usage.cc; AssignmentsChangedAt in
// cluster_state_changes.cc.
#include "state/cluster_state.h"

#include <set>
#include <utility>

#include "state/cluster_state_internal.h"
#include "state/network.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

// Phases in which the VM's process exists on its node.
bool IsUp(v1::VmPhase p) {
  return p == v1::VM_PHASE_STARTING || p == v1::VM_PHASE_RUNNING || p == v1::VM_PHASE_READY ||
         p == v1::VM_PHASE_PAUSED;
}

// The VM a client write answers with, for answering a repeat of it.
std::string_view AnsweredVm(const v1::Command& cmd) {
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm:
      return cmd.create_vm().spec().name();
    case v1::Command::kSetVmDesiredState:
      return cmd.set_vm_desired_state().name();
    case v1::Command::kUpdateVmLabels:
      return cmd.update_vm_labels().name();
    default:
      return {};
  }
}

}  // namespace

using internal::CheckDesiredState;
using internal::NodeNotFound;
using internal::VmNotFound;

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

void ClusterState::NotePending(const v1::Vm& vm) {
  if (vm.node_id() == 0 && vm.desired_state() == v1::DESIRED_STATE_RUNNING) {
    pending_.insert(vm.spec().name());
  } else {
    pending_.erase(vm.spec().name());
  }
}

// Moves a VM to `node_id` (0 = unplaced). The previous node's observed status
// no longer says anything about the VM, so the phase goes back to PENDING.
void ClusterState::MoveVm(v1::Vm& vm, uint64_t node_id, int64_t now, std::string message) {
  UnindexVm(vm.node_id(), vm.spec().name());
  IndexVm(node_id, vm.spec().name());
  vm.set_node_id(node_id);
  NotePending(vm);
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
  if (cmd.has_request_id() && requests_.Contains(RequestLog::From(cmd.request_id()))) {
    // A retry of a write this state applied already: answered as the first
    // attempt was (with its VM as it is now), changing nothing.
    if (const v1::Vm* vm = FindVm(AnsweredVm(cmd))) Answer(out, *vm);
    return out;
  }
  const int64_t now = cmd.now_unix_ms();
  std::vector<std::string_view> named;
  const bool by_name = VmsNamedBy(cmd, named);
  std::vector<uint64_t> touched;
  bool known = NodesTouchedBy(cmd, by_name, named, touched);
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
    case v1::Command::kCreateToken:
      out.status = ApplyCreateToken(cmd.create_token(), cmd.actor(), now);
      break;
    case v1::Command::kRevokeToken:
      out.status = ApplyRevokeToken(cmd.revoke_token());
      break;
    case v1::Command::kUseToken:
      out.status = ApplyUseToken(cmd.use_token(), now);
      break;
    case v1::Command::kRevokeCertificate:
      out.status = ApplyRevokeCertificate(cmd.revoke_certificate(), cmd.actor(), now);
      break;
    case v1::Command::OP_NOT_SET:
      out.status = Status::InvalidArgument(
          "command has no operation: set one of create_vm, delete_vm, set_vm_desired_state, "
          "report_vm_status, register_node, remove_node, init_cluster, place_vms, set_vm_subnet, "
          "update_vm_labels, update_node, set_node_drain, set_cluster_setting, set_pending_reasons, "
          "set_nodes_health, move_vms_off, vm_stopped_for_move, create_token, revoke_token, use_token, revoke_certificate");
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
  if (cmd.has_request_id()) requests_.Add(RequestLog::From(cmd.request_id()));
  if (!cmd.actor().empty()) RecordActor(cmd, out);
  known = NodesTouchedBy(cmd, by_name, named, touched) && known;
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
  if (Status s = CheckDesiredState(desired, op.spec().name()); !s.ok()) return s;
  if (vms_.contains(op.spec().name())) {
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
  auto it = vms_.emplace_hint(vms_.end(), op.spec().name(), std::move(vm));
  IndexVm(0, it->first);
  NotePending(it->second);
  IndexNetwork(it->second);
  Answer(out, it->second);
  return Status::Ok();
}

Status ClusterState::ApplyDeleteVm(const v1::DeleteVm& op, ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  auto it = vms_.find(op.name());
  if (it == vms_.end()) return Status::NotFound(VmNotFound(op.name()));
  UnindexVm(it->second.node_id(), it->first);
  pending_.erase(it->first);
  UnindexNetwork(it->second);
  out.vm = std::move(it->second);
  vms_.erase(it);
  return Status::Ok();
}

Status ClusterState::ApplySetVmDesiredState(const v1::SetVmDesiredState& op, int64_t now,
                                            ApplyResult& out) {
  if (Status s = ValidateVmName(op.name()); !s.ok()) return s;
  if (Status s = CheckDesiredState(op.desired_state(), op.name()); !s.ok()) {
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
    NotePending(vm);
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

Status ClusterState::ApplySetClusterSetting(const v1::SetClusterSetting& op) {
  if (Status s = ValidateClusterSetting(op.key(), op.value()); !s.ok()) return s;
  if (op.value().empty()) {
    if (auto it = settings_.find(op.key()); it != settings_.end()) settings_.erase(it);
  } else {
    settings_[op.key()] = op.value();
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

bool ClusterState::ForEachNamed(const NameSet& names, std::string_view after, std::string_view upto,
                                const std::function<bool(const v1::Vm*)>& fn) const {
  for (auto n = after.empty() ? names.begin() : names.upper_bound(after); n != names.end(); ++n) {
    if (!upto.empty() && std::string_view(*n) > upto) break;
    if (!fn(&vms_.find(*n)->second)) return false;
  }
  return true;
}

bool ClusterState::ForEachVmOnNode(uint64_t node_id, std::string_view after, std::string_view upto,
                                   const std::function<bool(const v1::Vm*)>& fn) const {
  auto it = by_node_.find(node_id);
  return it == by_node_.end() || ForEachNamed(it->second, after, upto, fn);
}

bool ClusterState::ForEachPendingVm(std::string_view after, std::string_view upto,
                                    const std::function<bool(const v1::Vm*)>& fn) const {
  return ForEachNamed(pending_, after, upto, fn);
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

void ClusterState::RecordActor(const v1::Command& cmd, ApplyResult& out) {
  std::string_view name;
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm: name = cmd.create_vm().spec().name(); break;
    case v1::Command::kSetVmDesiredState: name = cmd.set_vm_desired_state().name(); break;
    case v1::Command::kUpdateVmLabels: name = cmd.update_vm_labels().name(); break;
    default: return;
  }
  auto it = vms_.find(name);
  if (it == vms_.end()) return;
  for (v1::Vm* vm : {&it->second, out.vm ? &*out.vm : nullptr}) {
    if (vm == nullptr) continue;
    if (cmd.has_create_vm()) vm->set_created_by(cmd.actor());
    vm->set_updated_by(cmd.actor());
  }
}

}  // namespace blixard::state
