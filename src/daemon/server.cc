#include "daemon/server.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>

#include "agent/agent.h"
#include "api/access.h"
#include "api/services.h"
#include "api/token_service.h"
#include "api/worker_service.h"
#include "common/wall_clock.h"
#include "daemon/backend.h"
#include "daemon/capacity.h"
#include "daemon/cert_renewal.h"
#include "daemon/credentials.h"
#include "daemon/data_dir.h"
#include "daemon/fence_guard.h"
#include "daemon/liveness.h"
#include "node/node.h"
#include "rpc/security.h"
#include "rpc/servers.h"
#include "state/commands.h"
#include "storage/log_store.h"
#include "storage/wal_log_store.h"
#include "transport/transport.h"
#include "vmm/host_net.h"
#include "vmm/hypervisor.h"

namespace blixard::daemon {
namespace {

using node::Clock;
using node::Node;

// The agent's view of its node: VMs placed here, and status reports that go
// through Raft (forwarded to the leader).
class NodeAgentHost : public agent::AgentHost {
 public:
  explicit NodeAgentHost(Node& node) : node_(node) {}
  std::optional<std::vector<v1::Vm>> PlacedHere() override {
    // Caught up: a leader is known and everything this node knows to be
    // committed is applied (after a restart, the log has been replayed).
    node::NodeStatus st = node_.GetStatus();
    if (st.leader_id == 0 || st.applied_index < st.commit_index) return std::nullopt;
    std::vector<v1::Vm> out;
    node_.Read([&](const state::ClusterState& st) {
      for (const v1::Vm* vm : st.VmsOnNode(node_.id())) out.push_back(*vm);
    });
    return out;
  }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation) override {
    auto r = node_.Propose(
        state::MakeReportVmStatus(name, node_.id(), phase, message, NowUnixMs(), seq, observed_generation),
        Clock::now() + std::chrono::seconds(5));
    return r.ok() && r->status.ok();
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    auto r = node_.Propose(state::MakeVmStoppedForMove(name, node_.id(), move_index, NowUnixMs()),
                           Clock::now() + std::chrono::seconds(5));
    return r.ok() && r->status.ok();
  }

 private:
  Node& node_;
};

node::NodeConfig NodeConfigFor(const DaemonOptions& o) {
  node::NodeConfig nc;
  nc.id = o.id;
  nc.address = o.bind;
  nc.snapshot_threshold = o.snapshot_threshold;
  nc.tick_ms = o.tick_ms;
  nc.election_ticks = o.election_ticks;
  nc.join = o.join;
  nc.max_voters = o.voters;
  nc.voter_replace_after_ms = o.voter_replace_after_s * 1000;
  nc.vm_subnet = o.vm_subnet;
  nc.liveness_ttl_ms = LivenessOptionsFor(o).ttl_ms;
  return nc;
}

// The server's parts, built by its steps in the order RunServer calls them;
// the members are declared in that order too, so that each outlives what
// was built on it. A step that fails logs why and returns the exit code.
class Server {
 public:
  explicit Server(const DaemonOptions& o) : o_(o) {}
  ~Server() { Stop(); }

  // Holds the data dir (and its fence guard), checks the offer and the
  // address, and opens the Raft log.
  std::optional<int> Prepare();
  // This node's certificates (loaded, made at bootstrap, or got with a
  // join token), shown on every channel and server it builds; nothing
  // with --insecure.
  std::optional<int> SecureChannels();
  // The peer transport and the node. The node starts before the server (a
  // joining node must know its cluster first); peer messages that arrive
  // meanwhile are dropped and Raft retransmits them.
  std::optional<int> StartNode();
  // The hypervisor, the agent, the API over the node and liveness; nothing
  // acts yet.
  void BuildServices();
  std::optional<int> Listen();
  // Liveness, the agent (it acts only once liveness lets it: a fresh
  // heartbeat ack) and the offer reporter.
  void StartActing();
  // Waits for SIGINT/SIGTERM (or a storage failure), stops; the exit code.
  int ServeUntilSignal(const sigset_t& signals);

 private:
  // Stops what runs, in order: nothing acts on VMs any more, then the
  // network, then the node. Idempotent.
  void Stop();

  const DaemonOptions& o_;
  std::optional<DataDirLock> lock_;
  std::unique_ptr<storage::LogStore> store_;
  std::optional<NodeCredentials> credentials_;
  std::string bootstrap_cluster_id_;  // when this start makes the cluster
  std::atomic<Node*> node_ptr_{nullptr};  // for the peer service, set once the node runs
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<grpc::Service> peer_service_;
  std::atomic<bool> fatal_{false};
  // The agent starts after the node; until then there is nothing to wake.
  std::atomic<agent::Agent*> agent_ptr_{nullptr};
  std::unique_ptr<Node> node_;
  // Before the API, which serves console logs and pause/resume through
  // them, and so outlives the server.
  std::unique_ptr<vmm::Hypervisor> hypervisor_;
  std::unique_ptr<NodeAgentHost> agent_host_;
  std::unique_ptr<vmm::HostNetwork> host_net_;
  std::unique_ptr<agent::Agent> agent_;
  std::unique_ptr<api::ApiServices> api_;
  std::unique_ptr<api::CredentialCache> credential_cache_;  // the authenticator's view of tokens, revocations
  std::unique_ptr<Liveness> liveness_;
  std::unique_ptr<api::WorkerServiceImpl> worker_service_;  // workers register and watch here
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<OfferReporter> offer_reporter_;
  std::atomic<int64_t> cert_expires_{0};  // of this node's certificate, as offered
  std::unique_ptr<CertRenewal> renewal_;
  bool stopped_ = false;
};

std::optional<int> Server::Prepare() {
  auto lock = DataDirLock::Acquire(o_.data_dir);
  if (!lock.ok()) {
    spdlog::error("{}", lock.status().message());
    return 1;
  }
  lock_.emplace(std::move(lock).value());
  if (!EnsureFenceGuard(o_)) return 1;
  auto offer = NodeOffer(o_.capacity, ReadHostResources(o_.data_dir));  // after the dir exists
  if (!offer.ok()) {
    spdlog::error("{}", offer.status().message());
    return 2;
  }
  // The WAL does one fdatasync per Ready (LMDB two, plus a B-tree branch
  // rewrite); both pass the same LogStore contract tests.
  auto store = o_.store == "lmdb" ? storage::OpenLmdbLogStore(o_.data_dir)
                                  : storage::OpenWalLogStore(o_.data_dir);
  if (!store.ok()) {
    spdlog::error("cannot open the store in {}: {}", o_.data_dir, store.status().ToString());
    return 1;
  }
  store_ = std::move(store).value();
  if (rpc::UnixSocketInUse(o_.bind)) {
    spdlog::error("{} is in use by another server; stop it or choose another --bind", o_.bind);
    return 1;
  }
  return std::nullopt;
}

std::optional<int> Server::SecureChannels() {
  if (o_.insecure) {
    spdlog::warn("--insecure: serving without TLS; anyone who reaches {} controls the cluster", o_.bind);
    return std::nullopt;
  }
  auto cid = store_->GetMeta("cluster_id");
  if (!cid.ok()) {
    spdlog::error("cannot read {}: {}", o_.data_dir, cid.status().ToString());
    return 1;
  }
  auto loaded = LoadCredentials(o_.data_dir, pki::Identity::Server("", o_.id));
  if (!loaded.ok()) {
    spdlog::error("{}", loaded.status().message());
    return 1;
  }
  Result<NodeCredentials> c = Status::Internal("unset");
  if (*loaded) {
    if (cid->has_value() && **cid != (*loaded)->identity.cluster_id) {
      spdlog::error("the certificates in {} are of cluster {}, the Raft log of cluster {}", TlsDir(o_.data_dir),
                    (*loaded)->identity.cluster_id, **cid);
      return 1;
    }
    c = std::move(**loaded);
  } else if (cid->has_value()) {
    spdlog::error("{} belongs to cluster {} but holds no certificates (made without TLS); start it with --insecure",
                  o_.data_dir, **cid);
    return 1;
  } else if (!o_.join.empty()) {
    if (o_.token.empty()) {
      spdlog::error("joining needs --token (make one on a member with 'blixard cluster token create'), or "
                    "--insecure on every node");
      return 2;
    }
    c = JoinWithToken(o_.data_dir, pki::Identity::Kind::kServer, o_.id, o_.join, o_.token,
                      Clock::now() + std::chrono::seconds(o_.join_timeout_s));
  } else {
    bootstrap_cluster_id_ = node::NewClusterId();
    c = CreateClusterCredentials(o_.data_dir, bootstrap_cluster_id_, o_.id, o_.cert_lifetime_s);
  }
  if (!c.ok()) {
    spdlog::error("node {} has no certificate: {}", o_.id, c.status().ToString());
    return 1;
  }
  credentials_ = std::move(c).value();
  // This server signs with the lifetime it was started with.
  auto authority = std::make_shared<api::Authority>(*credentials_->authority);
  authority->cert_lifetime_s = o_.cert_lifetime_s;
  credentials_->authority = std::move(authority);
  cert_expires_ = credentials_->cert.not_after_unix;
  rpc::SetProcessSecurity(rpc::RpcSecurity::Tls(credentials_->tls, api::CheckCall));
  return std::nullopt;
}

std::optional<int> Server::StartNode() {
  auto cluster_id = [this] {
    Node* n = node_ptr_.load();
    return n ? n->cluster_id() : std::string();
  };
  transport::GrpcTransportOptions to;
  to.self = o_.id;
  to.cluster_id = cluster_id;
  to.max_message_bytes = o_.max_message_bytes;
  transport_ = transport::NewGrpcTransport(to);
  peer_service_ = transport::NewPeerService(cluster_id, [this](std::vector<raft::Message> batch) {
    if (Node* n = node_ptr_.load()) n->Receive(std::move(batch));
  });

  node::NodeConfig nc = NodeConfigFor(o_);
  nc.bootstrap_cluster_id = bootstrap_cluster_id_;
  nc.transport = transport_.get();
  nc.on_vms_changed = [this] {
    if (agent::Agent* a = agent_ptr_.load()) a->Poke();
  };
  nc.on_fatal = [this](const Status&) {
    fatal_ = true;
    ::kill(::getpid(), SIGTERM);  // wakes sigwait in ServeUntilSignal
  };
  auto node = Node::Start(std::move(nc), std::move(store_),
                          Clock::now() + std::chrono::seconds(o_.join_timeout_s));
  if (!node.ok()) {
    spdlog::error("cannot start node {} from {}: {}", o_.id, o_.data_dir, node.status().ToString());
    return 1;
  }
  node_ = std::move(node).value();
  node_ptr_ = node_.get();
  return std::nullopt;
}

void Server::BuildServices() {
  hypervisor_ = MakeHypervisor(o_);
  agent_host_ = std::make_unique<NodeAgentHost>(*node_);
  host_net_ = MakeHostNetwork(o_);
  agent::AgentOptions agent_options;
  agent_options.bridge = o_.bridge;
  agent_options.host_net = host_net_.get();
  agent_ = std::make_unique<agent::Agent>(agent_options, *hypervisor_, *agent_host_);
  api_ = std::make_unique<api::ApiServices>(*node_, hypervisor_.get(), agent_.get());
  liveness_ = std::make_unique<Liveness>(LivenessOptionsFor(o_), *node_, *agent_);
  api_->SetHeartbeatHandler([l = liveness_.get()](const v1::HeartbeatRequest& req, node::Deadline d) {
    return l->HandleHeartbeat(req, d);
  });
  worker_service_ = std::make_unique<api::WorkerServiceImpl>(*node_);
  if (credentials_) {
    api_->SetAuthority(credentials_->authority);
    credential_cache_ = std::make_unique<api::CredentialCache>(*node_, credentials_->identity.cluster_id);
    rpc::SetTokenVerifier([c = credential_cache_.get()](std::string_view t) { return c->Verify(t); });
    rpc::SetRevocationCheck([c = credential_cache_.get()](const std::string& serial) { return c->IsRevoked(serial); });
  }
}

std::optional<int> Server::Listen() {
  std::vector<grpc::Service*> services = api_->Services();
  services.push_back(worker_service_.get());
  services.push_back(peer_service_.get());
  auto listening = rpc::StartServer(o_.bind, services, rpc::ServerOptions::Member(o_.max_message_bytes));
  if (!listening.ok()) {
    spdlog::error("{}; stop the other server or choose another --bind", listening.status().message());
    return 1;
  }
  server_ = std::move(listening->server);
  spdlog::info("blixard node {} serving on {} ({}; data dir {})", o_.id, o_.bind,
               o_.insecure ? "INSECURE: no TLS" : rpc::IsUnixAddress(o_.bind) ? "unix socket, owner only" : "mutual TLS",
               o_.data_dir);
  return std::nullopt;
}

void Server::StartActing() {
  if (credentials_) {
    renewal_ = std::make_unique<CertRenewal>(
        credentials_->identity.Describe(), credentials_->cert,
        ServerRenewal(TlsDir(o_.data_dir), credentials_->identity, credentials_->authority),
        [this](const pki::CertInfo& c) { cert_expires_ = c.not_after_unix; });
    renewal_->Start();
  }
  liveness_->Start();
  agent_->Start();
  agent_ptr_ = agent_.get();
  spdlog::info("agent running VMs with the {} backend", hypervisor_->BackendName());
  offer_reporter_ = std::make_unique<OfferReporter>(
      "node " + std::to_string(o_.id),
      [&o = o_, &expires = cert_expires_]() -> Result<v1::Node> {
        auto now = NodeOffer(o.capacity, ReadHostResources(o.data_dir));
        if (now.ok()) {
          now->set_id(o.id);
          now->set_cert_expires_unix(expires.load());
        }
        return now;
      },
      ServerOfferWriter(*node_), std::nullopt, std::chrono::milliseconds(250));
}

int Server::ServeUntilSignal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  if (fatal_) {
    spdlog::error("stopping after a storage failure");
  } else {
    spdlog::info("received {}, shutting down", strsignal(sig));
  }
  Stop();
  if (fatal_) {
    spdlog::error("node {} stopped after a storage failure; its data dir is recovered at the next start",
                  o_.id);
    return 1;
  }
  spdlog::info("node {} stopped cleanly", o_.id);
  return 0;
}

void Server::Stop() {
  if (std::exchange(stopped_, true)) return;
  if (renewal_) renewal_->Stop();
  offer_reporter_.reset();
  agent_ptr_ = nullptr;
  if (liveness_) liveness_->Stop();
  if (agent_) agent_->Stop();  // VMs keep running: the next start adopts them
  if (transport_) transport_->Stop();
  // Other members' Raft streams never end on their own: give calls in
  // progress a moment, then cancel what is left.
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  if (node_) node_->Stop();
  if (server_) server_->Wait();
  rpc::SetTokenVerifier(nullptr);  // they read credential_cache_, which goes with this
  rpc::SetRevocationCheck(nullptr);
}

}  // namespace

int RunServer(const DaemonOptions& o, const sigset_t& signals) {
  Server server(o);
  if (auto failed = server.Prepare()) return *failed;
  if (auto failed = server.SecureChannels()) return *failed;
  if (auto failed = server.StartNode()) return *failed;
  server.BuildServices();
  if (auto failed = server.Listen()) return *failed;
  server.StartActing();
  return server.ServeUntilSignal(signals);
}

}  // namespace blixard::daemon
