#include "cli/output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <string_view>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace blixard::cli {
namespace {

// "VM_PHASE_ON_FAILURE" minus "VM_PHASE_" → "on-failure"; "-" if unspecified.
std::string EnumText(const std::string& full, std::string_view prefix) {
  std::string_view rest = full;
  if (rest.substr(0, prefix.size()) == prefix) rest.remove_prefix(prefix.size());
  if (rest.empty() || rest == "UNSPECIFIED") return "-";
  std::string out;
  for (char c : rest) out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& x : items) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::string FormatTime(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ} ({} ago)", fmt::gmtime(t), FormatAge(unix_ms, now_ms));
}

std::string SortedLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  std::string out;
  for (const auto& [k, v] : sorted) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return OrDash(out);
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      out += cell;
      if (i + 1 < width.size()) out += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, k.size());
  std::string out;
  for (const auto& [k, v] : fields) {
    std::string l = k + ":" + std::string(width - k.size() + 1, ' ') + v;
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  }
  return out;
}

std::string FormatAge(int64_t created_ms, int64_t now_ms) {
  if (created_ms <= 0) return "-";
  int64_t s = std::max<int64_t>(0, (now_ms - created_ms) / 1000);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string FormatMemoryMib(uint64_t mib) {
  if (mib != 0 && mib % (1024 * 1024) == 0) return fmt::format("{}Ti", mib / (1024 * 1024));
  if (mib != 0 && mib % 1024 == 0) return fmt::format("{}Gi", mib / 1024);
  return fmt::format("{}Mi", mib);
}

std::string PhaseName(v1::VmPhase phase) { return EnumText(v1::VmPhase_Name(phase), "VM_PHASE_"); }
std::string DesiredName(v1::DesiredState d) { return EnumText(v1::DesiredState_Name(d), "DESIRED_STATE_"); }
std::string RoleName(v1::NodeRole role) { return EnumText(v1::NodeRole_Name(role), "NODE_ROLE_"); }
std::string HealthName(v1::NodeHealth h) { return EnumText(v1::NodeHealth_Name(h), "NODE_HEALTH_"); }
std::string RestartPolicyName(v1::RestartPolicy p) {
  return EnumText(v1::RestartPolicy_Name(p), "RESTART_POLICY_");
}

bool VmReachedDesired(const v1::Vm& vm) {
  const v1::VmPhase phase = vm.status().phase();
  switch (vm.desired_state()) {
    case v1::DESIRED_STATE_RUNNING:
      return phase == v1::VM_PHASE_RUNNING || phase == v1::VM_PHASE_READY ||
             phase == v1::VM_PHASE_PAUSED;  // runs, frozen on purpose
    case v1::DESIRED_STATE_STOPPED:
      return phase == v1::VM_PHASE_STOPPED;
    default:
      return true;
  }
}

std::string VmStateText(const v1::Vm& vm) {
  const v1::VmPhase phase = vm.status().phase();
  std::string text = phase == v1::VM_PHASE_UNSPECIFIED ? "UNKNOWN" : Upper(PhaseName(phase));
  if (!VmReachedDesired(vm)) text += " (want " + DesiredName(vm.desired_state()) + ")";
  return text;
}

std::string VmTable(const google::protobuf::RepeatedPtrField<v1::Vm>& vms, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Vm& vm : vms) {
    rows.push_back({vm.spec().name(), VmStateText(vm), vm.node_id() == 0 ? "-" : std::to_string(vm.node_id()),
                    std::to_string(vm.spec().vcpus()), FormatMemoryMib(vm.spec().memory_mib()),
                    FormatAge(vm.created_at_unix_ms(), now_ms)});
  }
  std::vector<std::string> header = {"NAME", "STATE", "NODE", "VCPUS", "MEMORY", "AGE"};
  // Where to reach them, when some can be: bridge address or published ports.
  bool reachable = false;
  for (const v1::Vm& vm : vms) reachable = reachable || !vm.ipv4_address().empty() || vm.spec().publish_size() > 0;
  if (reachable) {
    header.push_back("ADDRESSES");
    for (int i = 0; i < vms.size(); ++i) rows[i].push_back(VmAddresses(vms[i]));
  }
  // Why VMs wait, when some do: the scheduler's reason.
  bool waiting = false;
  for (const v1::Vm& vm : vms) waiting = waiting || VmWaitsForPlacement(vm);
  if (waiting) {
    header.push_back("REASON");
    for (int i = 0; i < vms.size(); ++i) {
      rows[i].push_back(VmWaitsForPlacement(vms[i]) ? vms[i].status().message() : "-");
    }
  }
  return RenderTable(header, rows);
}

bool VmWaitsForPlacement(const v1::Vm& vm) {
  return vm.node_id() == 0 && vm.desired_state() == v1::DESIRED_STATE_RUNNING &&
         !vm.status().message().empty();
}

std::string VmNetworkName(const v1::VmSpec& s) {
  return s.network() == v1::NETWORK_MODE_UNSPECIFIED ? "user" : EnumText(v1::NetworkMode_Name(s.network()), "NETWORK_MODE_");
}

std::string VmAddresses(const v1::Vm& vm) {
  if (!vm.ipv4_address().empty()) return vm.ipv4_address();
  std::string out;
  for (const v1::PortPublish& p : vm.spec().publish()) {
    if (!out.empty()) out += ",";
    out += fmt::format("{}:{}->{}/{}", p.host_ip().empty() ? "127.0.0.1" : p.host_ip(), p.host_port(),
                       p.guest_port(), p.protocol() == v1::PORT_PROTOCOL_UDP ? "udp" : "tcp");
  }
  return OrDash(out);
}

std::string VmDetails(const v1::Vm& vm, int64_t now_ms) {
  const v1::VmSpec& s = vm.spec();
  std::string disks;
  for (const auto& d : s.disks()) disks += (disks.empty() ? "" : ",") + d;
  return RenderFields({
      {"name", s.name()},
      {"state", VmStateText(vm)},
      {"phase", PhaseName(vm.status().phase())},
      {"desired", DesiredName(vm.desired_state())},
      {"reason", OrDash(vm.status().message())},
      {"node", vm.node_id() == 0 ? "-" : std::to_string(vm.node_id())},
      {"uptime", FormatAge(vm.status().running_since_unix_ms(), now_ms)},
      {"vcpus", std::to_string(s.vcpus())},
      {"memory", FormatMemoryMib(s.memory_mib())},
      {"kernel", s.kernel().empty() ? "(node default)" : s.kernel()},
      {"initrd", s.initrd().empty() ? "(node default)" : s.initrd()},
      {"cmdline", OrDash(s.cmdline())},
      {"disks", OrDash(disks)},
      {"network", VmNetworkName(s)},
      {"addresses", VmAddresses(vm)},
      {"ready when", s.ready_port() != 0 ? fmt::format("tcp port {} answers", s.ready_port())
                                         : "console line (default guest) or running"},
      {"labels", SortedLabels(s.labels())},
      {"constraints", OrDash(Joined(s.constraints()))},
      {"anti-affinity", OrDash(s.anti_affinity_group())},
      {"strategy", s.strategy().empty() ? "(cluster setting)" : s.strategy()},
      {"restart", s.restart_policy() == v1::RESTART_POLICY_UNSPECIFIED ? "on-failure"
                                                                        : RestartPolicyName(s.restart_policy())},
      {"generation", std::to_string(vm.generation())},
      {"created", FormatTime(vm.created_at_unix_ms(), now_ms)},
      {"created index", std::to_string(vm.created_index())},
      {"created by", OrDash(vm.created_by())},
      {"updated by", OrDash(vm.updated_by())},
      {"status updated", FormatTime(vm.status().updated_at_unix_ms(), now_ms)},
  });
}

std::string DrainText(const v1::Node& n, const v1::NodeUsage& u, int64_t now_ms) {
  if (!n.draining()) return "no";
  if (u.drain_left() == 0) return "done";
  std::string out = fmt::format("yes ({} left, {} moving", u.drain_left(), u.drain_moving());
  if (n.drain_deadline_unix_ms() != 0) {
    out += n.drain_deadline_unix_ms() <= now_ms
               ? ", deadline passed"
               : ", deadline in " + FormatAge(now_ms, n.drain_deadline_unix_ms());
  }
  return out + ")";
}

std::string NodeTable(const v1::ListNodesResponse& resp, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < resp.nodes_size(); ++i) {
    const v1::Node& n = resp.nodes(i);
    v1::NodeUsage u = i < resp.usage_size() ? resp.usage(i) : v1::NodeUsage();
    const auto& cap = n.capacity();
    const uint64_t free_vcpus = cap.vcpus() > u.used().vcpus() ? cap.vcpus() - u.used().vcpus() : 0;
    const uint64_t free_mem =
        cap.memory_mib() > u.used().memory_mib() ? cap.memory_mib() - u.used().memory_mib() : 0;
    rows.push_back({std::to_string(n.id()), n.address(), RoleName(n.role()), HealthName(n.health()),
                    DrainText(n, u, now_ms),
                    fmt::format("{}/{}", u.used().vcpus(), free_vcpus),
                    FormatMemoryMib(u.used().memory_mib()) + "/" + FormatMemoryMib(free_mem),
                    std::to_string(u.vm_count()), SortedLabels(n.labels()),
                    FormatAge(n.registered_at_unix_ms(), now_ms)});
  }
  return RenderTable({"ID", "ADDRESS", "ROLE", "HEALTH", "DRAINING", "VCPUS USED/FREE",
                      "MEMORY USED/FREE", "VMS", "LABELS", "AGE"},
                     rows);
}

namespace {

std::string TokenExpiry(int64_t unix_ms, int64_t now_ms) {
  if (unix_ms == 0) return "never";
  if (unix_ms <= now_ms) return "expired";
  return fmt::format("{:%Y-%m-%d %H:%M}Z", fmt::gmtime(static_cast<std::time_t>(unix_ms / 1000)));
}

}  // namespace

std::string TokenTable(const google::protobuf::RepeatedPtrField<v1::Token>& tokens, bool join, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::Token& t : tokens) {
    const std::string by = t.created_by().empty() ? "-" : t.created_by();
    if (join) {
      const std::string uses = t.max_uses() == 0 ? fmt::format("{}", t.uses()) : fmt::format("{}/{}", t.uses(), t.max_uses());
      rows.push_back({t.id(), t.kind() == v1::TOKEN_KIND_JOIN_WORKER ? "worker" : "server", uses,
                      TokenExpiry(t.expires_unix_ms(), now_ms), FormatAge(t.created_unix_ms(), now_ms), by});
    } else {
      rows.push_back({t.id(), t.name(), t.role(), TokenExpiry(t.expires_unix_ms(), now_ms),
                      FormatAge(t.created_unix_ms(), now_ms), by});
    }
  }
  if (join) return RenderTable({"ID", "ROLE", "USES", "EXPIRES", "AGE", "CREATED BY"}, rows);
  return RenderTable({"ID", "NAME", "ROLE", "EXPIRES", "AGE", "CREATED BY"}, rows);
}

std::string MemberTable(const google::protobuf::RepeatedPtrField<v1::Member>& members, uint64_t leader_id) {
  std::vector<std::vector<std::string>> rows;
  // The certificates' expiry, when the members run TLS.
  bool certs = false;
  for (const v1::Member& m : members) certs = certs || m.cert_expires_unix() != 0;
  for (const v1::Member& m : members) {
    std::string role = RoleName(m.role());
    if (leader_id != 0 && m.id() == leader_id) role += " (leader)";
    rows.push_back({std::to_string(m.id()), m.address(), role,
                    m.match_index() == 0 ? "-" : std::to_string(m.match_index()),
                    m.last_contact_ms_ago() < 0 ? "-" : fmt::format("{}ms", m.last_contact_ms_ago())});
    if (certs) {
      rows.back().push_back(m.cert_expires_unix() == 0
                                ? "-"
                                : fmt::format("{:%Y-%m-%d}", fmt::gmtime(static_cast<std::time_t>(m.cert_expires_unix()))));
    }
  }
  std::vector<std::string> header = {"ID", "ADDRESS", "ROLE", "MATCH", "CONTACT"};
  if (certs) header.push_back("CERT EXPIRES");
  return RenderTable(header, rows);
}

std::string ClusterStatusText(const v1::GetClusterStatusResponse& st) {
  std::string out = RenderFields({
      {"cluster", OrDash(st.cluster_id())},
      {"answered by", fmt::format("node {}", st.node_id())},
      {"role", OrDash(st.role())},
      {"term", std::to_string(st.term())},
      {"leader", st.leader_id() == 0 ? "none" : fmt::format("node {}", st.leader_id())},
      {"commit index", std::to_string(st.commit_index())},
      {"applied index", std::to_string(st.applied_index())},
      {"snapshot index", std::to_string(st.snapshot_index())},
      {"last index", std::to_string(st.last_index())},
  });
  return out + "\n" + MemberTable(st.members(), st.leader_id());
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string raw;
  auto status = google::protobuf::util::MessageToJsonString(message, &raw, options);
  if (!status.ok()) {
    // Only for messages with unset Any fields and the like; none in this API.
    nlohmann::json err = {{"error", std::string(status.message())}};
    return err.dump(2) + "\n";
  }
  // nlohmann's default object keeps keys sorted: map fields print in a
  // stable order whatever the protobuf map's iteration order was.
  return nlohmann::json::parse(raw).dump(2) + "\n";
}

const char* GrpcCodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",  "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",          "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(kNames))) return "UNKNOWN";
  return kNames[code];
}

}  // namespace blixard::cli
