// Test-only control of the libfiu fault points (storage/fault_points.h,
// common/fault_point.h) in a running daemon, from its environment:
//   BLIXARD_FAULTS="enable name=storage/sync;enable_random name=transport/send,probability=0.05"
//       libfiu remote-control commands, ';'-separated, applied at start;
//   BLIXARD_FAULTS_FIFO=/tmp/bx-faults
//       also listen for commands later: `fiu-ctrl -f /tmp/bx-faults -c 'enable name=storage/sync' PID`.
// In a build without fault points (BLIXARD_FIU=OFF) setting either is an
// error, so a test never believes it injected a fault that cannot fire.
#pragma once

#include "common/status.h"

namespace blixard::daemon {

// Applies BLIXARD_FAULTS / BLIXARD_FAULTS_FIFO; Ok when neither is set.
Status EnableFaultPointsFromEnv();

}  // namespace blixard::daemon
