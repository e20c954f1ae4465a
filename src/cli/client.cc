#include "cli/client.h"

#include <google/protobuf/message.h>

#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "cli/output.h"
#include "rpc/channels.h"

namespace blixard::cli {

Client::Client(const ClientOptions& options) : options_(options) {
  // "unix:/path" and "host:port" are both gRPC target strings already.
  channel_ = rpc::NewChannel(options_.addr, rpc::ChannelOptions::Cli());
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
