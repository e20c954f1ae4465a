// Who is on the other end of a connection, as a certificate names it: a
// SPIFFE ID (https://spiffe.io) of the cluster's trust domain.
//   spiffe://<cluster-id>.blixard/server/<node-id>   a Raft member
//   spiffe://<cluster-id>.blixard/worker/<node-id>   a worker node
//   spiffe://<cluster-id>.blixard/client/<role>/<name>  a user's credential
// Roles (what a client may call: rpc/authz.h): admin, operator, reader.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace blixard::pki {

enum class Role { kAdmin, kOperator, kReader };
const char* RoleName(Role r);
// kInvalidArgument listing the roles.
Result<Role> ParseRole(std::string_view s);

struct Identity {
  enum class Kind { kServer, kWorker, kClient };
  Kind kind = Kind::kClient;
  std::string cluster_id;
  uint64_t node_id = 0;      // kServer, kWorker
  Role role = Role::kAdmin;  // kClient
  std::string name;          // kClient: [A-Za-z0-9._-]{1,64}

  static Identity Server(std::string cluster, uint64_t id) { return {Kind::kServer, std::move(cluster), id, Role::kAdmin, {}}; }
  static Identity Worker(std::string cluster, uint64_t id) { return {Kind::kWorker, std::move(cluster), id, Role::kAdmin, {}}; }
  static Identity Client(std::string cluster, Role role, std::string name) {
    return {Kind::kClient, std::move(cluster), 0, role, std::move(name)};
  }
  bool is_node() const { return kind != Kind::kClient; }
  // "server 3", "worker 7", "client alice (reader)": for messages and logs.
  std::string Describe() const;
  bool operator==(const Identity&) const = default;
};

std::string ToUri(const Identity& id);
// kInvalidArgument saying what is wrong with `uri`.
Result<Identity> ParseUri(std::string_view uri);

}  // namespace blixard::pki
