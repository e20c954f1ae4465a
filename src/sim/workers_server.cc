// Simulated workers (workers.h): the servers' side. Registration and
// heartbeats passed on to the leader, worker writes proposed there, and the
// assignment streams served from each server's applied state (the real
// AssignmentFeed and AssignmentHistory).
#include <string>
#include <utility>

#include "control/liveness.h"
#include "sim/workers.h"
#include "state/commands.h"

namespace blixard::sim::detail {

ServerWorkerSide& Workers::SideOf(SimNode& s) {
  ServerWorkerSide& side = sides_[s.id];
  if (side.incarnation != s.incarnation) {
    side = ServerWorkerSide();
    side.incarnation = s.incarnation;
  }
  return side;
}

// WorkerServiceImpl::RegisterWorker, with the proposal made at the leader
// (a follower passes it on, as Node::Propose does).
void Workers::ServerRegister(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t attempt, bool forwarded,
                             uint64_t via) {
  if (s.raft().role() != Role::kLeader) {
    const uint64_t leader = s.raft().leader();
    if (forwarded || leader == kNoNode || leader == s.id) return;  // unavailable: the worker retries
    ToServer(s.id, leader, [this, worker, worker_inc, attempt, via](SimNode& l) {
      ServerRegister(l, worker, worker_inc, attempt, true, via);
    });
    return;
  }
  v1::Node record = Record(worker);
  if (const v1::Node* known = s.state().FindNode(worker)) {
    if (known->role() != v1::NODE_ROLE_WORKER) return;  // refused (ids are never shared here)
    record.set_health(known->health());  // liveness decides when it is READY again
  }
  auto idx = s.raft().propose(state::EncodeCommand(state::MakeRegisterNode(record, kEpochMs + w_.events().now())));
  if (!idx.ok()) return;
  SideOf(s).registrations.push_back({*idx, worker, worker_inc, via, attempt});
  w_.AfterInput(s);
}

// A heartbeat of a worker, received by server `s` (`via`: the server the
// worker sent it to). What `s` does with it is the daemon's decision
// (control::DecideHeartbeat): the leader's member records it and acks
// after a ReadIndex round (node::Member::Heartbeat); a follower passes it on once, within the
// cap, and answers the worker itself if the leader does not answer within
// control::HeartbeatRelayTimeoutMs.
void Workers::ServerHeartbeat(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t seq, int64_t sent,
                              uint64_t relay, uint64_t via) {
  if (!s.vms) return;
  const bool leads = s.raft().role() == Role::kLeader;
  const uint64_t leader = s.raft().leader();
  ServerWorkerSide& side = SideOf(s);
  const control::HeartbeatAction action = control::DecideHeartbeat(
      {.leads = leads, .leader_known = !leads && leader != kNoNode && leader != s.id, .passed_on = relay != 0,
       .relays_in_flight = static_cast<int>(side.relays.size())});
  switch (action) {
    case control::HeartbeatAction::kRefuse:
      Answer(s.id, via, relay, worker, worker_inc, seq, false, leads ? kNoNode : leader, sent, 0);
      return;
    case control::HeartbeatAction::kRefuseBusy:
      ++relays_refused_;
      Answer(s.id, via, relay, worker, worker_inc, seq, false, kNoNode, sent, 0);
      return;
    case control::HeartbeatAction::kPassOn: {
      const uint64_t id = ++side.relay_seq;
      side.relays.insert(id);
      ++relays_;
      ToServer(s.id, leader, [this, worker, worker_inc, seq, sent, id, via](SimNode& l) {
        ServerHeartbeat(l, worker, worker_inc, seq, sent, id, via);
      });
      // The leader's answer did not come in time: the worker hears "not
      // the leader" from here, and a late answer is dropped (Answer).
      w_.Later(s.id, control::HeartbeatRelayTimeoutMs(kVmTtlMs),
               [this, id, worker, worker_inc, seq, sent, leader](SimNode& s) {
                 if (SideOf(s).relays.erase(id) == 0) return;  // answered
                 Answer(s.id, s.id, 0, worker, worker_inc, seq, false, leader, sent, 0);
               });
      return;
    }
    case control::HeartbeatAction::kRecord:
      break;
  }
  const uint64_t leader_id = s.id;
  Status st = s.member->Heartbeat(worker, [this, leader_id, via, relay, worker, worker_inc, seq,
                                           sent](Result<node::Member::HeartbeatAck> ack) {
    if (ack.ok()) Answer(leader_id, via, relay, worker, worker_inc, seq, true, leader_id, sent, ack->last_index);
  });
  if (st.ok()) w_.AfterInput(s);
}

// A heartbeat's answer from server `from`, returned through `via` (the
// server the worker sent it to) when that is another one; there it is
// dropped if `via` already answered the worker (its relay timed out).
void Workers::Answer(uint64_t from, uint64_t via, uint64_t relay, uint64_t worker, uint64_t worker_inc, uint64_t seq,
                     bool ok, uint64_t hint, int64_t sent, uint64_t last) {
  auto to_worker = [this, via, worker, worker_inc, seq, ok, hint, sent, last](uint64_t sender) {
    ToWorker(sender, worker, worker_inc, [this, via, seq, ok, hint, sent, last](SimWorker& wk) {
      HeartbeatAnswer(wk, seq, via, ok, hint, sent, last);
    });
  };
  if (from == via) {
    to_worker(from);
    return;
  }
  ToServer(from, via, [this, relay, to_worker](SimNode& f) {
    if (relay != 0 && SideOf(f).relays.erase(relay) == 0) return;
    to_worker(f.id);
  });
}

// WorkerServiceImpl::WorkerWrite: only a registered worker's; proposed at
// the leader (passed on by a follower); answered once handed on.
void Workers::ServerWrite(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t seq, const std::string& command) {
  const v1::Node* n = s.state().FindNode(worker);
  if (n == nullptr || n->role() != v1::NODE_ROLE_WORKER) return;
  const uint64_t leader = s.raft().leader();
  if (leader == kNoNode) return;  // unavailable: the worker moves on to its next server
  if (leader == s.id) {
    if (s.raft().role() == Role::kLeader && s.raft().propose(command).ok()) w_.AfterInput(s);
  } else {
    ToServer(s.id, leader, [this, command](SimNode& l) {
      if (l.raft().role() == Role::kLeader && l.raft().propose(command).ok()) w_.AfterInput(l);
    });
  }
  ToWorker(s.id, worker, worker_inc, [seq](SimWorker& wk) { wk.write_answered = std::max(wk.write_answered, seq); });
}

void Workers::ServerSubscribe(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t stream_id,
                              uint64_t from_version) {
  ServerStream st;
  st.worker = worker;
  st.worker_inc = worker_inc;
  st.stream_id = stream_id;
  st.from_version = from_version;
  st.catch_up_until = w_.events().now() + state::kAssignmentCatchUpWaitMs;
  SideOf(s).streams[worker] = std::move(st);  // a worker watches one stream per server
}

void Workers::ServerCancel(SimNode& s, uint64_t worker, uint64_t stream_id) {
  ServerWorkerSide& side = SideOf(s);
  auto it = side.streams.find(worker);
  if (it != side.streams.end() && it->second.stream_id == stream_id) side.streams.erase(it);
}

// AssignmentStreams::Serve, every step of a server: what each stream needs
// sent (a diff when its set changed, progress every 100 ms while the
// applied index moves); registrations answered once applied.
void Workers::ServerStep(SimNode& s, bool progress) {
  ServerWorkerSide& side = SideOf(s);
  const Time now = w_.events().now();
  for (auto it = side.registrations.begin(); it != side.registrations.end();) {
    if (s.applied() < it->index) {
      ++it;
      continue;
    }
    const v1::Node* n = s.state().FindNode(it->worker);
    if (n != nullptr && n->role() == v1::NODE_ROLE_WORKER) {
      const uint64_t attempt = it->attempt;
      const uint64_t inc = it->worker_inc;
      auto answer = [this, attempt, inc](uint64_t from, uint64_t worker) {
        ToWorker(from, worker, inc, [this, attempt](SimWorker& wk) {
          if (wk.register_attempt == attempt) Registered(wk);
        });
      };
      const uint64_t worker = it->worker;
      if (it->via == s.id) {
        answer(s.id, worker);
      } else {
        ToServer(s.id, it->via, [answer, worker](SimNode& f) { answer(f.id, worker); });
      }
    }
    it = side.registrations.erase(it);
  }
  std::vector<std::pair<uint64_t, uint64_t>> ended;  // (worker, stream)
  for (auto& [worker, st] : side.streams) {
    if (!st.feed) {
      // Never a set older than the worker's: it could bring back a VM that
      // has moved away.
      if (s.state().applied_index() < st.from_version) {
        if (now >= st.catch_up_until) ended.emplace_back(worker, st.stream_id);
        continue;
      }
      std::optional<state::AssignmentSet> held;
      if (st.from_version > 0) held = side.history.At(worker, st.from_version);
      st.feed.emplace(worker, st.from_version, std::move(held));
    }
    auto u = st.feed->Next(s.state(), s.applied(), progress && now - st.last_send >= state::kAssignmentProgressEveryMs);
    if (!u) continue;
    st.last_send = now;
    side.history.Remember(worker, st.feed->sent_version(), st.feed->shared_sent());
    auto msg = std::make_shared<const v1::AssignmentUpdate>(std::move(*u));
    const uint64_t sid = st.stream_id, seq = st.next_seq++, inc = st.worker_inc, from = s.id;
    bool broke = false;
    if (w_.net().Blocked(from, worker)) {
      broke = true;
    } else {
      w_.net().Send(from, worker, [this, from, worker, inc, sid, seq, msg] {
        SimWorker* wk = Find(worker);
        if (w_.net().Blocked(from, worker) || wk == nullptr || !Live(*wk, inc)) {
          BreakStream(from, worker, inc, sid);
          return;
        }
        if (!w_.failed()) OnUpdate(*wk, from, sid, seq, msg);
      }, /*reliable=*/true);
    }
    if (broke) ended.emplace_back(worker, sid);
  }
  for (const auto& [worker, sid] : ended) BreakStream(s.id, worker, side.streams[worker].worker_inc, sid);
}

// The stream `stream_id` of `worker` on `server` ends: the server drops it
// now, the worker notices 100-2000 ms later (a reset, a keepalive).
void Workers::BreakStream(uint64_t server, uint64_t worker, uint64_t worker_inc, uint64_t stream_id) {
  if (SimNode* s = Server(server)) ServerCancel(*s, worker, stream_id);
  SimWorker* wk = Find(worker);
  if (wk == nullptr) return;
  w_.events().After(w_.prng().Range(100, 2000), [this, wk, worker_inc, stream_id] {
    if (Live(*wk, worker_inc) && !w_.failed()) StreamBroken(*wk, stream_id);
  });
}

void Workers::ServerDown(SimNode& s) {
  auto it = sides_.find(s.id);
  if (it == sides_.end()) return;
  std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> open;
  for (const auto& [worker, st] : it->second.streams) open.push_back({worker, {st.worker_inc, st.stream_id}});
  sides_.erase(it);
  for (const auto& [worker, is] : open) BreakStream(s.id, worker, is.first, is.second);
}

}  // namespace blixard::sim::detail
