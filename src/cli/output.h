// What the CLI prints: tables and key: value blocks for people, JSON for
// scripts. Pure functions of the response messages and a "now" passed in, so
// they are tested without a server (no gRPC here, only the message types).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "blixard/v1/blixard.pb.h"

namespace blixard::cli {

// Columns separated by two spaces, each as wide as its widest cell; no
// trailing spaces. Rows shorter than the header are padded with empty cells.
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "key: value" lines with the values aligned. Keys are printed in order.
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields);

// Age of something created at created_ms, seen at now_ms: "5s", "3m", "2h",
// "4d" (truncated). "-" when created_ms <= 0 (unknown); "0s" when in the future.
std::string FormatAge(int64_t created_ms, int64_t now_ms);

// Memory in MiB: "128Mi", or "2Gi" / "1Ti" when it divides evenly.
std::string FormatMemoryMib(uint64_t mib);

// Lower-case names without the enum prefix: "pending", "running", "voter",
// "on-failure", ...; "-" for the UNSPECIFIED value.
std::string PhaseName(v1::VmPhase phase);
std::string DesiredName(v1::DesiredState desired);
std::string RoleName(v1::NodeRole role);
std::string HealthName(v1::NodeHealth health);
std::string RestartPolicyName(v1::RestartPolicy policy);

// Whether the reported phase is what the desired state asks for (RUNNING,
// READY or PAUSED for running, STOPPED for stopped).
bool VmReachedDesired(const v1::Vm& vm);

// The STATE column: the phase in capitals, plus the desired state when the
// VM has not reached it yet: "RUNNING", "PENDING (want running)".
std::string VmStateText(const v1::Vm& vm);

// Whether the VM waits for a node with a reason from the scheduler.
bool VmWaitsForPlacement(const v1::Vm& vm);
// `vm list`: NAME STATE NODE VCPUS MEMORY AGE, in the order given, and
// REASON (why a VM waits for a node) when some VM waits.
std::string VmTable(const google::protobuf::RepeatedPtrField<v1::Vm>& vms, int64_t now_ms);
// "none", "user" (also for UNSPECIFIED, the default), "bridge".
std::string VmNetworkName(const v1::VmSpec& spec);
// Where the VM is reached: its bridge address "10.77.0.2/16", else its
// published ports "127.0.0.1:8080->80/tcp,..."; "-" when neither.
std::string VmAddresses(const v1::Vm& vm);
// `vm get`: one VM as key: value lines; among them the node it is placed
// on, its state, the reason the node gave, and the uptime of its current run
// ("-" while it is not up).
std::string VmDetails(const v1::Vm& vm, int64_t now_ms);
// `node list`: ID ADDRESS ROLE HEALTH DRAINING, VCPUS and MEMORY as
// used/free of what the node offers, VMS (placed there), LABELS, AGE.
std::string NodeTable(const v1::ListNodesResponse& resp, int64_t now_ms);
// Members: ID ADDRESS ROLE MATCH CONTACT; the leader's role gets " (leader)".
// `token list` (join false: ID NAME ROLE EXPIRES AGE CREATED BY) and
// `cluster token list` (join true: ID ROLE USES EXPIRES AGE CREATED BY).
std::string TokenTable(const google::protobuf::RepeatedPtrField<v1::Token>& tokens, bool join, int64_t now_ms);
std::string MemberTable(const google::protobuf::RepeatedPtrField<v1::Member>& members,
                        uint64_t leader_id);
// `cluster status`: key: value block, blank line, members table.
std::string ClusterStatusText(const v1::GetClusterStatusResponse& status);

// Proto3 JSON of a message with the proto field names, every field present
// (defaults included) and object keys sorted, pretty-printed, so scripts can
// rely on the shape. Ends with a newline.
std::string ToJson(const google::protobuf::Message& message);

// "ALREADY_EXISTS" etc. for a gRPC status code number; "UNKNOWN" otherwise.
const char* GrpcCodeName(int code);

}  // namespace blixard::cli
