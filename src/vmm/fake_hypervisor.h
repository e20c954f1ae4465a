// FakeHypervisor: an in-memory, deterministic Hypervisor for unit tests and
// the simulator. No processes, no files, no real clock: time comes from the
// `now_ms` function (the simulator's virtual clock) or, by default, from an
// internal clock moved only by AdvanceTime(). PIDs count up from 1000.
//
// Semantics follow the qemu backend: Start -> kRunning, ready once boot_ms
// of (virtual) time has passed; Stop -> kStopped ("guest powered off"), or
// kStopped after escalation if the VM ignores the power button; Crash()
// -> kFailed with the given reason. The object stands for the host: keep it
// across a simulated daemon restart and a new agent sees the same VMs
// (adoption).
//
// Thread safety: all methods are safe to call concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/hypervisor.h"

namespace blixard::vmm {

struct FakeHypervisorOptions {
  std::string host = "fake";           // recorded in events: where a VM ran
  std::function<int64_t()> now_ms;     // empty: internal clock (AdvanceTime)
  int64_t boot_ms = 0;                 // Start -> ready
  // Called with every recorded event (see Event), under the fake's lock:
  // keep it short and do not call back into the fake.
  std::function<void(int64_t at_ms, const std::string& vm, const std::string& what)> on_event;
};

class FakeHypervisor : public Hypervisor {
 public:
  // One thing that happened, for tests and simulator invariants
  // ("no VM runs on two hosts at once").
  struct Event {
    int64_t at_ms;
    std::string host;
    std::string vm;
    std::string what;  // start, stop, kill, pause, resume, crash, cleanup, start-failed
    bool operator==(const Event&) const = default;
  };

  explicit FakeHypervisor(FakeHypervisorOptions options = {});

  std::string BackendName() const override { return "fake"; }
  Result<VmInfo> Start(const VmConfig& config) override;
  Status Stop(const std::string& name, std::chrono::milliseconds grace) override;
  Status Kill(const std::string& name) override;
  Status Pause(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<VmInfo> Inspect(const std::string& name) override;
  Result<std::vector<VmInfo>> List() override;
  Status Cleanup(const std::string& name) override;
  Result<ConsoleChunk> ConsoleLog(const std::string& name, uint64_t offset, size_t max_bytes) override;
  // True once the VM is ready (boot_ms passed) while alive.
  Result<bool> ProbePublishedPort(const std::string& name, uint16_t guest_port,
                                  std::chrono::milliseconds timeout) override;

  // --- controls ---
  // The next Start of `name` fails with `status` (once).
  void FailNextStart(const std::string& name, Status status);
  // An alive VM dies now, as if qemu exited with `exit_status` (or was
  // killed by `signal` if non-zero): kFailed with `reason`.
  Status Crash(const std::string& name, std::string reason, int exit_status = 1, int signal = 0);
  // The guest powers itself off now (kStopped, "guest powered off").
  Status GuestPowerOff(const std::string& name);
  // Whether the guest ignores the ACPI power button (Stop then escalates).
  void SetIgnorePowerButton(const std::string& name, bool ignore);
  // Appends text to the VM's console log.
  Status WriteConsole(const std::string& name, const std::string& text);
  void AdvanceTime(int64_t ms);  // internal clock only
  void set_boot_ms(int64_t ms);

  std::vector<Event> events() const;
  int alive_count() const;

 private:
  struct Vm {
    VmInfo info;
    std::string console;
    int64_t ready_at_ms = 0;
    bool ignore_power_button = false;
  };
  int64_t Now() const;
  void Record(const std::string& vm, const std::string& what);
  VmInfo Observe(Vm& vm);  // updates readiness from the clock
  Status End(Vm& vm, VmInfo::State state, std::string reason, const char* what);

  FakeHypervisorOptions options_;
  mutable std::mutex mu_;
  int64_t clock_ms_ = 0;
  int next_pid_ = 1000;
  std::map<std::string, Vm> vms_;
  std::map<std::string, Status> fail_next_start_;
  std::map<std::string, bool> ignore_power_button_;
  std::vector<Event> events_;
};

}  // namespace blixard::vmm
