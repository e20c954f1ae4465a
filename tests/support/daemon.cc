#include "support/daemon.h"

#include "common/file.h"
#include "pki/pki.h"

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
  // Over TCP the daemon writes its credential before it listens: until it
  // is there, a channel (which could not talk to it anyway) is not kept.
  const bool insecure = std::find(options_.extra_args.begin(), options_.extra_args.end(), "--insecure") !=
                        options_.extra_args.end();
  if (channel_ && !channel_secure_ && options_.tcp && !insecure) channel_.reset();
  if (!channel_) {
    rpc::ChannelOptions o;
    o.max_receive_bytes = o.max_send_bytes = 64 << 20;
    // The daemon may not listen yet: retry connecting quickly, not with
    // gRPC's default multi-second backoff.
    o.initial_backoff_ms = 20;
    o.connect_timeout_ms = 1000;
    o.max_backoff_ms = 100;
    o.security = AdminSecurity(data_dir_);
    channel_secure_ = o.security.is_tls();
    channel_ = rpc::NewChannel(addr_, o);
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
  // Before the subcommands: `node` has a --data-dir of its own.
  args.insert(args.begin() + 1, {"--data-dir", data_dir_});
  return RunCommand(args);
}

namespace {
std::string TlsFile(const std::string& data_dir, const char* name) {
  auto r = ReadWholeFile(data_dir + "/tls/" + name);
  return r.ok() && *r ? **r : std::string();
}
}  // namespace

rpc::RpcSecurity AdminSecurity(const std::string& data_dir) {
  auto m = std::make_shared<rpc::TlsMaterial>(
      rpc::TlsMaterial{TlsFile(data_dir, "ca.crt"), TlsFile(data_dir, "admin.crt"), TlsFile(data_dir, "admin.key")});
  if (m->ca_pem.empty() || m->cert_pem.empty() || m->key_pem.empty()) return rpc::RpcSecurity::Insecure();
  return rpc::RpcSecurity::Tls(std::move(m));
}

rpc::RpcSecurity NodeSecurity(const std::string& data_dir, uint64_t as_server) {
  const pki::KeyAndCert ca{TlsFile(data_dir, "ca.key"), TlsFile(data_dir, "ca.crt")};
  auto node = pki::ReadCert(TlsFile(data_dir, "node.crt"));
  auto cluster = node.ok() ? pki::ParseUri(node->uri) : Result<pki::Identity>(node.status());
  auto me = cluster.ok() ? pki::Issue(ca, pki::Identity::Server(cluster->cluster_id, as_server))
                         : Result<pki::KeyAndCert>(cluster.status());
  if (!me.ok()) {
    std::cerr << "cannot make a node certificate from " << data_dir << ": " << me.status().ToString() << "\n";
    return rpc::RpcSecurity::Insecure();
  }
  return rpc::RpcSecurity::Tls(
      std::make_shared<rpc::TlsMaterial>(rpc::TlsMaterial{ca.cert_pem, me->cert_pem, me->key_pem}));
}

std::shared_ptr<grpc::Channel> RestartFriendlyChannel(const std::string& address, const rpc::RpcSecurity& security) {
  rpc::ChannelOptions o;
  o.security = security;
  o.max_receive_bytes = 64 << 20;
  o.initial_backoff_ms = 100;
  o.max_backoff_ms = 100;
  // A loaded machine may take longer than 100 ms to finish a handshake with
  // a live node.
  o.connect_timeout_ms = 5000;
  o.own_connection = true;
  return rpc::NewChannel(address, o);
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
