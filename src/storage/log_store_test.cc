// The LogStore contract (log_store.h), run against every implementation.
#include <gtest/gtest.h>

#include "storage/log_store.h"
#include "storage/mem_log_store.h"
#include "storage/test_util.h"
#include "storage/wal_log_store.h"

namespace blixard::storage {
namespace {

using testing::MakeEntries;
using testing::MakeEntry;
using testing::MakeSnapshot;
using testing::TempDir;

// A store and a way to "restart" the node that owns it.
struct LmdbFactory {
  static constexpr const char* kName = "Lmdb";
  TempDir dir;
  std::unique_ptr<LogStore> store;
  LogStore* Restart() {
    store.reset();  // close before reopening: one open store per dir
    Result<std::unique_ptr<LogStore>> r = OpenLmdbLogStore(dir.path());
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return nullptr;
    }
    store = std::move(*r);
    return store.get();
  }
};

struct WalFactory {
  static constexpr const char* kName = "Wal";
  TempDir dir;
  std::unique_ptr<LogStore> store;
  LogStore* Restart() {
    store.reset();
    Result<std::unique_ptr<LogStore>> r = OpenWalLogStore(dir.path());
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return nullptr;
    }
    store = std::move(*r);
    return store.get();
  }
};

// The WAL with segments so small that nearly every write starts a new one:
// the contract must hold across rotations too.
struct TinyWalFactory {
  static constexpr const char* kName = "TinyWal";
  TempDir dir;
  std::unique_ptr<LogStore> store;
  LogStore* Restart() {
    store.reset();
    Result<std::unique_ptr<LogStore>> r = OpenWalLogStore(dir.path(), {.segment_bytes = 256});
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return nullptr;
    }
    store = std::move(*r);
    return store.get();
  }
};

struct MemFactory {
  static constexpr const char* kName = "Mem";
  MemLogStore store;
  // Everything saved is durable: a restarted node just loads it again.
  LogStore* Restart() { return &store; }
};

template <typename F>
class LogStoreContract : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(s_ = f_.Restart(), nullptr); }
  void Restart() { ASSERT_NE(s_ = f_.Restart(), nullptr); }
  raft::PersistentState MustLoad() {
    Result<raft::PersistentState> r = s_->Load();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : raft::PersistentState{};
  }
  void MustSave(std::optional<raft::HardState> hs, std::vector<raft::Entry> entries,
                std::shared_ptr<const raft::Snapshot> snap = nullptr) {
    Status st = s_->Save(hs, entries, snap);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::vector<raft::Index> Indexes() {
    std::vector<raft::Index> out;
    for (const raft::Entry& e : MustLoad().entries) out.push_back(e.index);
    return out;
  }

  F f_;
  LogStore* s_ = nullptr;
};

struct FactoryName {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};
using Implementations = ::testing::Types<LmdbFactory, MemFactory, WalFactory, TinyWalFactory>;
TYPED_TEST_SUITE(LogStoreContract, Implementations, FactoryName);

TYPED_TEST(LogStoreContract, FreshStoreIsEmpty) {
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.hard_state, raft::HardState{});
  ASSERT_NE(ps.snapshot, nullptr);
  EXPECT_EQ(*ps.snapshot, raft::Snapshot{});
  EXPECT_TRUE(ps.entries.empty());
}

TYPED_TEST(LogStoreContract, EmptySaveIsANoOp) {
  this->MustSave(std::nullopt, {});
  EXPECT_TRUE(this->MustLoad().entries.empty());
}

TYPED_TEST(LogStoreContract, HardStateSurvivesRestart) {
  this->MustSave(raft::HardState{.term = 5, .vote = 2, .commit = 0}, {});
  this->MustSave(raft::HardState{.term = 6, .vote = 3, .commit = 0}, {});
  this->Restart();
  EXPECT_EQ(this->MustLoad().hard_state, (raft::HardState{.term = 6, .vote = 3, .commit = 0}));
}

TYPED_TEST(LogStoreContract, EntriesSurviveRestartByteForByte) {
  std::vector<raft::Entry> entries = MakeEntries(1, 3, 1);
  entries[1].type = raft::EntryType::kConfChange;
  entries[1].data = std::string("\0\xff\x01", 3);
  entries[2].data.clear();  // the leader's no-op
  this->MustSave(raft::HardState{.term = 1, .vote = 1, .commit = 2}, entries);
  this->Restart();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.entries, entries);
  EXPECT_EQ(ps.hard_state.commit, 2u);
}

TYPED_TEST(LogStoreContract, LargeEntryRoundTrips) {
  std::string big(1 << 20, 'x');
  big[12345] = '\0';
  this->MustSave(std::nullopt, {MakeEntry(1, 1, big)});
  this->Restart();
  EXPECT_EQ(this->MustLoad().entries.at(0).data, big);
}

TYPED_TEST(LogStoreContract, AppendsAccumulate) {
  this->MustSave(std::nullopt, MakeEntries(1, 3, 1));
  this->MustSave(std::nullopt, MakeEntries(4, 6, 2));
  EXPECT_EQ(this->Indexes(), (std::vector<raft::Index>{1, 2, 3, 4, 5, 6}));
}

TYPED_TEST(LogStoreContract, ConflictingAppendTruncatesTheTail) {
  this->MustSave(std::nullopt, MakeEntries(1, 5, 1));
  this->MustSave(std::nullopt, MakeEntries(3, 4, 2));
  this->Restart();
  std::vector<raft::Entry> want = MakeEntries(1, 2, 1);
  for (const raft::Entry& e : MakeEntries(3, 4, 2)) want.push_back(e);
  EXPECT_EQ(this->MustLoad().entries, want);
}

TYPED_TEST(LogStoreContract, AppendAfterAGapIsRefusedAndChangesNothing) {
  this->MustSave(std::nullopt, MakeEntries(1, 3, 1));
  Status st = this->s_->Save(raft::HardState{.term = 9, .vote = 0, .commit = 0},
                             MakeEntries(5, 6, 1), nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.entries, MakeEntries(1, 3, 1));
  EXPECT_EQ(ps.hard_state.term, 0u);
}

TYPED_TEST(LogStoreContract, MalformedBatchesAreRefused) {
  this->MustSave(std::nullopt, MakeEntries(1, 3, 2));
  std::vector<raft::Entry> holey = {MakeEntry(4, 2), MakeEntry(6, 2)};
  EXPECT_EQ(this->s_->Save(std::nullopt, holey, nullptr).code(), StatusCode::kInvalidArgument);
  std::vector<raft::Entry> backwards = {MakeEntry(4, 3), MakeEntry(5, 2)};
  EXPECT_EQ(this->s_->Save(std::nullopt, backwards, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(this->s_->Save(std::nullopt, {MakeEntry(4, 1)}, nullptr).code(),
            StatusCode::kInvalidArgument);  // term below the stored entry 3
  EXPECT_EQ(this->s_->Save(std::nullopt, {MakeEntry(0, 1)}, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(this->MustLoad().entries, MakeEntries(1, 3, 2));
}

TYPED_TEST(LogStoreContract, SnapshotThatDoesNotMatchTheLogDropsTheWholeLog) {
  this->MustSave(std::nullopt, MakeEntries(1, 5, 1));
  this->MustSave(std::nullopt, {}, MakeSnapshot(3, 2, "image"));
  this->Restart();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.snapshot->meta.index, 3u);
  EXPECT_EQ(ps.snapshot->meta.term, 2u);
  EXPECT_EQ(ps.snapshot->data, "image");
  EXPECT_TRUE(ps.entries.empty());
}

TYPED_TEST(LogStoreContract, SnapshotPastTheLogDropsTheWholeLog) {
  this->MustSave(std::nullopt, MakeEntries(1, 5, 1));
  this->MustSave(std::nullopt, {}, MakeSnapshot(10, 3));
  this->MustSave(std::nullopt, MakeEntries(11, 12, 3));
  this->Restart();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.snapshot->meta.index, 10u);
  EXPECT_EQ(ps.entries, MakeEntries(11, 12, 3));
}

TYPED_TEST(LogStoreContract, SnapshotThatMatchesTheLogKeepsTheEntriesAfterIt) {
  this->MustSave(std::nullopt, MakeEntries(1, 5, 1));
  this->MustSave(std::nullopt, {}, MakeSnapshot(3, 1));
  this->Restart();
  EXPECT_EQ(this->MustLoad().entries, MakeEntries(4, 5, 1));
}

TYPED_TEST(LogStoreContract, SnapshotEntriesAndHardStateInOneSave) {
  this->MustSave(std::nullopt, MakeEntries(1, 2, 1));
  // Entries 9 and 10 are covered by the snapshot and skipped.
  this->MustSave(raft::HardState{.term = 4, .vote = 0, .commit = 10}, MakeEntries(9, 12, 4),
                 MakeSnapshot(10, 4, "s", {1, 2}, {7}));
  this->Restart();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(*ps.snapshot, *MakeSnapshot(10, 4, "s", {1, 2}, {7}));
  EXPECT_EQ(ps.entries, MakeEntries(11, 12, 4));
  EXPECT_EQ(ps.hard_state.commit, 10u);
}

TYPED_TEST(LogStoreContract, BootstrapSnapshotAtIndexZeroKeepsTheMembership) {
  this->MustSave(raft::HardState{.term = 1, .vote = 0, .commit = 0}, {},
                 MakeSnapshot(0, 0, "", {1}));
  this->MustSave(std::nullopt, MakeEntries(1, 2, 1));
  this->Restart();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.snapshot->meta.conf.voters, std::vector<raft::NodeId>{1});
  EXPECT_EQ(ps.entries, MakeEntries(1, 2, 1));
}

TYPED_TEST(LogStoreContract, OlderSnapshotIsRefused) {
  this->MustSave(std::nullopt, {}, MakeSnapshot(10, 2));
  EXPECT_EQ(this->s_->Save(std::nullopt, {}, MakeSnapshot(5, 2)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->MustLoad().snapshot->meta.index, 10u);
}

TYPED_TEST(LogStoreContract, CompactDropsThePrefixAndKeepsTheSnapshot) {
  this->MustSave(std::nullopt, MakeEntries(1, 10, 1));
  ASSERT_TRUE(this->s_->Compact(*MakeSnapshot(4, 1, "at-4")).ok());
  this->Restart();
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.snapshot->meta.index, 4u);
  EXPECT_EQ(ps.snapshot->data, "at-4");
  EXPECT_EQ(ps.entries, MakeEntries(5, 10, 1));

  ASSERT_TRUE(this->s_->Compact(*MakeSnapshot(10, 1, "at-10")).ok());
  this->Restart();
  ps = this->MustLoad();
  EXPECT_EQ(ps.snapshot->data, "at-10");
  EXPECT_TRUE(ps.entries.empty());
  // The log goes on after a full compaction.
  this->MustSave(std::nullopt, MakeEntries(11, 11, 2));
  EXPECT_EQ(this->Indexes(), (std::vector<raft::Index>{11}));
}

TYPED_TEST(LogStoreContract, CompactAtTheSameIndexReplacesTheSnapshot) {
  this->MustSave(std::nullopt, MakeEntries(1, 5, 1));
  ASSERT_TRUE(this->s_->Compact(*MakeSnapshot(3, 1, "first")).ok());
  ASSERT_TRUE(this->s_->Compact(*MakeSnapshot(3, 1, "second")).ok());
  ASSERT_TRUE(this->s_->Compact(*MakeSnapshot(3, 1, "third")).ok());
  this->Restart();
  EXPECT_EQ(this->MustLoad().snapshot->data, "third");
}

TYPED_TEST(LogStoreContract, BadCompactionsAreRefused) {
  this->MustSave(std::nullopt, MakeEntries(1, 5, 1));
  ASSERT_TRUE(this->s_->Compact(*MakeSnapshot(2, 1)).ok());
  EXPECT_EQ(this->s_->Compact(*MakeSnapshot(6, 1)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->s_->Compact(*MakeSnapshot(1, 1)).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->s_->Compact(*MakeSnapshot(4, 2)).code(), StatusCode::kInvalidArgument);
  raft::PersistentState ps = this->MustLoad();
  EXPECT_EQ(ps.snapshot->meta.index, 2u);
  EXPECT_EQ(ps.entries, MakeEntries(3, 5, 1));
}

TYPED_TEST(LogStoreContract, MetaKeysRoundTrip) {
  Result<std::optional<std::string>> missing = this->s_->GetMeta("node_id");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(this->s_->PutMeta("node_id", "1").ok());
  ASSERT_TRUE(this->s_->PutMeta("cluster_id", std::string("c\0x", 3)).ok());
  ASSERT_TRUE(this->s_->PutMeta("node_id", "2").ok());
  this->Restart();
  EXPECT_EQ(this->s_->GetMeta("node_id")->value_or("?"), "2");
  EXPECT_EQ(this->s_->GetMeta("cluster_id")->value_or("?"), std::string("c\0x", 3));
  // Identity keys cannot collide with the store's own records.
  EXPECT_FALSE(this->s_->GetMeta("hard_state")->has_value());
  EXPECT_EQ(this->s_->PutMeta("", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->s_->GetMeta(std::string(1000, 'k')).status().code(),
            StatusCode::kInvalidArgument);
}

TYPED_TEST(LogStoreContract, LoadReturnsACopy) {
  this->MustSave(std::nullopt, MakeEntries(1, 2, 1));
  raft::PersistentState a = this->MustLoad();
  a.entries[0].data = "changed";
  a.entries.pop_back();
  EXPECT_EQ(this->MustLoad().entries, MakeEntries(1, 2, 1));
}

}  // namespace
}  // namespace blixard::storage
