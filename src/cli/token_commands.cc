// `blixard token create|list|revoke` (clients' bearer tokens),
// `blixard cluster token create|list|revoke` (join tokens) and
// `blixard cert create` (a client certificate): TokenService and
// ClusterService.CreateJoinToken.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "blixard/v1/blixard.grpc.pb.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/file.h"
#include "pki/pki.h"

namespace blixard::cli {
int ClusterTokenCreate(const ClientOptions& o, const std::string& role, int64_t ttl_s, uint32_t uses) {
  Client client(o);
  auto stub = v1::ClusterService::NewStub(client.channel());
  v1::CreateJoinTokenRequest req;
  req.set_role(role);
  req.set_ttl_s(ttl_s);
  req.set_uses(uses);
  return client.Call(*stub, &v1::ClusterService::Stub::CreateJoinToken, req,
                     [&](const v1::CreateJoinTokenResponse& resp) { return resp.token() + "\n"; });
}

int TokenCreate(const ClientOptions& o, const std::string& role, const std::string& name, int64_t ttl_s) {
  Client client(o);
  auto stub = v1::TokenService::NewStub(client.channel());
  v1::CreateTokenRequest req;
  req.set_role(role);
  req.set_name(name);
  req.set_ttl_s(ttl_s);
  return client.Call(*stub, &v1::TokenService::Stub::CreateToken, req,
                     [&](const v1::CreateTokenResponse& resp) { return resp.token() + "\n"; });
}

int TokenList(const ClientOptions& o, bool join) {
  Client client(o);
  auto stub = v1::TokenService::NewStub(client.channel());
  v1::ListTokensRequest req;
  req.set_join(join);
  return client.Call(*stub, &v1::TokenService::Stub::ListTokens, req, [&](const v1::ListTokensResponse& resp) {
    return TokenTable(resp.tokens(), join, NowUnixMs());
  });
}

int TokenRevoke(const ClientOptions& o, const std::string& id) {
  Client client(o);
  auto stub = v1::TokenService::NewStub(client.channel());
  v1::RevokeTokenRequest req;
  req.set_id(id);
  return client.Call(*stub, &v1::TokenService::Stub::RevokeToken, req,
                     [&](const v1::RevokeTokenResponse&) { return "token revoked\n"; });
}

int CertCreate(const ClientOptions& o, const std::string& role, const std::string& name, int64_t ttl_s,
               const std::string& out_dir) {
  auto key = pki::NewPrivateKey();
  auto role_parsed = pki::ParseRole(role);
  if (!key.ok() || !role_parsed.ok()) {
    std::cerr << "error: " << (key.ok() ? role_parsed.status().message() : key.status().message()) << "\n";
    return 1;
  }
  auto csr = pki::NewCsr(*key, pki::Identity::Client("", *role_parsed, name.empty() ? role : name));
  if (!csr.ok()) {
    std::cerr << "error: " << csr.status().message() << "\n";
    return 1;
  }
  Client client(o);
  auto stub = v1::TokenService::NewStub(client.channel());
  v1::CreateCertificateRequest req;
  req.set_csr_pem(*csr);
  req.set_role(role);
  req.set_name(name);
  req.set_ttl_s(ttl_s);
  v1::CreateCertificateResponse resp;
  if (grpc::Status s = stub->CreateCertificate(client.Context().get(), req, &resp); !s.ok()) return client.Fail(s);
  if (::mkdir(out_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::cerr << fmt::format("error: cannot create {}: {}\n", out_dir, std::strerror(errno));
    return 1;
  }
  for (const auto& [file, data] : {std::pair{"ca.crt", resp.ca_pem()}, std::pair{"client.key", *key},
                                   std::pair{"client.crt", resp.cert_pem()}}) {
    if (Status s = WriteFileAtomically(out_dir + "/" + file, data, 0600); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return 1;
    }
  }
  if (client.json()) return client.Print(resp, "");
  std::cout << fmt::format(
      "wrote {0}/client.crt, {0}/client.key and {0}/ca.crt (serial {2}, valid until {1:%Y-%m-%d})\n"
      "use them with: BLIXARD_CA={0}/ca.crt BLIXARD_CERT={0}/client.crt BLIXARD_KEY={0}/client.key blixard ...\n",
      out_dir, fmt::gmtime(static_cast<std::time_t>(resp.expires_unix())), resp.serial());
  return 0;
}

int CertRevoke(const ClientOptions& o, const std::string& what) {
  v1::RevokeCertificateRequest req;
  auto file = ReadWholeFile(what);
  if (file.ok() && *file) {
    if ((*file)->find("BEGIN CERTIFICATE") == std::string::npos) {
      std::cerr << "error: " << what << " holds no PEM certificate\n";
      return 1;
    }
    req.set_cert_pem(**file);
  } else if (what.find('/') != std::string::npos) {
    std::cerr << "error: cannot read the certificate " << what << "\n";
    return 1;
  } else {
    req.set_serial(what);
  }
  Client client(o);
  auto stub = v1::TokenService::NewStub(client.channel());
  return client.Call(*stub, &v1::TokenService::Stub::RevokeCertificate, req,
                     [&](const v1::RevokeCertificateResponse& resp) {
                       return fmt::format("certificate {} revoked\n", resp.serial());
                     });
}

}  // namespace blixard::cli
