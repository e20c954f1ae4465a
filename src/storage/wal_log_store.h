// LogStore on a write-ahead log: the whole Raft state is kept in memory and
// every write is one checksummed record appended to a preallocated segment
// file and made durable with ONE fdatasync (the LMDB store pays two fsyncs
// and a B-tree branch rewrite per Save).
//
// Layout of `dir` (created if missing):
//   LOCK                          flock'ed while open (same as the LMDB store,
//                                 so the two stores also exclude each other)
//   wal/wal-<seq>-<first>.log     segments; only the newest is live. <first>
//                                 is the first log index it may hold.
//   snapshots/snap-<i>-<t>.bin    snapshot payloads (snapshot_file.h)
// A segment starts with a checkpoint record (the full state: hard state,
// snapshot reference, live entries, identity keys), written under a .tmp
// name, fsynced and renamed into place, so a segment is self-contained.
// Further records each hold one Save(), Compact() or PutMeta(). When a
// segment is full the next write starts a new one (checkpoint of the state
// before it) and the old segment is deleted, which is how compacted entries
// leave the disk.
//
// Recovery: a record that fails its checksum at the end of the live segment,
// followed by nothing that parses as a record, is a write the crash cut
// (its call never returned ok): it is zeroed out. Anything else that fails
// a checksum is corruption: Load() returns kDataLoss naming the file and the
// byte offset, and writes are refused.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/log_store.h"

namespace blixard::storage {

struct WalOptions {
  // A segment is preallocated to this size so that appends do not change the
  // file size (fdatasync then has no inode metadata to flush). A segment also
  // grows to twice its checkpoint when the live state is larger.
  uint64_t segment_bytes = uint64_t{64} << 20;
};

// Refuses (kFailedPrecondition) a `dir` holding an LMDB store (raft.mdb) but
// no WAL, so a daemon switched to this store cannot mistake an existing node
// for a fresh one.
Result<std::unique_ptr<LogStore>> OpenWalLogStore(const std::string& dir,
                                                  const WalOptions& options = {});

}  // namespace blixard::storage
