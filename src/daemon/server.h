// `blixard node --role server` (the default): a Raft member that serves the
// public API, the internal and worker services and the Raft peer service on
// its --bind, and runs the VMs placed on it with its agent.
#pragma once

#include <signal.h>

#include "daemon/options.h"

namespace blixard::daemon {

// Runs the server until SIGINT/SIGTERM (in `signals`, blocked by the
// caller) or a storage failure; returns the process exit code.
int RunServer(const DaemonOptions& options, const sigset_t& signals);

}  // namespace blixard::daemon
