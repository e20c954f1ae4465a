#include "support/daemon.h"

#include <signal.h>

#include <algorithm>
#include <iostream>

namespace blixard::testing {

TestDaemon::TestDaemon(Options options) : options_(std::move(options)) {
  data_dir_ = dir_.path() + "/data";
  addr_ = options_.tcp ? "127.0.0.1:" + std::to_string(FreeTcpPort())
                       : "unix:" + dir_.path() + "/api.sock";
}

TestDaemon::~TestDaemon() {
  if (child_ && child_->Running()) Stop(SIGKILL);
}

std::vector<std::string> TestDaemon::NodeArgs() const {
  // The control-plane tests run VMs with the in-process fake backend; the
  // qemu backend has tests of its own.
  std::vector<std::string> args = options_.wrapper;
  args.insert(args.end(), {BlixardBin(), "node", "--id", std::to_string(options_.id),
                                   "--bind", addr_, "--data-dir", data_dir_, "--backend",
                                   options_.backend});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  if (options_.backend == "fake") {
    AddFakeCapacity(args);
  } else if (std::find(args.begin(), args.end(), "--cpu-overcommit") == args.end()) {
    // Real guests with the host's real capacity: a test's few 1-vCPU VMs
    // must fit on a 2-core CI machine (they mostly sit idle once booted).
    args.insert(args.end(), {"--cpu-overcommit", "8"});
  }
  return args;
}

void TestDaemon::Spawn() {
  child_ = std::make_unique<Child>(NodeArgs(),
                                   dir_.path() + "/node-" + std::to_string(++starts_) + ".log");
  channel_.reset();
}

bool TestDaemon::Start() {
  Spawn();
  bool ready = WaitUntil(
      [&] {
        if (!child_->Running()) return true;  // exited: stop waiting, report below
        // A fresh channel per attempt: one that failed before the daemon
        // listened would wait out gRPC's reconnect backoff.
        channel_.reset();
        auto stub = Cluster();
        v1::GetClusterStatusRequest req;
        v1::GetClusterStatusResponse resp;
        auto ctx = Ctx(1);
        return stub->GetClusterStatus(ctx.get(), req, &resp).ok() &&
               resp.leader_id() == options_.id;
      },
      std::chrono::seconds(30));
  if (!ready || !child_->Running()) {
    std::cerr << "daemon did not become ready; log:\n" << log() << std::endl;
    return false;
  }
  return true;
}

int TestDaemon::Stop(int sig) {
  channel_.reset();
  child_->Signal(sig);
  int code = child_->Wait(std::chrono::seconds(30));
  return code;
}

std::shared_ptr<grpc::Channel> TestDaemon::Channel() {
  if (!channel_) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    // The daemon may not listen yet: retry connecting quickly, not with
    // gRPC's default multi-second backoff.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);  // = gRPC 1.51's connect timeout
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
    channel_ = grpc::CreateCustomChannel(addr_, grpc::InsecureChannelCredentials(), args);
  }
  return channel_;
}

std::unique_ptr<v1::VmService::Stub> TestDaemon::Vms() { return v1::VmService::NewStub(Channel()); }
std::unique_ptr<v1::ClusterService::Stub> TestDaemon::Cluster() {
  return v1::ClusterService::NewStub(Channel());
}

CommandResult TestDaemon::Cli(std::vector<std::string> args) const {
  args.insert(args.begin(), BlixardBin());
  args.push_back("--addr");
  args.push_back(addr_);
  return RunCommand(args);
}

std::shared_ptr<grpc::Channel> RestartFriendlyChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // gRPC clamps these to >= 100 ms.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  // Despite its name this is the connect timeout: a loaded machine may take
  // longer than 100 ms to finish a handshake with a live node.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Ctx(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

v1::VmSpec Spec(const std::string& name, uint32_t vcpus, uint64_t memory_mib) {
  v1::VmSpec s;
  s.set_name(name);
  s.set_vcpus(vcpus);
  s.set_memory_mib(memory_mib);
  return s;
}

}  // namespace blixard::testing
