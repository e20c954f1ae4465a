#include "pki/identity.h"

#include <charconv>
#include <vector>

namespace blixard::pki {
namespace {

constexpr std::string_view kScheme = "spiffe://";
constexpr std::string_view kDomainSuffix = ".blixard";

bool ValidName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool ValidClusterId(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

Result<uint64_t> ParseId(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == 0) {
    return Status::InvalidArgument("node id '" + std::string(s) + "' is not a positive number");
  }
  return v;
}

}  // namespace

const char* RoleName(Role r) {
  switch (r) {
    case Role::kAdmin: return "admin";
    case Role::kOperator: return "operator";
    case Role::kReader: return "reader";
  }
  return "?";
}

Result<Role> ParseRole(std::string_view s) {
  if (s == "admin") return Role::kAdmin;
  if (s == "operator") return Role::kOperator;
  if (s == "reader") return Role::kReader;
  return Status::InvalidArgument("unknown role '" + std::string(s) + "'; use admin, operator or reader");
}

std::string Identity::Describe() const {
  switch (kind) {
    case Kind::kServer: return "server " + std::to_string(node_id);
    case Kind::kWorker: return "worker " + std::to_string(node_id);
    case Kind::kClient: return "client " + name + " (" + RoleName(role) + ")";
  }
  return "?";
}

std::string ToUri(const Identity& id) {
  std::string out = std::string(kScheme) + id.cluster_id + std::string(kDomainSuffix);
  switch (id.kind) {
    case Identity::Kind::kServer: return out + "/server/" + std::to_string(id.node_id);
    case Identity::Kind::kWorker: return out + "/worker/" + std::to_string(id.node_id);
    case Identity::Kind::kClient: return out + "/client/" + RoleName(id.role) + "/" + id.name;
  }
  return out;
}

Result<Identity> ParseUri(std::string_view uri) {
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("'" + std::string(uri) + "' is not a Blixard identity: " + why);
  };
  if (uri.substr(0, kScheme.size()) != kScheme) return bad("it does not start with spiffe://");
  const std::vector<std::string_view> parts = Split(uri.substr(kScheme.size()), '/');
  if (parts.size() < 3) return bad("too few path segments");
  std::string_view domain = parts[0];
  if (domain.size() <= kDomainSuffix.size() || domain.substr(domain.size() - kDomainSuffix.size()) != kDomainSuffix) {
    return bad("its trust domain is not <cluster-id>.blixard");
  }
  Identity id;
  id.cluster_id = std::string(domain.substr(0, domain.size() - kDomainSuffix.size()));
  if (!ValidClusterId(id.cluster_id)) return bad("the cluster id is malformed");
  if ((parts[1] == "server" || parts[1] == "worker") && parts.size() == 3) {
    id.kind = parts[1] == "server" ? Identity::Kind::kServer : Identity::Kind::kWorker;
    auto n = ParseId(parts[2]);
    if (!n.ok()) return bad(n.status().message());
    id.node_id = *n;
    return id;
  }
  if (parts[1] == "client" && parts.size() == 4) {
    auto role = ParseRole(parts[2]);
    if (!role.ok()) return bad(role.status().message());
    if (!ValidName(parts[3])) return bad("the client name is malformed");
    id.kind = Identity::Kind::kClient;
    id.role = *role;
    id.name = std::string(parts[3]);
    return id;
  }
  return bad("the path is not /server/<id>, /worker/<id> or /client/<role>/<name>");
}

}  // namespace blixard::pki
