// A real `blixard node` process for integration tests, on a unix socket in
// its own temp dir (so tests run in parallel without port clashes) or on a
// free TCP port.
#pragma once

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "blixard/v1/blixard.grpc.pb.h"
#include "rpc/channels.h"
#include "support/process.h"

namespace blixard::testing {

class TestDaemon {
 public:
  struct Options {
    uint64_t id = 1;
    bool tcp = false;
    std::vector<std::string> extra_args;
    std::string backend = "fake";  // control-plane tests simulate VMs; "qemu" runs real ones
    // Put before the daemon's argv, e.g. {"ip", "netns", "exec", NS} to run
    // it in a network namespace (which execs, so the pid stays the daemon's).
    std::vector<std::string> wrapper = {};
  };
  explicit TestDaemon(Options options);
  TestDaemon() : TestDaemon(Options{}) {}
  ~TestDaemon();

  // Starts the process; returns once it serves linearizable reads (leader
  // elected, state loaded), or false with the log on timeout/exit.
  bool Start();
  // Starts the process without waiting for readiness.
  void Spawn();
  // Sends `sig` and waits for exit; returns the exit code.
  int Stop(int sig = SIGTERM);
  Child* child() { return child_.get(); }

  const std::string& addr() const { return addr_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string log() const { return child_ ? child_->Log() : ""; }
  std::vector<std::string> NodeArgs() const;

  std::unique_ptr<v1::VmService::Stub> Vms();
  std::unique_ptr<v1::ClusterService::Stub> Cluster();

  // Runs the CLI against this daemon: blixard <args...> --addr <addr>.
  CommandResult Cli(std::vector<std::string> args) const;

 private:
  std::shared_ptr<grpc::Channel> Channel();
  Options options_;
  TempDir dir_;
  std::string addr_;
  std::string data_dir_;
  int starts_ = 0;
  std::unique_ptr<Child> child_;
  std::shared_ptr<grpc::Channel> channel_;
  bool channel_secure_ = false;
};

// The admin credential a server node wrote into `data_dir`
// (daemon/credentials.h), for the test's own channels; Insecure while it
// holds none (a unix-socket or --insecure node, or one not started yet).
rpc::RpcSecurity AdminSecurity(const std::string& data_dir);
// A server certificate for node `as_server`, signed with the CA key a server
// node keeps in `data_dir`: for a test or bench that calls the internal
// services as a node would. Insecure (and a message on stderr) without one.
rpc::RpcSecurity NodeSecurity(const std::string& data_dir, uint64_t as_server);

// A channel to a node that restarts on the same address: reconnects within
// ~100 ms instead of gRPC's multi-second default backoff.
std::shared_ptr<grpc::Channel> RestartFriendlyChannel(const std::string& address,
                                                      const rpc::RpcSecurity& security = {});

// Context with a deadline `seconds` from now.
std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 10);

v1::VmSpec Spec(const std::string& name, uint32_t vcpus = 1, uint64_t memory_mib = 128);

}  // namespace blixard::testing
