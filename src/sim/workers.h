// Worker nodes in the simulator (SimConfig::workers, with SimConfig::vms):
// hosts that run VMs without being Raft members, wired as the daemon wires
// `blixard node --role worker` (src/daemon/worker.h):
//   - registration: a RegisterWorker through one of its servers (its
//     --join, tried in turn), proposed at the leader as the WORKER node
//     record (state::MakeRegisterNode; health kept on re-registration),
//     answered once applied; registered again at every start;
//   - heartbeats every TTL/3 (100 ms after one that was not acked) to the
//     leader hint of the last answer if it is one of its servers, else to
//     the next of them; a server that is not the leader passes a heartbeat
//     on to the leader once and returns its answer; the leader acks after a
//     ReadIndex round with its last index (VmWorkload::Heartbeat's rule);
//   - the assignment stream: a server's state::AssignmentFeed per worker
//     (a full set, or a diff from a version the server still remembers in
//     its state::AssignmentHistory; then diffs, and empty progress diffs
//     every 100 ms while the applied index moves), never a set older than
//     the version the worker asked from (the server waits up to 10 s to
//     catch up); the worker applies updates to a state::AssignmentView and
//     resubscribes from its version when one is refused or the stream
//     breaks;
//   - the real agent (src/agent) over a FakeHypervisor that reads its
//     placements from the view, and the real fence rule (control::
//     FenceRule) fed by the acks and the view's applied_index; status
//     reports and stopped-for-move confirmations go through a server and are
//     proposed at the leader.
// The network: heartbeats, registrations, writes and stream requests are
// messages like Raft's (lost, duplicated, delayed, cut by partitions). A
// stream is a TCP connection: its updates arrive in order and are never lost
// or duplicated, only delayed; a message that meets a cut link breaks it
// (the server drops the stream, the worker notices 100-2000 ms later), as
// does a crash at either end; an idle stream survives a partition.
// A server serves its streams every 50 ms (the daemon's as soon as a change
// is applied). Not modelled: the 16-forward cap and the TTL/10 forward timeout of a
// server passing heartbeats on (a lost forward is a heartbeat without an
// ack), the worker's data-dir cluster id, capacity updates (UpdateNode).
//
// Faults (nemesis): worker host crashes (one, or a rack of up to a fifth of
// them) with a restart 50-4000 ms later; worker daemon crashes (the VMs run
// on; the fence guard, daemon/fence_guard.h, kills them once the saved ack is
// too old; the next start adopts them and its fence rule starts from that
// ack); partitions that cut one worker,
// a group, or all of them off from every server (both ways, or one way) or
// from every server but one, healed 300-6000 ms later. The server faults of
// the VM workload go on meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "blixard/v1/internal.pb.h"
#include "control/liveness.h"
#include "sim/cluster.h"
#include "sim/event_queue.h"
#include "sim/vms.h"
#include "state/assignments.h"
#include "vmm/fake_hypervisor.h"

namespace blixard::sim::detail {

// One worker host and the daemon on it.
struct SimWorker {
  uint64_t id = 0;
  std::vector<uint64_t> servers;  // its --join, in the order it tries them
  bool up = false;
  uint64_t incarnation = 0;
  bool registered = false;
  uint64_t register_attempt = 0;
  Time register_backoff = 100;
  std::unique_ptr<vmm::FakeHypervisor> host;  // dies with a host crash (its VMs too)
  uint64_t host_incarnation = 0;
  // <data-dir>/liveness: the send time of the newest acked heartbeat, kept
  // over daemon restarts on this host (-1: none).
  int64_t saved_ack = -1;
  std::unique_ptr<agent::AgentHost> agent_host;
  std::unique_ptr<agent::Agent> agent;
  std::unique_ptr<control::FenceRule> fence;
  uint64_t step = 0;
  // WorkerLink: writes and heartbeats go to servers[next % n].
  size_t next = 0;
  uint64_t write_seq = 0, write_answered = 0;
  // HeartbeatSender: the leader hint of the last answer, the heartbeat in
  // flight (its number; 0 = none).
  uint64_t hint = 0;
  uint64_t hb_seq = 0;
  uint64_t hb_outstanding = 0;
  // The assignment stream.
  state::AssignmentView view;
  size_t watch_next = 0;
  uint64_t stream_id = 0;      // the open one (0 = none)
  uint64_t stream_server = 0;
  bool stream_got = false;     // anything arrived on it
  uint64_t stream_next_seq = 0;
  std::map<uint64_t, std::shared_ptr<const v1::AssignmentUpdate>> stream_early;  // arrived ahead of a gap
};

// A server's side of one worker's stream.
struct ServerStream {
  uint64_t worker = 0;
  uint64_t worker_inc = 0;
  uint64_t stream_id = 0;
  uint64_t from_version = 0;
  Time catch_up_until = 0;
  std::optional<state::AssignmentFeed> feed;  // once the server reached from_version
  uint64_t next_seq = 0;
  Time last_send = -1'000'000;
};

// What a server holds for the workers (process memory: gone with a crash).
struct ServerWorkerSide {
  uint64_t incarnation = 0;  // the server process's
  std::map<uint64_t, ServerStream> streams;  // by worker
  state::AssignmentHistory history;
  // Registrations the leader proposed: answered through `via` once applied.
  struct PendingRegistration {
    uint64_t index = 0;
    uint64_t worker = 0;
    uint64_t worker_inc = 0;
    uint64_t via = 0;
    uint64_t attempt = 0;
  };
  std::vector<PendingRegistration> registrations;
  // Heartbeats this server passes on to the leader, awaiting its answer
  // (control::kMaxHeartbeatRelays at most).
  std::set<uint64_t> relays;
  uint64_t relay_seq = 0;
};

// The workers of one run, over the world's servers and their VM workload
// (whose server hooks they are).
class Workers final : public VmServerHooks {
 public:
  Workers(Cluster& w, VmWorkload& vms) : w_(w), vms_(vms) {}

  // Ids first_id.. first_id+count-1; each gets a random ordering of a
  // random non-empty subset of `servers` as its --join. Starts them.
  void Create(uint64_t first_id, int count, const std::vector<uint64_t>& servers);
  bool IsWorker(uint64_t id) const { return workers_.count(id) != 0; }
  size_t size() const { return workers_.size(); }
  std::vector<uint64_t> ids() const;

  // -- hooks of the servers --
  // A server's VM step (every kVmStepMs while up): serve its streams (with
  // progress every other call) and answer applied registrations.
  void ServerStep(SimNode& s, bool progress) override;
  // A server's process ends (crash, shutdown): its streams break.
  void ServerDown(SimNode& s) override;

  // -- nemesis --
  void ActCrash();
  void ActPartition();
  // Every worker up and every cut healed (the network itself is healed by
  // World::Settle).
  void Settle();

  // -- checks --
  // "" when every worker is registered and READY in `leader`'s state; else
  // what is still missing.
  std::string WaitingOn(const SimNode& leader) const;
  uint64_t vm_starts() const { return vm_starts_; }
  // Heartbeats servers passed on to the leader, and those refused at the cap.
  uint64_t relays() const { return relays_; }
  uint64_t relays_refused() const { return relays_refused_; }

 private:
  class AgentView;
  SimWorker* Find(uint64_t id) {
    auto it = workers_.find(id);
    return it == workers_.end() ? nullptr : it->second.get();
  }
  bool Live(const SimWorker& wk, uint64_t inc) const { return wk.up && wk.incarnation == inc; }
  // The server `id`, if its process runs.
  SimNode* Server(uint64_t id);
  // A request to a server, lost, duplicated and cut like Raft's messages.
  void ToServer(uint64_t from, uint64_t to, std::function<void(SimNode&)> fn);
  // An answer to incarnation `inc` of a worker, likewise.
  void ToWorker(uint64_t from, uint64_t to, uint64_t inc, std::function<void(SimWorker&)> fn);
  // A message on a stream's connection: delayed only, or the connection
  // breaks (`on_break`).
  void StreamSend(uint64_t from, uint64_t to, std::function<void(SimNode&)> deliver, std::function<void()> on_break);

  // -- the worker --
  void Start(SimWorker& wk);
  void Crash(SimWorker& wk, bool daemon_only = false);
  void StartGuard(SimWorker& wk);
  void ScheduleRestart(SimWorker& wk, Time delay);
  void Register(SimWorker& wk);
  void Registered(SimWorker& wk);
  void StepLoop(SimWorker* wk, uint64_t inc);
  void Step(SimWorker& wk);
  void Heartbeat(SimWorker& wk);
  void NextHeartbeat(SimWorker* wk, uint64_t inc, Time delay);
  void HeartbeatAnswer(SimWorker& wk, uint64_t seq, uint64_t via, bool ok, uint64_t leader_hint, int64_t sent,
                       uint64_t last_index);
  void Write(SimWorker& wk, std::string command);
  uint64_t NextServer(SimWorker& wk);
  void Subscribe(SimWorker& wk);
  void StreamBroken(SimWorker& wk, uint64_t stream_id);
  void OnUpdate(SimWorker& wk, uint64_t server, uint64_t stream_id, uint64_t seq,
                const std::shared_ptr<const v1::AssignmentUpdate>& u);

  // -- the server side --
  ServerWorkerSide& SideOf(SimNode& s);
  void ServerRegister(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t attempt, bool forwarded,
                      uint64_t via);
  // `relay`: 0 when the worker sent it to `s`; else the id under which
  // server `via` passes it on to `s` (control::DecideHeartbeat).
  void ServerHeartbeat(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t seq, int64_t sent,
                       uint64_t relay, uint64_t via);
  void Answer(uint64_t from, uint64_t via, uint64_t relay, uint64_t worker, uint64_t worker_inc, uint64_t seq,
              bool ok, uint64_t hint, int64_t sent, uint64_t last);
  void ServerWrite(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t seq, const std::string& command);
  void ServerSubscribe(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t stream_id,
                       uint64_t from_version);
  void ServerCancel(SimNode& s, uint64_t worker, uint64_t stream_id);
  // The stream ends on the server now; the worker notices 100-2000 ms later.
  void BreakStream(uint64_t server, uint64_t worker, uint64_t worker_inc, uint64_t stream_id);
  v1::Node Record(uint64_t id) const;

  // -- partitions --
  void HealCuts();

  Cluster& w_;
  VmWorkload& vms_;
  std::map<uint64_t, std::unique_ptr<SimWorker>> workers_;
  std::map<uint64_t, ServerWorkerSide> sides_;  // by server
  std::set<std::pair<uint64_t, uint64_t>> cut_;  // (worker, server) links this nemesis blocked
  uint64_t cut_gen_ = 0;
  uint64_t next_stream_ = 0;
  uint64_t vm_starts_ = 0;
  uint64_t relays_ = 0;
  uint64_t relays_refused_ = 0;
};

}  // namespace blixard::sim::detail
