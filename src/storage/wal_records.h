// The WAL store's record format and the state a sequence of records
// describes (wal_log_store.h holds the files). Pure: no I/O.
//
// Record framing: fixed32 length of (type ++ payload), fixed32 crc32c of
// (type ++ payload), type byte, payload. All of one call is one record, so
// the checksum makes it atomic. Payloads (varints, strings as varint length
// ++ bytes):
//   checkpoint  hard state, has_snapshot byte [snapshot ref], meta count
//               {key value}, entry count, first index, entries
//   update      flags (snapshot, drop whole log, hard state) [snapshot ref],
//               truncate_from, entry count, first index, entries [hard state]
//   meta        key value
// An entry is varint term, type byte, string data (its index follows from
// the first index).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"
#include "storage/codec.h"
#include "storage/log_plan.h"

namespace blixard::storage::wal {

constexpr size_t kHeaderBytes = 8;
// The length field is 32 bits.
constexpr size_t kMaxRecordBytes = kHeaderBytes + UINT32_MAX;
enum RecordType : uint8_t { kCheckpoint = 1, kUpdate = 2, kMeta = 3 };

// The whole state the log describes. entries[k].index == snap_index + 1 + k.
struct WalState {
  raft::HardState hard_state;
  std::optional<SnapshotRef> snapshot;
  std::deque<raft::Entry> entries;
  std::map<std::string, std::string, std::less<>> meta;

  raft::Index SnapIndex() const { return snapshot ? snapshot->meta.index : 0; }
  LogBounds Bounds() const {
    LogBounds b;
    b.snap_index = SnapIndex();
    b.snap_term = snapshot ? snapshot->meta.term : 0;
    b.last_index = b.snap_index + entries.size();
    return b;
  }
  TermLookup Lookup() const {
    return [this](raft::Index i) -> Result<raft::Term> {
      return entries[static_cast<size_t>(i - SnapIndex() - 1)].term;
    };
  }
};

// A checkpoint record: the whole of `s`.
std::string EncodeCheckpoint(const WalState& s);
// An update record carrying out `plan` (log_plan.h) with `entries` (those
// from plan.first_new are written), the snapshot reference `staged` when
// the plan installs one, and `hard_state` if set.
std::string EncodeUpdate(const SavePlan& plan, const SnapshotRef* staged,
                         const std::vector<raft::Entry>& entries,
                         const std::optional<raft::HardState>& hard_state);
std::string EncodeMeta(std::string_view key, std::string_view value);

// Applies one record's payload (after the header and type byte) to *state.
// false (with *why) when it is malformed or inconsistent with the state
// before it.
bool ApplyRecord(uint8_t type, std::string_view payload, WalState* state, std::string* why);

// Whether a record with a good checksum starts at `pos` of `data`.
bool RecordAt(std::string_view data, size_t pos);

}  // namespace blixard::storage::wal
