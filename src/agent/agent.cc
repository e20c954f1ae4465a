#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace blixard::agent {
namespace {

v1::RestartPolicy PolicyOf(const v1::Vm& vm) {
  auto p = vm.spec().restart_policy();
  return p == v1::RESTART_POLICY_UNSPECIFIED ? v1::RESTART_POLICY_ON_FAILURE : p;
}

// Did the VM end because its guest chose to (powered off), rather than fail?
bool EndedCleanly(const vmm::VmInfo& info) { return info.state == vmm::VmInfo::State::kStopped; }

}  // namespace

vmm::VmConfig ToVmConfig(const v1::Vm& vm) {
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
  // The default guest announces readiness on its console; a user's own
  // kernel is ready once it runs.
  if (s.kernel().empty()) c.ready_pattern = vmm::kDefaultGuestReadyPattern;
  return c;
}

Agent::Agent(AgentOptions options, vmm::Hypervisor& hypervisor, AgentHost& host)
    : options_(options), hypervisor_(hypervisor), host_(host) {}

Agent::~Agent() { Stop(); }

void Agent::Start() {
  thread_ = std::thread([this] {
    std::unique_lock lk(mu_);
    while (!stopping_) {
      lk.unlock();
      Reconcile(Clock::now());
      lk.lock();
      const auto next_pass = Clock::now() + options_.period;
      // Between passes, booting VMs are watched closely for readiness.
      while (!stopping_ && !poked_ && !booting_.empty() && Clock::now() < next_pass) {
        cv_.wait_for(lk, options_.ready_poll, [&] { return stopping_ || poked_; });
        if (stopping_ || poked_) break;
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

void Agent::Reconcile(Clock::time_point now) {
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
    }
    restarts_.erase(name);
    started_generation_.erase(name);
    booting_.erase(name);
  }
}

void Agent::Converge(const v1::Vm& vm, const vmm::VmInfo* info, Clock::time_point now) {
  const std::string& name = vm.spec().name();
  const bool booting = vm.desired_state() != v1::DESIRED_STATE_STOPPED && info && info->alive() &&
                       info->state != vmm::VmInfo::State::kPaused && !info->ready;
  if (booting) {
    booting_[name] = vm;
  } else {
    booting_.erase(name);
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
    } else if (info->ready) {
      ReportIfChanged(vm, v1::VM_PHASE_READY, "ready");
      restarts_.erase(name);  // a healthy boot resets the backoff
    } else {
      ReportIfChanged(vm, v1::VM_PHASE_RUNNING, "booting");
    }
    return;
  }
  if (!info) {  // never started here (new placement)
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
  // It ran and ended without being asked to stop.
  const v1::RestartPolicy policy = PolicyOf(vm);
  const bool clean = EndedCleanly(*info);
  if (policy == v1::RESTART_POLICY_NEVER ||
      (policy == v1::RESTART_POLICY_ON_FAILURE && clean)) {
    ReportIfChanged(vm, clean ? v1::VM_PHASE_STOPPED : v1::VM_PHASE_FAILED,
                    info->reason.empty() ? "exited" : info->reason);
    return;
  }
  Restart& r = restarts_[name];
  if (now < r.next) {
    ReportIfChanged(vm, v1::VM_PHASE_FAILED, info->reason + "; restarting (attempt " +
                                                 std::to_string(r.attempts + 1) + ")");
    return;
  }
  StartVm(vm, now);
}

void Agent::StartVm(const v1::Vm& vm, Clock::time_point now) {
  const std::string& name = vm.spec().name();
  Restart& r = restarts_[name];
  started_generation_[name] = vm.generation();
  ReportIfChanged(vm, v1::VM_PHASE_STARTING, "starting");
  auto started = hypervisor_.Start(ToVmConfig(vm));
  ++r.attempts;
  auto delay = options_.backoff_min * (1 << std::min(r.attempts - 1, 16));
  r.next = now + std::min<Clock::duration>(delay, options_.backoff_max);
  if (!started.ok()) {
    spdlog::warn("agent: start {}: {}", name, started.status().ToString());
    ReportIfChanged(vm, v1::VM_PHASE_FAILED, started.status().message());
    return;
  }
  spdlog::info("agent: started {} (pid {})", name, started->pid);
  ReportIfChanged(vm, v1::VM_PHASE_RUNNING, "booting");
  if (started->alive() && !started->ready) booting_[name] = vm;
}

void Agent::CheckBooting() {
  for (auto it = booting_.begin(); it != booting_.end();) {
    auto ready = hypervisor_.Ready(it->first);
    if (ready.ok() && *ready) {
      ReportIfChanged(it->second, v1::VM_PHASE_READY, "ready");
      restarts_.erase(it->first);
      it = booting_.erase(it);
    } else {
      ++it;
    }
  }
}

void Agent::ReportIfChanged(const v1::Vm& vm, v1::VmPhase phase, const std::string& message) {
  if (vm.status().phase() == phase && vm.status().message() == message) return;
  host_.Report(vm.spec().name(), phase, message);
}

}  // namespace blixard::agent
