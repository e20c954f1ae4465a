#include "state/commands.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <limits>

namespace blixard::state {
namespace {

v1::Command WithTime(int64_t now_ms) {
  v1::Command cmd;
  cmd.set_now_unix_ms(now_ms);
  return cmd;
}

}  // namespace

v1::Command MakeCreateVm(const v1::VmSpec& spec, bool start, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::CreateVm* op = cmd.mutable_create_vm();
  *op->mutable_spec() = spec;
  op->set_desired_state(start ? v1::DESIRED_STATE_RUNNING : v1::DESIRED_STATE_STOPPED);
  return cmd;
}

v1::Command MakeDeleteVm(std::string_view name, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  cmd.mutable_delete_vm()->set_name(std::string(name));
  return cmd;
}

v1::Command MakeSetVmDesiredState(std::string_view name, v1::DesiredState state, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::SetVmDesiredState* op = cmd.mutable_set_vm_desired_state();
  op->set_name(std::string(name));
  op->set_desired_state(state);
  return cmd;
}

v1::Command MakeStartVm(std::string_view name, int64_t now_ms) {
  return MakeSetVmDesiredState(name, v1::DESIRED_STATE_RUNNING, now_ms);
}

v1::Command MakeRestartVm(std::string_view name, int64_t now_ms) {
  v1::Command cmd = MakeSetVmDesiredState(name, v1::DESIRED_STATE_RUNNING, now_ms);
  cmd.mutable_set_vm_desired_state()->set_restart(true);
  return cmd;
}

v1::Command MakeStopVm(std::string_view name, int64_t now_ms) {
  return MakeSetVmDesiredState(name, v1::DESIRED_STATE_STOPPED, now_ms);
}

v1::Command MakeUpdateVmLabels(std::string_view name, std::string_view key, std::string_view value,
                               int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::UpdateVmLabels* op = cmd.mutable_update_vm_labels();
  op->set_name(std::string(name));
  op->set_key(std::string(key));
  op->set_value(std::string(value));
  return cmd;
}

v1::Command MakeReportVmStatus(std::string_view name, uint64_t node_id, v1::VmPhase phase,
                               std::string_view message, int64_t now_ms, uint64_t seq,
                               uint64_t observed_generation) {
  v1::Command cmd = WithTime(now_ms);
  v1::ReportVmStatus* op = cmd.mutable_report_vm_status();
  op->set_name(std::string(name));
  op->set_node_id(node_id);
  op->set_seq(seq);
  op->mutable_status()->set_phase(phase);
  op->mutable_status()->set_message(std::string(message));
  op->mutable_status()->set_updated_at_unix_ms(now_ms);
  op->mutable_status()->set_observed_generation(observed_generation);
  return cmd;
}

v1::Command MakeRegisterNode(const v1::Node& node, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  *cmd.mutable_register_node()->mutable_node() = node;
  return cmd;
}

v1::Command MakeRemoveNode(uint64_t id, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  cmd.mutable_remove_node()->set_id(id);
  return cmd;
}

v1::Command MakeInitCluster(std::string_view cluster_id, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  cmd.mutable_init_cluster()->set_cluster_id(std::string(cluster_id));
  return cmd;
}

v1::Command MakeSetVmSubnet(std::string_view cidr, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  cmd.mutable_set_vm_subnet()->set_cidr(std::string(cidr));
  return cmd;
}

v1::Command MakePlaceVms(const std::vector<Placement>& placements, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::PlaceVms* op = cmd.mutable_place_vms();
  op->mutable_placements()->Reserve(static_cast<int>(placements.size()));
  for (const Placement& p : placements) {
    v1::VmPlacement* out = op->add_placements();
    out->set_name(p.name);
    out->set_node_id(p.node_id);
    out->set_expected_generation(p.expected_generation);
  }
  return cmd;
}

v1::Command MakeUpdateNode(const v1::Node& node, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::UpdateNode* op = cmd.mutable_update_node();
  op->set_id(node.id());
  *op->mutable_capacity() = node.capacity();
  *op->mutable_host_capacity() = node.host_capacity();
  *op->mutable_reserved() = node.reserved();
  op->set_cpu_overcommit_percent(node.cpu_overcommit_percent());
  *op->mutable_labels() = node.labels();
  op->set_cert_expires_unix(node.cert_expires_unix());
  return cmd;
}

v1::Command MakeSetNodeDrain(uint64_t id, bool draining, int64_t deadline_unix_ms, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::SetNodeDrain* op = cmd.mutable_set_node_drain();
  op->set_id(id);
  op->set_draining(draining);
  op->set_deadline_unix_ms(deadline_unix_ms);
  return cmd;
}

v1::Command MakeSetClusterSetting(std::string_view key, std::string_view value, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  cmd.mutable_set_cluster_setting()->set_key(std::string(key));
  cmd.mutable_set_cluster_setting()->set_value(std::string(value));
  return cmd;
}

v1::Command MakeCreateToken(v1::Token token, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  *cmd.mutable_create_token()->mutable_token() = std::move(token);
  return cmd;
}

v1::Command MakeRevokeToken(std::string_view id, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  cmd.mutable_revoke_token()->set_id(std::string(id));
  return cmd;
}

v1::Command MakeRevokeCertificate(v1::RevokedCertificate certificate, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  *cmd.mutable_revoke_certificate()->mutable_certificate() = std::move(certificate);
  return cmd;
}

v1::Command MakeUseToken(std::string_view id, std::string_view secret_sha256, v1::TokenKind kind, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::UseToken* op = cmd.mutable_use_token();
  op->set_id(std::string(id));
  op->set_secret_sha256(std::string(secret_sha256));
  op->set_kind(kind);
  return cmd;
}

v1::Command MakeSetPendingReasons(const std::vector<PendingReason>& reasons, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::SetPendingReasons* op = cmd.mutable_set_pending_reasons();
  op->mutable_reasons()->Reserve(static_cast<int>(reasons.size()));
  for (const PendingReason& r : reasons) {
    v1::PendingReason* out = op->add_reasons();
    out->set_name(r.name);
    out->set_expected_generation(r.expected_generation);
    out->set_reason(r.reason);
  }
  return cmd;
}

v1::Command MakeSetNodesHealth(const std::vector<HealthChange>& changes, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::SetNodesHealth* op = cmd.mutable_set_nodes_health();
  op->mutable_changes()->Reserve(static_cast<int>(changes.size()));
  for (const HealthChange& c : changes) {
    v1::NodeHealthChange* out = op->add_changes();
    out->set_node_id(c.node_id);
    out->set_health(c.health);
  }
  return cmd;
}

v1::Command MakeMoveVmsOff(const std::vector<MoveOff>& moves, int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::MoveVmsOff* op = cmd.mutable_move_vms_off();
  op->mutable_moves()->Reserve(static_cast<int>(moves.size()));
  for (const MoveOff& m : moves) {
    v1::VmMoveOff* out = op->add_moves();
    out->set_name(m.name);
    out->set_node_id(m.node_id);
    out->set_expected_generation(m.expected_generation);
  }
  return cmd;
}

v1::Command MakeVmStoppedForMove(std::string_view name, uint64_t node_id, uint64_t move_index,
                                 int64_t now_ms) {
  v1::Command cmd = WithTime(now_ms);
  v1::VmStoppedForMove* op = cmd.mutable_vm_stopped_for_move();
  op->set_name(std::string(name));
  op->set_node_id(node_id);
  op->set_move_index(move_index);
  return cmd;
}

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

std::string EncodeCommand(const v1::Command& cmd) { return SerializeDeterministic(cmd); }

Result<v1::Command> DecodeCommand(std::string_view data) {
  v1::Command cmd;
  if (data.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !cmd.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return Status::InvalidArgument("command of " + std::to_string(data.size()) +
                                   " bytes does not parse as blixard.v1.Command");
  }
  return cmd;
}

}  // namespace blixard::state
