#include "daemon/options.h"

#include "state/network.h"
#include "vmm/microvm_flake.h"

namespace blixard::daemon {

Status ValidateOptions(const DaemonOptions& o) {
  if (o.role != "server" && o.role != "worker") {
    return Status::InvalidArgument("--role " + o.role + " is not a role: use server (a Raft member) or worker");
  }
  if (o.role == "worker" && o.join.empty()) {
    return Status::InvalidArgument("a worker needs --join SERVER[,SERVER...]: the address of one or more "
                                   "servers of its cluster");
  }
  if (o.id == 0) return Status::InvalidArgument("--id 0 is reserved: use a node id of 1 or more");
  if (o.bind.empty()) return Status::InvalidArgument("--bind is empty: use HOST:PORT or unix:/path");
  if (o.data_dir.empty()) return Status::InvalidArgument("--data-dir is empty: give a directory");
  if (o.tick_ms < 1 || o.tick_ms > 10000) {
    return Status::InvalidArgument("--tick-ms " + std::to_string(o.tick_ms) + " is out of range: use 1-10000");
  }
  if (o.election_ticks < 2 || o.election_ticks > 1000) {
    return Status::InvalidArgument("--election-ticks " + std::to_string(o.election_ticks) +
                                   " is out of range: use 2-1000");
  }
  if (o.store != "wal" && o.store != "lmdb") {
    return Status::InvalidArgument("--store " + o.store + " is not a log store: use wal or lmdb");
  }
  if (o.backend != "qemu" && o.backend != "microvm-nix" && o.backend != "fake") {
    return Status::InvalidArgument("--backend " + o.backend + " is not a backend: use qemu, microvm-nix or fake");
  }
  if (!vmm::IsMicrovmHypervisor(o.microvm_hypervisor)) {
    return Status::InvalidArgument("--microvm-hypervisor " + o.microvm_hypervisor +
                                   " is not a hypervisor microvm.nix knows: use " + vmm::MicrovmHypervisorList());
  }
  if (!o.fake_record.empty() && o.backend != "fake") {
    return Status::InvalidArgument("--fake-record needs --backend fake");
  }
  if (o.accel != "auto" && o.accel != "kvm" && o.accel != "tcg") {
    return Status::InvalidArgument("--accel " + o.accel + " is not an accelerator: use auto, kvm or tcg");
  }
  if (!o.vm_subnet.empty()) {
    if (auto subnet = state::ParseSubnet(o.vm_subnet); !subnet.ok()) {
      return Status::InvalidArgument("--vm-subnet: " + subnet.status().message());
    }
  }
  if (o.bridge.empty() || o.bridge.size() > 15 || o.bridge.find_first_of("/ :") != std::string::npos) {
    return Status::InvalidArgument("--bridge \"" + o.bridge + "\" is not an interface name: use 1-15 characters without '/', ':' or spaces");
  }
  if (o.voters < 1 || o.voters > 7) {
    return Status::InvalidArgument("--voters " + std::to_string(o.voters) + " is out of range: use 1-7 (3 or 5 is usual)");
  }
  if (!(o.node_ttl_s >= 0.3 && o.node_ttl_s <= 3600)) {
    return Status::InvalidArgument("--node-ttl " + std::to_string(o.node_ttl_s) +
                                   " is out of range: use 0.3-3600 seconds (default 3)");
  }
  if (o.max_message_bytes < 4096) {
    return Status::InvalidArgument("--max-message-bytes is too small: use at least 4096");
  }
  return Status::Ok();
}

}  // namespace blixard::daemon
