#include "vmm/fake_hypervisor.h"

#include <algorithm>
#include <utility>

#include "vmm/vm_config.h"

namespace blixard::vmm {

FakeHypervisor::FakeHypervisor(FakeHypervisorOptions options) : options_(std::move(options)) {}

int64_t FakeHypervisor::Now() const { return options_.now_ms ? options_.now_ms() : clock_ms_; }

void FakeHypervisor::Record(const std::string& vm, const std::string& what) {
  events_.push_back({Now(), options_.host, vm, what});
  if (options_.on_event) options_.on_event(events_.back().at_ms, vm, what);
}

VmInfo FakeHypervisor::Observe(Vm& vm) {
  if (vm.info.alive() && !vm.info.ready && Now() >= vm.ready_at_ms) {
    vm.info.ready = true;
    vm.console += std::string(kDefaultGuestReadyPattern) + " " + vm.info.name + "\n";
  }
  return vm.info;
}

Result<VmInfo> FakeHypervisor::Start(const VmConfig& config) {
  Status valid = ValidateVmConfig(config);
  if (!valid.ok()) return valid;
  std::lock_guard lock(mu_);
  auto it = vms_.find(config.name);
  if (it != vms_.end() && it->second.info.alive()) {
    return Status::AlreadyExists("VM " + config.name + " is already running (pid " +
                                 std::to_string(it->second.info.pid) + ")");
  }
  auto fail = fail_next_start_.find(config.name);
  if (fail != fail_next_start_.end()) {
    Status s = fail->second;
    fail_next_start_.erase(fail);
    Record(config.name, "start-failed");
    return s;
  }
  Vm vm;
  vm.info.name = config.name;
  vm.info.state = VmInfo::State::kRunning;
  vm.info.pid = next_pid_++;
  vm.info.started_at_unix_ms = Now();
  vm.info.config = config;
  vm.ready_at_ms = Now() + options_.boot_ms;
  vm.ignore_power_button = ignore_power_button_[config.name];
  vm.console = "fake: booting " + config.name + "\n";
  vms_[config.name] = std::move(vm);
  Record(config.name, "start");
  return Observe(vms_[config.name]);
}

Status FakeHypervisor::End(Vm& vm, VmInfo::State state, std::string reason, const char* what) {
  vm.info.state = state;
  vm.info.pid = 0;
  vm.info.ready = false;
  vm.info.reason = std::move(reason);
  Record(vm.info.name, what);
  return Status::Ok();
}

Status FakeHypervisor::Stop(const std::string& name, std::chrono::milliseconds grace) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  Vm& vm = it->second;
  if (!vm.info.alive()) return Status::Ok();
  if (vm.ignore_power_button) {
    vm.info.exit_status = 0;
    return End(vm, VmInfo::State::kStopped,
               "stopped: guest did not power off within " + std::to_string(grace.count()) + " ms; quit", "stop");
  }
  vm.info.exit_status = 0;
  vm.console += "fake: power button, powering off\n";
  return End(vm, VmInfo::State::kStopped, "stopped (guest powered off)", "stop");
}

Status FakeHypervisor::Kill(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  Vm& vm = it->second;
  if (!vm.info.alive()) return Status::Ok();
  vm.info.exit_status = 137;
  vm.info.term_signal = 9;
  return End(vm, VmInfo::State::kStopped, "stopped: killed", "kill");
}

Status FakeHypervisor::Pause(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  if (!it->second.info.alive()) return Status::FailedPrecondition("VM " + name + " is not running");
  it->second.info.state = VmInfo::State::kPaused;
  Record(name, "pause");
  return Status::Ok();
}

Status FakeHypervisor::Resume(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  if (!it->second.info.alive()) return Status::FailedPrecondition("VM " + name + " is not running");
  it->second.info.state = VmInfo::State::kRunning;
  Record(name, "resume");
  return Status::Ok();
}

Result<VmInfo> FakeHypervisor::Inspect(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  return Observe(it->second);
}

Result<std::vector<VmInfo>> FakeHypervisor::List() {
  std::lock_guard lock(mu_);
  std::vector<VmInfo> out;
  for (auto& [name, vm] : vms_) out.push_back(Observe(vm));
  return out;
}

Status FakeHypervisor::Cleanup(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::Ok();
  if (it->second.info.alive()) return Status::FailedPrecondition("VM " + name + " is still running; stop it first");
  vms_.erase(it);
  Record(name, "cleanup");
  return Status::Ok();
}

Result<ConsoleChunk> FakeHypervisor::ConsoleLog(const std::string& name, uint64_t offset, size_t max_bytes) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  Observe(it->second);
  const std::string& c = it->second.console;
  ConsoleChunk chunk;
  if (offset < c.size()) chunk.data = c.substr(offset, max_bytes);
  chunk.next_offset = offset + chunk.data.size();
  return chunk;
}

Result<bool> FakeHypervisor::ProbePublishedPort(const std::string& name, uint16_t guest_port,
                                                std::chrono::milliseconds) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  bool published = false;
  for (const auto& p : it->second.info.config.net.publish) {
    published = published || (p.protocol == PortForward::Protocol::kTcp && p.guest_port == guest_port);
  }
  if (!published) return Status::InvalidArgument("VM " + name + " publishes no TCP port to guest port " + std::to_string(guest_port));
  VmInfo info = Observe(it->second);
  return info.alive() && info.ready;
}

void FakeHypervisor::FailNextStart(const std::string& name, Status status) {
  std::lock_guard lock(mu_);
  fail_next_start_[name] = std::move(status);
}

Status FakeHypervisor::Crash(const std::string& name, std::string reason, int exit_status, int signal) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  Vm& vm = it->second;
  if (!vm.info.alive()) return Status::FailedPrecondition("VM " + name + " is not running");
  vm.info.exit_status = signal ? 128 + signal : exit_status;
  vm.info.term_signal = signal;
  return End(vm, VmInfo::State::kFailed, std::move(reason), "crash");
}

Status FakeHypervisor::GuestPowerOff(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  Vm& vm = it->second;
  if (!vm.info.alive()) return Status::FailedPrecondition("VM " + name + " is not running");
  vm.info.exit_status = 0;
  return End(vm, VmInfo::State::kStopped, "guest powered off", "poweroff");
}

void FakeHypervisor::SetIgnorePowerButton(const std::string& name, bool ignore) {
  std::lock_guard lock(mu_);
  ignore_power_button_[name] = ignore;
  auto it = vms_.find(name);
  if (it != vms_.end()) it->second.ignore_power_button = ignore;
}

Status FakeHypervisor::WriteConsole(const std::string& name, const std::string& text) {
  std::lock_guard lock(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return Status::NotFound("no VM " + name);
  it->second.console += text;
  return Status::Ok();
}

void FakeHypervisor::AdvanceTime(int64_t ms) {
  std::lock_guard lock(mu_);
  clock_ms_ += ms;
}

void FakeHypervisor::set_boot_ms(int64_t ms) {
  std::lock_guard lock(mu_);
  options_.boot_ms = ms;
}

std::vector<FakeHypervisor::Event> FakeHypervisor::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

int FakeHypervisor::alive_count() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::count_if(vms_.begin(), vms_.end(), [](const auto& kv) { return kv.second.info.alive(); }));
}

}  // namespace blixard::vmm
