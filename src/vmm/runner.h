// Internal to vmm/: what differs between the backends that run each VM as a
// host process in a runtime dir (qemu, microvm-nix). The shared part - the
// runtime dir layout, the detached monitor shell that records the exit
// status, adoption after a daemon restart, stop escalation, console
// readiness - is NewProcessHypervisor (process_hypervisor.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "vmm/hypervisor.h"
#include "vmm/qmp_client.h"

namespace blixard::vmm {

// What Runner::Prepare hands back: the command to run for one boot.
struct Launch {
  // Executed with the runtime dir as working directory, in its own session.
  std::vector<std::string> argv;
  // The config with the backend's defaults filled in (kernel, initrd).
  VmConfig resolved;
};

class Runner {
 public:
  virtual ~Runner() = default;

  virtual std::string BackendName() const = 0;  // "qemu", "microvm-nix"

  // Checks what only the host can check (files, binaries, devices) and
  // returns the command for one boot of `config` (already validated by
  // ValidateVmConfig). May write files into `dir` (which exists).
  // Called with the VM's start lock held; no process of the VM is alive.
  virtual Result<Launch> Prepare(const VmConfig& config, const std::string& dir) = 0;

  // Name of the file in the runtime dir holding the VM's process id.
  virtual std::string PidFile() const = 0;
  // True: the monitor shell writes PidFile() with the pid of the process it
  // starts (which execs into the hypervisor); false: the hypervisor writes
  // it itself (qemu -pidfile).
  virtual bool ShellWritesPid() const = 0;
  // True: the process's stdout is the guest console (written to
  // console.log); false: the hypervisor writes console.log itself.
  virtual bool StdoutIsConsole() const = 0;
  // Name of the file that gets the process's own output (errors, build log).
  virtual std::string LogFile() const = 0;

  // Path of the VM's QMP socket, or "" if its hypervisor speaks no QMP.
  virtual std::string QmpSocket(const std::string& dir, const VmConfig& config) const = 0;
  // True: Start returns once QMP answers (the hypervisor is controllable at
  // once); false: once the process runs (it may first build for minutes).
  virtual bool StartWaitsForQmp() const = 0;

  // Whether a process with this /proc/PID/cmdline (NUL-separated) is the
  // VM living in `dir`: rules out a recycled pid.
  virtual bool CmdlineIsOurs(const std::string& cmdline, const std::string& dir) const = 0;

  // Asks the guest to power off (the hypervisor's equivalent of the ACPI
  // power button) over QMP.
  virtual Status PowerButton(QmpClient& qmp, QmpClient::Duration timeout) = 0;
};

struct ProcessHypervisorOptions {
  std::string runtime_root;  // one subdirectory per VM; created if missing
  std::chrono::milliseconds start_timeout{10000};
  std::chrono::milliseconds qmp_timeout{3000};
  // A live process whose monitor has answered no Inspect for this long is
  // killed and the VM FAILED: qemu 7.2 can hang for good in its exit path
  // (monitor_cleanup) when a monitor connection arrives as it exits, as
  // when a guest resets at once. Zero: never.
  std::chrono::milliseconds qmp_wedged_after{30000};
};

std::unique_ptr<Hypervisor> NewProcessHypervisor(ProcessHypervisorOptions options, std::unique_ptr<Runner> runner);

// True if NUL-separated `cmdline` mentions `path` as a whole path or as the
// directory prefix of one (followed by '/', '#', ',', '\0' or the end).
bool CmdlineMentionsPath(const std::string& cmdline, const std::string& path);

// Helpers for runners.
// `binary` itself if it contains a '/', else the first executable of that
// name on $PATH; "" if none.
std::string FindInPath(const std::string& binary);
// kInvalidArgument "<what> <path> does not exist or is not a readable
// file<hint>" unless `path` is a readable regular file.
Status CheckReadable(const std::string& what, const std::string& path, const std::string& hint);
// Writes `data` to path.tmp and renames it over `path`.
bool WriteFileAtomic(const std::string& path, const std::string& data);

}  // namespace blixard::vmm
