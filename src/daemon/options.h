// The flags of `blixard node` (src/cli/cli.cc fills them), for every role
// of the process: server, worker and fence guard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/capacity.h"

namespace blixard::daemon {

struct DaemonOptions {
  uint64_t id = 1;                        // --id
  std::string role = "server";            // --role server (Raft member) | worker (worker.h)
  std::string bind = "127.0.0.1:7001";    // --bind HOST:PORT or unix:/path
  std::string data_dir = "./data";        // --data-dir
  std::vector<std::string> join;          // --join ADDR (issue 4)
  std::string token;                      // --token: a join token (pki/token.h), for a first join
  bool insecure = false;                  // --insecure: plaintext, no certificates (daemon/credentials.h)
  int64_t cert_lifetime_s = 365LL * 24 * 3600;  // --cert-lifetime: of the node certificates a server signs
  std::string log_level = "info";         // --log-level trace|debug|info|warn|error
  std::string log_format = "text";        // --log-format text|json
  uint64_t snapshot_threshold = 0;        // --snapshot-threshold: applied entries between
                                          // snapshots (0: NodeConfig's default)
  int tick_ms = 100;                      // --tick-ms: Raft tick interval
  int election_ticks = 10;                // --election-ticks
  size_t max_message_bytes = 16 << 20;    // --max-message-bytes: gRPC receive limit
  size_t voters = 3;                      // --voters: members that vote (1-7)
  int voter_replace_after_s = 30;         // --voter-replace-after: lost voter -> standby promoted
  int join_timeout_s = 60;                // --join-timeout
  std::string store = "wal";              // --store wal|lmdb: the Raft log's durable home
  std::string backend = "qemu";           // --backend qemu|microvm-nix|fake (fake: VMs simulated in-process)
  std::string runtime_dir;                // --runtime-dir: per-VM dirs; default <data-dir>/vms
  std::string guest_dir;                  // --guest-dir: default guest (scripts/guest-image);
                                          // default $BLIXARD_GUEST_DIR or ~/.cache/blixard/guest
  std::string accel = "auto";             // --accel auto|kvm|tcg
  std::string microvm_hypervisor = "qemu";  // --microvm-hypervisor: microvm-nix default (label microvm.hypervisor per VM)
  std::string microvm_nixpkgs;            // --microvm-nixpkgs FLAKEREF (default nixos-24.05)
  std::string microvm_flake;              // --microvm-flake FLAKEREF (default github:astro/microvm.nix)
  std::string bridge = "blx0";            // --bridge: Linux bridge of --network bridge VMs
  std::string vm_subnet;                  // --vm-subnet CIDR: proposed when bootstrapping a cluster
  CapacityOptions capacity;               // --capacity-*, --reserve-*, --cpu-overcommit, --label
  std::string fake_record;                // --fake-record FILE: the fake backend appends
                                          // "<unix_ms> node-<id> <vm> <event>" lines (tests)
  double node_ttl_s = 3;                  // --node-ttl: silent this long -> DOWN, VMs moved
  bool fence_guard = false;               // --fence-guard (internal): run as the node's fence
                                          // guard (fence_guard.h), not as the daemon
};

// kInvalidArgument naming the flag to change.
Status ValidateOptions(const DaemonOptions& o);

}  // namespace blixard::daemon
