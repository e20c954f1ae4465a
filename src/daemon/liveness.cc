#include "daemon/liveness.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/agent.h"
#include "common/thread_name.h"
#include "daemon/ack_file.h"

namespace blixard::daemon {

using node::Clock;
using node::Deadline;
using node::Node;
using node::NodeStatus;
namespace {

constexpr auto kFencePoll = std::chrono::milliseconds(50);
constexpr auto kRetry = std::chrono::milliseconds(100);

}  // namespace

LivenessOptions LivenessOptionsFor(const DaemonOptions& o) {
  LivenessOptions lo;
  lo.ttl_ms = static_cast<int64_t>(o.node_ttl_s * 1000);
  lo.state_file = o.data_dir + "/liveness";
  return lo;
}

// ---------------- node side ----------------

namespace {
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}
}  // namespace

HeartbeatSender::HeartbeatSender(LivenessOptions options, LivenessSelf& self, agent::Agent& agent)
    : options_(std::move(options)),
      self_(self),
      agent_(agent),
      fence_(FenceConfigForTtl(options_.ttl_ms), NowMs(), LoadAck()) {
  if (!options_.state_file.empty()) {
    const AckRecord saved = AckFile(options_.state_file).Load();
    saved_sent_ = saved.sent_ms;
    saved_sole_voter_ = saved.sole_voter;
  }
  agent_.Hold();
}

HeartbeatSender::~HeartbeatSender() { Stop(); }

void HeartbeatSender::Start() {
  send_thread_ = std::thread([this] {
    SetThreadName("hb-send");
    SendLoop();
  });
  fence_thread_ = std::thread([this] {
    SetThreadName("fence");
    FenceLoop();
  });
}

void HeartbeatSender::Stop() {
  {
    std::lock_guard lk(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  for (std::thread* t : {&send_thread_, &fence_thread_}) {
    if (t->joinable()) t->join();
  }
}

bool HeartbeatSender::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lk(stop_mu_);
  return !stop_cv_.wait_for(lk, d, [this] { return stopping_; });
}

void HeartbeatSender::SendLoop() {
  const auto period = std::chrono::milliseconds(control::HeartbeatPeriodMs(options_.ttl_ms));
  do {
    const auto started = Clock::now();
    std::string hint;
    {
      std::lock_guard lk(fence_mu_);
      hint = hint_address_;
    }
    const std::string address = self_.HeartbeatAddress(hint);
    bool acked = false;
    if (!address.empty()) {
      v1::HeartbeatRequest req;
      req.set_cluster_id(self_.cluster_id());
      req.set_node_id(self_.id());
      const Ms sent = NowMs();  // read before sending: never later than the leader's receipt
      auto resp = clients_.Heartbeat(address, req, started + period);
      if (resp.ok() && resp->ok()) {
        acked = true;
        // Saved before the fence rule sees it, i.e. before the agent may
        // start anything on its strength (daemon/ack_file.h).
        SaveAck(sent);
        {
          std::lock_guard lk(fence_mu_);
          fence_.OnAck(sent, resp->last_index(), NowMs());
          hint_address_ = address;
        }
      } else if (resp.ok()) {
        std::lock_guard lk(fence_mu_);
        hint_address_ = resp->leader_address();
        if (!resp->message().empty() && resp->leader_address().empty()) {
          spdlog::debug("liveness: heartbeat to {} not acknowledged: {}", address, resp->message());
        }
      } else {
        std::lock_guard lk(fence_mu_);
        if (hint_address_ == address) hint_address_.clear();
        spdlog::debug("liveness: heartbeat to {}: {}", address, resp.status().ToString());
      }
    }
    const auto wait = acked ? period - (Clock::now() - started) : Clock::duration(kRetry);
    if (!Sleep(std::chrono::duration_cast<std::chrono::milliseconds>(
            std::max<Clock::duration>(wait, std::chrono::milliseconds(1))))) {
      return;
    }
  } while (true);
}

void HeartbeatSender::FenceLoop() {
  do {
    const uint64_t applied = self_.applied_index();
    if (self_.sole_voter() != saved_sole_voter_.load()) SaveAck(-1);  // members changed
    control::FenceRule::Action action;
    {
      std::lock_guard lk(fence_mu_);
      action = fence_.Step(NowMs(), applied);
    }
    if (action == control::FenceRule::Action::kFence && self_.sole_voter()) {
      // No other node can lead, so none can be running these VMs elsewhere:
      // keep them (a one-node cluster's VMs survive a slow restart), only
      // hold the agent until the node is caught up again.
      spdlog::info("liveness: no recent heartbeat ack, but this node is the only voter: "
                   "its VMs keep running");
      agent_.Hold();
    } else if (action == control::FenceRule::Action::kFence) {
      agent_.Fence(fmt::format("fenced: no heartbeat ack from the cluster leader for {} ms",
                               options_.ttl_ms - FenceConfigForTtl(options_.ttl_ms).margin_ms));
    } else if (action == control::FenceRule::Action::kOpen) {
      spdlog::info("liveness: acknowledged by the leader and caught up: VMs may run here");
      agent_.Open();
    }
  } while (Sleep(kFencePoll));
}

void HeartbeatSender::SaveAck(Ms sent) {
  if (options_.state_file.empty()) return;
  std::lock_guard lk(save_mu_);
  if (sent < saved_sent_) sent = saved_sent_;  // also: < 0 = the same ack, new members
  const AckRecord r{sent, self_.sole_voter()};
  if (Status s = AckFile(options_.state_file).Save(r); !s.ok()) {
    spdlog::warn("liveness: {}", s.message());
    return;
  }
  saved_sent_ = sent;
  saved_sole_voter_ = r.sole_voter;
}

HeartbeatSender::Ms HeartbeatSender::LoadAck() const {
  if (options_.state_file.empty()) return -1;
  return AckFile(options_.state_file).Load().sent_ms;
}

// ---------------- a server ----------------

Liveness::Liveness(LivenessOptions options, Node& node, agent::Agent& agent)
    : options_(std::move(options)), node_(node), sender_(options_, self_, agent) {}

Liveness::~Liveness() { Stop(); }

void Liveness::Start() { sender_.Start(); }

void Liveness::Stop() { sender_.Stop(); }

uint64_t Liveness::ServerSelf::id() const { return l_.node_.id(); }
std::string Liveness::ServerSelf::cluster_id() const { return l_.node_.cluster_id(); }
uint64_t Liveness::ServerSelf::applied_index() { return l_.node_.GetStatus().applied_index; }
bool Liveness::ServerSelf::sole_voter() {
  // Any other member, even a learner, may lead after changes this node drives.
  const NodeStatus st = l_.node_.GetStatus();
  return st.members.size() == 1 && st.members[0].id == l_.node_.id();
}
std::string Liveness::ServerSelf::HeartbeatAddress(const std::string& hint) {
  std::string address = l_.LeaderAddress(l_.node_.GetStatus().leader_id);
  return address.empty() ? hint : address;
}

std::string Liveness::LeaderAddress(uint64_t leader_id) {
  std::string address;
  if (leader_id == 0) return address;
  node_.Read([&](const state::ClusterState& st) {
    if (const v1::Node* n = st.FindNode(leader_id)) address = n->address();
  });
  return address;
}

v1::HeartbeatResponse Liveness::HandleHeartbeat(const v1::HeartbeatRequest& req,
                                                Deadline deadline) {
  v1::HeartbeatResponse resp;
  const NodeStatus st = node_.GetStatus();
  resp.set_leader_id(st.leader_id);
  resp.set_leader_address(LeaderAddress(st.leader_id));
  if (!req.cluster_id().empty() && !st.cluster_id.empty() && req.cluster_id() != st.cluster_id) {
    resp.set_message("heartbeat from cluster " + req.cluster_id() + " reached a member of cluster " +
                     st.cluster_id);
    return resp;
  }
  // Passing a heartbeat on holds a gRPC handler thread: hence the cap
  // (control::DecideHeartbeat, shared with the simulator). A follower
  // counts itself in before deciding, so that concurrent calls cannot all
  // pass the cap; the leader's own heartbeats touch no counter.
  const bool leads = st.leader_id == node_.id();
  const int in_flight = leads ? 0 : forwarding_.fetch_add(1);
  const control::HeartbeatAction action = control::DecideHeartbeat(
      {.leads = leads, .leader_known = !resp.leader_address().empty(), .passed_on = req.forwarded(),
       .relays_in_flight = in_flight});
  if (!leads && action != control::HeartbeatAction::kPassOn) forwarding_.fetch_sub(1);
  switch (action) {
    case control::HeartbeatAction::kRecord:
      break;
    case control::HeartbeatAction::kRefuse:
      resp.set_message("not the leader");
      return resp;
    case control::HeartbeatAction::kRefuseBusy:
      // As a member that knows no leader answers: the sender tries another server.
      resp.clear_leader_address();
      resp.set_message("not the leader, and too many heartbeats are already being passed on to "
                       "the leader from here: send to another server");
      return resp;
    case control::HeartbeatAction::kPassOn: {
      v1::HeartbeatRequest on = req;
      on.set_forwarded(true);
      const Deadline forward_deadline = std::min<Deadline>(
          deadline, Clock::now() + std::chrono::milliseconds(control::HeartbeatRelayTimeoutMs(options_.ttl_ms)));
      auto answer = forward_clients_.Heartbeat(resp.leader_address(), on, forward_deadline);
      forwarding_.fetch_sub(1);
      if (answer.ok()) return *answer;
      resp.set_message("not the leader, and the leader did not answer: " + answer.status().message());
      return resp;
    }
  }
  // The leader's side runs in its Raft member (node::Member::Heartbeat),
  // as in the simulator.
  auto ack = node_.Heartbeat(req.node_id(), deadline);
  if (!ack.ok()) {
    resp.set_message(ack.status().message());
    return resp;
  }
  resp.set_ok(true);
  resp.set_term(ack->term);
  resp.set_last_index(ack->last_index);
  return resp;
}

}  // namespace blixard::daemon
