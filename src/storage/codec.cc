#include "storage/codec.h"

#include <array>

namespace blixard::storage {
namespace {

constexpr uint32_t kCastagnoliReversed = 0x82f63b78;

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kCastagnoliReversed : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

}  // namespace

uint32_t Crc32cExtend(uint32_t crc, std::string_view data) {
  uint32_t c = ~crc;
  for (unsigned char b : data) c = kCrcTable[(c ^ b) & 0xff] ^ (c >> 8);
  return ~c;
}

void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

uint32_t Reader::Fixed32() {
  std::string_view b = Bytes(4);
  if (!ok_) return 0;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(b[i])} << (8 * i);
  return v;
}

uint64_t Reader::Fixed64() {
  std::string_view b = Bytes(8);
  if (!ok_) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(b[i])} << (8 * i);
  return v;
}

uint64_t Reader::Varint64() {
  uint64_t v = 0;
  for (int shift = 0; shift <= 63; shift += 7) {
    if (in_.empty()) break;
    uint8_t b = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return v;
  }
  ok_ = false;
  return 0;
}

uint8_t Reader::Byte() {
  std::string_view b = Bytes(1);
  return ok_ ? static_cast<uint8_t>(b[0]) : 0;
}

std::string_view Reader::Bytes(size_t n) {
  if (!ok_ || in_.size() < n) {
    ok_ = false;
    return {};
  }
  std::string_view b = in_.substr(0, n);
  in_.remove_prefix(n);
  return b;
}

std::string_view Reader::Rest() {
  std::string_view r = in_;
  in_ = {};
  return r;
}

std::string EncodeIndexKey(raft::Index index) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<char>(index & 0xff);
    index >>= 8;
  }
  return k;
}

raft::Index DecodeIndexKey(std::string_view key) {
  raft::Index v = 0;
  for (char c : key.substr(0, 8)) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

std::string EncodeEntryValue(const raft::Entry& e) {
  std::string out(4, '\0');
  PutVarint64(&out, e.term);
  out.push_back(static_cast<char>(e.type));
  out += e.data;
  uint32_t crc = Crc32cExtend(Crc32c(EncodeIndexKey(e.index)), std::string_view(out).substr(4));
  std::string c;
  PutFixed32(&c, crc);
  out.replace(0, 4, c);
  return out;
}

bool DecodeEntryValue(std::string_view key, std::string_view value, raft::Entry* out,
                      std::string* why) {
  if (key.size() != 8) {
    *why = "key of " + std::to_string(key.size()) + " bytes";
    return false;
  }
  Reader r(value);
  uint32_t stored = r.Fixed32();
  if (!r.ok()) {
    *why = "record of " + std::to_string(value.size()) + " bytes is truncated";
    return false;
  }
  if (Crc32cExtend(Crc32c(key), value.substr(4)) != stored) {
    *why = "checksum mismatch";
    return false;
  }
  out->index = DecodeIndexKey(key);
  out->term = r.Varint64();
  uint8_t type = r.Byte();
  if (!r.ok() || type > static_cast<uint8_t>(raft::EntryType::kConfChange)) {
    *why = "malformed record";
    return false;
  }
  out->type = static_cast<raft::EntryType>(type);
  out->data = std::string(r.Rest());
  return true;
}

std::string EncodeHardState(const raft::HardState& hs) {
  std::string body;
  PutVarint64(&body, hs.term);
  PutVarint64(&body, hs.vote);
  PutVarint64(&body, hs.commit);
  std::string out;
  PutFixed32(&out, Crc32c(body));
  return out + body;
}

bool DecodeHardState(std::string_view in, raft::HardState* out) {
  Reader r(in);
  uint32_t crc = r.Fixed32();
  if (!r.ok() || Crc32c(in.substr(4)) != crc) return false;
  out->term = r.Varint64();
  out->vote = r.Varint64();
  out->commit = r.Varint64();
  return r.ok() && r.empty();
}

namespace {

void PutIds(std::string* out, const std::vector<raft::NodeId>& ids) {
  PutVarint64(out, ids.size());
  for (raft::NodeId id : ids) PutVarint64(out, id);
}

bool GetIds(Reader* in, std::vector<raft::NodeId>* ids) {
  uint64_t n = in->Varint64();
  // Each id takes at least one byte: a bigger count is corruption, not a
  // reason to reserve gigabytes.
  if (!in->ok() || n > 1u << 20) return false;
  ids->clear();
  for (uint64_t i = 0; i < n && in->ok(); ++i) ids->push_back(in->Varint64());
  return in->ok();
}

}  // namespace

void EncodeSnapshotMeta(std::string* out, const raft::SnapshotMeta& meta) {
  PutVarint64(out, meta.index);
  PutVarint64(out, meta.term);
  PutIds(out, meta.conf.voters);
  PutIds(out, meta.conf.learners);
}

bool DecodeSnapshotMeta(Reader* in, raft::SnapshotMeta* out) {
  out->index = in->Varint64();
  out->term = in->Varint64();
  return in->ok() && GetIds(in, &out->conf.voters) && GetIds(in, &out->conf.learners);
}

std::string EncodeSnapshotRef(const SnapshotRef& ref) {
  std::string body;
  PutVarint64(&body, ref.file.size());
  body += ref.file;
  EncodeSnapshotMeta(&body, ref.meta);
  PutFixed64(&body, ref.payload_size);
  PutFixed32(&body, ref.payload_crc);
  std::string out;
  PutFixed32(&out, Crc32c(body));
  return out + body;
}

bool DecodeSnapshotRef(std::string_view in, SnapshotRef* out) {
  Reader r(in);
  uint32_t crc = r.Fixed32();
  if (!r.ok() || Crc32c(in.substr(4)) != crc) return false;
  uint64_t name_len = r.Varint64();
  out->file = std::string(r.Bytes(name_len));
  if (!DecodeSnapshotMeta(&r, &out->meta)) return false;
  out->payload_size = r.Fixed64();
  out->payload_crc = r.Fixed32();
  return r.ok() && r.empty();
}

}  // namespace blixard::storage
