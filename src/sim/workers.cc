#include "sim/workers.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "sim/world.h"
#include "state/commands.h"

namespace blixard::sim::detail {

namespace {

constexpr Time kHeartbeatPeriodMs = kVmTtlMs / 3;  // HeartbeatSender: TTL/3, one RPC at a time
constexpr Time kHeartbeatRetryMs = 100;             // after a heartbeat that was not acked
constexpr Time kRegisterTimeoutMs = 1000;
constexpr Time kWriteTimeoutMs = 1000;
constexpr Time kReconnectMs = 100;        // WorkerLink: between two stream attempts
constexpr Time kProgressEveryMs = 100;    // AssignmentStreams::kProgressEvery
constexpr Time kCatchUpWaitMs = 10'000;   // AssignmentStreams::kCatchUpWait

}  // namespace

// The agent's view of a worker: placements from its stream, writes through
// a server (as node/worker.cc's WorkerAgentHost).
class Workers::AgentView : public agent::AgentHost {
 public:
  AgentView(Workers* ws, uint64_t id) : ws_(ws), id_(id) {}
  std::optional<std::vector<v1::Vm>> PlacedHere() override {
    SimWorker* wk = ws_->Find(id_);
    if (wk == nullptr || !wk->view.has_set()) return std::nullopt;
    std::vector<v1::Vm> out;
    out.reserve(wk->view.set().size());
    for (const auto& [name, vm] : wk->view.set()) out.push_back(vm);
    return out;
  }
  bool Report(const std::string& name, v1::VmPhase phase, const std::string& message, uint64_t seq,
              uint64_t observed_generation) override {
    if (SimWorker* wk = ws_->Find(id_)) {
      ws_->Write(*wk, state::EncodeCommand(state::MakeReportVmStatus(
                          name, id_, phase, message, kEpochMs + ws_->w_.events_.now(), seq, observed_generation)));
    }
    return true;  // a lost report is sent again by a later pass (it still differs)
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    if (SimWorker* wk = ws_->Find(id_)) {
      ws_->Write(*wk, state::EncodeCommand(
                          state::MakeVmStoppedForMove(name, id_, move_index, kEpochMs + ws_->w_.events_.now())));
    }
    return true;
  }

 private:
  Workers* ws_;
  uint64_t id_;
};

// ---------------------------------------------------------------- set-up

void Workers::Create(uint64_t first_id, int count, const std::vector<uint64_t>& servers) {
  for (int i = 0; i < count; ++i) {
    auto wk = std::make_unique<SimWorker>();
    wk->id = first_id + static_cast<uint64_t>(i);
    // Its --join: usually every server, now and then only some of them.
    wk->servers = servers;
    w_.prng_.Shuffle(wk->servers);
    if (w_.prng_.OneIn(4)) wk->servers.resize(static_cast<size_t>(w_.prng_.Range(1, static_cast<int64_t>(servers.size()))));
    workers_[wk->id] = std::move(wk);
  }
  for (auto& [id, wk] : workers_) {
    SimWorker* p = wk.get();
    const uint64_t inc = p->incarnation;
    w_.events_.After(w_.prng_.Range(0, 2000), [this, p, inc] {
      if (!p->up && p->incarnation == inc && !w_.failed()) Start(*p);
    });
  }
}

std::vector<uint64_t> Workers::ids() const {
  std::vector<uint64_t> out;
  for (const auto& [id, wk] : workers_) out.push_back(id);
  return out;
}

SimNode* Workers::Server(uint64_t id) {
  SimNode* s = w_.Find(id);
  return s != nullptr && s->up && !s->removed ? s : nullptr;
}

v1::Node Workers::Record(uint64_t id) const {
  v1::Node node;
  node.set_id(id);
  node.set_address("10.1." + std::to_string(id / 256) + "." + std::to_string(id % 256) + ":7001");
  node.set_role(v1::NODE_ROLE_WORKER);
  node.set_health(v1::NODE_HEALTH_READY);
  // Smaller than the servers, of three sizes.
  node.mutable_capacity()->set_vcpus(static_cast<uint32_t>(8 + 4 * (id % 3)));
  node.mutable_capacity()->set_memory_mib(8192);
  (*node.mutable_labels())["zone"] = std::string(1, static_cast<char>('a' + id % 3));
  return node;
}

// ---------------------------------------------------------------- messages

// A request from `from` (a worker or a server) to server `to`, lost,
// duplicated and cut like Raft's messages; runs on the server if its
// process still runs on arrival (held while it is paused).
void Workers::ToServer(uint64_t from, uint64_t to, std::function<void(SimNode&)> fn) {
  w_.net_.Send(from, to, [this, to, fn = std::move(fn)] {
    SimNode* s = Server(to);
    if (s == nullptr || w_.failed()) return;
    const uint64_t inc = s->incarnation;
    w_.OnNode(*s, [this, to, inc, fn] {
      SimNode* s = Server(to);
      if (s == nullptr || s->incarnation != inc || w_.failed()) return;
      fn(*s);
    });
  });
}

// An answer or update to incarnation `inc` of worker `to`.
void Workers::ToWorker(uint64_t from, uint64_t to, uint64_t inc, std::function<void(SimWorker&)> fn) {
  w_.net_.Send(from, to, [this, to, inc, fn = std::move(fn)] {
    SimWorker* wk = Find(to);
    if (wk == nullptr || !Live(*wk, inc) || w_.failed()) return;
    fn(*wk);
  });
}

// ---------------------------------------------------------------- the worker

void Workers::Start(SimWorker& wk) {
  ++wk.incarnation;
  wk.up = true;
  wk.registered = false;
  wk.register_backoff = 100;
  const uint64_t id = wk.id;
  if (!wk.host) {
    vmm::FakeHypervisorOptions o;
    o.host = "worker-" + std::to_string(id);
    o.now_ms = [this] { return w_.events_.now(); };
    o.on_event = [this, id](int64_t at, const std::string& vm, const std::string& what) {
      if (what == "start" || what == "stop" || what == "kill" || what == "crash") {
        w_.Trace(Ev::kVm, id, what == "start" ? 0 : 1, VmNameHash(vm));
      }
      if (what == "start") ++vm_starts_;
      std::string clash = w_.vm_ledger_.OnEvent(at, id, vm, what);
      if (!clash.empty()) w_.Fail("vm on two nodes", clash);
    };
    wk.host = std::make_unique<vmm::FakeHypervisor>(std::move(o));
    ++wk.host_incarnation;
    wk.saved_ack = -1;
    StartGuard(wk);
  }
  wk.agent_host = std::make_unique<AgentView>(this, id);
  agent::AgentOptions ao;
  ao.stop_grace = std::chrono::milliseconds(0);
  ao.first_report_seq = static_cast<uint64_t>(kEpochMs + w_.events_.now()) * 1000;
  wk.agent = std::make_unique<agent::Agent>(ao, *wk.host, *wk.agent_host);
  wk.agent->Hold();
  wk.fence.reset();
  wk.step = 0;
  wk.hint = 0;
  wk.hb_outstanding = 0;
  wk.view = state::AssignmentView();
  wk.stream_id = 0;
  wk.stream_early.clear();
  w_.Trace(Ev::kWorker, id, 1);
  Register(wk);
}

// A host crash: the VMs die with it. `daemon_only`: the worker process
// dies, its VMs run on (as qemu's do), watched by the fence guard.
void Workers::Crash(SimWorker& wk, bool daemon_only) {
  if (!wk.up) return;
  w_.Trace(Ev::kWorker, wk.id, daemon_only ? 10 : 0);
  wk.up = false;
  ++wk.incarnation;
  wk.registered = false;
  wk.agent.reset();
  wk.agent_host.reset();
  wk.fence.reset();
  wk.stream_id = 0;
  wk.stream_early.clear();
  if (daemon_only) return;
  wk.host.reset();
  ++wk.host_incarnation;  // its guard goes with it
  w_.vm_ledger_.HostDown(wk.id);
}

// The fence guard (node/fence_guard.h): from the host's first daemon start
// on, every 50 ms, whether or not the daemon runs, it kills every VM of the
// host once the newest saved ack (or, with none, its own start) is older
// than TTL - margin, again every 200 ms while that holds.
void Workers::StartGuard(SimWorker& wk) {
  SimWorker* p = &wk;
  const uint64_t host_inc = wk.host_incarnation;
  const Time started = w_.events_.now();
  auto next_sweep = std::make_shared<Time>(0);
  auto loop = std::make_shared<std::function<void()>>();
  *loop = [this, p, host_inc, started, next_sweep, loop] {
    if (p->host_incarnation != host_inc || !p->host || w_.failed()) {
      *loop = nullptr;  // ends the cycle
      return;
    }
    const Time now = w_.events_.now();
    const Time deadline = (p->saved_ack < 0 ? started : p->saved_ack) + kVmTtlMs - kVmFenceMarginMs;
    if (now >= deadline && now >= *next_sweep && w_.cfg_.bug != InjectedBug::kWorkerNoFence) {
      *next_sweep = now + 200;
      auto list = p->host->List();
      if (list.ok()) {
        int killed = 0;
        for (const vmm::VmInfo& vm : *list) {
          if (!vm.alive()) continue;
          (void)p->host->Kill(vm.name);
          ++killed;
        }
        if (killed > 0) w_.Trace(Ev::kWorker, p->id, 11, static_cast<uint64_t>(killed));
      }
    }
    w_.events_.After(50, *loop);
  };
  w_.events_.After(w_.prng_.Range(1, 50), *loop);
}

void Workers::ScheduleRestart(SimWorker& wk, Time delay) {
  SimWorker* p = &wk;
  const uint64_t inc = wk.incarnation;
  w_.events_.After(delay, [this, p, inc] {
    if (!p->up && p->incarnation == inc && !w_.failed()) Start(*p);
  });
}

uint64_t Workers::NextServer(SimWorker& wk) { return wk.servers[wk.next++ % wk.servers.size()]; }

// WorkerLink::Register: each server in turn until one answers, with a
// backoff of 100 ms doubling up to 1 s.
void Workers::Register(SimWorker& wk) {
  const uint64_t via = NextServer(wk);
  const uint64_t attempt = ++wk.register_attempt;
  const uint64_t id = wk.id, inc = wk.incarnation;
  ToServer(id, via, [this, id, inc, attempt, via](SimNode& s) { ServerRegister(s, id, inc, attempt, false, via); });
  SimWorker* p = &wk;
  w_.events_.After(kRegisterTimeoutMs, [this, p, inc, attempt] {
    if (!Live(*p, inc) || p->registered || p->register_attempt != attempt || w_.failed()) return;
    const Time backoff = p->register_backoff;
    p->register_backoff = std::min<Time>(backoff * 2, 1000);
    w_.events_.After(backoff, [this, p, inc, attempt] {
      if (Live(*p, inc) && !p->registered && p->register_attempt == attempt && !w_.failed()) Register(*p);
    });
  });
}

// As RunWorker after registering: the heartbeats and the fence rule start
// (the agent held until a fresh ack), and the stream is opened.
void Workers::Registered(SimWorker& wk) {
  if (wk.registered) return;
  wk.registered = true;
  w_.Trace(Ev::kWorker, wk.id, 2);
  const int64_t now = w_.events_.now();
  // As HeartbeatSender: from the saved ack of an earlier run on this host.
  wk.fence = std::make_unique<control::FenceRule>(control::FenceConfig{kVmTtlMs, kVmFenceMarginMs}, now,
                                                  wk.saved_ack);
  wk.agent->Hold();
  Heartbeat(wk);
  Subscribe(wk);
  SimWorker* p = &wk;
  const uint64_t inc = wk.incarnation;
  w_.events_.After(w_.prng_.Range(1, kVmStepMs), [this, p, inc] { StepLoop(p, inc); });
}

void Workers::StepLoop(SimWorker* p, uint64_t inc) {
  if (!Live(*p, inc) || w_.failed()) return;
  w_.events_.After(kVmStepMs, [this, p, inc] { StepLoop(p, inc); });
  Step(*p);
}

// The fence rule every step (HeartbeatSender::FenceLoop), an agent pass
// every 500 ms.
void Workers::Step(SimWorker& wk) {
  const int64_t now = w_.events_.now();
  ++wk.step;
  switch (wk.fence->Step(now, wk.view.applied_index())) {
    case control::FenceRule::Action::kFence:
      w_.Trace(Ev::kVm, wk.id, 2);
      if (w_.cfg_.bug == InjectedBug::kWorkerNoFence) break;
      wk.agent->Fence("fenced: no heartbeat ack");
      break;
    case control::FenceRule::Action::kOpen:
      w_.Trace(Ev::kVm, wk.id, 3);
      wk.agent->Open();
      break;
    case control::FenceRule::Action::kNone:
      break;
  }
  if (w_.failed() || !wk.up) return;
  if (wk.step % 10 == 0) wk.agent->Reconcile(agent::Clock::time_point(std::chrono::milliseconds(now)));
}

// HeartbeatSender::SendLoop: to the last leader hint if it is one of this
// worker's servers, else the next of them; one heartbeat at a time, given up
// after a period.
void Workers::Heartbeat(SimWorker& wk) {
  const bool given = std::find(wk.servers.begin(), wk.servers.end(), wk.hint) != wk.servers.end();
  const uint64_t to = given ? wk.hint : NextServer(wk);
  const uint64_t seq = ++wk.hb_seq;
  wk.hb_outstanding = seq;
  const int64_t sent = w_.events_.now();  // read before sending
  const uint64_t id = wk.id, inc = wk.incarnation;
  ToServer(id, to, [this, id, inc, seq, sent, to](SimNode& s) { ServerHeartbeat(s, id, inc, seq, sent, false, to); });
  SimWorker* p = &wk;
  w_.events_.After(kHeartbeatPeriodMs, [this, p, inc, seq, to] {
    if (!Live(*p, inc) || p->hb_outstanding != seq || w_.failed()) return;
    p->hb_outstanding = 0;
    if (p->hint == to) p->hint = 0;
    NextHeartbeat(p, inc, kHeartbeatRetryMs);
  });
}

void Workers::NextHeartbeat(SimWorker* p, uint64_t inc, Time delay) {
  w_.events_.After(std::max<Time>(delay, 1), [this, p, inc] {
    if (Live(*p, inc) && p->hb_outstanding == 0 && !w_.failed()) Heartbeat(*p);
  });
}

void Workers::HeartbeatAnswer(SimWorker& wk, uint64_t seq, uint64_t via, bool ok, uint64_t leader_hint,
                              int64_t sent, uint64_t last_index) {
  if (seq != wk.hb_outstanding) return;  // that call had given up
  wk.hb_outstanding = 0;
  const int64_t now = w_.events_.now();
  if (ok) {
    // Saved (node/ack_file.h) before the fence rule sees it.
    wk.saved_ack = std::max(wk.saved_ack, sent);
    wk.fence->OnAck(sent, last_index, now);
    wk.hint = via;
    NextHeartbeat(&wk, wk.incarnation, sent + kHeartbeatPeriodMs - now);
  } else {
    wk.hint = leader_hint;
    NextHeartbeat(&wk, wk.incarnation, kHeartbeatRetryMs);
  }
}

// WorkerLink::Write: to servers[next]; one that does not answer in time
// makes the worker use the next server from then on.
void Workers::Write(SimWorker& wk, std::string command) {
  if (!wk.up || !wk.registered) return;
  const uint64_t to = wk.servers[wk.next % wk.servers.size()];
  const uint64_t seq = ++wk.write_seq;
  const uint64_t id = wk.id, inc = wk.incarnation;
  ToServer(id, to, [this, id, inc, seq, command = std::move(command)](SimNode& s) {
    ServerWrite(s, id, inc, seq, command);
  });
  SimWorker* p = &wk;
  w_.events_.After(kWriteTimeoutMs, [this, p, inc, seq, to] {
    if (!Live(*p, inc) || p->write_answered >= seq || w_.failed()) return;
    if (p->servers[p->next % p->servers.size()] == to) NextServer(*p);
  });
}

// ---------------------------------------------------------------- the stream, worker side

// WorkerLink::WatchLoop: a stream from servers[watch_next], resuming from
// the held version.
void Workers::Subscribe(SimWorker& wk) {
  const uint64_t to = wk.servers[wk.watch_next % wk.servers.size()];
  const uint64_t sid = ++next_stream_;
  wk.stream_id = sid;
  wk.stream_server = to;
  wk.stream_got = false;
  wk.stream_next_seq = 0;
  wk.stream_early.clear();
  const uint64_t from = wk.view.has_set() ? wk.view.version() : 0;
  const uint64_t id = wk.id, inc = wk.incarnation;
  w_.Trace(Ev::kWorker, id, 3, to, from);
  StreamSend(id, to, [this, id, inc, sid, from](SimNode& s) { ServerSubscribe(s, id, inc, sid, from); },
             [this, to, id, inc, sid] { BreakStream(to, id, inc, sid); });
}

// The stream ended (the server went away, a cut link, a refused update):
// reconnect, to the same server if it had sent anything, else the next.
void Workers::StreamBroken(SimWorker& wk, uint64_t stream_id) {
  if (wk.stream_id != stream_id) return;
  w_.Trace(Ev::kWorker, wk.id, 4, wk.stream_server);
  if (!wk.stream_got) ++wk.watch_next;
  wk.stream_id = 0;
  SimWorker* p = &wk;
  const uint64_t inc = wk.incarnation;
  w_.events_.After(kReconnectMs, [this, p, inc] {
    if (Live(*p, inc) && p->stream_id == 0 && !w_.failed()) Subscribe(*p);
  });
}

void Workers::OnUpdate(SimWorker& wk, uint64_t server, uint64_t stream_id, uint64_t seq,
                       const std::shared_ptr<const v1::AssignmentUpdate>& u) {
  if (stream_id != wk.stream_id) {
    // Not the open stream (one given up on): it is cancelled.
    const uint64_t id = wk.id;
    ToServer(id, server, [this, id, stream_id](SimNode& s) { ServerCancel(s, id, stream_id); });
    return;
  }
  if (seq < wk.stream_next_seq) return;
  wk.stream_early[seq] = u;
  while (!wk.stream_early.empty() && wk.stream_early.begin()->first == wk.stream_next_seq) {
    std::shared_ptr<const v1::AssignmentUpdate> next = wk.stream_early.begin()->second;
    wk.stream_early.erase(wk.stream_early.begin());
    ++wk.stream_next_seq;
    if (!wk.stream_got) {
      wk.stream_got = true;
      w_.Trace(Ev::kWorker, wk.id, next->full() ? 5 : 6, server, next->version());
    }
    Status s = wk.view.Apply(*next);
    if (!s.ok()) {
      // As WorkerLink: cancel, reconnect and ask again from the held version.
      w_.Trace(Ev::kWorker, wk.id, 7, server, next->version());
      const uint64_t id = wk.id;
      ToServer(id, server, [this, id, stream_id](SimNode& s) { ServerCancel(s, id, stream_id); });
      StreamBroken(wk, stream_id);
      return;
    }
  }
}

// A message on a stream (a TCP connection): never lost or duplicated, only
// delayed; a cut link on the way breaks the connection instead.
void Workers::StreamSend(uint64_t from, uint64_t to, std::function<void(SimNode&)> deliver,
                         std::function<void()> on_break) {
  if (w_.net_.Blocked(from, to)) {
    on_break();
    return;
  }
  w_.net_.Send(from, to, [this, from, to, deliver = std::move(deliver), on_break = std::move(on_break)] {
    if (w_.net_.Blocked(from, to)) {
      on_break();
      return;
    }
    SimNode* s = Server(to);
    if (s == nullptr) {
      on_break();
      return;
    }
    const uint64_t inc = s->incarnation;
    w_.OnNode(*s, [this, to, inc, deliver] {
      SimNode* s = Server(to);
      if (s == nullptr || s->incarnation != inc || w_.failed()) return;
      deliver(*s);
    });
  }, /*reliable=*/true);
}

// ---------------------------------------------------------------- the server side

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
  if (s.raft->role() != Role::kLeader) {
    const uint64_t leader = s.raft->leader();
    if (forwarded || leader == kNoNode || leader == s.id) return;  // unavailable: the worker retries
    ToServer(s.id, leader, [this, worker, worker_inc, attempt, via](SimNode& l) {
      ServerRegister(l, worker, worker_inc, attempt, true, via);
    });
    return;
  }
  v1::Node record = Record(worker);
  if (const v1::Node* known = s.state.FindNode(worker)) {
    if (known->role() != v1::NODE_ROLE_WORKER) return;  // refused (ids are never shared here)
    record.set_health(known->health());  // liveness decides when it is READY again
  }
  auto idx = s.raft->propose(state::EncodeCommand(state::MakeRegisterNode(record, kEpochMs + w_.events_.now())));
  if (!idx.ok()) return;
  SideOf(s).registrations.push_back({*idx, worker, worker_inc, via, attempt});
  w_.AfterInput(s);
}

// A heartbeat of a worker, received by server `s` (`via`: the server the
// worker sent it to). The leader records it and acks after a ReadIndex
// round (OnReadState); a follower passes it on once.
void Workers::ServerHeartbeat(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t seq, int64_t sent,
                              bool forwarded, uint64_t via) {
  if (!s.vms) return;
  if (s.raft->role() != Role::kLeader) {
    const uint64_t leader = s.raft->leader();
    if (forwarded || leader == kNoNode || leader == s.id) {
      Answer(s.id, via, worker, worker_inc, seq, false, leader, sent, 0);
      return;
    }
    ToServer(s.id, leader, [this, worker, worker_inc, seq, sent, via](SimNode& l) {
      ServerHeartbeat(l, worker, worker_inc, seq, sent, true, via);
    });
    return;
  }
  w_.VmTrackTerm(s);
  s.vms->tracker.Heard(worker, w_.events_.now());
  char ctx[160];
  std::snprintf(ctx, sizeof ctx, "whb/%llu/%llu/%llu/%lld/%llu/%llu/%llu", static_cast<unsigned long long>(worker),
                static_cast<unsigned long long>(worker_inc), static_cast<unsigned long long>(seq),
                static_cast<long long>(sent), static_cast<unsigned long long>(s.raft->term()),
                static_cast<unsigned long long>(via), static_cast<unsigned long long>(++s.vms->hb_seq));
  if (s.raft->read_index(ctx).ok()) w_.AfterInput(s);
}

bool Workers::OnReadState(SimNode& l, const std::string& context) {
  if (context.rfind("whb/", 0) != 0) return false;
  unsigned long long worker = 0, inc = 0, seq = 0, term = 0, via = 0, n = 0;
  long long sent = 0;
  if (std::sscanf(context.c_str(), "whb/%llu/%llu/%llu/%lld/%llu/%llu/%llu", &worker, &inc, &seq, &sent, &term, &via,
                  &n) != 7) {
    return true;
  }
  if (l.raft->role() != Role::kLeader || l.raft->term() != term) return true;
  Answer(l.id, via, worker, inc, seq, true, l.id, sent, l.raft->last_index());
  return true;
}

// A heartbeat's answer from server `from`, returned through `via` (the
// server the worker sent it to) when that is another one.
void Workers::Answer(uint64_t from, uint64_t via, uint64_t worker, uint64_t worker_inc, uint64_t seq, bool ok,
                     uint64_t hint, int64_t sent, uint64_t last) {
  auto to_worker = [this, via, worker, worker_inc, seq, ok, hint, sent, last](uint64_t sender) {
    ToWorker(sender, worker, worker_inc, [this, via, seq, ok, hint, sent, last](SimWorker& wk) {
      HeartbeatAnswer(wk, seq, via, ok, hint, sent, last);
    });
  };
  if (from == via) {
    to_worker(from);
    return;
  }
  ToServer(from, via, [to_worker](SimNode& f) { to_worker(f.id); });
}

// WorkerServiceImpl::WorkerWrite: only a registered worker's; proposed at
// the leader (passed on by a follower); answered once handed on.
void Workers::ServerWrite(SimNode& s, uint64_t worker, uint64_t worker_inc, uint64_t seq, const std::string& command) {
  const v1::Node* n = s.state.FindNode(worker);
  if (n == nullptr || n->role() != v1::NODE_ROLE_WORKER) return;
  const uint64_t leader = s.raft->leader();
  if (leader == kNoNode) return;  // unavailable: the worker moves on to its next server
  if (leader == s.id) {
    if (s.raft->role() == Role::kLeader && s.raft->propose(command).ok()) w_.AfterInput(s);
  } else {
    ToServer(s.id, leader, [this, command](SimNode& l) {
      if (l.raft->role() == Role::kLeader && l.raft->propose(command).ok()) w_.AfterInput(l);
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
  st.catch_up_until = w_.events_.now() + kCatchUpWaitMs;
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
  const Time now = w_.events_.now();
  for (auto it = side.registrations.begin(); it != side.registrations.end();) {
    if (s.applied < it->index) {
      ++it;
      continue;
    }
    const v1::Node* n = s.state.FindNode(it->worker);
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
      if (s.state.applied_index() < st.from_version) {
        if (now >= st.catch_up_until) ended.emplace_back(worker, st.stream_id);
        continue;
      }
      std::optional<state::AssignmentSet> held;
      if (st.from_version > 0) held = side.history.At(worker, st.from_version);
      st.feed.emplace(worker, st.from_version, std::move(held));
    }
    auto u = st.feed->Next(s.state, s.applied, progress && now - st.last_send >= kProgressEveryMs);
    if (!u) continue;
    st.last_send = now;
    side.history.Remember(worker, st.feed->sent_version(), st.feed->shared_sent());
    auto msg = std::make_shared<const v1::AssignmentUpdate>(std::move(*u));
    const uint64_t sid = st.stream_id, seq = st.next_seq++, inc = st.worker_inc, from = s.id;
    bool broke = false;
    if (w_.net_.Blocked(from, worker)) {
      broke = true;
    } else {
      w_.net_.Send(from, worker, [this, from, worker, inc, sid, seq, msg] {
        SimWorker* wk = Find(worker);
        if (w_.net_.Blocked(from, worker) || wk == nullptr || !Live(*wk, inc)) {
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
  w_.events_.After(w_.prng_.Range(100, 2000), [this, wk, worker_inc, stream_id] {
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

// ---------------------------------------------------------------- nemesis

void Workers::ActCrash() {
  std::vector<uint64_t> up;
  for (const auto& [id, wk] : workers_)
    if (wk->up) up.push_back(id);
  if (up.empty()) return;
  w_.prng_.Shuffle(up);
  // Now and then a rack: up to a fifth of the workers at once.
  const size_t k = w_.prng_.OneIn(5)
                       ? static_cast<size_t>(w_.prng_.Range(1, std::max<int64_t>(1, static_cast<int64_t>(up.size()) / 5)))
                       : 1;
  // Half the time only the daemon dies (one worker): its VMs run on, the
  // fence guard watching them, and the next start adopts them.
  const bool daemon_only = k == 1 && w_.prng_.OneIn(2);
  for (size_t i = 0; i < k && i < up.size(); ++i) {
    SimWorker& wk = *workers_[up[i]];
    Crash(wk, daemon_only);
    ScheduleRestart(wk, w_.prng_.Range(50, 4000));
  }
}

void Workers::ActPartition() {
  HealCuts();
  const uint64_t gen = ++cut_gen_;
  std::vector<uint64_t> group = ids();
  w_.prng_.Shuffle(group);
  const uint64_t pick = w_.prng_.Below(3);
  if (pick == 0) {
    group.resize(1);  // one worker
  } else if (pick == 1) {
    group.resize(static_cast<size_t>(w_.prng_.Range(1, std::max<int64_t>(1, static_cast<int64_t>(group.size()) / 3))));
  }  // else all of them
  std::vector<uint64_t> servers = w_.Members();
  w_.prng_.Shuffle(servers);
  // From every server, or from all but one (reached through that one only).
  if (servers.size() > 1 && w_.prng_.OneIn(3)) servers.erase(servers.begin());
  const int how = static_cast<int>(w_.prng_.Below(4));  // 0, 1: both ways; 2: cannot send; 3: cannot receive
  for (uint64_t wid : group) {
    for (uint64_t sid : servers) {
      if (how != 3) {
        w_.net_.Block(wid, sid);
        cut_.insert({wid, sid});
      }
      if (how != 2) {
        w_.net_.Block(sid, wid);
        cut_.insert({sid, wid});
      }
    }
  }
  w_.Trace(Ev::kWorker, group.size(), 8, servers.size(), static_cast<uint64_t>(how));
  w_.events_.After(w_.prng_.Range(300, 6000), [this, gen] {
    if (gen != cut_gen_ || w_.settling_) return;
    HealCuts();
  });
}

void Workers::HealCuts() {
  if (cut_.empty()) return;
  for (const auto& [a, b] : cut_) w_.net_.Unblock(a, b);
  cut_.clear();
  w_.Trace(Ev::kWorker, 0, 9);
}

void Workers::Settle() {
  ++cut_gen_;
  cut_.clear();  // World::Settle healed the whole network
  for (auto& [id, wk] : workers_) {
    if (!wk->up) Start(*wk);
    if (w_.failed()) return;
  }
}

// ---------------------------------------------------------------- checks

std::string Workers::WaitingOn(const SimNode& leader) const {
  for (const auto& [id, wk] : workers_) {
    const v1::Node* n = leader.state.FindNode(id);
    if (n == nullptr) return "worker " + std::to_string(id) + " is not registered";
    if (n->health() != v1::NODE_HEALTH_READY) {
      return "worker " + std::to_string(id) + " is " + v1::NodeHealth_Name(n->health()) +
             (wk->registered ? "" : " (it has not registered since it started)");
    }
  }
  return "";
}

}  // namespace blixard::sim::detail
