// Main() lives apart from Run() so that tests linking blixard_cli do not pull
// in the daemon (blixard_daemon) and its dependencies.
#include <iostream>

#include "cli/cli.h"
#ifndef BLIXARD_NO_DAEMON
#include "daemon/daemon.h"
#endif

namespace blixard::cli {

int Main(int argc, char** argv) {
#ifdef BLIXARD_NO_DAEMON
  DaemonRunner run_daemon = [](const daemon::DaemonOptions&) {
    std::cerr << "error: this blixard binary was built without the daemon (no blixard_daemon target)\n";
    return 1;
  };
#else
  DaemonRunner run_daemon = &daemon::RunDaemon;
#endif
  return Run(argc, argv, run_daemon);
}

}  // namespace blixard::cli
