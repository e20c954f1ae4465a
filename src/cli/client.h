// gRPC plumbing shared by the command files: the channel, per-call contexts
// with the --timeout deadline, printing results and errors. Includes gRPC;
// only the command .cc files include it.
#pragma once

#include "common/wall_clock.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "cli/commands.h"

namespace google::protobuf {
class Message;
}

namespace blixard::cli {

class Client {
 public:
  explicit Client(const ClientOptions& options);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool json() const { return options_.output == "json"; }

  // A fresh context whose deadline is now + --timeout.
  std::unique_ptr<grpc::ClientContext> Context() const;

  // Prints `error: CODE: message` to stderr and returns 1. When the daemon
  // could not be reached at all, says so, names the address and suggests how
  // to start one.
  int Fail(const grpc::Status& status) const;

  // Prints the JSON of `message` for -o json, else `table`; returns 0.
  int Print(const google::protobuf::Message& message, const std::string& table) const;

  // One unary call with the --timeout deadline: on error prints it and
  // returns 1; otherwise prints `text(response)` (or the JSON) and returns 0.
  template <typename Stub, typename Req, typename Resp, typename Text>
  int Call(Stub& stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
           const Req& req, Text text) const {
    Resp resp;
    grpc::Status status = (stub.*rpc)(Context().get(), req, &resp);
    if (!status.ok()) return Fail(status);
    return Print(resp, text(resp));
  }

 private:
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

using blixard::NowUnixMs;  // for AGE columns

}  // namespace blixard::cli
