// `blixard node ...`: the process. Sets it up (signals, logging, the flags'
// checks, fault points), then runs the role its flags name: a server
// (server.h), a worker (worker.h) or a node's fence guard (fence_guard.h).
#pragma once

#include "daemon/options.h"

namespace blixard::daemon {

// Runs the daemon; returns the process exit code (0 after a clean shutdown).
int RunDaemon(const DaemonOptions& options);

}  // namespace blixard::daemon
