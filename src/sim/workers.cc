// Simulated workers (workers.h): set-up, the worker itself (agent, fence,
// registration, heartbeats, its side of the stream), nemesis and checks.
// The servers' side is in workers_server.cc.
#include "sim/workers.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "state/commands.h"

namespace blixard::sim::detail {

namespace {

const Time kHeartbeatPeriodMs = control::HeartbeatPeriodMs(kVmTtlMs);  // the daemon's HeartbeatSender
constexpr Time kHeartbeatRetryMs = 100;             // after a heartbeat that was not acked
constexpr Time kRegisterTimeoutMs = 1000;
constexpr Time kWriteTimeoutMs = 1000;
constexpr Time kReconnectMs = 100;        // WorkerLink: between two stream attempts

}  // namespace

// The agent's view of a worker: placements from its stream, writes through
// a server (as daemon/worker.cc's WorkerAgentHost).
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
                          name, id_, phase, message, kEpochMs + ws_->w_.events().now(), seq, observed_generation)));
    }
    return true;  // a lost report is sent again by a later pass (it still differs)
  }
  bool StoppedForMove(const std::string& name, uint64_t move_index) override {
    if (SimWorker* wk = ws_->Find(id_)) {
      ws_->Write(*wk, state::EncodeCommand(
                          state::MakeVmStoppedForMove(name, id_, move_index, kEpochMs + ws_->w_.events().now())));
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
    w_.prng().Shuffle(wk->servers);
    if (w_.prng().OneIn(4)) wk->servers.resize(static_cast<size_t>(w_.prng().Range(1, static_cast<int64_t>(servers.size()))));
    workers_[wk->id] = std::move(wk);
  }
  for (auto& [id, wk] : workers_) {
    SimWorker* p = wk.get();
    const uint64_t inc = p->incarnation;
    w_.events().After(w_.prng().Range(0, 2000), [this, p, inc] {
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
  w_.net().Send(from, to, [this, to, fn = std::move(fn)] {
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
  w_.net().Send(from, to, [this, to, inc, fn = std::move(fn)] {
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
    o.now_ms = [this] { return w_.events().now(); };
    o.on_event = [this, id](int64_t at, const std::string& vm, const std::string& what) {
      if (what == "start" || what == "stop" || what == "kill" || what == "crash") {
        w_.Trace(Ev::kVm, id, what == "start" ? 0 : 1, VmNameHash(vm));
      }
      if (what == "start") ++vm_starts_;
      std::string clash = vms_.ledger().OnEvent(at, id, vm, what);
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
  ao.first_report_seq = static_cast<uint64_t>(kEpochMs + w_.events().now()) * 1000;
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
  vms_.ledger().HostDown(wk.id);
}

// The fence guard (daemon/fence_guard.h): from the host's first daemon start
// on, every 50 ms, whether or not the daemon runs, it kills every VM of the
// host once the newest saved ack (or, with none, its own start) is older
// than TTL - margin, again every 200 ms while that holds.
void Workers::StartGuard(SimWorker& wk) {
  SimWorker* p = &wk;
  const uint64_t host_inc = wk.host_incarnation;
  const Time started = w_.events().now();
  auto next_sweep = std::make_shared<Time>(0);
  auto loop = std::make_shared<std::function<void()>>();
  *loop = [this, p, host_inc, started, next_sweep, loop] {
    if (p->host_incarnation != host_inc || !p->host || w_.failed()) {
      *loop = nullptr;  // ends the cycle
      return;
    }
    const Time now = w_.events().now();
    const Time deadline = (p->saved_ack < 0 ? started : p->saved_ack) + kVmTtlMs - kVmFenceMarginMs;
    if (now >= deadline && now >= *next_sweep && w_.config().bug != InjectedBug::kWorkerNoFence) {
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
    w_.events().After(50, *loop);
  };
  w_.events().After(w_.prng().Range(1, 50), *loop);
}

void Workers::ScheduleRestart(SimWorker& wk, Time delay) {
  SimWorker* p = &wk;
  const uint64_t inc = wk.incarnation;
  w_.events().After(delay, [this, p, inc] {
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
  w_.events().After(kRegisterTimeoutMs, [this, p, inc, attempt] {
    if (!Live(*p, inc) || p->registered || p->register_attempt != attempt || w_.failed()) return;
    const Time backoff = p->register_backoff;
    p->register_backoff = std::min<Time>(backoff * 2, 1000);
    w_.events().After(backoff, [this, p, inc, attempt] {
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
  const int64_t now = w_.events().now();
  // As HeartbeatSender: from the saved ack of an earlier run on this host.
  wk.fence = std::make_unique<control::FenceRule>(control::FenceConfig{kVmTtlMs, kVmFenceMarginMs}, now,
                                                  wk.saved_ack);
  wk.agent->Hold();
  Heartbeat(wk);
  Subscribe(wk);
  SimWorker* p = &wk;
  const uint64_t inc = wk.incarnation;
  w_.events().After(w_.prng().Range(1, kVmStepMs), [this, p, inc] { StepLoop(p, inc); });
}

void Workers::StepLoop(SimWorker* p, uint64_t inc) {
  if (!Live(*p, inc) || w_.failed()) return;
  w_.events().After(kVmStepMs, [this, p, inc] { StepLoop(p, inc); });
  Step(*p);
}

// The fence rule every step (HeartbeatSender::FenceLoop), an agent pass
// every 500 ms.
void Workers::Step(SimWorker& wk) {
  const int64_t now = w_.events().now();
  ++wk.step;
  switch (wk.fence->Step(now, wk.view.applied_index())) {
    case control::FenceRule::Action::kFence:
      w_.Trace(Ev::kVm, wk.id, 2);
      if (w_.config().bug == InjectedBug::kWorkerNoFence) break;
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
  const int64_t sent = w_.events().now();  // read before sending
  const uint64_t id = wk.id, inc = wk.incarnation;
  ToServer(id, to, [this, id, inc, seq, sent, to](SimNode& s) { ServerHeartbeat(s, id, inc, seq, sent, 0, to); });
  SimWorker* p = &wk;
  w_.events().After(kHeartbeatPeriodMs, [this, p, inc, seq, to] {
    if (!Live(*p, inc) || p->hb_outstanding != seq || w_.failed()) return;
    p->hb_outstanding = 0;
    if (p->hint == to) p->hint = 0;
    NextHeartbeat(p, inc, kHeartbeatRetryMs);
  });
}

void Workers::NextHeartbeat(SimWorker* p, uint64_t inc, Time delay) {
  w_.events().After(std::max<Time>(delay, 1), [this, p, inc] {
    if (Live(*p, inc) && p->hb_outstanding == 0 && !w_.failed()) Heartbeat(*p);
  });
}

void Workers::HeartbeatAnswer(SimWorker& wk, uint64_t seq, uint64_t via, bool ok, uint64_t leader_hint,
                              int64_t sent, uint64_t last_index) {
  if (seq != wk.hb_outstanding) return;  // that call had given up
  wk.hb_outstanding = 0;
  const int64_t now = w_.events().now();
  if (ok) {
    // Saved (daemon/ack_file.h) before the fence rule sees it.
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
  w_.events().After(kWriteTimeoutMs, [this, p, inc, seq, to] {
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
  w_.events().After(kReconnectMs, [this, p, inc] {
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
  if (w_.net().Blocked(from, to)) {
    on_break();
    return;
  }
  w_.net().Send(from, to, [this, from, to, deliver = std::move(deliver), on_break = std::move(on_break)] {
    if (w_.net().Blocked(from, to)) {
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

// ---------------------------------------------------------------- nemesis

void Workers::ActCrash() {
  std::vector<uint64_t> up;
  for (const auto& [id, wk] : workers_)
    if (wk->up) up.push_back(id);
  if (up.empty()) return;
  w_.prng().Shuffle(up);
  // Now and then a rack: up to a fifth of the workers at once.
  const size_t k = w_.prng().OneIn(5)
                       ? static_cast<size_t>(w_.prng().Range(1, std::max<int64_t>(1, static_cast<int64_t>(up.size()) / 5)))
                       : 1;
  // Half the time only the daemon dies (one worker): its VMs run on, the
  // fence guard watching them, and the next start adopts them.
  const bool daemon_only = k == 1 && w_.prng().OneIn(2);
  for (size_t i = 0; i < k && i < up.size(); ++i) {
    SimWorker& wk = *workers_[up[i]];
    Crash(wk, daemon_only);
    ScheduleRestart(wk, w_.prng().Range(50, 4000));
  }
}

void Workers::ActPartition() {
  HealCuts();
  const uint64_t gen = ++cut_gen_;
  std::vector<uint64_t> group = ids();
  w_.prng().Shuffle(group);
  const uint64_t pick = w_.prng().Below(3);
  if (pick == 0) {
    group.resize(1);  // one worker
  } else if (pick == 1) {
    group.resize(static_cast<size_t>(w_.prng().Range(1, std::max<int64_t>(1, static_cast<int64_t>(group.size()) / 3))));
  }  // else all of them
  std::vector<uint64_t> servers = w_.Members();
  w_.prng().Shuffle(servers);
  // From every server, or from all but one (reached through that one only).
  if (servers.size() > 1 && w_.prng().OneIn(3)) servers.erase(servers.begin());
  const int how = static_cast<int>(w_.prng().Below(4));  // 0, 1: both ways; 2: cannot send; 3: cannot receive
  for (uint64_t wid : group) {
    for (uint64_t sid : servers) {
      if (how != 3) {
        w_.net().Block(wid, sid);
        cut_.insert({wid, sid});
      }
      if (how != 2) {
        w_.net().Block(sid, wid);
        cut_.insert({sid, wid});
      }
    }
  }
  w_.Trace(Ev::kWorker, group.size(), 8, servers.size(), static_cast<uint64_t>(how));
  w_.events().After(w_.prng().Range(300, 6000), [this, gen] {
    if (gen != cut_gen_ || w_.settling()) return;
    HealCuts();
  });
}

void Workers::HealCuts() {
  if (cut_.empty()) return;
  for (const auto& [a, b] : cut_) w_.net().Unblock(a, b);
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
    const v1::Node* n = leader.state().FindNode(id);
    if (n == nullptr) return "worker " + std::to_string(id) + " is not registered";
    if (n->health() != v1::NODE_HEALTH_READY) {
      return "worker " + std::to_string(id) + " is " + v1::NodeHealth_Name(n->health()) +
             (wk->registered ? "" : " (it has not registered since it started)");
    }
  }
  return "";
}

}  // namespace blixard::sim::detail
