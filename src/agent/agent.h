// The node agent: makes the VMs placed on this node (desired state, from the
// replicated cluster state) match what runs on this host (the hypervisor),
// and reports what it observes back through the cluster.
//
// Each pass (Reconcile):
//   - a VM placed here that should run and does not: start it, unless its
//     restart policy says otherwise (never: a VM that died stays Failed;
//     on-failure: restart only after a failure, not after the guest powered
//     off; always: restart), with exponential backoff between attempts;
//   - a VM placed here that should be stopped and runs: stop it (power
//     button, then quit, then SIGKILL);
//   - a VM that runs here but is no longer placed here (deleted, moved):
//     stop it and remove its runtime dir;
//   - a VM placed here that a drain moves away (Vm.moving_off_node): stop
//     it, start it nowhere here, and confirm the stop (StoppedForMove) so
//     the leader may place it elsewhere; a cancelled move starts it again;
//   - a VM placed here that runs, whose generation is higher than at our
//     last start (vm restart): stop it and start it again;
//   - report the observed phase (Starting, Running, Ready, Paused, Stopping,
//     Stopped, Failed with the reason) when it differs from what the cluster
//     records.
// VMs that survived a daemon restart are adopted: the hypervisor lists them
// (qemu: pidfile + QMP), so a VM is never started twice.
//
// Besides its passes, the agent pauses and resumes VMs when asked (vm pause,
// vm resume through the API), under the same gate as its starts.
//
// Fencing (src/control/liveness.h says why): Hold() stops the agent from
// acting (nothing is started, stopped, paused, resumed or reported) without
// touching what runs; Fence() also kills every VM alive on this host; Open()
// lets it act again. A VM the fence killed counts as failed, so its restart policy
// decides whether it runs again here (if it is still placed here).
//
// Thread safety: Reconcile is called from one thread (the agent's own, after
// Start()).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <optional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/console_watch.h"
#include "blixard/v1/state.pb.h"
#include "common/status.h"
#include "vmm/host_net.h"
#include "vmm/hypervisor.h"

namespace blixard::agent {

using Clock = std::chrono::steady_clock;

// What the agent needs from its node; the daemon implements it over
// node::Node, tests with a fake.
class AgentHost {
 public:
  virtual ~AgentHost() = default;
  // VM records currently placed on this node (a local, possibly stale read),
  // or nothing while the local state has not caught up (e.g. just after a
  // restart, before the log is replayed): the agent then does nothing, so it
  // never stops a VM only because its record is not loaded yet.
  virtual std::optional<std::vector<v1::Vm>> PlacedHere() = 0;
  // Records the observed phase of a VM in the cluster state; false if that
  // failed (it is reported again on a later pass).
  // `seq` increases with every report of this agent and across its
  // restarts (ReportVmStatus.seq): the state ignores a report older than
  // one it applied. `observed_generation`: the VM's generation in the record
  // the agent acted on (VmStatus.observed_generation).
  virtual bool Report(const std::string& name, v1::VmPhase phase, const std::string& message,
                      uint64_t seq, uint64_t observed_generation) = 0;
  // Confirms through the cluster that `name`, marked as moving off this
  // node by the mark at log index `move_index`, is stopped here and will not
  // start here again (VmStoppedForMove); false if that failed (it is sent
  // again on a later pass).
  virtual bool StoppedForMove(const std::string& name, uint64_t move_index) = 0;
};

struct AgentOptions {
  std::chrono::milliseconds period{500};        // between passes
  std::chrono::milliseconds stop_grace{10000};  // power button -> quit
  std::chrono::milliseconds backoff_min{1000};  // first restart delay
  std::chrono::milliseconds backoff_max{60000};
  // While a VM placed here boots (runs, not yet ready), its readiness is
  // checked this often (Hypervisor::Ready, no full pass), so READY is
  // reported within this of the guest's readiness line.
  std::chrono::milliseconds ready_poll{20};
  // First status report sequence number; 0 = the wall clock in
  // microseconds when the agent is made (so a restarted agent's reports
  // rank after its predecessor's). The simulator gives its own.
  uint64_t first_report_seq = 0;
  // When the backend names each booting VM's console file, the agent is
  // woken by the file growing (inotify) and polls only this often, in case
  // a wake-up was missed.
  std::chrono::milliseconds ready_poll_watched{250};
  // Bridge networking: the node's bridge, and the host network that makes
  // it and the VMs' taps (null: bridge VMs fail with a reason saying so).
  std::string bridge = "blx0";
  vmm::HostNetwork* host_net = nullptr;
  // One readiness probe (--ready-port) may take this long.
  std::chrono::milliseconds probe_timeout{300};
};

// How a VmSpec becomes what the hypervisor runs. Pure.
//   network user (the default): qemu user networking, publish as hostfwd
//     (host address 127.0.0.1 unless given);
//   bridge: tap TapName(bridge, name) with a MAC from the VM's address, and
//     "ip=ADDR::GATEWAY:MASK:NAME:eth0:off" appended to the kernel cmdline;
//   none: no network device.
// Readiness: with a ready port the agent probes TCP itself (no console
// pattern); otherwise the default guest's console line, and a user's own
// kernel is ready once it runs.
vmm::VmConfig ToVmConfig(const v1::Vm& vm, const std::string& bridge = "blx0");

class Agent {
 public:
  Agent(AgentOptions options, vmm::Hypervisor& hypervisor, AgentHost& host);
  ~Agent();  // Stop()s

  // Runs Reconcile every period on a thread of its own until Stop().
  void Start();
  void Stop();
  // Asks for a pass now (e.g. after the state changed).
  void Poke();

  // Thread-safe; see the fencing note above. Fence waits for a VM start in
  // progress to finish, then kills it with the rest, so once it returns no
  // VM of this agent runs and none starts until Open().
  void Hold();
  void Fence(const std::string& reason);
  void Open();
  bool held() const;

  // One pass; `now` drives the restart backoff.
  void Reconcile(Clock::time_point now);

  // What a pause or resume left the VM as: the phase and words the passes
  // report for it too.
  struct Observed {
    v1::VmPhase phase = v1::VM_PHASE_UNSPECIFIED;
    std::string message;
  };
  // Pauses or resumes VM `name` on the hypervisor, serialised with the
  // agent's starts and with Fence() (a fence waits for it, then kills the
  // VM with the rest). kUnavailable while the agent is held or fenced (this
  // node may no longer own its VMs); kNotFound when the hypervisor has no
  // such VM (not started here yet); otherwise the hypervisor's error.
  // Thread-safe.
  Result<Observed> Pause(const std::string& name);
  Result<Observed> Resume(const std::string& name);

  // The next number of this agent's status report sequence
  // (AgentHost::Report's `seq`), for a status the node records outside a
  // pass (pause/resume through the API): ordered with the agent's own
  // reports, so a late one cannot take a newer status back. Thread-safe.
  uint64_t NextReportSeq() { return next_report_seq_.fetch_add(1); }

 private:
  struct Restart {
    int attempts = 0;
    Clock::time_point next{};
    std::string last_error;  // why the last Start failed, if it did
  };
  // TCP readiness of one boot (identified by its start time).
  struct Probe {
    int64_t boot = -1;
    bool ready = false;
  };
  Result<Observed> PauseOrResume(const std::string& name, bool pause);
  void Converge(const v1::Vm& vm, const vmm::VmInfo* info, Clock::time_point now);
  void StartVm(const v1::Vm& vm, Clock::time_point now);
  // A VM a drain moves off this node: stop it and confirm.
  void MoveOff(const v1::Vm& vm, const vmm::VmInfo* info);
  void ReportIfChanged(const v1::Vm& vm, v1::VmPhase phase, const std::string& message);
  // Reports READY for the booting VMs whose readiness line has appeared.
  void CheckBooting();
  // Creates the bridge and the VM's tap; the reason on failure.
  Status PrepareBridge(const v1::Vm& vm, const vmm::VmConfig& config);
  // Readiness of a running VM: the backend's (console line) or, with a
  // ready port, a TCP connect to the guest (cached once it succeeded).
  bool Ready(const v1::Vm& vm, const vmm::VmInfo& info);
  // booting_ and the watch on the console of each booting VM.
  void SetBooting(const v1::Vm& vm, bool new_boot);
  void EndBooting(const std::string& name);
  // Forgets a VM that left this node: its tap too.
  void Forget(const std::string& name, const std::string& tap);

  AgentOptions options_;
  vmm::Hypervisor& hypervisor_;
  // The gate: held_ is read by every pass and by every start under gate_mu_,
  // which a start holds for its whole duration.
  mutable std::mutex gate_mu_;
  bool held_ = false;
  uint64_t gate_epoch_ = 0;  // bumped by Hold/Fence/Open
  uint64_t pass_epoch_ = 0;  // gate_epoch_ when the current pass began
  std::map<std::string, std::string> fence_killed_;  // name -> reason

  AgentHost& host_;
  std::map<std::string, Restart> restarts_;
  // The VM generation at our last start: a higher one is a new start request.
  std::map<std::string, uint64_t> started_generation_;
  // VMs stopped here for a drain's move: if the move is cancelled (undrain)
  // they are started again.
  std::map<std::string, bool> stopped_for_move_;
  // VMs that run here and are not ready yet, with their record as last seen.
  std::map<std::string, v1::Vm> booting_;
  std::map<std::string, Probe> probes_;
  // Taps made for VMs (by name), so one whose start failed before the
  // backend kept a record is still cleaned up.
  std::map<std::string, std::string> taps_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  bool console_grew_ = false;  // a watched console was written to
  std::thread thread_;
  // Booting VMs whose console is watched. Agent thread only.
  std::map<std::string, bool> watched_;
  // Last: its thread calls back into mu_/cv_, so it goes first.
  ConsoleWatch console_watch_;
  std::atomic<uint64_t> next_report_seq_;  // ReportIfChanged, from any thread
};

}  // namespace blixard::agent
