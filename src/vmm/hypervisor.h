// Hypervisor: the one interface through which Blixard runs virtual machines
// on a host. Backends: qemu (qemu-system-x86_64 -M microvm, see
// NewQemuHypervisor) and fake (in memory, for tests and the simulator, see
// fake_hypervisor.h).
//
// A VM is identified by its name. The qemu backend keeps everything about a
// VM in a runtime directory <runtime_root>/<name>/ (config, console log, QMP
// socket, pidfile, exit status), and qemu runs in its own session, so a VM
// outlives the daemon that started it: a new Hypervisor over the same
// runtime root (a restarted daemon) finds it with List()/Inspect() and
// controls it as if it had started it. Nothing about a VM lives only in the
// memory of a Hypervisor object.
//
// Thread safety: every method may be called from any thread. Calls for one
// VM are serialized; calls for different VMs may run concurrently (a slow
// Stop of one VM does not hold up Inspect of another).
//
// Errors: Status codes from common/status.h.
//   kInvalidArgument     bad VmConfig (name, sizes, missing kernel/initrd/disk)
//   kNotFound            no VM (no runtime dir) with that name
//   kAlreadyExists       Start of a VM that is alive (never a second qemu)
//   kFailedPrecondition  operation not valid in the VM's state (Pause of a
//                        stopped VM, Cleanup of a live one, a host port that
//                        is already taken)
//   kUnavailable         the VM's process died during the operation
//   kDeadlineExceeded    QMP did not answer in time
//   kInternal            anything else the host refused (fork, mkdir, ...)
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/vm_limits.h"

namespace blixard::vmm {

// A host port forwarded to a guest port (user networking, qemu hostfwd).
struct PortForward {
  enum class Protocol { kTcp, kUdp };
  Protocol protocol = Protocol::kTcp;
  std::string host_address = "127.0.0.1";  // where the host side listens
  uint16_t host_port = 0;
  uint16_t guest_port = 0;

  bool operator==(const PortForward&) const = default;
};

struct NetworkConfig {
  enum class Mode {
    kNone,  // no network device
    kUser,  // qemu user networking (slirp): guest gets 10.0.2.15 by DHCP;
            // reachable from the host only through `publish`
    kTap,   // an existing tap device `tap` (created and put on a bridge by
            // the caller); the guest address comes from the cmdline (ip=)
  };
  Mode mode = Mode::kNone;
  std::vector<PortForward> publish;  // kUser only
  std::string tap;                   // kTap only: host tap device name
  std::string mac;                   // optional, "52:54:00:xx:xx:xx"; empty = backend picks

  bool operator==(const NetworkConfig&) const = default;
};

// A host directory shown to the guest (9p; microvm-nix backend only).
struct Share {
  std::string source;       // absolute host path
  std::string tag;          // 9p mount tag, unique per VM
  std::string mount_point;  // absolute path in the guest

  bool operator==(const Share&) const = default;
};

// What to run. Stored by the backend with the VM (config.json in the
// runtime dir), so it is returned again by Inspect()/List() after a restart.
struct VmConfig {
  std::string name;  // [A-Za-z0-9][A-Za-z0-9._-]{0,62}; the runtime dir's name
  uint32_t vcpus = 1;
  uint64_t memory_mib = 128;  // >= kMinMemoryMib
  // Guest kernel and initrd on the host. Empty = the backend's default guest
  // (QemuOptions::default_kernel/default_initrd, built by scripts/guest-image).
  std::string kernel;
  std::string initrd;
  // Appended to the backend's own kernel arguments ("console=ttyS0 quiet
  // panic=-1 reboot=t tsc_early_khz=..."). The default guest understands
  // ip=dhcp|ADDR::GW:MASK:HOST:DEV:off and blixard.httpd=PORT.
  std::string cmdline;
  // Raw disk images on the host, attached in order as virtio-blk devices
  // (vda, vdb, ...).
  std::vector<std::string> disks;
  NetworkConfig net;
  std::vector<Share> shares;
  // The VM's labels; backends read the ones they understand (microvm-nix:
  // "microvm.hypervisor").
  std::map<std::string, std::string> labels;
  // Readiness: the VM is ready once a console line matches this ECMAScript
  // regex (std::regex_search). Empty: ready as soon as it runs. The default
  // guest prints "BLIXARD-GUEST-READY" (kDefaultGuestReadyPattern).
  std::string ready_pattern;

  bool operator==(const VmConfig&) const = default;
};

// What the API allows. A kernel needs more (the default guest about 80 MiB):
// a VM with too little fails at boot, with the reason seen on its console.
inline constexpr uint64_t kMinMemoryMib = vm_limits::kMinMemoryMib;
inline constexpr char kDefaultGuestReadyPattern[] = "BLIXARD-GUEST-READY";

// What the host observes about a VM at one moment.
struct VmInfo {
  enum class State {
    kStarting,  // process exists, vCPUs not running yet (or QMP not up yet)
    kRunning,   // vCPUs running (the guest may still be booting: see ready)
    kPaused,    // vCPUs stopped by Pause()
    kStopped,   // gone, as asked (Stop/Kill) or because the guest powered off
    kFailed,    // gone without being asked to, or never came up: see reason
  };
  std::string name;
  State state = State::kStopped;
  int pid = 0;                // hypervisor process id while it exists, else 0
  bool ready = false;         // ready_pattern seen on this boot's console
  // When not alive: why, in words a user can act on, e.g. "guest powered
  // off", "stopped: guest did not power off within 10s, quit", "qemu was
  // killed by signal 9", "qemu exited with status 1: could not load kernel".
  std::string reason;
  int exit_status = -1;       // process exit code when known, else -1
  int term_signal = 0;        // signal that ended the process, else 0
  int64_t started_at_unix_ms = 0;
  std::string runtime_dir;    // empty for backends without one (fake)
  VmConfig config;            // as given to Start()

  bool alive() const { return state == State::kStarting || state == State::kRunning || state == State::kPaused; }
};

const char* VmStateName(VmInfo::State state);  // "starting", "running", ...

// A piece of the console log: bytes [offset, next_offset).
struct ConsoleChunk {
  std::string data;
  uint64_t next_offset = 0;  // pass back to read on (follow mode: poll)
};

class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  // "qemu", "microvm-nix", "fake".
  virtual std::string BackendName() const = 0;

  // Starts a VM and returns once the hypervisor process is up and controllable
  // (qemu: pidfile written and QMP answered) - not when the guest is ready
  // (poll Inspect().ready for that). A previous, dead run of the same name is
  // replaced; its console log is kept as console.log.1.
  // Errors: kInvalidArgument (config), kAlreadyExists (alive),
  // kFailedPrecondition (a published host port is taken), kUnavailable (the
  // process exited during start; the message carries its last words).
  virtual Result<VmInfo> Start(const VmConfig& config) = 0;

  // Orderly stop: ACPI power button, wait up to `grace` for the guest to
  // power off, then QMP quit, then SIGKILL. Blocks until the process is gone
  // (at most grace + a few seconds). A paused VM is resumed first so it can
  // handle the button. The VM then reports kStopped. Stopping a VM that is
  // not alive is OK (no-op).
  virtual Status Stop(const std::string& name, std::chrono::milliseconds grace) = 0;

  // SIGKILL now; blocks until the process is gone. Reports kStopped.
  virtual Status Kill(const std::string& name) = 0;

  // Stop/continue the vCPUs (QMP stop/cont). kFailedPrecondition unless alive.
  virtual Status Pause(const std::string& name) = 0;
  virtual Status Resume(const std::string& name) = 0;

  // Current state of one VM. kNotFound if there is no such VM (never
  // started, or cleaned up). Cheap enough to poll every 100 ms per VM.
  virtual Result<VmInfo> Inspect(const std::string& name) = 0;

  // Whether the VM runs and its readiness line has been seen on this boot's
  // console. Cheaper than Inspect (no round trip to the hypervisor), so a
  // booting VM can be polled at a short interval. kNotFound if no such VM.
  virtual Result<bool> Ready(const std::string& name) {
    auto info = Inspect(name);
    if (!info.ok()) return info.status();
    return info->alive() && info->ready;
  }

  // Every VM this backend knows on this host, alive or not, sorted by name:
  // for the qemu backend, every runtime dir under the runtime root. This is
  // how a restarted daemon adopts running VMs and finds leftovers to clean.
  virtual Result<std::vector<VmInfo>> List() = 0;

  // Forgets a VM that is not alive: removes its runtime dir (console log
  // included). kFailedPrecondition if alive; OK if already gone.
  virtual Status Cleanup(const std::string& name) = 0;

  // Up to max_bytes of the current boot's console output from `offset`.
  // At the end, data is empty and next_offset == offset.
  virtual Result<ConsoleChunk> ConsoleLog(const std::string& name, uint64_t offset,
                                          size_t max_bytes = 64 * 1024) = 0;

  // Whether the guest accepts a TCP connection on `guest_port` through the
  // host port it is published on (user networking), within `timeout`.
  // qemu's user network accepts on the host side before the guest has
  // answered, so the backend asks its own network stack whether the
  // guest's side was established (qemu: QMP "info usernet").
  // kInvalidArgument if no TCP publish leads to guest_port, kNotFound if
  // there is no such VM, kUnimplemented if the backend cannot tell.
  virtual Result<bool> ProbePublishedPort(const std::string& name, uint16_t guest_port,
                                          std::chrono::milliseconds timeout) {
    return Status::Unimplemented(BackendName() + " cannot probe published ports");
  }

  // The host file the VM's console is written to (it may not exist yet), so
  // a caller can watch it grow instead of polling Ready; "" when the
  // backend has none (fake).
  virtual std::string ConsolePath(const std::string& name) const { return ""; }
};

enum class Accel { kAuto, kKvm, kTcg };
const char* AccelName(Accel accel);  // "auto", "kvm", "tcg"

struct QemuOptions {
  std::string runtime_root;  // one subdirectory per VM; created if missing
  std::string qemu_binary = "qemu-system-x86_64";  // PATH is searched
  // kAuto: KVM only if it really works here (see DetectAccel), else TCG.
  Accel accel = Accel::kAuto;
  // Used when VmConfig::kernel/initrd are empty (scripts/guest-image output).
  std::string default_kernel;
  std::string default_initrd;
  // How long Start waits for qemu's pidfile and QMP socket.
  std::chrono::milliseconds start_timeout{10000};
  // Per QMP command.
  std::chrono::milliseconds qmp_timeout{3000};
  // See ProcessHypervisorOptions::qmp_wedged_after (runner.h).
  std::chrono::milliseconds qmp_wedged_after{30000};
};

// The qemu microvm backend. Never fails to construct; configuration problems
// (missing binary, unwritable runtime root) surface from Start().
std::unique_ptr<Hypervisor> NewQemuHypervisor(QemuOptions options);

struct MicrovmNixOptions {
  std::string runtime_root;  // one subdirectory per VM; created if missing
  std::string nix_binary = "nix";  // PATH is searched
  // microvm.hypervisor for VMs without a "microvm.hypervisor" label;
  // empty: qemu.
  std::string hypervisor;
  // Flake refs written as the inputs of every VM's flake.nix; empty: the
  // defaults in microvm_flake.h (nixos-24.05, github:astro/microvm.nix).
  std::string nixpkgs;
  std::string microvm;
  // How long Start waits for the runner process to exist (not for nix to
  // build it: that can take minutes; the VM is kStarting meanwhile).
  std::chrono::milliseconds start_timeout{10000};
  std::chrono::milliseconds qmp_timeout{3000};
};

// The microvm.nix backend, for Nix hosts: writes <runtime dir>/flake.nix
// (see microvm_flake.h) and runs `nix run path:<dir>#default`, whose runner
// execs into the hypervisor. Its stdout (the guest console) is
// console.log, nix's own output runner.log, its pid runner.pid; the
// control socket is <dir>/control.sock. Stop: with qemu, Ctrl-Alt-Del over
// QMP (what microvm.nix itself sends), then QMP quit; other hypervisors
// get SIGTERM; SIGKILL last.
std::unique_ptr<Hypervisor> NewMicrovmNixHypervisor(MicrovmNixOptions options);

// An in-memory backend with default options; see fake_hypervisor.h for the
// one with controls (boot delay, failure injection, recorded history).
std::unique_ptr<Hypervisor> NewFakeHypervisor();

}  // namespace blixard::vmm
