// A node's TLS credentials in its data dir, and how it gets them:
// bootstrapping a cluster makes its CA; joining with a token asks a member
// for a certificate; a restart loads what is there.
//
// <data-dir>/tls/ (0700; every file 0600, written durably):
//   ca.crt            the cluster CA (the only root trusted)
//   node.crt node.key this node's identity (pki/identity.h)
//   ca.key            servers only: so that any server can sign
//                     certificates (tokens are replicated records,
//                     api/token_service.h, and need no key). Kept in the
//                     clear, as kubeadm and k3s keep theirs: the daemon
//                     must sign unattended, and the data dir (the Raft
//                     log itself) is already what must not leak.
//   admin.crt admin.key  servers only: the local user's admin credential,
//                     which the CLI finds (cli/credentials.h)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/certificate_service.h"
#include "common/status.h"
#include "node/node.h"
#include "pki/identity.h"
#include "pki/pki.h"
#include "rpc/security.h"

namespace blixard::daemon {

struct NodeCredentials {
  pki::Identity identity;
  pki::CertInfo cert;  // the node's certificate, as it was read
  // Read again from the data dir as it is renewed (TlsMaterial::watch_dir).
  std::shared_ptr<const rpc::TlsMaterial> tls;
  std::shared_ptr<const api::Authority> authority;  // servers
};

std::string TlsDir(const std::string& data_dir);

// What <data-dir>/tls holds for node `expected` (kind and id), nullopt
// when it holds nothing. kFailedPrecondition when the files name another
// node, or are incomplete or unreadable.
Result<std::optional<NodeCredentials>> LoadCredentials(const std::string& data_dir, const pki::Identity& expected);

// A new cluster `cluster_id` bootstrapped by server `node_id`: its CA, the
// node's certificate (valid `cert_lifetime_s`) and the admin credential,
// saved.
Result<NodeCredentials> CreateClusterCredentials(const std::string& data_dir, const std::string& cluster_id,
                                                 uint64_t node_id, int64_t cert_lifetime_s);

// Joins with `token` through one of `join` (tried in turn until
// `deadline`): checks each server's CA against the token's fingerprint
// before sending anything, then gets a certificate for a new key, saved.
// kPermissionDenied when a server shows another CA, or refuses the token.
Result<NodeCredentials> JoinWithToken(const std::string& data_dir, pki::Identity::Kind kind, uint64_t node_id,
                                      const std::vector<std::string>& join, const std::string& token,
                                      node::Deadline deadline);

}  // namespace blixard::daemon
