#include "cli/client.h"

#include <google/protobuf/message.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include <fmt/format.h>

#include "cli/output.h"
#include "common/file.h"
#include "rpc/channels.h"

namespace blixard::cli {

namespace {

// The CLI's credentials: the CA and the admin credential a server node
// wrote into its data dir (daemon/credentials.h); BLIXARD_CA, BLIXARD_CERT
// and BLIXARD_KEY name other files. A client token (--token,
// BLIXARD_TOKEN) is sent instead of any certificate. Nothing for
// --insecure or a unix socket (its permissions protect it). Exits with a
// message saying what to do when TLS is needed and no CA is found.
rpc::RpcSecurity CliSecurity(const ClientOptions& o) {
  if (o.insecure || rpc::IsUnixAddress(o.addr)) return rpc::RpcSecurity::Insecure();
  const auto path = [&](const char* env, const std::string& from_context, const std::string& file) {
    const char* v = std::getenv(env);
    if (v != nullptr && *v != '\0') return std::string(v);
    return from_context.empty() ? o.data_dir + "/tls/" + file : from_context;
  };
  const std::string ca_path = path("BLIXARD_CA", o.ca_file, "ca.crt");
  auto ca = ReadWholeFile(ca_path);
  if (!ca.ok() || !*ca) {
    std::cerr << fmt::format(
        "error: no credentials for {}: cannot read the cluster CA {}\n"
        "hint: point --data-dir (or BLIXARD_DATA_DIR) at the node's data dir, which holds tls/ca.crt and the "
        "admin credential, or BLIXARD_CA at the cluster's CA certificate; or pass --insecure to talk to a node "
        "started with --insecure\n",
        o.addr, ca_path);
    std::exit(2);
  }
  auto material = std::make_shared<rpc::TlsMaterial>();
  material->ca_pem = **ca;
  if (!o.token.empty()) {
    rpc::RpcSecurity s = rpc::RpcSecurity::Tls(std::move(material));
    s.bearer_token = o.token;
    return s;
  }
  auto cert = ReadWholeFile(path("BLIXARD_CERT", o.cert_file, "admin.crt"));
  auto key = ReadWholeFile(path("BLIXARD_KEY", o.key_file, "admin.key"));
  if (cert.ok() && *cert && key.ok() && *key) {
    material->cert_pem = **cert;
    material->key_pem = **key;
  }
  return rpc::RpcSecurity::Tls(std::move(material));
}

}  // namespace

Client::Client(const ClientOptions& options) : options_(options) {
  // "unix:/path" and "host:port" are both gRPC target strings already.
  rpc::ChannelOptions co = rpc::ChannelOptions::Cli();
  co.security = CliSecurity(options_);
  channel_ = rpc::NewChannel(options_.addr, co);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  auto timeout = std::chrono::duration_cast<std::chrono::system_clock::duration>(
      std::chrono::duration<double>(options_.timeout_seconds));
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

int Client::Fail(const grpc::Status& status) const {
  // Unreachable only when the channel never got to the daemon: an answer
  // from it (UNAVAILABLE included, e.g. a follower that cannot reach the
  // leader, whose message says "failed to connect" about the leader)
  // leaves the channel READY and is printed as the daemon's own message.
  const auto state = channel_->GetState(false);
  const bool unreachable = (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                            status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) &&
                           state != GRPC_CHANNEL_READY;
  const std::string& why = status.error_message();
  if (unreachable && why.find("Socket closed") != std::string::npos) {
    // The connection opened and closed at once: TLS on one side only.
    std::cerr << fmt::format(
        "error: {}: {} closed the connection ({})\n"
        "hint: {}\n",
        GrpcCodeName(status.error_code()), options_.addr, why,
        options_.insecure ? "the node speaks TLS: drop --insecure"
                          : "is the node started with --insecure? then pass --insecure too");
    return 1;
  }
  if (unreachable && why.find("ssl") != std::string::npos) {
    std::cerr << fmt::format(
        "error: {}: the TLS handshake with {} failed ({})\n"
        "hint: the CA in {}/tls is not this node's cluster CA: point --data-dir at a data dir of that cluster\n",
        GrpcCodeName(status.error_code()), options_.addr, why, options_.data_dir);
    return 1;
  }
  if (unreachable) {
    std::cerr << fmt::format(
        "error: {}: cannot reach a blixard daemon at {} ({})\n"
        "hint: start one with `make run` or `blixard node --id 1 --bind {} --data-dir ./data`, "
        "or point --addr / BLIXARD_ADDR at a running node\n",
        GrpcCodeName(status.error_code()), options_.addr, status.error_message(), options_.addr);
    return 1;
  }
  std::cerr << fmt::format("error: {}: {}\n", GrpcCodeName(status.error_code()), status.error_message());
  return 1;
}

int Client::Print(const google::protobuf::Message& message, const std::string& table) const {
  std::cout << (json() ? ToJson(message) : table) << std::flush;
  return 0;
}

}  // namespace blixard::cli
