// libfiu fault points outside the storage (which has storage/fault_points.h).
// Compiled in only with FIU_ENABLE (BLIXARD_FIU=ON, test builds); otherwise
// BLIXARD_FAULT(name) is the constant false. Points:
//   transport/send            a Raft message to a peer is dropped as if its send failed
//   node/crash-after-persist  the daemon is SIGKILLed after a Ready was made durable
//                             and before it is sent and applied
//   worker/cut-off            a worker reaches no server: no heartbeat is sent, its
//                             assignment stream breaks and does not reconnect, and its
//                             writes fail (a partition, while the process keeps running)
// A running daemon takes them from BLIXARD_FAULTS / BLIXARD_FAULTS_FIFO
// (daemon/fault_control.h).
#pragma once

#ifdef FIU_ENABLE
#include <fiu.h>
#define BLIXARD_FAULT(name) (fiu_fail(name) != 0)
#else
#define BLIXARD_FAULT(name) false
#endif
