// Who may call what (the CallPolicy of every Blixard server, rpc/security.h).
//
//   server certificate   everything (servers hold the CA key: they could
//                        sign any identity anyway)
//   worker certificate   the worker services and heartbeats, for itself
//                        only (CheckSpeaksFor)
//   client, admin        the whole public API
//   client, operator     VMs (create, start, stop, delete, pause, resume,
//                        restart, labels), drain and undrain, and reads
//   client, reader       reads: get, list, watch, logs, status, members,
//                        nodes, settings
//   no certificate       only CertificateService (a join token inside)
// A method not in the table is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "node/node.h"
#include "pki/identity.h"

namespace grpc {
class ServerContextBase;
}

namespace blixard::api {

Status CheckCall(const std::string& method, const std::optional<pki::Identity>& caller);

// A call about node `node_id` (its heartbeat, its registration, its
// reports): a worker may speak only for itself. kOk on servers, clients
// with access (the policy let them in) and calls without TLS.
Status CheckSpeaksFor(const grpc::ServerContextBase* ctx, uint64_t node_id);

// Who made the call, for the audit log: "client alice (admin)",
// "server 2", or "local" without TLS.
std::string CallerName(const grpc::ServerContextBase* ctx);

// The audit log's line for an accepted write: "<actor> <operation> <what>",
// e.g. "client alice (admin) create_vm web-1".
std::string AuditText(const v1::Command& cmd);

// Proposes `cmd` made by `actor` (Command.actor; "" for the cluster's own)
// and logs its audit line once it applied without error: what
// node::Node::Propose returns.
Result<state::ApplyResult> ProposeAudited(node::Node& node, v1::Command cmd, const std::string& actor,
                                          node::Deadline deadline);

}  // namespace blixard::api
