// Main() lives apart from Run() so that tests linking blixard_cli do not pull
// in the daemon (blixard_node) and its dependencies.
#include <iostream>

#include "cli/cli.h"

namespace blixard::cli {

int Main(int argc, char** argv) {
#ifdef BLIXARD_NO_DAEMON
  DaemonRunner run_daemon = [](const node::DaemonOptions&) {
    std::cerr << "error: this blixard binary was built without the daemon (no blixard_node target)\n";
    return 1;
  };
#else
  DaemonRunner run_daemon = &node::RunDaemon;
#endif
  return Run(argc, argv, run_daemon);
}

}  // namespace blixard::cli
