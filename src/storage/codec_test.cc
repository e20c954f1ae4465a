#include "storage/codec.h"

#include <gtest/gtest.h>

namespace blixard::storage {
namespace {

TEST(Codec, Crc32cMatchesTheCastagnoliCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32cExtend(Crc32c("1234"), "56789"), Crc32c("123456789"));
}

TEST(Codec, VarintsAndFixedIntsRoundTrip) {
  std::string buf;
  const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 32, ~0ull};
  for (uint64_t v : values) PutVarint64(&buf, v);
  PutFixed32(&buf, 0xdeadbeef);
  PutFixed64(&buf, 0x0123456789abcdefull);
  Reader r(buf);
  for (uint64_t v : values) EXPECT_EQ(r.Varint64(), v);
  EXPECT_EQ(r.Fixed32(), 0xdeadbeefu);
  EXPECT_EQ(r.Fixed64(), 0x0123456789abcdefull);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.empty());
  r.Fixed32();
  EXPECT_FALSE(r.ok());
}

TEST(Codec, IndexKeysSortInLogOrder) {
  EXPECT_LT(EncodeIndexKey(255), EncodeIndexKey(256));
  EXPECT_LT(EncodeIndexKey(1), EncodeIndexKey(1ull << 40));
  EXPECT_EQ(DecodeIndexKey(EncodeIndexKey(0x0102030405060708ull)), 0x0102030405060708ull);
}

TEST(Codec, EntryRoundTripsAndEveryFlippedByteIsCaught) {
  raft::Entry e{.term = 7, .index = 42, .type = raft::EntryType::kConfChange,
                .data = std::string("a\0b", 3)};
  std::string key = EncodeIndexKey(e.index);
  std::string value = EncodeEntryValue(e);
  raft::Entry out;
  std::string why;
  ASSERT_TRUE(DecodeEntryValue(key, value, &out, &why)) << why;
  EXPECT_EQ(out, e);
  for (size_t i = 0; i < value.size(); ++i) {
    std::string bad = value;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeEntryValue(key, bad, &out, &why)) << "byte " << i;
  }
  // The same record under another index is caught too.
  EXPECT_FALSE(DecodeEntryValue(EncodeIndexKey(43), value, &out, &why));
  EXPECT_FALSE(DecodeEntryValue(key, value.substr(0, 3), &out, &why));
}

TEST(Codec, HardStateAndSnapshotRefRoundTrip) {
  raft::HardState hs{.term = 3, .vote = 2, .commit = 99};
  raft::HardState hs_out;
  ASSERT_TRUE(DecodeHardState(EncodeHardState(hs), &hs_out));
  EXPECT_EQ(hs_out, hs);

  SnapshotRef ref;
  ref.file = "snap-9-3.bin";
  ref.meta.index = 9;
  ref.meta.term = 3;
  ref.meta.conf.voters = {1, 2};
  ref.meta.conf.learners = {5};
  ref.payload_size = 1234;
  ref.payload_crc = 0xabcdef;
  std::string enc = EncodeSnapshotRef(ref);
  SnapshotRef out;
  ASSERT_TRUE(DecodeSnapshotRef(enc, &out));
  EXPECT_EQ(out.file, ref.file);
  EXPECT_EQ(out.meta, ref.meta);
  EXPECT_EQ(out.payload_size, ref.payload_size);
  EXPECT_EQ(out.payload_crc, ref.payload_crc);
  enc[6] ^= 0x10;
  EXPECT_FALSE(DecodeSnapshotRef(enc, &out));
}

}  // namespace
}  // namespace blixard::storage
