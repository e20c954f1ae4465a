// Follower side: AppendEntries consistency check and conflict resolution
// (§5.3), heartbeats, and InstallSnapshot (§7).
#include <algorithm>

#include "raft/raft_impl.h"

namespace blixard::raft {

void Raft::Impl::handle_append(const Message& m) {
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit index is settled; say where we stand.
    r.index = log_.committed();
    send(std::move(r));
    return;
  }
  const Index old_last = log_.last_index();
  bool truncated = false;
  auto last_new = log_.maybe_append(m.index, m.log_term, m.entries, &truncated);
  if (last_new) {
    update_conf_after_append(old_last, truncated);
    log_.commit_to(std::min(m.commit, *last_new));
    r.index = *last_new;
  } else {
    // Hint for fast backtracking: our last index whose term is <= the
    // leader's term at m.index; the leader skips a whole term per round trip.
    auto [hint, hint_term] = log_.find_conflict_by_term(std::min(m.index, log_.last_index()), m.log_term);
    r.reject = true;
    r.index = m.index;
    r.reject_hint = hint;
    r.reject_term = hint_term;
  }
  send(std::move(r));
}

void Raft::Impl::handle_heartbeat(const Message& m) {
  // The leader sends min(match, commit), so this never exceeds what we hold
  // in agreement with it; the min guards against a misbehaving sender.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  Message r;
  r.type = MessageType::kHeartbeatResp;
  r.to = m.from;
  r.context = m.context;
  send(std::move(r));
}

void Raft::Impl::handle_snapshot(const Message& m) {
  if (!m.snapshot) return;
  const SnapshotMeta& meta = m.snapshot->meta;
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  if (meta.index <= log_.committed()) {
    r.index = log_.committed();  // stale snapshot: we already have it all
  } else if (log_.match_term(meta.index, meta.term)) {
    // We hold the snapshot's last entry, hence everything before it (§5.3):
    // keep our log, just learn that it is committed.
    log_.commit_to(meta.index);
    r.index = log_.committed();
  } else {
    log_.restore(m.snapshot);
    conf_ = meta.conf;
    conf_index_ = 0;
    r.index = log_.last_index();
  }
  send(std::move(r));
}

}  // namespace blixard::raft
