#include "storage/wal_records.h"

#include "storage/codec.h"

namespace blixard::storage::wal {
namespace {

enum UpdateFlags : uint8_t { kHasSnapshot = 1, kDropWholeLog = 2, kHasHardState = 4 };

void PutString(std::string* out, std::string_view s) {
  PutVarint64(out, s.size());
  out->append(s);
}

std::string_view GetString(Reader* r) {
  uint64_t n = r->Varint64();
  if (!r->ok()) return {};
  return r->Bytes(static_cast<size_t>(n));
}

std::string Frame(RecordType type, std::string_view payload) {
  std::string body(1, static_cast<char>(type));
  body.append(payload);
  std::string out;
  out.reserve(kHeaderBytes + body.size());
  PutFixed32(&out, static_cast<uint32_t>(body.size()));
  PutFixed32(&out, Crc32c(body));
  out += body;
  return out;
}

void PutEntries(std::string* out, const std::vector<raft::Entry>& entries, size_t from) {
  PutVarint64(out, entries.size() - from);
  PutVarint64(out, from < entries.size() ? entries[from].index : 0);
  for (size_t k = from; k < entries.size(); ++k) {
    PutVarint64(out, entries[k].term);
    out->push_back(static_cast<char>(entries[k].type));
    PutString(out, entries[k].data);
  }
}

// Appends the entries in `r` to state->entries; false when malformed or
// when they do not continue the log.
bool ApplyEntries(Reader* r, WalState* state, std::string* why) {
  uint64_t n = r->Varint64();
  raft::Index index = r->Varint64();
  if (!r->ok()) return false;
  if (n > 0 && index != state->SnapIndex() + state->entries.size() + 1) {
    *why = "entry " + std::to_string(index) + " does not continue the log at " +
           std::to_string(state->SnapIndex() + state->entries.size());
    return false;
  }
  raft::Term prev = state->entries.empty()
                        ? (state->snapshot ? state->snapshot->meta.term : 0)
                        : state->entries.back().term;
  for (uint64_t k = 0; k < n; ++k, ++index) {
    raft::Entry e;
    e.index = index;
    e.term = r->Varint64();
    uint8_t type = r->Byte();
    e.data = std::string(GetString(r));
    if (!r->ok() || type > static_cast<uint8_t>(raft::EntryType::kConfChange)) return false;
    if (e.term < prev) {
      *why = "entry " + std::to_string(index) + " has a term below the entry before it";
      return false;
    }
    prev = e.term;
    e.type = static_cast<raft::EntryType>(type);
    state->entries.push_back(std::move(e));
  }
  return true;
}

}  // namespace

std::string EncodeCheckpoint(const WalState& s) {
  std::string out;
  PutString(&out, EncodeHardState(s.hard_state));
  out.push_back(s.snapshot ? 1 : 0);
  if (s.snapshot) PutString(&out, EncodeSnapshotRef(*s.snapshot));
  PutVarint64(&out, s.meta.size());
  for (const auto& [k, v] : s.meta) {
    PutString(&out, k);
    PutString(&out, v);
  }
  PutVarint64(&out, s.entries.size());
  PutVarint64(&out, s.entries.empty() ? 0 : s.entries.front().index);
  for (const raft::Entry& e : s.entries) {
    PutVarint64(&out, e.term);
    out.push_back(static_cast<char>(e.type));
    PutString(&out, e.data);
  }
  return Frame(kCheckpoint, out);
}

bool ApplyRecord(uint8_t type, std::string_view payload, WalState* state, std::string* why) {
  Reader r(payload);
  *why = "malformed record";
  switch (type) {
    case kCheckpoint: {
      WalState s;
      if (!DecodeHardState(GetString(&r), &s.hard_state)) return false;
      if (r.Byte() == 1) {
        SnapshotRef ref;
        if (!DecodeSnapshotRef(GetString(&r), &ref)) return false;
        s.snapshot = std::move(ref);
      }
      uint64_t n = r.Varint64();
      for (uint64_t k = 0; k < n && r.ok(); ++k) {
        std::string key(GetString(&r));
        s.meta[key] = std::string(GetString(&r));
      }
      if (!r.ok() || !ApplyEntries(&r, &s, why) || !r.empty()) return false;
      *state = std::move(s);
      return true;
    }
    case kUpdate: {
      uint8_t flags = r.Byte();
      if (flags & kHasSnapshot) {
        SnapshotRef ref;
        if (!DecodeSnapshotRef(GetString(&r), &ref)) return false;
        if (ref.meta.index < state->SnapIndex()) {
          *why = "snapshot older than the one before it";
          return false;
        }
        if (flags & kDropWholeLog) {
          state->entries.clear();
        } else {
          if (ref.meta.index > state->SnapIndex() + state->entries.size()) {
            *why = "snapshot past the log it keeps";
            return false;
          }
          while (!state->entries.empty() && state->entries.front().index <= ref.meta.index) {
            state->entries.pop_front();
          }
        }
        state->snapshot = std::move(ref);
      }
      raft::Index truncate_from = r.Varint64();
      if (!r.ok()) return false;
      if (truncate_from > 0) {
        if (truncate_from <= state->SnapIndex()) {
          *why = "truncation below the snapshot";
          return false;
        }
        while (!state->entries.empty() && state->entries.back().index >= truncate_from) {
          state->entries.pop_back();
        }
      }
      if (!ApplyEntries(&r, state, why)) return false;
      if (flags & kHasHardState) {
        if (!DecodeHardState(GetString(&r), &state->hard_state)) return false;
      }
      return r.ok() && r.empty();
    }
    case kMeta: {
      std::string key(GetString(&r));
      std::string value(GetString(&r));
      if (!r.ok() || !r.empty()) return false;
      state->meta[key] = std::move(value);
      return true;
    }
    default:
      *why = "unknown record type " + std::to_string(type);
      return false;
  }
}

bool RecordAt(std::string_view data, size_t pos) {
  if (pos + kHeaderBytes > data.size()) return false;
  Reader h(data.substr(pos, kHeaderBytes));
  uint32_t len = h.Fixed32();
  uint32_t crc = h.Fixed32();
  if (len == 0 || len > data.size() - pos - kHeaderBytes) return false;
  std::string_view body = data.substr(pos + kHeaderBytes, len);
  uint8_t type = static_cast<uint8_t>(body[0]);
  return type >= kCheckpoint && type <= kMeta && Crc32c(body) == crc;
}

std::string EncodeUpdate(const SavePlan& plan, const SnapshotRef* staged,
                         const std::vector<raft::Entry>& entries,
                         const std::optional<raft::HardState>& hard_state) {
  std::string payload;
  const uint8_t flags = (staged != nullptr ? kHasSnapshot : 0) |
                        (plan.drop_whole_log ? kDropWholeLog : 0) | (hard_state ? kHasHardState : 0);
  payload.push_back(static_cast<char>(flags));
  if (staged != nullptr) PutString(&payload, EncodeSnapshotRef(*staged));
  PutVarint64(&payload, plan.truncate_from);
  PutEntries(&payload, entries, plan.first_new);
  if (hard_state) PutString(&payload, EncodeHardState(*hard_state));
  return Frame(kUpdate, payload);
}

std::string EncodeMeta(std::string_view key, std::string_view value) {
  std::string payload;
  PutString(&payload, key);
  PutString(&payload, value);
  return Frame(kMeta, payload);
}

}  // namespace blixard::storage::wal
