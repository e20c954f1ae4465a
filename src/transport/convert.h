// Conversions between raft::Message (src/raft/types.h) and its wire form
// v1::RaftMessage (proto/blixard/v1/raft.proto). Pure functions and one small
// stateful reassembler; no I/O, no threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "blixard/v1/raft.pb.h"
#include "raft/types.h"

namespace blixard::transport {

// The wire form of `m`. Any message but kSnapshot becomes exactly one wire
// message. A kSnapshot message becomes one wire message per chunk of at most
// `chunk_bytes` of payload (at least one, even for an empty payload); every
// chunk repeats the header fields and the snapshot meta, so the receiver can
// check that chunks belong together. A kSnapshot message without a snapshot
// travels as an empty snapshot at index 0.
// REQUIRES: chunk_bytes > 0.
std::vector<v1::RaftMessage> ToWire(const raft::Message& m, size_t chunk_bytes);
// The same, moving the entries' data out of `m` instead of copying it.
std::vector<v1::RaftMessage> ToWire(raft::Message&& m, size_t chunk_bytes);

// The raft form of a wire message that is not a snapshot chunk. Returns
// nullopt for values the raft types cannot hold (unknown message or entry
// type): a newer or corrupt sender, dropped by the caller.
std::optional<raft::Message> FromWire(const v1::RaftMessage& w);
// The same, moving the entries' data out of `w` instead of copying it.
std::optional<raft::Message> FromWire(v1::RaftMessage&& w);

inline bool IsSnapshotChunk(const v1::RaftMessage& w) {
  return w.type() == static_cast<uint32_t>(raft::MessageType::kSnapshot);
}

// Reassembles chunked kSnapshot messages, one snapshot in progress per
// sender and at most kMaxSenders per stream (a stream carries one peer's
// messages; a new sender beyond that is ignored), identified by (from,
// snapshot index, snapshot term). Memory follows the bytes that arrived,
// not the size a sender announces: a stranger announcing 4 GiB in a
// 10-byte chunk gets nothing reserved for the rest. Chunks must
// arrive in order (one stream per sender keeps them so); a chunk that does
// not continue the partial snapshot (another index/term/total, or an offset
// other than the bytes received so far) discards it, and the chunk then
// starts a new one if its offset is 0, or is ignored. Not thread safe: use
// one per inbound stream.
class SnapshotAssembler {
 public:
  // Snapshots announcing more than `max_bytes` are refused (ignored).
  static constexpr size_t kMaxSenders = 4;
  explicit SnapshotAssembler(uint64_t max_bytes = uint64_t{4} << 30) : max_bytes_(max_bytes) {}

  // Feeds one chunk (REQUIRES: IsSnapshotChunk(chunk)). Returns the complete
  // kSnapshot message once its last chunk (offset + len == total) arrives.
  std::optional<raft::Message> Add(const v1::RaftMessage& chunk);

  // Snapshots partly received (for tests and logs).
  size_t in_progress() const { return partial_.size(); }
  // Bytes held for partial snapshots, reserved or received (for tests).
  size_t held_bytes() const {
    size_t n = 0;
    for (const auto& [from, p] : partial_) n += p.data.capacity();
    return n;
  }

 private:
  struct Partial {
    raft::Index index = 0;
    raft::Term term = 0;
    uint64_t total = 0;
    std::string data;
  };
  uint64_t max_bytes_;
  std::map<raft::NodeId, Partial> partial_;
};

}  // namespace blixard::transport
