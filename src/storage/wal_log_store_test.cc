// What only the WAL store does: recover from a torn last write, report a
// damaged record by file and offset, rotate and delete segments without
// losing state, and fail cleanly when the disk does.
#include "storage/wal_log_store.h"

#include <gtest/gtest.h>

#ifdef FIU_ENABLE
#include <fiu-control.h>
#include <fiu.h>
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "storage/mem_log_store.h"
#include "storage/test_util.h"

namespace blixard::storage {
namespace {

using testing::MakeEntries;
using testing::MakeSnapshot;
using testing::TempDir;

std::unique_ptr<LogStore> MustOpen(const std::string& dir, WalOptions options = {}) {
  Result<std::unique_ptr<LogStore>> r = OpenWalLogStore(dir, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    names.push_back(f.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint32_t Fixed32At(const std::string& s, size_t pos) {
  uint32_t v = 0;
  for (int b = 3; b >= 0; --b) v = (v << 8) | static_cast<uint8_t>(s[pos + static_cast<size_t>(b)]);
  return v;
}

// Start offsets of the records in a segment (framing: fixed32 length,
// fixed32 crc, body of `length` bytes), and the offset after the last one.
std::vector<size_t> RecordOffsets(const std::string& seg) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos + 8 <= seg.size()) {
    uint32_t len = Fixed32At(seg, pos);
    if (len == 0) break;
    out.push_back(pos);
    pos += 8 + len;
  }
  out.push_back(pos);
  return out;
}

void ExpectSameState(const raft::PersistentState& got, const raft::PersistentState& want) {
  EXPECT_EQ(got.hard_state, want.hard_state);
  ASSERT_NE(got.snapshot, nullptr);
  EXPECT_EQ(*got.snapshot, *want.snapshot);
  EXPECT_EQ(got.entries, want.entries);
}

class WalLogStoreTest : public ::testing::Test {
 protected:
  std::string WalDir() const { return dir_.path() + "/wal"; }
  std::string SegmentPath() const {
    std::vector<std::string> names = Files(WalDir());
    EXPECT_EQ(names.size(), 1u);
    return names.empty() ? "" : WalDir() + "/" + names.back();
  }
  // Three Saves (the last with entries 6..7) and a PutMeta, closed.
  void Populate() {
    auto s = MustOpen(dir_.path());
    ASSERT_TRUE(s->PutMeta("node_id", "1").ok());
    ASSERT_TRUE(s->Save(raft::HardState{.term = 1, .vote = 1, .commit = 2}, MakeEntries(1, 3, 1),
                        nullptr)
                    .ok());
    ASSERT_TRUE(s->Save(raft::HardState{.term = 1, .vote = 1, .commit = 3}, MakeEntries(4, 5, 1),
                        nullptr)
                    .ok());
    before_last_ = *s->Load();
    ASSERT_TRUE(s->Save(raft::HardState{.term = 2, .vote = 2, .commit = 5}, MakeEntries(6, 7, 2),
                        nullptr)
                    .ok());
  }

  TempDir dir_;
  raft::PersistentState before_last_;
};

TEST_F(WalLogStoreTest, CreatesADirectoryWithOnePreallocatedSegment) {
  std::string nested = dir_.path() + "/a/b/data";
  auto s = MustOpen(nested, {.segment_bytes = 1 << 20});
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(std::filesystem::is_directory(nested + "/snapshots"));
  std::vector<std::string> segs = Files(nested + "/wal");
  ASSERT_EQ(segs.size(), 1u);
  EXPECT_EQ(std::filesystem::file_size(nested + "/wal/" + segs[0]), uintmax_t{1} << 20);
  // Appends stay inside the preallocated size.
  ASSERT_TRUE(s->Save(std::nullopt, MakeEntries(1, 10, 1), nullptr).ok());
  EXPECT_EQ(std::filesystem::file_size(nested + "/wal/" + segs[0]), uintmax_t{1} << 20);
}

TEST_F(WalLogStoreTest, SecondOpenOfTheSameDirIsRefused) {
  auto first = MustOpen(dir_.path());
  EXPECT_EQ(OpenWalLogStore(dir_.path()).status().code(), StatusCode::kFailedPrecondition);
  // The LMDB store takes the same lock.
  EXPECT_EQ(OpenLmdbLogStore(dir_.path()).status().code(), StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(OpenWalLogStore(dir_.path()).ok());
}

TEST_F(WalLogStoreTest, ADirHoldingAnLmdbStoreIsRefused) {
  {
    auto lmdb = OpenLmdbLogStore(dir_.path());
    ASSERT_TRUE(lmdb.ok());
    ASSERT_TRUE((*lmdb)->Save(std::nullopt, {}, MakeSnapshot(3, 1)).ok());
  }
  Result<std::unique_ptr<LogStore>> r = OpenWalLogStore(dir_.path());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  EXPECT_EQ(Files(dir_.path() + "/snapshots"), std::vector<std::string>{"snap-3-1.bin"});
}

// The crash cut the last write at various points: that Save never returned
// ok, so it is dropped; everything before it is intact and the store goes on.
TEST_F(WalLogStoreTest, TornLastWriteIsCutAndThePreviousSaveIsIntact) {
  Populate();
  const std::string path = SegmentPath();
  const std::string content = ReadFile(path);
  std::vector<size_t> recs = RecordOffsets(content);
  ASSERT_EQ(recs.size(), 6u);  // checkpoint, meta, 3 saves, end
  const size_t last = recs[4], end = recs[5];

  std::vector<std::pair<std::string, std::string>> cuts;
  std::string tail_zeroed = content;
  std::fill(tail_zeroed.begin() + static_cast<long>(end) - 5,
            tail_zeroed.begin() + static_cast<long>(end), '\0');
  cuts.emplace_back("tail of the record lost", tail_zeroed);
  std::string half_header = content;
  std::fill(half_header.begin() + static_cast<long>(last) + 4,
            half_header.begin() + static_cast<long>(end), '\0');
  cuts.emplace_back("only half the header written", half_header);
  std::string garbage = content;
  for (size_t i = last + 8; i < end; ++i) garbage[i] = static_cast<char>(0xA5 ^ i);
  cuts.emplace_back("body garbage", garbage);
  std::string header_lost = content;
  std::fill(header_lost.begin() + static_cast<long>(last),
            header_lost.begin() + static_cast<long>(last) + 8, '\0');
  cuts.emplace_back("header lost, body written", header_lost);

  for (const auto& [what, bytes] : cuts) {
    SCOPED_TRACE(what);
    WriteFile(path, bytes);
    {
      auto s = MustOpen(dir_.path());
      ASSERT_NE(s, nullptr);
      Result<raft::PersistentState> ps = s->Load();
      ASSERT_TRUE(ps.ok()) << ps.status().ToString();
      ExpectSameState(*ps, before_last_);
      EXPECT_EQ(s->GetMeta("node_id")->value_or("?"), "1");
      // A shorter write where the torn one was, then a restart.
      ASSERT_TRUE(s->Save(std::nullopt, MakeEntries(6, 6, 3), nullptr).ok());
    }
    auto s = MustOpen(dir_.path());
    Result<raft::PersistentState> ps = s->Load();
    ASSERT_TRUE(ps.ok()) << ps.status().ToString();
    std::vector<raft::Entry> want = before_last_.entries;
    want.push_back(testing::MakeEntry(6, 3));
    EXPECT_EQ(ps->entries, want);
  }
}

TEST_F(WalLogStoreTest, DamagedRecordInTheMiddleIsDataLossNamingFileAndOffset) {
  Populate();
  const std::string path = SegmentPath();
  std::string content = ReadFile(path);
  std::vector<size_t> recs = RecordOffsets(content);
  const size_t victim = recs[2];  // the first Save, with records after it
  content[victim + 12] ^= 0x01;
  WriteFile(path, content);

  auto s = MustOpen(dir_.path());
  ASSERT_NE(s, nullptr);
  Status st = s->Load().status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("offset " + std::to_string(victim)), std::string::npos)
      << st.message();
  EXPECT_EQ(s->GetMeta("node_id").status().code(), StatusCode::kDataLoss);
  // Nothing is written over the evidence.
  EXPECT_EQ(s->Save(std::nullopt, MakeEntries(8, 8, 2), nullptr).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->PutMeta("k", "v").code(), StatusCode::kFailedPrecondition);
  s.reset();
  EXPECT_EQ(ReadFile(path), content);
}

TEST_F(WalLogStoreTest, DamagedCheckpointIsDataLoss) {
  Populate();
  const std::string path = SegmentPath();
  std::string content = ReadFile(path);
  content[10] ^= 0x10;
  WriteFile(path, content);
  auto s = MustOpen(dir_.path());
  Status st = s->Load().status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find(path + ": record at offset 0"), std::string::npos) << st.message();
}

TEST_F(WalLogStoreTest, SegmentsRotateAndCompactedOnesAreDeletedKeepingHardStateAndMeta) {
  const WalOptions small{.segment_bytes = 4096};
  auto s = MustOpen(dir_.path(), small);
  ASSERT_TRUE(s->PutMeta("node_id", "7").ok());
  ASSERT_TRUE(s->PutMeta("cluster_id", "c1").ok());
  ASSERT_TRUE(s->Save(raft::HardState{.term = 3, .vote = 7, .commit = 0}, {}, nullptr).ok());
  const std::string payload(200, 'p');
  std::set<std::string> seen;
  raft::Index next = 1;
  for (int round = 0; round < 200; ++round, ++next) {
    ASSERT_TRUE(s->Save(std::nullopt, {testing::MakeEntry(next, 3, payload)}, nullptr).ok());
    if (next % 10 == 0) {
      ASSERT_TRUE(s->Compact(*MakeSnapshot(next - 2, 3, "snap")).ok());
    }
    std::vector<std::string> segs = Files(WalDir());
    ASSERT_EQ(segs.size(), 1u) << "round " << round;
    seen.insert(segs[0]);
    // Preallocated to the segment size, or to twice the checkpoint when the
    // live state is larger than half of it.
    EXPECT_LE(std::filesystem::file_size(WalDir() + "/" + segs[0]), 2 * small.segment_bytes);
  }
  EXPECT_GT(seen.size(), 10u);  // it did rotate, many times
  EXPECT_EQ(Files(dir_.path() + "/snapshots"), std::vector<std::string>{"snap-198-3.bin"});

  s.reset();
  s = MustOpen(dir_.path(), small);
  raft::PersistentState ps = *s->Load();
  EXPECT_EQ(ps.hard_state, (raft::HardState{.term = 3, .vote = 7, .commit = 0}));
  EXPECT_EQ(ps.snapshot->meta.index, 198u);
  ASSERT_EQ(ps.entries.size(), 2u);
  EXPECT_EQ(ps.entries[0].index, 199u);
  EXPECT_EQ(ps.entries[1].data, payload);
  EXPECT_EQ(s->GetMeta("node_id")->value_or("?"), "7");
  EXPECT_EQ(s->GetMeta("cluster_id")->value_or("?"), "c1");
}

TEST_F(WalLogStoreTest, ALiveLogLargerThanASegmentDoesNotRotateOnEveryWrite) {
  auto s = MustOpen(dir_.path(), {.segment_bytes = 1024});
  const std::string payload(100, 'q');
  std::set<std::string> seen;
  for (raft::Index i = 1; i <= 300; ++i) {
    ASSERT_TRUE(s->Save(std::nullopt, {testing::MakeEntry(i, 1, payload)}, nullptr).ok());
    seen.insert(Files(WalDir()).at(0));
  }
  // Each rotation copies the live log; it happens when the segment has
  // grown by as much again, so about log2(300 entries) times, not 300.
  EXPECT_LT(seen.size(), 30u);
  s.reset();
  s = MustOpen(dir_.path(), {.segment_bytes = 1024});
  EXPECT_EQ(s->Load()->entries.size(), 300u);
}

TEST_F(WalLogStoreTest, LeftoversOfAnInterruptedRotationAreIgnoredAndRemoved) {
  Populate();
  const std::string path = SegmentPath();
  const std::string name = std::filesystem::path(path).filename().string();
  // An older segment whose deletion the crash interrupted, and a new one
  // that was never renamed into place.
  const std::string older = WalDir() + "/wal-0000000000000000-0000000000000001.log";
  WriteFile(older, "stale");
  WriteFile(WalDir() + "/wal-00000000000000ff-0000000000000001.log.tmp", "torn");
  auto s = MustOpen(dir_.path());
  ASSERT_NE(s, nullptr);
  Result<raft::PersistentState> ps = s->Load();
  ASSERT_TRUE(ps.ok()) << ps.status().ToString();
  EXPECT_EQ(ps->entries, [] {
    auto e = MakeEntries(1, 5, 1);
    for (auto& x : MakeEntries(6, 7, 2)) e.push_back(x);
    return e;
  }());
  EXPECT_EQ(Files(WalDir()), std::vector<std::string>{name});
}

// Many restarts interleaved with every kind of write, with tiny segments:
// after each reopen the WAL holds what the in-memory reference store holds.
TEST_F(WalLogStoreTest, ReopenedManyTimesItStaysConsistent) {
  MemLogStore ref;
  raft::Index last = 0, snap = 0;
  raft::Term term = 1;
  for (int round = 0; round < 60; ++round) {
    auto s = MustOpen(dir_.path(), {.segment_bytes = 600});
    ASSERT_NE(s, nullptr);
    ExpectSameState(*s->Load(), *ref.Load());
    ASSERT_EQ(s->GetMeta("round")->value_or("none"), ref.GetMeta("round")->value_or("none"));
    std::vector<std::function<Status(LogStore*)>> ops;
    const raft::Index first = last + 1;
    ops.push_back([=](LogStore* st) {
      return st->Save(raft::HardState{.term = term, .vote = 1, .commit = snap},
                      MakeEntries(first, first + 2, term), nullptr);
    });
    if (round % 3 == 1 && last > snap + 2) {  // overwrite a suffix in a new term
      ++term;
      const raft::Index from = last - 1, t = term;
      ops.push_back([=](LogStore* st) { return st->Save(std::nullopt, MakeEntries(from, from, t), nullptr); });
    }
    if (round % 4 == 2) {
      ops.push_back([=](LogStore* st) { return st->Compact(*MakeSnapshot(first + 1, term, "c" + std::to_string(round))); });
    }
    if (round % 7 == 5) {  // a leader's snapshot past the log
      ops.push_back([=](LogStore* st) {
        return st->Save(std::nullopt, {}, MakeSnapshot(first + 10, term, "i" + std::to_string(round)));
      });
    }
    ops.push_back([=](LogStore* st) { return st->PutMeta("round", std::to_string(round)); });
    for (const auto& op : ops) {
      Status a = op(s.get());
      Status b = op(&ref);
      ASSERT_EQ(a.code(), b.code()) << a.ToString() << " / " << b.ToString();
    }
    raft::PersistentState now = *ref.Load();
    snap = now.snapshot->meta.index;
    last = now.entries.empty() ? snap : now.entries.back().index;
  }
}

#ifdef FIU_ENABLE

// Each write, failed at each fault point: the call returns the error, the
// store refuses writes from then on, and a reopened store holds exactly what
// it held before the failed call, with no stray snapshot or segment file.
class WalFaultTest : public WalLogStoreTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    static const int init = fiu_init(0);
    ASSERT_EQ(init, 0);
    Populate();
  }
  void TearDown() override { fiu_disable(GetParam()); }

  void ExpectFailureChangesNothing(const std::function<Status(LogStore*)>& write,
                                   WalOptions options = {}) {
    auto s = MustOpen(dir_.path(), options);
    ASSERT_NE(s, nullptr);
    Result<raft::PersistentState> before = s->Load();
    ASSERT_TRUE(before.ok());
    std::vector<std::string> snaps_before = Files(dir_.path() + "/snapshots");
    std::vector<std::string> wal_before = Files(WalDir());

    ASSERT_EQ(fiu_enable(GetParam(), 1, nullptr, 0), 0);
    Status st = write(s.get());
    fiu_disable(GetParam());
    EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
    const char* want = std::string(GetParam()) == "storage/enospc" ? "No space left"
                                                                     : "Input/output error";
    EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
    EXPECT_EQ(s->Save(raft::HardState{.term = 9, .vote = 0, .commit = 0}, {}, nullptr).code(),
              StatusCode::kFailedPrecondition);
    EXPECT_EQ(s->PutMeta("k", "v").code(), StatusCode::kFailedPrecondition);

    s.reset();
    s = MustOpen(dir_.path(), options);
    ASSERT_NE(s, nullptr);
    Result<raft::PersistentState> after = s->Load();
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    ExpectSameState(*after, *before);
    EXPECT_EQ(s->GetMeta("node_id")->value_or("?"), "1");
    EXPECT_EQ(Files(dir_.path() + "/snapshots"), snaps_before);
    EXPECT_EQ(Files(WalDir()), wal_before);
    EXPECT_TRUE(s->Save(std::nullopt, MakeEntries(8, 8, 2), nullptr).ok());
  }
};

TEST_P(WalFaultTest, FailedAppendChangesNothing) {
  ExpectFailureChangesNothing([](LogStore* s) {
    return s->Save(raft::HardState{.term = 2, .vote = 2, .commit = 9}, MakeEntries(6, 12, 3),
                   nullptr);
  });
}

TEST_P(WalFaultTest, FailedAppendThatStartsANewSegmentChangesNothing) {
  ExpectFailureChangesNothing(
      [](LogStore* s) {
        return s->Save(std::nullopt, {testing::MakeEntry(8, 2, std::string(2000, 'r'))}, nullptr);
      },
      {.segment_bytes = 1024});
}

TEST_P(WalFaultTest, FailedSnapshotInstallChangesNothing) {
  ExpectFailureChangesNothing(
      [](LogStore* s) { return s->Save(std::nullopt, {}, MakeSnapshot(20, 3, "new")); });
}

TEST_P(WalFaultTest, FailedCompactChangesNothing) {
  ExpectFailureChangesNothing([](LogStore* s) { return s->Compact(*MakeSnapshot(4, 1, "c")); });
}

TEST_P(WalFaultTest, FailedPutMetaChangesNothing) {
  ExpectFailureChangesNothing([](LogStore* s) {
    Status st = s->PutMeta("node_id", "7");
    EXPECT_EQ(s->GetMeta("node_id")->value_or("?"), "1");
    return st;
  });
}

INSTANTIATE_TEST_SUITE_P(FaultPoints, WalFaultTest,
                         ::testing::Values("storage/sync", "storage/write", "storage/enospc",
                                           "storage/short-write"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = std::string(info.param).substr(8);  // "storage/"
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

#endif  // FIU_ENABLE

}  // namespace
}  // namespace blixard::storage
