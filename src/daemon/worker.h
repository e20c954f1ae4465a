// `blixard node --role worker`: a node that runs VMs without being a Raft
// member, so a cluster can hold many hosts with 3-5 voters.
//
// A worker
//   - registers with any server it is given (--join; WorkerService.
//     RegisterWorker, forwarded to the leader; WorkerLink, worker_link.h),
//     which records it as a WORKER node with its capacity and labels; the
//     cluster id is kept in <data-dir>/cluster-id, and a worker of another
//     cluster is refused;
//   - heartbeats to the leader like a server (HeartbeatSender,
//     liveness.h), learning the leader from the answers;
//   - receives the VMs placed on it as a stream from any server
//     (WatchAssignments, src/state/assignments.h), resuming from the version
//     it holds after a reconnect;
//   - runs them with the agent (src/agent), which reads its placements from
//     that stream, and reports their status (WorkerWrite, proposed as
//     ReportVmStatus through the leader);
//   - serves on its --bind what needs the node that runs a VM (logs, pause,
//     resume: src/api/worker_vm_service.h), which servers proxy to it.
// The fence rule is the servers' (src/control/liveness.h): a worker that
// fenced acts again only once its stream has reached the ack's index.
#pragma once

#include <signal.h>

#include "daemon/options.h"

namespace blixard::daemon {

// Runs the worker daemon until SIGINT/SIGTERM (in `signals`, blocked by the
// caller); returns the process exit code.
int RunWorker(const DaemonOptions& options, const sigset_t& signals);

}  // namespace blixard::daemon
