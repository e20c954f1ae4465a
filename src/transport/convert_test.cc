#include "transport/convert.h"

#include <gtest/gtest.h>

#include <utility>

#include "transport/transport.h"

namespace blixard::transport {
namespace {

using raft::Message;
using raft::MessageType;

Message Sample(MessageType type) {
  Message m;
  m.type = type;
  m.from = 1;
  m.to = 2;
  m.term = 7;
  m.log_term = 6;
  m.index = 41;
  m.commit = 40;
  m.reject = true;
  m.reject_hint = 30;
  m.reject_term = 5;
  m.context = std::string("ctx\0bin", 7);
  return m;
}

void ExpectSame(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.log_term, b.log_term);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.reject_hint, b.reject_hint);
  EXPECT_EQ(a.reject_term, b.reject_term);
  EXPECT_EQ(a.context, b.context);
  ASSERT_EQ(a.snapshot == nullptr, b.snapshot == nullptr);
  if (a.snapshot) {
    EXPECT_EQ(*a.snapshot, *b.snapshot);
  }
}

Message SnapshotMessage(size_t bytes) {
  Message m = Sample(MessageType::kSnapshot);
  auto snap = std::make_shared<raft::Snapshot>();
  snap->meta.index = 100;
  snap->meta.term = 6;
  snap->meta.conf.voters = {1, 2, 3};
  snap->meta.conf.learners = {4};
  snap->data.resize(bytes);
  for (size_t i = 0; i < bytes; ++i) snap->data[i] = static_cast<char>(i * 31 + i / 977);
  m.snapshot = std::move(snap);
  return m;
}

std::optional<Message> Assemble(SnapshotAssembler& a, const std::vector<v1::RaftMessage>& chunks) {
  std::optional<Message> out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    out = a.Add(chunks[i]);
    if (i + 1 < chunks.size()) {
      EXPECT_FALSE(out.has_value()) << "complete early at chunk " << i;
    }
  }
  return out;
}

TEST(Convert, EveryNonSnapshotMessageTypeRoundTrips) {
  for (int t = 0; t <= static_cast<int>(MessageType::kReadIndexResp); ++t) {
    auto type = static_cast<MessageType>(t);
    if (type == MessageType::kSnapshot) continue;
    Message m = Sample(type);
    m.entries = {{6, 42, raft::EntryType::kNormal, "put x"},
                 {7, 43, raft::EntryType::kConfChange, std::string("\0\1\2", 3)},
                 {7, 44, raft::EntryType::kNormal, ""}};
    auto wire = ToWire(m, kSnapshotChunkBytes);
    ASSERT_EQ(wire.size(), 1u) << raft::MessageTypeName(type);
    EXPECT_FALSE(IsSnapshotChunk(wire[0]));
    // Through bytes, as on the network.
    v1::RaftMessage parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire[0].SerializeAsString()));
    auto back = FromWire(parsed);
    ASSERT_TRUE(back.has_value()) << raft::MessageTypeName(type);
    ExpectSame(m, *back);
  }
}

// The moving overloads give what the copying ones give (data longer than
// a short string, so it lives on the heap and is really moved).
TEST(Convert, MovingRoundTripEqualsCopyingOne) {
  Message m = Sample(MessageType::kAppend);
  m.entries = {{6, 42, raft::EntryType::kNormal, std::string(100, 'a')},
               {7, 43, raft::EntryType::kConfChange, std::string("\0\1\2", 3)},
               {7, 44, raft::EntryType::kNormal, std::string(5000, 'b')}};
  const Message original = m;
  auto copied = ToWire(std::as_const(m), kSnapshotChunkBytes);
  auto moved = ToWire(std::move(m), kSnapshotChunkBytes);
  ASSERT_EQ(moved.size(), 1u);
  EXPECT_EQ(copied[0].SerializeAsString(), moved[0].SerializeAsString());
  auto back = FromWire(std::move(moved[0]));
  ASSERT_TRUE(back.has_value());
  ExpectSame(original, *back);
  // A snapshot message still goes in chunks when moved.
  Message snap = SnapshotMessage(2 * 1024 + 5);
  EXPECT_EQ(ToWire(std::move(snap), 1024).size(), 3u);
}

TEST(Convert, DefaultMessageRoundTrips) {
  Message m;
  auto back = FromWire(ToWire(m, 16)[0]);
  ASSERT_TRUE(back.has_value());
  ExpectSame(m, *back);
}

TEST(Convert, UnknownTypesAreRejected) {
  v1::RaftMessage w = ToWire(Sample(MessageType::kAppend), 16)[0];
  w.set_type(200);
  EXPECT_FALSE(FromWire(w).has_value());
  w = ToWire(Sample(MessageType::kAppend), 16)[0];
  w.add_entries()->set_type(9);
  EXPECT_FALSE(FromWire(w).has_value());
}

TEST(Convert, SnapshotOf3AndAHalfMiBTravelsIn1MiBChunks) {
  Message m = SnapshotMessage(3 * 1024 * 1024 + 512 * 1024);
  auto chunks = ToWire(m, kSnapshotChunkBytes);
  ASSERT_EQ(chunks.size(), 4u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_TRUE(IsSnapshotChunk(chunks[i]));
    EXPECT_EQ(chunks[i].snapshot_offset(), i * kSnapshotChunkBytes);
    EXPECT_EQ(chunks[i].snapshot_total_bytes(), m.snapshot->data.size());
    EXPECT_LE(chunks[i].snapshot_chunk().size(), kSnapshotChunkBytes);
  }
  EXPECT_EQ(chunks.back().snapshot_chunk().size(), 512u * 1024);
  SnapshotAssembler a;
  auto back = Assemble(a, chunks);
  ASSERT_TRUE(back.has_value());
  ExpectSame(m, *back);
  EXPECT_EQ(a.in_progress(), 0u);
}

TEST(Convert, EmptySnapshotIsOneChunk) {
  Message m = SnapshotMessage(0);
  auto chunks = ToWire(m, kSnapshotChunkBytes);
  ASSERT_EQ(chunks.size(), 1u);
  SnapshotAssembler a;
  auto back = a.Add(chunks[0]);
  ASSERT_TRUE(back.has_value());
  ExpectSame(m, *back);
}

TEST(Convert, SnapshotMessageWithoutSnapshotTravelsAsEmptySnapshot) {
  Message m = Sample(MessageType::kSnapshot);
  auto chunks = ToWire(m, 8);
  ASSERT_EQ(chunks.size(), 1u);
  SnapshotAssembler a;
  auto back = a.Add(chunks[0]);
  ASSERT_TRUE(back.has_value());
  ASSERT_NE(back->snapshot, nullptr);
  EXPECT_EQ(*back->snapshot, raft::Snapshot{});
}

// A stranger's announcement costs what it sends, not what it announces,
// and claiming many senders on one stream holds one partial snapshot.
TEST(Convert, AnnouncedSnapshotSizeReservesNothingAhead) {
  SnapshotAssembler a;
  for (uint64_t from = 1; from <= 100; ++from) {
    v1::RaftMessage chunk;
    chunk.set_type(static_cast<uint32_t>(MessageType::kSnapshot));
    chunk.set_from(from);
    chunk.set_to(9);
    chunk.set_snapshot_total_bytes(uint64_t{4} << 30);
    chunk.set_snapshot_offset(0);
    chunk.set_snapshot_chunk("0123456789");
    chunk.mutable_snapshot_meta()->set_index(7);
    ASSERT_TRUE(IsSnapshotChunk(chunk));
    EXPECT_FALSE(a.Add(chunk).has_value());
  }
  EXPECT_EQ(a.in_progress(), SnapshotAssembler::kMaxSenders);
  EXPECT_LT(a.held_bytes(), 4096u);
}

TEST(Convert, OutOfOrderChunkDiscardsPartialSnapshot) {
  Message m = SnapshotMessage(10 * 100 + 50);
  auto chunks = ToWire(m, 100);
  ASSERT_EQ(chunks.size(), 11u);
  SnapshotAssembler a;
  EXPECT_FALSE(a.Add(chunks[0]).has_value());
  EXPECT_FALSE(a.Add(chunks[2]).has_value());  // skips chunk 1: partial discarded
  EXPECT_EQ(a.in_progress(), 0u);
  for (size_t i = 1; i < chunks.size(); ++i) {  // the rest cannot complete without a start
    EXPECT_FALSE(a.Add(chunks[i]).has_value()) << i;
  }
  EXPECT_EQ(a.in_progress(), 0u);
  // The sender starts over: the snapshot arrives whole.
  auto back = Assemble(a, chunks);
  ASSERT_TRUE(back.has_value());
  ExpectSame(m, *back);
}

TEST(Convert, RepeatedFirstChunkRestartsSnapshot) {
  Message m = SnapshotMessage(300);
  auto chunks = ToWire(m, 100);
  SnapshotAssembler a;
  EXPECT_FALSE(a.Add(chunks[0]).has_value());
  EXPECT_FALSE(a.Add(chunks[1]).has_value());
  auto back = Assemble(a, chunks);  // starts over at offset 0
  ASSERT_TRUE(back.has_value());
  ExpectSame(m, *back);
}

TEST(Convert, NewerSnapshotReplacesPartialOne) {
  Message old_snap = SnapshotMessage(300);
  Message new_snap = SnapshotMessage(250);
  std::const_pointer_cast<raft::Snapshot>(new_snap.snapshot)->meta.index = 200;
  auto old_chunks = ToWire(old_snap, 100);
  SnapshotAssembler a;
  EXPECT_FALSE(a.Add(old_chunks[0]).has_value());
  auto back = Assemble(a, ToWire(new_snap, 100));
  ASSERT_TRUE(back.has_value());
  ExpectSame(new_snap, *back);
  EXPECT_FALSE(a.Add(old_chunks[1]).has_value());  // the old one is gone
  EXPECT_EQ(a.in_progress(), 0u);
}

TEST(Convert, SendersAreAssembledSeparately) {
  Message from1 = SnapshotMessage(300);
  Message from3 = SnapshotMessage(300);
  from3.from = 3;
  auto c1 = ToWire(from1, 100);
  auto c3 = ToWire(from3, 100);
  SnapshotAssembler a;
  std::optional<Message> r1, r3;
  for (size_t i = 0; i < c1.size(); ++i) {
    r1 = a.Add(c1[i]);
    r3 = a.Add(c3[i]);
  }
  ASSERT_TRUE(r1 && r3);
  ExpectSame(from1, *r1);
  ExpectSame(from3, *r3);
}

TEST(Convert, ChunkOverrunningAnnouncedSizeIsRefused) {
  auto chunks = ToWire(SnapshotMessage(300), 100);
  chunks[2].set_snapshot_chunk(std::string(150, 'x'));
  SnapshotAssembler a;
  EXPECT_FALSE(Assemble(a, chunks).has_value());
  EXPECT_EQ(a.in_progress(), 0u);
}

TEST(Convert, SnapshotOverTheLimitIsRefused) {
  auto chunks = ToWire(SnapshotMessage(300), 100);
  SnapshotAssembler a(/*max_bytes=*/200);
  EXPECT_FALSE(Assemble(a, chunks).has_value());
  EXPECT_EQ(a.in_progress(), 0u);
}

}  // namespace
}  // namespace blixard::transport
