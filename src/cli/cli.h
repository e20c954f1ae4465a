// The `blixard` command line: `blixard node ...` runs the daemon, every other
// subcommand is a gRPC client of one (see commands.h).
#pragma once

#include <functional>

#include "daemon/options.h"

namespace blixard::cli {

using DaemonRunner = std::function<int(const daemon::DaemonOptions&)>;

// Parses argv and runs the chosen subcommand; `blixard node` (without a
// node subcommand) hands its options to run_daemon. Returns the process exit
// code: 0 ok, 1 error from the server / no server / daemon failure,
// 2 usage error (message and usage on stderr).
int Run(int argc, const char* const* argv, const DaemonRunner& run_daemon);

// Run() with the real daemon (daemon::RunDaemon) linked in.
int Main(int argc, char** argv);

}  // namespace blixard::cli
