#include "raft/progress.h"

#include <algorithm>

namespace blixard::raft {

void Progress::become_probe() {
  // After a snapshot, assume the follower holds it and probe just after it.
  if (state == State::kSnapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = State::kProbe;
  probe_sent = false;
  pending_snapshot = 0;
  snapshot_ticks = 0;
  inflights.reset();
}

void Progress::become_replicate() {
  state = State::kReplicate;
  next = match + 1;
  probe_sent = false;
  pending_snapshot = 0;
  inflights.reset();
}

void Progress::become_snapshot(Index snapshot_index) {
  state = State::kSnapshot;
  probe_sent = false;
  pending_snapshot = snapshot_index;
  snapshot_ticks = 0;
  inflights.reset();
}

bool Progress::maybe_update(Index n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(Index rejected, Index probe) {
  if (state == State::kReplicate) {
    // Rejections of indices already matched are stale (reordered messages).
    if (rejected <= match) return false;
    next = match + 1;  // the caller moves us to Probe
    return true;
  }
  // Probe: only the rejection of the probe we sent counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(std::min(rejected, probe + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::is_paused() const {
  switch (state) {
    case State::kProbe: return probe_sent;
    case State::kReplicate: return inflights.full();
    case State::kSnapshot: return true;
  }
  return true;
}

}  // namespace blixard::raft
