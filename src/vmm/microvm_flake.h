// The flake.nix that the microvm-nix backend writes into a VM's runtime dir:
// a NixOS system built with microvm.nix's module (github:astro/microvm.nix)
// whose runner (`nix run <dir>#default`) boots the VM. Pure, so the text can
// be unit-tested and evaluated against stub inputs.
//
// What a VmConfig becomes (microvm.nix option names):
//   name        networking.hostName; nixosConfigurations.<name>
//   vcpus       microvm.vcpu
//   memory_mib  microvm.mem
//   cmdline     boot.kernelParams (split at spaces; microvm.nix adds them
//               to microvm.kernelParams)
//   disks       microvm.volumes: { image; mountPoint = null; autoCreate =
//               false; size = 0; } (attached as vda, vdb, ... in order;
//               the guest mounts them itself)
//   shares      microvm.shares with proto "9p" (no virtiofsd needed)
//   net user    microvm.interfaces [{ type = "user"; id = "net0"; mac; }]
//               and microvm.forwardPorts for `publish`
//   net tap     microvm.interfaces [{ type = "tap"; id = <tap>; mac; }]
//   (always)    microvm.hypervisor; microvm.socket = <dir>/control.sock
//               (qemu: QMP; cloud-hypervisor/firecracker: their API);
//               a oneshot unit that prints the readiness line on
//               /dev/console once multi-user.target is reached.
// kernel/initrd are not used: the guest is the NixOS system the flake
// builds (ValidateForMicrovm refuses them).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "vmm/hypervisor.h"

namespace blixard::vmm {

inline constexpr char kDefaultMicrovmHypervisor[] = "qemu";
inline constexpr char kDefaultNixpkgsFlake[] = "github:NixOS/nixpkgs/nixos-24.05";
inline constexpr char kDefaultMicrovmFlake[] = "github:astro/microvm.nix";
// The VM label that picks the hypervisor of one VM (else the node's).
inline constexpr char kMicrovmHypervisorLabel[] = "microvm.hypervisor";

// The hypervisors microvm.nix knows (its `microvm.hypervisor` enum).
const std::vector<std::string>& MicrovmHypervisors();
bool IsMicrovmHypervisor(const std::string& name);
std::string MicrovmHypervisorList();  // "qemu, cloud-hypervisor, ..." for messages

struct MicrovmFlakeInput {
  VmConfig config;               // REQUIRES: ValidateForMicrovm(config, hypervisor).ok()
  std::string hypervisor = kDefaultMicrovmHypervisor;
  std::string runtime_dir;       // absolute; the control socket goes here
  std::string nixpkgs = kDefaultNixpkgsFlake;  // flake refs of the two inputs
  std::string microvm = kDefaultMicrovmFlake;
  std::string system = "x86_64-linux";
  std::string ready_line = kDefaultGuestReadyPattern;  // printed on the console when up
};

// What the flake cannot express: a kernel/initrd of the user's, a
// hypervisor microvm.nix does not know, user networking on a hypervisor
// without it (only qemu and kvmtool have it), published UDP on kvmtool.
Status ValidateForMicrovm(const VmConfig& config, const std::string& hypervisor);

// The hypervisor for `config`: its kMicrovmHypervisorLabel label, else
// `node_default`.
std::string MicrovmHypervisorFor(const VmConfig& config, const std::string& node_default);

std::string BuildMicrovmFlake(const MicrovmFlakeInput& input);

// A Nix string literal for `s`: "..." with \, ", ${ and control characters
// escaped.
std::string NixString(const std::string& s);

// The MAC microvm.nix needs for an interface when the config gives none:
// locally administered (02:...), derived from the VM name.
std::string DerivedMac(const std::string& name);

}  // namespace blixard::vmm
