#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "common/thread_name.h"
#include "common/vm_trace.h"
#include "common/wall_clock.h"
#include "state/cluster_state.h"
#include "state/network.h"

namespace blixard::agent {
namespace {

v1::RestartPolicy PolicyOf(const v1::Vm& vm) {
  auto p = vm.spec().restart_policy();
  return p == v1::RESTART_POLICY_UNSPECIFIED ? v1::RESTART_POLICY_ON_FAILURE : p;
}

// Did the VM end because its guest chose to (powered off), rather than fail?
bool EndedCleanly(const vmm::VmInfo& info) { return info.state == vmm::VmInfo::State::kStopped; }

}  // namespace

vmm::VmConfig ToVmConfig(const v1::Vm& vm, const std::string& bridge) {
  const v1::VmSpec& s = vm.spec();
  vmm::VmConfig c;
  c.name = s.name();
  c.vcpus = s.vcpus();
  c.memory_mib = s.memory_mib();
  c.kernel = s.kernel();
  c.initrd = s.initrd();
  c.cmdline = s.cmdline();
  c.disks.assign(s.disks().begin(), s.disks().end());
  c.labels.insert(s.labels().begin(), s.labels().end());
  switch (s.network()) {
    case v1::NETWORK_MODE_NONE:
      c.net.mode = vmm::NetworkConfig::Mode::kNone;
      break;
    case v1::NETWORK_MODE_BRIDGE: {
      c.net.mode = vmm::NetworkConfig::Mode::kTap;
      c.net.tap = vmm::TapName(bridge, s.name());
      const std::string& cidr = vm.ipv4_address();
      auto ip = state::ParseIpv4(std::string_view(cidr).substr(0, cidr.find('/')));
      auto subnet = cidr.find('/') == std::string::npos ? Result<state::Subnet>(Status::InvalidArgument(""))
                                                        : state::ParseSubnet(state::FormatIpv4(0) + cidr.substr(cidr.find('/')));
      if (ip.ok()) c.net.mac = vmm::MacForIpv4(*ip);
      if (ip.ok() && subnet.ok()) {
        std::string arg = "ip=" + state::FormatIpv4(*ip) + "::" + vm.ipv4_gateway() + ":" +
                          state::FormatIpv4(subnet->Mask()) + ":" + s.name() + ":eth0:off";
        c.cmdline = c.cmdline.empty() ? arg : c.cmdline + " " + arg;
      }
      break;
    }
    default:  // USER, and UNSPECIFIED (the default)
      c.net.mode = vmm::NetworkConfig::Mode::kUser;
      for (const v1::PortPublish& p : s.publish()) {
        vmm::PortForward f;
        f.protocol = p.protocol() == v1::PORT_PROTOCOL_UDP ? vmm::PortForward::Protocol::kUdp
                                                           : vmm::PortForward::Protocol::kTcp;
        if (!p.host_ip().empty()) f.host_address = p.host_ip();
        f.host_port = static_cast<uint16_t>(p.host_port());
        f.guest_port = static_cast<uint16_t>(p.guest_port());
        c.net.publish.push_back(f);
      }
  }
  // The default guest announces readiness on its console; a user's own
  // kernel is ready once it runs; a ready port is probed by the agent.
  if (s.kernel().empty() && s.ready_port() == 0) c.ready_pattern = vmm::kDefaultGuestReadyPattern;
  return c;
}

Agent::Agent(AgentOptions options, vmm::Hypervisor& hypervisor, AgentHost& host)
    : options_(options),
      hypervisor_(hypervisor),
      host_(host),
      console_watch_([this] {
        {
          std::lock_guard lk(mu_);
          console_grew_ = true;
        }
        cv_.notify_all();
      }),
      next_report_seq_(options.first_report_seq != 0 ? options.first_report_seq
                                                      : static_cast<uint64_t>(NowUnixMs()) * 1000) {}

Agent::~Agent() { Stop(); }

void Agent::Start() {
  thread_ = std::thread([this] {
    SetThreadName("agent");
    std::unique_lock lk(mu_);
    while (!stopping_) {
      lk.unlock();
      Reconcile(Clock::now());
      lk.lock();
      const auto next_pass = Clock::now() + options_.period;
      // Between passes, booting VMs are watched closely for readiness: woken
      // by their console growing, or polled when it cannot be watched.
      while (!stopping_ && !poked_ && !booting_.empty() && Clock::now() < next_pass) {
        const auto poll = watched_.size() == booting_.size() ? options_.ready_poll_watched : options_.ready_poll;
        cv_.wait_for(lk, poll, [&] { return stopping_ || poked_ || console_grew_; });
        if (stopping_ || poked_) break;
        console_grew_ = false;
        lk.unlock();
        CheckBooting();
        lk.lock();
      }
      cv_.wait_until(lk, next_pass, [&] { return stopping_ || poked_; });
      poked_ = false;
    }
  });
}

void Agent::Stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Agent::Poke() {
  {
    std::lock_guard lk(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void Agent::Hold() {
  std::lock_guard lk(gate_mu_);
  held_ = true;
  ++gate_epoch_;
}

void Agent::Open() {
  {
    std::lock_guard lk(gate_mu_);
    held_ = false;
    ++gate_epoch_;
  }
  Poke();
}

bool Agent::held() const {
  std::lock_guard lk(gate_mu_);
  return held_;
}

void Agent::Fence(const std::string& reason) {
  std::lock_guard lk(gate_mu_);  // waits for a start in progress
  held_ = true;
  ++gate_epoch_;
  auto listed = hypervisor_.List();
  if (!listed.ok()) {
    spdlog::error("agent: fence: cannot list VMs: {}", listed.status().ToString());
    return;
  }
  int killed = 0;
  for (const vmm::VmInfo& info : *listed) {
    if (!info.alive()) continue;
    if (Status s = hypervisor_.Kill(info.name); !s.ok()) {
      spdlog::error("agent: fence: kill {}: {}", info.name, s.ToString());
      continue;
    }
    fence_killed_[info.name] = reason;
    ++killed;
  }
  spdlog::warn("agent: fenced ({}): killed {} VMs", reason, killed);
}

Result<Agent::Observed> Agent::Pause(const std::string& name) { return PauseOrResume(name, true); }

Result<Agent::Observed> Agent::Resume(const std::string& name) { return PauseOrResume(name, false); }

Result<Agent::Observed> Agent::PauseOrResume(const std::string& name, bool pause) {
  std::lock_guard gate(gate_mu_);  // a fence waits for this; this waits for a start
  if (held_) {
    return Status::Unavailable(std::string("cannot ") + (pause ? "pause" : "resume") + " vm " + name +
                               ": this node has no fresh heartbeat ack from the leader (fenced or "
                               "just started), so its VMs may be moving elsewhere; retry once it is "
                               "back in the cluster");
  }
  if (Status s = pause ? hypervisor_.Pause(name) : hypervisor_.Resume(name); !s.ok()) return s;
  if (pause) return Observed{v1::VM_PHASE_PAUSED, "paused"};
  auto info = hypervisor_.Inspect(name);
  const bool ready = info.ok() && info->ready;
  return ready ? Observed{v1::VM_PHASE_READY, "ready"} : Observed{v1::VM_PHASE_RUNNING, "booting"};
}

void Agent::Reconcile(Clock::time_point now) {
  {
    std::lock_guard lk(gate_mu_);
    if (held_) return;
    pass_epoch_ = gate_epoch_;
  }
  std::optional<std::vector<v1::Vm>> placed = host_.PlacedHere();
  if (!placed) return;  // local state not caught up: act on nothing yet
  auto listed = hypervisor_.List();
  if (!listed.ok()) {
    spdlog::warn("agent: cannot list VMs: {}", listed.status().ToString());
    return;
  }
  std::map<std::string, vmm::VmInfo> actual;
  for (auto& info : *listed) actual[info.name] = std::move(info);
  std::map<std::string, bool> wanted;
  for (const v1::Vm& vm : *placed) {
    wanted[vm.spec().name()] = true;
    auto it = actual.find(vm.spec().name());
    Converge(vm, it == actual.end() ? nullptr : &it->second, now);
  }
  // What runs here but is no longer placed here: deleted or moved.
  for (const auto& [name, info] : actual) {
    if (wanted.count(name)) continue;
    if (info.alive()) {
      spdlog::info("agent: stopping {}: no longer placed on this node", name);
      if (Status s = hypervisor_.Stop(name, options_.stop_grace); !s.ok()) {
        spdlog::warn("agent: stop {}: {}", name, s.ToString());
        continue;
      }
    }
    if (Status s = hypervisor_.Cleanup(name); !s.ok()) {
      spdlog::warn("agent: cleanup {}: {}", name, s.ToString());
      continue;
    }
    Forget(name, info.config.net.mode == vmm::NetworkConfig::Mode::kTap ? info.config.net.tap : "");
  }
  // Taps of VMs that left before the backend kept a record of them.
  for (auto it = taps_.begin(); it != taps_.end();) {
    const auto next = std::next(it);
    if (!wanted.count(it->first) && !actual.count(it->first)) Forget(it->first, it->second);
    it = next;
  }
}

void Agent::Forget(const std::string& name, const std::string& tap) {
  std::string owned = tap;
  if (auto it = taps_.find(name); it != taps_.end()) {
    if (owned.empty()) owned = it->second;
    taps_.erase(it);
  }
  if (!owned.empty() && options_.host_net) {
    if (Status s = options_.host_net->DeleteTap(owned); !s.ok()) {
      spdlog::warn("agent: delete tap {} of {}: {}", owned, name, s.ToString());
    } else {
      spdlog::info("agent: deleted tap {} of {}", owned, name);
    }
  }
  restarts_.erase(name);
  started_generation_.erase(name);
  stopped_for_move_.erase(name);
  probes_.erase(name);
  EndBooting(name);
  std::lock_guard lk(gate_mu_);
  fence_killed_.erase(name);
}

void Agent::MoveOff(const v1::Vm& vm, const vmm::VmInfo* info) {
  const std::string& name = vm.spec().name();
  EndBooting(name);
  if (info && info->alive()) {
    spdlog::info("agent: stopping {}: moving off this draining node", name);
    ReportIfChanged(vm, v1::VM_PHASE_STOPPING, "stopping; " + state::MovingOffMessage(vm.node_id()));
    if (Status s = hypervisor_.Stop(name, options_.stop_grace); !s.ok()) {
      spdlog::warn("agent: stop {} to move it: {}", name, s.ToString());
      return;
    }
  }
  restarts_.erase(name);
  stopped_for_move_[name] = true;
  // Confirmed only once it is not alive here; nothing marked starts here.
  if (!vm.stopped_for_move()) host_.StoppedForMove(name, vm.move_index());
}

void Agent::Converge(const v1::Vm& vm, const vmm::VmInfo* info, Clock::time_point now) {
  const std::string& name = vm.spec().name();
  if (vm.moving_off_node() != 0) {
    MoveOff(vm, info);
    return;
  }
  if (stopped_for_move_.erase(name) && vm.desired_state() == v1::DESIRED_STATE_RUNNING &&
      !(info && info->alive())) {
    StartVm(vm, now);  // the move was cancelled: it runs here again
    return;
  }
  const bool booting = vm.desired_state() != v1::DESIRED_STATE_STOPPED && info && info->alive() &&
                       info->state != vmm::VmInfo::State::kPaused && !info->ready &&
                       vm.spec().ready_port() == 0;  // a ready port is probed by the pass
  if (booting) {
    SetBooting(vm, false);
  } else {
    EndBooting(name);
  }
  if (vm.desired_state() == v1::DESIRED_STATE_STOPPED) {
    if (info && info->alive()) {
      ReportIfChanged(vm, v1::VM_PHASE_STOPPING, "stopping");
      if (Status s = hypervisor_.Stop(name, options_.stop_grace); !s.ok()) {
        spdlog::warn("agent: stop {}: {}", name, s.ToString());
        return;
      }
    }
    restarts_.erase(name);
    ReportIfChanged(vm, v1::VM_PHASE_STOPPED, "stopped");
    return;
  }
  // Desired: running.
  if (info && info->alive()) {
    auto gen = started_generation_.find(name);
    if (gen == started_generation_.end()) {
      // Adopted (survived a daemon restart): this run is the current intent.
      started_generation_[name] = vm.generation();
    } else if (vm.generation() > gen->second) {
      // Asked to run again since our last start (vm restart): a new boot.
      spdlog::info("agent: restarting {}", name);
      ReportIfChanged(vm, v1::VM_PHASE_STOPPING, "restarting");
      if (Status s = hypervisor_.Stop(name, options_.stop_grace); !s.ok()) {
        spdlog::warn("agent: stop {} to restart it: {}", name, s.ToString());
        return;
      }
      restarts_.erase(name);
      StartVm(vm, now);
      return;
    }
    if (info->state == vmm::VmInfo::State::kPaused) {
      ReportIfChanged(vm, v1::VM_PHASE_PAUSED, "paused");
    } else if (info->state == vmm::VmInfo::State::kStarting) {
      ReportIfChanged(vm, v1::VM_PHASE_STARTING, "starting");
    } else if (Ready(vm, *info)) {
      ReportIfChanged(vm, v1::VM_PHASE_READY, "ready");
      restarts_.erase(name);  // a healthy boot resets the backoff
    } else {
      ReportIfChanged(vm, v1::VM_PHASE_RUNNING,
                      vm.spec().ready_port() == 0
                          ? "booting"
                          : "booting; waiting for tcp port " + std::to_string(vm.spec().ready_port()));
    }
    return;
  }
  if (!info) {  // never started here (new placement), or its start failed early
    auto failed = restarts_.find(name);
    if (failed != restarts_.end() && !failed->second.last_error.empty() && now < failed->second.next &&
        started_generation_[name] == vm.generation()) {
      ReportIfChanged(vm, v1::VM_PHASE_FAILED, failed->second.last_error);
      return;
    }
    StartVm(vm, now);
    return;
  }
  // Not alive. A start the user asked for since the last one we made (or,
  // after a daemon restart, a VM the cluster records as never run or
  // stopped) is started now, whatever the policy.
  auto gen = started_generation_.find(name);
  const bool fresh_intent =
      gen == started_generation_.end()
          ? (vm.status().phase() == v1::VM_PHASE_PENDING ||
             vm.status().phase() == v1::VM_PHASE_STOPPED ||
             vm.status().phase() == v1::VM_PHASE_UNSPECIFIED)
          : vm.generation() > gen->second;
  if (fresh_intent) {
    restarts_.erase(name);
    StartVm(vm, now);
    return;
  }
  // It ran and ended without being asked to stop (a fence kill is a failure).
  std::string reason = info->reason;
  bool clean = EndedCleanly(*info);
  {
    std::lock_guard lk(gate_mu_);
    if (auto f = fence_killed_.find(name); f != fence_killed_.end()) {
      reason = f->second;
      clean = false;
    }
  }
  const v1::RestartPolicy policy = PolicyOf(vm);
  if (policy == v1::RESTART_POLICY_NEVER ||
      (policy == v1::RESTART_POLICY_ON_FAILURE && clean)) {
    ReportIfChanged(vm, clean ? v1::VM_PHASE_STOPPED : v1::VM_PHASE_FAILED,
                    reason.empty() ? "exited" : reason);
    return;
  }
  Restart& r = restarts_[name];
  if (now < r.next) {
    ReportIfChanged(vm, v1::VM_PHASE_FAILED, reason + "; restarting (attempt " +
                                                 std::to_string(r.attempts + 1) + ")");
    return;
  }
  StartVm(vm, now);
}

void Agent::StartVm(const v1::Vm& vm, Clock::time_point now) {
  const std::string& name = vm.spec().name();
  if (held()) return;
  vm_trace::Mark(name, "agent_start");
  ReportIfChanged(vm, v1::VM_PHASE_STARTING, "starting");
  vm_trace::Mark(name, "starting_reported");
  std::unique_lock gate(gate_mu_);  // a fence waits for this start, then kills it
  // A gate change since this pass read its placements: they may be stale.
  if (held_ || gate_epoch_ != pass_epoch_) return;
  fence_killed_.erase(name);
  Restart& r = restarts_[name];
  started_generation_[name] = vm.generation();
  const vmm::VmConfig config = ToVmConfig(vm, options_.bridge);
  ++r.attempts;
  auto delay = options_.backoff_min * (1 << std::min(r.attempts - 1, 16));
  r.next = now + std::min<Clock::duration>(delay, options_.backoff_max);
  Status prepared = PrepareBridge(vm, config);
  auto started = prepared.ok() ? hypervisor_.Start(config) : Result<vmm::VmInfo>(prepared);
  gate.unlock();
  if (!started.ok()) {
    spdlog::warn("agent: start {}: {}", name, started.status().ToString());
    r.last_error = started.status().message();
    ReportIfChanged(vm, v1::VM_PHASE_FAILED, r.last_error);
    return;
  }
  r.last_error.clear();
  spdlog::info("agent: started {} (pid {})", name, started->pid);
  vm_trace::Mark(name, "qemu_up");
  ReportIfChanged(vm, v1::VM_PHASE_RUNNING, "booting");
  vm_trace::Mark(name, "running_reported");
  // A ready port is probed by the pass (Ready), not by the console check.
  if (started->alive() && !started->ready && vm.spec().ready_port() == 0) SetBooting(vm, true);
}

void Agent::SetBooting(const v1::Vm& vm, bool new_boot) {
  const std::string& name = vm.spec().name();
  const bool known = booting_.count(name) > 0;
  booting_[name] = vm;
  // A new boot may write a new console file: watch it afresh.
  if (known && !new_boot && watched_.count(name)) return;
  if (console_watch_.Watch(name, hypervisor_.ConsolePath(name))) {
    watched_[name] = true;
  } else {
    watched_.erase(name);
  }
}

void Agent::EndBooting(const std::string& name) {
  booting_.erase(name);
  if (watched_.erase(name)) console_watch_.Unwatch(name);
}

void Agent::CheckBooting() {
  for (auto it = booting_.begin(); it != booting_.end();) {
    auto ready = hypervisor_.Ready(it->first);
    if (ready.ok() && *ready) {
      vm_trace::Mark(it->first, "ready_seen");
      ReportIfChanged(it->second, v1::VM_PHASE_READY, "ready");
      vm_trace::Mark(it->first, "ready_reported");
      restarts_.erase(it->first);
      if (watched_.erase(it->first)) console_watch_.Unwatch(it->first);
      it = booting_.erase(it);
    } else {
      ++it;
    }
  }
}

Status Agent::PrepareBridge(const v1::Vm& vm, const vmm::VmConfig& config) {
  if (config.net.mode != vmm::NetworkConfig::Mode::kTap) return Status::Ok();
  if (!options_.host_net) {
    return Status::FailedPrecondition("bridge networking is not available on this node");
  }
  const std::string& cidr = vm.ipv4_address();
  auto gateway = state::ParseIpv4(vm.ipv4_gateway());
  auto subnet = cidr.find('/') == std::string::npos
                    ? Result<state::Subnet>(Status::InvalidArgument("no prefix"))
                    : state::ParseSubnet("0.0.0.0" + cidr.substr(cidr.find('/')));
  if (!gateway.ok() || !subnet.ok()) {
    return Status::FailedPrecondition("vm has no valid bridge address (\"" + cidr + "\" via \"" +
                                      vm.ipv4_gateway() + "\")");
  }
  if (Status s = options_.host_net->EnsureBridge(options_.bridge, *gateway, subnet->prefix); !s.ok()) {
    return Status(s.code(), "bridge " + options_.bridge + ": " + s.message());
  }
  taps_[vm.spec().name()] = config.net.tap;
  if (Status s = options_.host_net->EnsureTap(config.net.tap, options_.bridge); !s.ok()) {
    return Status(s.code(), "tap " + config.net.tap + ": " + s.message());
  }
  return Status::Ok();
}

bool Agent::Ready(const v1::Vm& vm, const vmm::VmInfo& info) {
  const uint32_t port = vm.spec().ready_port();
  if (port == 0) return info.ready;
  Probe& p = probes_[vm.spec().name()];
  if (p.boot != info.started_at_unix_ms) p = Probe{info.started_at_unix_ms, false};
  if (p.ready) return true;
  if (info.config.net.mode == vmm::NetworkConfig::Mode::kTap) {
    const std::string& cidr = vm.ipv4_address();
    auto ip = state::ParseIpv4(std::string_view(cidr).substr(0, cidr.find('/')));
    if (!ip.ok()) return false;
    auto fd = vmm::ConnectTcp(*ip, static_cast<uint16_t>(port), options_.probe_timeout);
    if (fd.ok()) close(*fd);
    p.ready = fd.ok();
  } else {
    auto r = hypervisor_.ProbePublishedPort(vm.spec().name(), static_cast<uint16_t>(port), options_.probe_timeout);
    if (!r.ok()) spdlog::debug("agent: probe {} port {}: {}", vm.spec().name(), port, r.status().ToString());
    p.ready = r.ok() && *r;
  }
  return p.ready;
}

// Also when only the generation differs: a stopped VM keeps its node's room
// until its node reports on the generation that stopped it.
void Agent::ReportIfChanged(const v1::Vm& vm, v1::VmPhase phase, const std::string& message) {
  if (vm.status().phase() == phase && vm.status().message() == message &&
      vm.status().observed_generation() == vm.generation()) {
    return;
  }
  host_.Report(vm.spec().name(), phase, message, next_report_seq_.fetch_add(1), vm.generation());
}

}  // namespace blixard::agent
