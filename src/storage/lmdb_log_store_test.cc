// What only the on-disk store can do: survive its files being damaged, and
// fail cleanly when the disk does.
#include <gtest/gtest.h>
#include <lmdb.h>

#ifdef FIU_ENABLE
#include <fiu-control.h>
#include <fiu.h>
#endif

#include <filesystem>
#include <fstream>

#include "storage/log_store.h"
#include "storage/mem_log_store.h"
#include "storage/test_util.h"

namespace blixard::storage {
namespace {

using testing::MakeEntries;
using testing::MakeSnapshot;
using testing::TempDir;

std::unique_ptr<LogStore> MustOpen(const std::string& dir) {
  Result<std::unique_ptr<LogStore>> r = OpenLmdbLogStore(dir);
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

std::vector<std::string> SnapshotFiles(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& f : std::filesystem::directory_iterator(dir + "/snapshots")) {
    names.push_back(f.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Opens dir/raft.mdb with the plain LMDB API (the store must be closed) and
// lets `edit` change the "log" database in one write transaction.
void EditLogDb(const std::string& dir, const std::function<void(MDB_txn*, MDB_dbi)>& edit) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  ASSERT_EQ(mdb_env_set_maxdbs(env, 2), 0);
  ASSERT_EQ(mdb_env_set_mapsize(env, size_t{64} << 30), 0);
  ASSERT_EQ(mdb_env_open(env, (dir + "/raft.mdb").c_str(), MDB_NOSUBDIR, 0644), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  MDB_dbi dbi;
  ASSERT_EQ(mdb_dbi_open(txn, "log", 0, &dbi), 0);
  edit(txn, dbi);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

MDB_val Key(raft::Index i, std::string* buf) {
  buf->assign(8, '\0');
  for (int b = 7; b >= 0; --b, i >>= 8) (*buf)[b] = static_cast<char>(i & 0xff);
  return {buf->size(), buf->data()};
}

// Rewrites the record of entry `index` through `change`.
void ChangeRecord(const std::string& dir, raft::Index index,
                  const std::function<void(std::string*)>& change) {
  EditLogDb(dir, [&](MDB_txn* txn, MDB_dbi dbi) {
    std::string kb;
    MDB_val k = Key(index, &kb), v;
    ASSERT_EQ(mdb_get(txn, dbi, &k, &v), 0);
    std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    change(&value);
    MDB_val nv{value.size(), value.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &nv, 0), 0);
  });
}

class LmdbLogStoreTest : public ::testing::Test {
 protected:
  // A store with a snapshot at 4 and entries 5..10, closed.
  void Populate() {
    auto s = MustOpen(dir_.path());
    ASSERT_TRUE(s->Save(raft::HardState{.term = 1, .vote = 1, .commit = 8}, MakeEntries(1, 10, 1),
                        nullptr)
                    .ok());
    ASSERT_TRUE(s->Compact(*MakeSnapshot(4, 1, std::string(5000, 's'))).ok());
  }
  Status LoadStatus() {
    auto s = MustOpen(dir_.path());
    return s ? s->Load().status() : Status::Internal("open failed");
  }
  std::string SnapPath() const { return dir_.path() + "/snapshots/snap-4-1.bin"; }

  TempDir dir_;
};

TEST_F(LmdbLogStoreTest, CreatesAMissingDirectory) {
  std::string nested = dir_.path() + "/a/b/data";
  auto s = MustOpen(nested);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(std::filesystem::exists(nested + "/raft.mdb"));
  EXPECT_TRUE(std::filesystem::is_directory(nested + "/snapshots"));
}

TEST_F(LmdbLogStoreTest, SecondOpenOfTheSameDirIsRefused) {
  auto first = MustOpen(dir_.path());
  Result<std::unique_ptr<LogStore>> second = OpenLmdbLogStore(dir_.path());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(OpenLmdbLogStore(dir_.path()).ok());
}

TEST_F(LmdbLogStoreTest, SnapshotFileIsNamedByIndexAndTermAndOldOnesAreDeleted) {
  Populate();
  EXPECT_EQ(SnapshotFiles(dir_.path()), std::vector<std::string>{"snap-4-1.bin"});
  auto s = MustOpen(dir_.path());
  ASSERT_TRUE(s->Compact(*MakeSnapshot(8, 1)).ok());
  EXPECT_EQ(SnapshotFiles(dir_.path()), std::vector<std::string>{"snap-8-1.bin"});
  // Same index and term again: written beside the current file, never over it.
  ASSERT_TRUE(s->Compact(*MakeSnapshot(8, 1, "again")).ok());
  EXPECT_EQ(SnapshotFiles(dir_.path()), std::vector<std::string>{"snap-8-1-1.bin"});
  EXPECT_EQ(s->Load()->snapshot->data, "again");
}

TEST_F(LmdbLogStoreTest, UnreferencedSnapshotFilesAreRemovedAtOpen) {
  Populate();
  WriteFile(dir_.path() + "/snapshots/snap-9-1.bin.tmp", "torn");
  WriteFile(dir_.path() + "/snapshots/snap-2-1.bin", "stale");
  auto s = MustOpen(dir_.path());
  EXPECT_EQ(SnapshotFiles(dir_.path()), std::vector<std::string>{"snap-4-1.bin"});
  EXPECT_TRUE(s->Load().ok());
}

TEST_F(LmdbLogStoreTest, FlippedByteInSnapshotFileIsDataLossNamingTheFile) {
  Populate();
  std::string content = ReadFile(SnapPath());
  for (size_t pos : {size_t{3}, size_t{20}, content.size() - 100}) {
    std::string bad = content;
    bad[pos] ^= 0x40;
    WriteFile(SnapPath(), bad);
    Status st = LoadStatus();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << "byte " << pos << ": " << st.ToString();
    EXPECT_NE(st.message().find(SnapPath()), std::string::npos) << st.message();
  }
  WriteFile(SnapPath(), content);
  EXPECT_TRUE(LoadStatus().ok());
}

TEST_F(LmdbLogStoreTest, TruncatedSnapshotFileIsDataLoss) {
  Populate();
  std::string content = ReadFile(SnapPath());
  for (size_t len : {size_t{0}, size_t{10}, content.size() - 1}) {
    WriteFile(SnapPath(), content.substr(0, len));
    Status st = LoadStatus();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << len << ": " << st.ToString();
    EXPECT_NE(st.message().find(SnapPath()), std::string::npos) << st.message();
  }
}

TEST_F(LmdbLogStoreTest, MissingSnapshotFileIsDataLoss) {
  Populate();
  std::filesystem::remove(SnapPath());
  Status st = LoadStatus();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find(SnapPath()), std::string::npos) << st.message();
}

TEST_F(LmdbLogStoreTest, CorruptEntryRecordIsDataLossNamingTheIndex) {
  Populate();
  ChangeRecord(dir_.path(), 7, [](std::string* v) { (*v)[v->size() - 1] ^= 0x01; });
  Status st = LoadStatus();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find(dir_.path() + "/raft.mdb"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("log entry 7"), std::string::npos) << st.message();
}

TEST_F(LmdbLogStoreTest, TornEntryRecordIsDataLoss) {
  Populate();
  ChangeRecord(dir_.path(), 5, [](std::string* v) { v->resize(2); });
  Status st = LoadStatus();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("log entry 5"), std::string::npos) << st.message();
}

TEST_F(LmdbLogStoreTest, MissingEntryInTheMiddleIsDataLoss) {
  Populate();
  EditLogDb(dir_.path(), [](MDB_txn* txn, MDB_dbi dbi) {
    std::string kb;
    MDB_val k = Key(6, &kb);
    ASSERT_EQ(mdb_del(txn, dbi, &k, nullptr), 0);
  });
  Status st = LoadStatus();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("log entry 7"), std::string::npos) << st.message();
}

TEST_F(LmdbLogStoreTest, EntryCopiedToAnotherIndexIsDataLoss) {
  Populate();
  EditLogDb(dir_.path(), [](MDB_txn* txn, MDB_dbi dbi) {
    std::string k5b, k6b;
    MDB_val k5 = Key(5, &k5b), k6 = Key(6, &k6b), v;
    ASSERT_EQ(mdb_get(txn, dbi, &k5, &v), 0);
    std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
    MDB_val nv{value.size(), value.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &k6, &nv, 0), 0);
  });
  EXPECT_EQ(LoadStatus().code(), StatusCode::kDataLoss);
}

void ExpectSameState(const raft::PersistentState& got, const raft::PersistentState& want) {
  EXPECT_EQ(got.hard_state, want.hard_state);
  ASSERT_NE(got.snapshot, nullptr);
  EXPECT_EQ(*got.snapshot, *want.snapshot);
  EXPECT_EQ(got.entries, want.entries);
}

#ifdef FIU_ENABLE

// Each write, failed at each fault point: the call returns the error, the
// store refuses writes from then on, and a reopened store holds exactly
// what it held before the failed call (no half-written transaction, no
// stray snapshot file).
class LmdbFaultTest : public LmdbLogStoreTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    static const int init = fiu_init(0);
    ASSERT_EQ(init, 0);
    Populate();
  }
  void TearDown() override { fiu_disable(GetParam()); }

  void ExpectFailureChangesNothing(const std::function<Status(LogStore*)>& write) {
    auto s = MustOpen(dir_.path());
    ASSERT_NE(s, nullptr);
    Result<raft::PersistentState> before = s->Load();
    ASSERT_TRUE(before.ok());
    std::vector<std::string> files_before = SnapshotFiles(dir_.path());

    ASSERT_EQ(fiu_enable(GetParam(), 1, nullptr, 0), 0);
    Status st = write(s.get());
    fiu_disable(GetParam());
    EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
    const char* want = std::string(GetParam()) == "storage/enospc" ? "No space left"
                                                                     : "Input/output error";
    EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
    // Once a write failed, the store does not trust itself any more.
    EXPECT_EQ(s->Save(raft::HardState{.term = 9, .vote = 0, .commit = 0}, {}, nullptr).code(),
              StatusCode::kFailedPrecondition);

    s.reset();
    s = MustOpen(dir_.path());
    ASSERT_NE(s, nullptr);
    Result<raft::PersistentState> after = s->Load();
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    ExpectSameState(*after, *before);
    EXPECT_EQ(SnapshotFiles(dir_.path()), files_before);
    // And the reopened store works.
    EXPECT_TRUE(s->Save(std::nullopt, MakeEntries(11, 11, 2), nullptr).ok());
  }
};

TEST_P(LmdbFaultTest, FailedAppendChangesNothing) {
  ExpectFailureChangesNothing([](LogStore* s) {
    return s->Save(raft::HardState{.term = 2, .vote = 2, .commit = 9}, MakeEntries(8, 12, 2),
                   nullptr);
  });
}

TEST_P(LmdbFaultTest, FailedSnapshotInstallChangesNothing) {
  ExpectFailureChangesNothing(
      [](LogStore* s) { return s->Save(std::nullopt, {}, MakeSnapshot(20, 3, "new")); });
}

TEST_P(LmdbFaultTest, FailedCompactChangesNothing) {
  ExpectFailureChangesNothing([](LogStore* s) { return s->Compact(*MakeSnapshot(8, 1, "c")); });
}

TEST_P(LmdbFaultTest, FailedPutMetaChangesNothing) {
  ExpectFailureChangesNothing([](LogStore* s) {
    Status st = s->PutMeta("node_id", "7");
    EXPECT_TRUE(s->GetMeta("node_id").ok());
    return st;
  });
}

INSTANTIATE_TEST_SUITE_P(FaultPoints, LmdbFaultTest,
                         ::testing::Values("storage/sync", "storage/write", "storage/enospc"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string n = std::string(info.param).substr(8);  // "storage/"
                           return n;
                         });

#endif  // FIU_ENABLE

TEST(MemLogStore, FaultHookFailsTheWriteAndChangesNothing) {
  MemLogStore s;
  ASSERT_TRUE(s.Save(raft::HardState{.term = 1, .vote = 1, .commit = 0}, MakeEntries(1, 3, 1),
                     nullptr)
                  .ok());
  Result<raft::PersistentState> before = s.Load();
  int calls = 0;
  s.SetFaultHook([&calls] {
    ++calls;
    return Status::IoError("injected fsync failure");
  });
  EXPECT_EQ(s.Save(raft::HardState{.term = 2, .vote = 0, .commit = 0}, MakeEntries(2, 5, 2),
                   MakeSnapshot(1, 1))
                .message(),
            "I/O error: injected fsync failure");
  EXPECT_FALSE(s.Compact(*MakeSnapshot(2, 1)).ok());
  EXPECT_FALSE(s.PutMeta("k", "v").ok());
  EXPECT_EQ(calls, 3);
  ExpectSameState(*s.Load(), *before);
  EXPECT_FALSE(s.GetMeta("k")->has_value());

  s.SetFaultHook(nullptr);
  EXPECT_TRUE(s.Save(std::nullopt, MakeEntries(4, 4, 1), nullptr).ok());
}

TEST(MemLogStore, SyncCountCountsDurableWrites) {
  MemLogStore s;
  EXPECT_EQ(s.sync_count(), 0u);
  ASSERT_TRUE(s.Save(std::nullopt, MakeEntries(1, 3, 1), nullptr).ok());
  ASSERT_TRUE(s.Save(std::nullopt, {}, nullptr).ok());                  // nothing to write
  ASSERT_FALSE(s.Save(std::nullopt, MakeEntries(9, 9, 1), nullptr).ok());  // refused
  ASSERT_TRUE(s.Compact(*MakeSnapshot(2, 1)).ok());
  ASSERT_TRUE(s.PutMeta("node_id", "1").ok());
  EXPECT_EQ(s.sync_count(), 3u);
}

TEST(MemLogStore, SavedSnapshotDoesNotAliasTheCallersObject) {
  MemLogStore s;
  auto snap = std::make_shared<raft::Snapshot>(*MakeSnapshot(5, 2, "before"));
  ASSERT_TRUE(s.Save(std::nullopt, {}, snap).ok());
  snap->data = "after";
  EXPECT_EQ(s.Load()->snapshot->data, "before");
  // Loads share the store's immutable copy instead of copying it each time.
  EXPECT_EQ(s.Load()->snapshot.get(), s.Load()->snapshot.get());
}

}  // namespace
}  // namespace blixard::storage
