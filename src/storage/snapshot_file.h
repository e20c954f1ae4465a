// Snapshot payload files: dir/snap-<index>-<term>.bin.
//
// Layout (integers little-endian):
//   "BLXSNAP\0"            8-byte magic
//   fixed32 version         1
//   fixed32 header_size
//   header                  snapshot meta, fixed64 payload size, fixed32 payload crc32c
//   fixed32 header crc32c   over everything before it
//   payload
// A file of any other size, or with a checksum that does not match, is
// corrupt.
#pragma once

#include <string>

#include "common/status.h"
#include "raft/types.h"
#include "storage/codec.h"

namespace blixard::storage {

std::string SnapshotFileName(const raft::SnapshotMeta& meta);

// Writes `snap` to dir/name atomically (write name.tmp, fsync it, rename it
// to name, fsync dir) and returns the reference to record in meta. On error
// dir/name is untouched.
Result<SnapshotRef> WriteSnapshotFile(const std::string& dir, const std::string& name,
                                      const raft::Snapshot& snap);

// Reads dir/ref.file and checks it against its own checksums and against
// `ref`. kDataLoss naming the file when anything differs or it is missing.
Result<raft::Snapshot> ReadSnapshotFile(const std::string& dir, const SnapshotRef& ref);

// fsync of a directory, so a rename or create in it is durable.
Status SyncDir(const std::string& dir);

}  // namespace blixard::storage
