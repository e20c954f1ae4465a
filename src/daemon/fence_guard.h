// The fence guard: a small process per node, apart from the daemon, that
// enforces the fence rule (src/control/liveness.h) on the node's VMs while
// the daemon cannot — when it is dead (kill -9, a crash), stopped (SIGSTOP)
// or wedged. VM processes outlive the daemon by design (a restarted daemon
// adopts them), so without the guard a VM of a dead daemon would keep
// running after the leader restarted it elsewhere.
//
// The rule it applies is the daemon's: the deadline is the send time of the
// newest acknowledged heartbeat (daemon/ack_file.h) plus TTL minus the margin
// (FenceConfigForTtl); past it, every VM of the node is killed, and killed
// again if one appears, until a fresh ack is saved. The leader moves a VM
// only after a full TTL of silence measured from a later instant (see
// liveness.h), so the guard has killed before any move can commit.
//
// Exception: while the node was the cluster's only voter (the ack file's
// sole_voter), no other node can become leader, so nothing can move its VMs
// while it is down and the guard leaves them running (a one-node cluster's
// VMs survive a daemon restart of any length). The daemon rewrites the ack
// file within 50 ms of a member being added; another node can win an
// election without this one only after at least two more membership
// changes, each driven and committed by this node's daemon.
//
// One guard per data dir (flock of <data-dir>/fence-guard.pid). The daemon
// starts one (`blixard node --fence-guard` with its own flags) in a session
// of its own; it exits when the daemon is not running and no VM of the node
// is alive, or when the data dir is gone. Its log is
// <data-dir>/fence-guard.log. The fake backend (VMs inside the daemon) needs
// no guard.
#pragma once

#include <memory>

#include "common/status.h"
#include "daemon/options.h"
#include "vmm/hypervisor.h"

namespace blixard::daemon {

// Starts a guard for `o.data_dir` unless one is running (the new process
// finds out and exits). Returns once the process is spawned.
Status SpawnFenceGuard(const DaemonOptions& o);
// What a daemon (server or worker) calls once it holds its data dir: spawns
// the guard unless the backend is fake (VMs inside the daemon die with it).
// False, with the error logged, when it cannot: the daemon must not run VMs.
bool EnsureFenceGuard(const DaemonOptions& o);

// The guard's main loop; returns its exit code.
int RunFenceGuard(const DaemonOptions& o, std::unique_ptr<vmm::Hypervisor> hypervisor);

}  // namespace blixard::daemon
