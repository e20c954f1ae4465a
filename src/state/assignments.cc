#include "state/assignments.h"

#include <google/protobuf/util/message_differencer.h>

namespace blixard::state {

AssignmentSet AssignmentsOf(const ClusterState& st, uint64_t node_id) {
  AssignmentSet out;
  for (const v1::Vm* vm : st.VmsOnNode(node_id)) out.emplace(vm->spec().name(), *vm);
  return out;
}

v1::AssignmentUpdate FullAssignments(const AssignmentSet& set, uint64_t version) {
  v1::AssignmentUpdate u;
  u.set_version(version);
  u.set_full(true);
  for (const auto& [name, vm] : set) *u.add_vms() = vm;
  return u;
}

v1::AssignmentUpdate DiffAssignments(const AssignmentSet& before, uint64_t base_version,
                                     const AssignmentSet& after, uint64_t version) {
  v1::AssignmentUpdate u;
  u.set_version(version);
  u.set_base_version(base_version);
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->first < a->first)) {
      u.add_removed(b->first);
      ++b;
    } else if (b == before.end() || a->first < b->first) {
      *u.add_vms() = a->second;
      ++a;
    } else {
      if (!google::protobuf::util::MessageDifferencer::Equals(a->second, b->second)) {
        *u.add_vms() = a->second;
      }
      ++a;
      ++b;
    }
  }
  return u;
}

bool EmptyDiff(const v1::AssignmentUpdate& u) {
  return !u.full() && u.vms().empty() && u.removed().empty();
}

Status AssignmentView::Apply(const v1::AssignmentUpdate& u) {
  if (has_set_ && u.version() < version_) {
    return Status::FailedPrecondition("assignment update at version " + std::to_string(u.version()) +
                                      " is older than the held version " + std::to_string(version_));
  }
  if (u.full()) {
    AssignmentSet next;
    for (const v1::Vm& vm : u.vms()) next[vm.spec().name()] = vm;
    set_ = std::move(next);
  } else {
    if (!has_set_ || u.base_version() != version_) {
      return Status::FailedPrecondition(
          "assignment diff from version " + std::to_string(u.base_version()) + " does not apply to " +
          (has_set_ ? "version " + std::to_string(version_) : std::string("an empty view")));
    }
    for (const std::string& name : u.removed()) set_.erase(name);
    for (const v1::Vm& vm : u.vms()) set_[vm.spec().name()] = vm;
  }
  has_set_ = true;
  version_ = u.version();
  applied_index_ = std::max(applied_index_, u.applied_index());
  return Status::Ok();
}

void AssignmentHistory::Remember(uint64_t node_id, uint64_t version, const AssignmentSet& set) {
  Remember(node_id, version, std::make_shared<const AssignmentSet>(set));
}

void AssignmentHistory::Remember(uint64_t node_id, uint64_t version, std::shared_ptr<const AssignmentSet> set) {
  auto& list = by_node_[node_id];
  for (const auto& [v, s] : list) {
    if (v == version) return;  // one version names one set
  }
  list.emplace_back(version, std::move(set));
  while (list.size() > per_node_) list.pop_front();
}

std::optional<AssignmentSet> AssignmentHistory::At(uint64_t node_id, uint64_t version) const {
  auto it = by_node_.find(node_id);
  if (it == by_node_.end()) return std::nullopt;
  for (const auto& [v, s] : it->second) {
    if (v == version) return *s;
  }
  return std::nullopt;
}

AssignmentFeed::AssignmentFeed(uint64_t node_id, uint64_t from_version, std::optional<AssignmentSet> held)
    : node_id_(node_id), has_sent_(held.has_value()),
      sent_(std::make_shared<const AssignmentSet>(held ? std::move(*held) : AssignmentSet())),
      sent_version_(held ? from_version : 0) {}

std::optional<v1::AssignmentUpdate> AssignmentFeed::Next(const ClusterState& st, uint64_t applied,
                                                         bool progress_due) {
  const uint64_t version = st.applied_index();
  std::optional<v1::AssignmentUpdate> out;
  if (first_ || st.AssignmentsChangedAt(node_id_) > read_at_) {
    AssignmentSet now = AssignmentsOf(st, node_id_);
    ++set_reads_;
    read_at_ = version;
    v1::AssignmentUpdate u = has_sent_ ? DiffAssignments(*sent_, sent_version_, now, version)
                                       : FullAssignments(now, version);
    if (first_ || !EmptyDiff(u)) {
      sent_ = std::make_shared<const AssignmentSet>(std::move(now));
      out = std::move(u);
    }
  }
  if (!out && progress_due && applied > sent_applied_) {
    // The set in st is sent_ (read_at_ is not older than its last change).
    v1::AssignmentUpdate u;
    u.set_version(version);
    u.set_base_version(sent_version_);
    out = std::move(u);
  }
  if (out) {
    out->set_applied_index(applied);
    first_ = false;
    has_sent_ = true;
    sent_version_ = version;
    sent_applied_ = applied;
  }
  return out;
}

}  // namespace blixard::state
