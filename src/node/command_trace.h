// Marks in the VM trace (common/vm_trace.h) the applied commands that move a
// VM towards READY: its create, its placement, its status reports.
#pragma once

#include "blixard/v1/state.pb.h"
#include "common/vm_trace.h"

namespace blixard::node {

inline void TraceAppliedCommand(const v1::Command& cmd) {
  if (!vm_trace::Enabled()) return;
  switch (cmd.op_case()) {
    case v1::Command::kCreateVm:
      vm_trace::Mark(cmd.create_vm().spec().name(), "create_applied");
      break;
    case v1::Command::kPlaceVms:
      for (const v1::VmPlacement& p : cmd.place_vms().placements()) {
        if (p.node_id() != 0) vm_trace::Mark(p.name(), "place_applied");
      }
      break;
    case v1::Command::kReportVmStatus:
      vm_trace::Mark(cmd.report_vm_status().name(),
                     "applied_" + v1::VmPhase_Name(cmd.report_vm_status().status().phase()));
      break;
    default:
      break;
  }
}

}  // namespace blixard::node
