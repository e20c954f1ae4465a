// The storage's on-disk encodings: CRC32C, fixed and varint integers, and the
// records kept in LMDB (log entries, hard state, snapshot reference) and in
// snapshot files. Every record carries a CRC32C so Load() can tell a torn or
// flipped record from a good one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace blixard::storage {

// CRC32C (Castagnoli). Extend(crc, data) continues a running checksum, so
// Crc32c(a + b) == Crc32cExtend(Crc32c(a), b).
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);
inline uint32_t Crc32c(std::string_view data) { return Crc32cExtend(0, data); }

void PutFixed32(std::string* out, uint32_t v);  // little-endian
void PutFixed64(std::string* out, uint64_t v);  // little-endian
void PutVarint64(std::string* out, uint64_t v);

// Cursor over an encoded buffer. A read past the end or a malformed varint
// sets !ok() and returns zeros; check ok() once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint32_t Fixed32();
  uint64_t Fixed64();
  uint64_t Varint64();
  uint8_t Byte();
  std::string_view Bytes(size_t n);
  std::string_view Rest();
  bool ok() const { return ok_; }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

// Log keys are 8-byte big-endian indexes, so LMDB's byte order is log order.
std::string EncodeIndexKey(raft::Index index);
// REQUIRES: key.size() == 8
raft::Index DecodeIndexKey(std::string_view key);

// Log value: fixed32 crc32c(key ++ body) ++ body, body = varint term ++ type
// byte ++ data. The key is in the checksum, so a record moved to another
// index is caught too. The index itself is not stored twice.
std::string EncodeEntryValue(const raft::Entry& e);
// Fills *out (index taken from `key`); false with *why set when the record is
// torn or corrupt.
bool DecodeEntryValue(std::string_view key, std::string_view value, raft::Entry* out,
                      std::string* why);

// fixed32 crc ++ varint term ++ varint vote ++ varint commit.
std::string EncodeHardState(const raft::HardState& hs);
bool DecodeHardState(std::string_view in, raft::HardState* out);

// varint index ++ varint term ++ voters ++ learners (each: varint count, varints).
void EncodeSnapshotMeta(std::string* out, const raft::SnapshotMeta& meta);
bool DecodeSnapshotMeta(Reader* in, raft::SnapshotMeta* out);

// What meta["snapshot"] says about the current snapshot file.
struct SnapshotRef {
  std::string file;  // name inside dir/snapshots
  raft::SnapshotMeta meta;
  uint64_t payload_size = 0;
  uint32_t payload_crc = 0;
};
std::string EncodeSnapshotRef(const SnapshotRef& ref);
bool DecodeSnapshotRef(std::string_view in, SnapshotRef* out);

}  // namespace blixard::storage
