#include "daemon/daemon.h"

#include <absl/synchronization/mutex.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "daemon/backend.h"
#include "daemon/fault_control.h"
#include "daemon/fence_guard.h"
#include "daemon/logging.h"
#include "daemon/server.h"
#include "daemon/worker.h"
#include "vmm/hypervisor.h"

namespace blixard::daemon {
namespace {

// SIGINT/SIGTERM are taken synchronously by the role's main thread
// (sigwait); every thread started from here on inherits the mask.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Logging, the flags' checks and fault points; the exit code when one of
// them fails (logged), 0 otherwise.
int SetUpProcess(const DaemonOptions& o) {
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detector on: every lock gRPC takes then updates a global lock graph
  // under a global spinlock (a few % of the daemon's CPU under load).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (Status s = SetupLogging(o.log_level, o.log_format); !s.ok()) {
    fprintf(stderr, "error: %s\n", s.message().c_str());
    return 2;
  }
  if (Status s = ValidateOptions(o); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  if (Status s = EnableFaultPointsFromEnv(); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  return 0;
}

}  // namespace

int RunDaemon(const DaemonOptions& o) {
  const sigset_t signals = BlockStopSignals();
  if (int code = SetUpProcess(o); code != 0) return code;
  if (o.fence_guard) return RunFenceGuard(o, MakeHypervisor(o));
  if (o.role == "worker") return RunWorker(o, signals);
  return RunServer(o, signals);
}

}  // namespace blixard::daemon
