// Liveness in the daemon: the wiring of src/control/liveness.h (read it for
// why a VM never runs on two nodes at once).
//
// Every node (servers and workers, HeartbeatSender):
//   - heartbeats to the leader (InternalService.Heartbeat, not through the
//     Raft log) every TTL/3, to the leader it knows from its Raft state or
//     from the last answer's hint;
//   - runs the fence rule on its own thread: no fresh ack for TTL - margin
//     -> the agent kills every VM here (Agent::Fence) and starts none until
//     a fresh ack arrives and the local state has applied up to the ack's
//     index (Agent::Open). The send time of the newest ack is kept in
//     <data-dir>/liveness (monotonic clock, survives a daemon restart, not a
//     reboot, which takes the VMs with it anyway), so a restarted daemon
//     kills adopted VMs if that ack is too old.
// A server that is not the leader passes a heartbeat on to the leader it
// knows (once: HeartbeatRequest.forwarded) and returns the leader's answer,
// so a worker reaches the leader through whichever --join server it can
// reach. The fence rule is unchanged by the extra hop: the worker reads its
// send time before sending, so it is still no later than the leader's
// receipt. Each forward holds a handler thread, so it waits at most TTL/10
// (not the sender's TTL/3), and at most 16 run at once; over that the
// server answers as a member that knows no leader ("not the leader", no
// leader_address), and the sender tries its next server. A refused or
// timed-out forward is only a missing ack: the fence rule stays safe.
// The leader's side (control/liveness.h, steps 2 and 4) runs in its Raft
// member (node::Member::Heartbeat and its liveness ticks), so that the
// simulator runs it too: it records heartbeats and acks them after a
// ReadIndex round; it marks silent nodes DOWN and heard ones READY, and
// moves the VMs of DOWN nodes it has not heard from for a TTL (restart
// policy NEVER: reported FAILED instead). Liveness here only answers
// InternalService.Heartbeat: it passes the heartbeat on, or hands it to
// the member when this server leads.
//
// Thread safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "blixard/v1/internal.pb.h"
#include "control/liveness.h"
#include "daemon/options.h"
#include "node/node.h"
#include "node/peer_clients.h"

namespace blixard::agent {
class Agent;
}

namespace blixard::daemon {

using control::FenceConfigForTtl;

struct LivenessOptions {
  int64_t ttl_ms = 3000;    // --node-ttl
  std::string state_file;   // where the newest ack's send time is kept; empty = nowhere
};
// A node's, from its flags (--node-ttl, --tick-ms, <data-dir>/liveness).
LivenessOptions LivenessOptionsFor(const DaemonOptions& o);

// What the node side of liveness needs from where it runs: a server (its
// Raft state) or a worker (its assignment stream, src/daemon/worker.h).
class LivenessSelf {
 public:
  virtual ~LivenessSelf() = default;
  virtual uint64_t id() const = 0;
  virtual std::string cluster_id() const = 0;
  // Where to send the next heartbeat. `hint`: the leader's address from the
  // last answer ("" when none, or when sending there failed).
  virtual std::string HeartbeatAddress(const std::string& hint) = 0;
  // How far the placements this node acts on are known to reach, as a Raft
  // log index: a server's applied index; a worker's stream applied_index.
  // The fence rule re-opens only once this reaches the ack's index.
  virtual uint64_t applied_index() = 0;
  // This node is the cluster's only Raft member, so no other node can lead
  // and move its VMs while it is down (the fence guard then spares them,
  // daemon/fence_guard.h). Never true for a worker.
  virtual bool sole_voter() { return false; }
};

// The node side: heartbeats and the fence rule (see above).
class HeartbeatSender {
 public:
  // `agent` is held (nothing starts) until the first fresh ack.
  HeartbeatSender(LivenessOptions options, LivenessSelf& self, agent::Agent& agent);
  ~HeartbeatSender();  // Stop()s
  void Start();
  void Stop();

 private:
  using Ms = int64_t;
  void SendLoop();   // heartbeats
  void FenceLoop();  // the fence rule
  // Writes the ack file (daemon/ack_file.h): `sent` (or the last saved ack
  // when that is newer, e.g. sent < 0 on a change of members) and
  // self_.sole_voter().
  void SaveAck(Ms sent);
  Ms LoadAck() const;
  bool Sleep(std::chrono::milliseconds d);  // false when stopping

  const LivenessOptions options_;
  LivenessSelf& self_;
  std::mutex save_mu_;
  Ms saved_sent_ = -1;  // under save_mu_
  std::atomic<bool> saved_sole_voter_{false};
  agent::Agent& agent_;
  node::PeerClients clients_;
  std::mutex fence_mu_;
  control::FenceRule fence_;
  std::string hint_address_;  // from the last answer
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread send_thread_, fence_thread_;
};

// A server: the node side over its Raft state, and the answer to heartbeats.
class Liveness {
 public:
  // `agent` is held (nothing starts) until the first fresh ack; see above.
  // The node's NodeConfig::liveness_ttl_ms must be options.ttl_ms.
  Liveness(LivenessOptions options, node::Node& node, agent::Agent& agent);
  ~Liveness();  // Stop()s
  void Start();
  void Stop();

  // InternalService.Heartbeat: passed on, refused, or acked by the member.
  v1::HeartbeatResponse HandleHeartbeat(const v1::HeartbeatRequest& req, node::Deadline deadline);

 private:
  class ServerSelf : public LivenessSelf {
   public:
    explicit ServerSelf(Liveness& l) : l_(l) {}
    uint64_t id() const override;
    std::string cluster_id() const override;
    std::string HeartbeatAddress(const std::string& hint) override;
    uint64_t applied_index() override;
    bool sole_voter() override;

   private:
    Liveness& l_;
  };
  std::string LeaderAddress(uint64_t leader_id);

  const LivenessOptions options_;
  node::Node& node_;
  node::PeerClients forward_clients_;  // heartbeats passed on to the leader
  std::atomic<int> forwarding_{0};  // forwards in flight
  ServerSelf self_{*this};
  HeartbeatSender sender_;
};

}  // namespace blixard::daemon
