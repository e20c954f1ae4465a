// LogStore on LMDB. One environment, dir/raft.mdb (MDB_NOSUBDIR), with two
// named databases:
//   log   8-byte big-endian index -> EncodeEntryValue (checksummed)
//   meta  "format" -> "1", "hard_state", "snapshot" (a SnapshotRef naming the
//         payload file in dir/snapshots), "user/<key>" for GetMeta/PutMeta.
// Every write is one LMDB write transaction committed with LMDB's default
// durable commit (data pages fsynced, then the meta page fsynced), so a
// crash leaves either all of a Save() or none of it.
//
// A snapshot file is written and fsynced under a fresh name before the
// transaction that points meta at it and drops the log prefix; the previous
// file is deleted once that transaction is durable. A crash in between
// leaves an unreferenced file, which Open() deletes.
//
// After any I/O error the store refuses further writes: the state of the
// files is no longer known (an fsync that failed may have lost pages the
// kernel then reports clean), so the node must stop and restart from Load().
#include <fcntl.h>
#include <lmdb.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "storage/codec.h"
#include "storage/fault_points.h"
#include "storage/log_plan.h"
#include "storage/log_store.h"
#include "storage/snapshot_file.h"

namespace blixard::storage {
namespace {

// Address space only: the file grows as pages are used.
constexpr size_t kMapSize = size_t{64} << 30;
constexpr std::string_view kFormatKey = "format";
constexpr std::string_view kFormatVersion = "1";
constexpr std::string_view kHardStateKey = "hard_state";
constexpr std::string_view kSnapshotKey = "snapshot";
constexpr std::string_view kUserPrefix = "user/";

std::string_view View(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}
MDB_val Val(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }

// Owns a transaction; aborts it unless committed.
class Txn {
 public:
  Txn() = default;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }
  int Begin(MDB_env* env, unsigned flags) { return mdb_txn_begin(env, nullptr, flags, &txn_); }
  MDB_txn* get() const { return txn_; }
  int Commit() {
    int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;
    return rc;
  }
  void Abort() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// Owns a cursor.
class Cursor {
 public:
  ~Cursor() {
    if (c_ != nullptr) mdb_cursor_close(c_);
  }
  int Open(MDB_txn* txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &c_); }
  int Get(MDB_val* k, MDB_val* v, MDB_cursor_op op) { return mdb_cursor_get(c_, k, v, op); }
  int Del() { return mdb_cursor_del(c_, 0); }

 private:
  MDB_cursor* c_ = nullptr;
};

class LmdbLogStore final : public LogStore {
 public:
  explicit LmdbLogStore(const std::string& dir)
      : dir_(dir), db_path_(dir + "/raft.mdb"), snap_dir_(dir + "/snapshots") {}

  ~LmdbLogStore() override {
    if (env_ != nullptr) mdb_env_close(env_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  Status Open();

  Result<raft::PersistentState> Load() override;
  Status Save(const std::optional<raft::HardState>& hard_state,
              const std::vector<raft::Entry>& entries,
              const std::shared_ptr<const raft::Snapshot>& snapshot) override;
  Status Compact(const raft::Snapshot& snapshot) override;
  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Status PutMeta(const std::string& key, const std::string& value) override;

 private:
  Status Lmdb(const std::string& what, int rc) const;
  Status Refused() const;
  Status Fail(Status s) {
    failed_ = s;
    return s;
  }
  Status ReadBounds(MDB_txn* txn, LogBounds* b, std::optional<SnapshotRef>* ref) const;
  TermLookup Lookup(MDB_txn* txn) const;
  Status Put(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value);
  Status DeleteThrough(MDB_txn* txn, raft::Index index);
  Status DeleteFrom(MDB_txn* txn, raft::Index index);
  Status Commit(Txn* txn);
  // Writes the snapshot file and points meta at it, inside `txn`.
  Status StageSnapshot(MDB_txn* txn, const raft::Snapshot& snap,
                       const std::optional<SnapshotRef>& old, SnapshotRef* staged);
  // After the transaction: on success delete the old file, on failure the
  // staged one.
  void FinishSnapshot(bool committed, const std::optional<SnapshotRef>& old,
                      const SnapshotRef& staged);
  Status RemoveUnreferencedSnapshots();

  const std::string dir_, db_path_, snap_dir_;
  int lock_fd_ = -1;
  MDB_env* env_ = nullptr;
  MDB_dbi log_ = 0;
  MDB_dbi meta_ = 0;
  Status failed_;
};

Status LmdbLogStore::Lmdb(const std::string& what, int rc) const {
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
      rc == MDB_VERSION_MISMATCH) {
    return Status::Corruption(db_path_ + ": " + what + ": " + mdb_strerror(rc));
  }
  if (rc == MDB_MAP_FULL) {
    return Status::IoError(what + " " + db_path_ + ": LMDB map of " +
                           std::to_string(kMapSize >> 30) + " GiB is full");
  }
  return Status::IoError(what + " " + db_path_ + ": " + mdb_strerror(rc));
}

Status LmdbLogStore::Refused() const {
  return Status::FailedPrecondition("log store in " + dir_ +
                                    " refuses writes after an earlier error (" +
                                    failed_.ToString() + "); restart the node");
}

Status LmdbLogStore::Open() {
  std::error_code ec;
  std::filesystem::create_directories(snap_dir_, ec);
  if (ec) return Status::IoError("create " + snap_dir_ + ": " + ec.message());

  // LMDB must not be opened twice in one process (its fcntl locks would be
  // lost on the first close), and two daemons on one data dir would corrupt
  // each other's log: one exclusive lock on dir/LOCK rules out both.
  const std::string lock_path = dir_ + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Status::IoError("open " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("data dir " + dir_ +
                                        " is in use by another log store (" + lock_path + ")");
    }
    return Status::IoError("lock " + lock_path + ": " + std::strerror(errno));
  }

  if (int rc = mdb_env_create(&env_); rc != 0) return Lmdb("create env", rc);
  if (int rc = mdb_env_set_maxdbs(env_, 2); rc != 0) return Lmdb("set maxdbs", rc);
  if (int rc = mdb_env_set_mapsize(env_, kMapSize); rc != 0) return Lmdb("set map size", rc);
  if (int rc = mdb_env_open(env_, db_path_.c_str(), MDB_NOSUBDIR, 0644); rc != 0) {
    return Lmdb("open", rc);
  }

  Txn txn;
  if (int rc = txn.Begin(env_, 0); rc != 0) return Lmdb("begin", rc);
  if (int rc = mdb_dbi_open(txn.get(), "log", MDB_CREATE, &log_); rc != 0) {
    return Lmdb("open db log", rc);
  }
  if (int rc = mdb_dbi_open(txn.get(), "meta", MDB_CREATE, &meta_); rc != 0) {
    return Lmdb("open db meta", rc);
  }
  MDB_val k = Val(kFormatKey), v;
  int rc = mdb_get(txn.get(), meta_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    MDB_val fv = Val(kFormatVersion);
    if (rc = mdb_put(txn.get(), meta_, &k, &fv, 0); rc != 0) return Lmdb("put format", rc);
  } else if (rc != 0) {
    return Lmdb("get format", rc);
  } else if (View(v) != kFormatVersion) {
    return Status::FailedPrecondition(db_path_ + " has format " + std::string(View(v)) +
                                      ", this build reads format " +
                                      std::string(kFormatVersion));
  }
  if (rc = txn.Commit(); rc != 0) return Lmdb("commit", rc);
  // The files just created must survive a crash along with what is
  // committed into them.
  if (Status s = SyncDir(dir_); !s.ok()) return s;
  return RemoveUnreferencedSnapshots();
}

Status LmdbLogStore::RemoveUnreferencedSnapshots() {
  std::optional<SnapshotRef> ref;
  {
    Txn txn;
    if (int rc = txn.Begin(env_, MDB_RDONLY); rc != 0) return Lmdb("begin", rc);
    LogBounds b;
    // A corrupt record is reported by Load(); delete nothing then.
    if (Status s = ReadBounds(txn.get(), &b, &ref); !s.ok()) return Status::Ok();
  }
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(snap_dir_, ec)) {
    std::string name = f.path().filename().string();
    if (name.rfind("snap-", 0) != 0 || (ref && name == ref->file)) continue;
    std::filesystem::remove(f.path(), ec);
  }
  return Status::Ok();
}

Status LmdbLogStore::ReadBounds(MDB_txn* txn, LogBounds* b,
                                std::optional<SnapshotRef>* ref) const {
  MDB_val k = Val(kSnapshotKey), v;
  int rc = mdb_get(txn, meta_, &k, &v);
  if (rc == 0) {
    SnapshotRef r;
    if (!DecodeSnapshotRef(View(v), &r)) {
      return Status::Corruption(db_path_ + ": snapshot record is corrupt");
    }
    b->snap_index = r.meta.index;
    b->snap_term = r.meta.term;
    *ref = std::move(r);
  } else if (rc != MDB_NOTFOUND) {
    return Lmdb("get snapshot", rc);
  }
  Cursor c;
  if (rc = c.Open(txn, log_); rc != 0) return Lmdb("cursor", rc);
  rc = c.Get(&k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND) {
    b->last_index = b->snap_index;
  } else if (rc != 0) {
    return Lmdb("last entry", rc);
  } else {
    b->last_index = DecodeIndexKey(View(k));
  }
  return Status::Ok();
}

TermLookup LmdbLogStore::Lookup(MDB_txn* txn) const {
  return [this, txn](raft::Index i) -> Result<raft::Term> {
    std::string key = EncodeIndexKey(i);
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn, log_, &k, &v);
    if (rc == MDB_NOTFOUND) {
      return Status::Corruption(db_path_ + ": log entry " + std::to_string(i) + " is missing");
    }
    if (rc != 0) return Lmdb("get entry", rc);
    raft::Entry e;
    std::string why;
    if (!DecodeEntryValue(key, View(v), &e, &why)) {
      return Status::Corruption(db_path_ + ": log entry " + std::to_string(i) + ": " + why);
    }
    return e.term;
  };
}

Status LmdbLogStore::Put(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
                         std::string_view value) {
  if (int err = InjectedWriteError()) return Lmdb("put", err);
  MDB_val k = Val(key), v = Val(value);
  if (int rc = mdb_put(txn, dbi, &k, &v, 0); rc != 0) return Lmdb("put", rc);
  return Status::Ok();
}

Status LmdbLogStore::DeleteThrough(MDB_txn* txn, raft::Index index) {
  Cursor c;
  if (int rc = c.Open(txn, log_); rc != 0) return Lmdb("cursor", rc);
  MDB_val k, v;
  for (;;) {
    int rc = c.Get(&k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) return Status::Ok();
    if (rc != 0) return Lmdb("first entry", rc);
    if (DecodeIndexKey(View(k)) > index) return Status::Ok();
    if (rc = c.Del(); rc != 0) return Lmdb("delete entry", rc);
  }
}

Status LmdbLogStore::DeleteFrom(MDB_txn* txn, raft::Index index) {
  Cursor c;
  if (int rc = c.Open(txn, log_); rc != 0) return Lmdb("cursor", rc);
  MDB_val k, v;
  for (;;) {
    int rc = c.Get(&k, &v, MDB_LAST);
    if (rc == MDB_NOTFOUND) return Status::Ok();
    if (rc != 0) return Lmdb("last entry", rc);
    if (DecodeIndexKey(View(k)) < index) return Status::Ok();
    if (rc = c.Del(); rc != 0) return Lmdb("delete entry", rc);
  }
}

Status LmdbLogStore::Commit(Txn* txn) {
  if (int err = InjectedSyncError()) {
    txn->Abort();
    return Lmdb("commit", err);
  }
  if (int rc = txn->Commit(); rc != 0) return Lmdb("commit", rc);
  return Status::Ok();
}

Status LmdbLogStore::StageSnapshot(MDB_txn* txn, const raft::Snapshot& snap,
                                   const std::optional<SnapshotRef>& old, SnapshotRef* staged) {
  // Never overwrite the file the committed state points at: a snapshot with
  // the same index and term goes to an alternate name.
  std::string name = SnapshotFileName(snap.meta);
  if (old && old->file == name) {
    name = "snap-" + std::to_string(snap.meta.index) + "-" + std::to_string(snap.meta.term) +
           "-1.bin";
  }
  Result<SnapshotRef> ref = WriteSnapshotFile(snap_dir_, name, snap);
  if (!ref.ok()) return ref.status();
  *staged = std::move(*ref);
  return Put(txn, meta_, kSnapshotKey, EncodeSnapshotRef(*staged));
}

void LmdbLogStore::FinishSnapshot(bool committed, const std::optional<SnapshotRef>& old,
                                  const SnapshotRef& staged) {
  if (staged.file.empty()) return;
  std::error_code ec;
  if (!committed) {
    std::filesystem::remove(snap_dir_ + "/" + staged.file, ec);
  } else if (old && old->file != staged.file) {
    std::filesystem::remove(snap_dir_ + "/" + old->file, ec);
  }
}

Result<raft::PersistentState> LmdbLogStore::Load() {
  Txn txn;
  if (int rc = txn.Begin(env_, MDB_RDONLY); rc != 0) return Lmdb("begin", rc);
  raft::PersistentState ps;

  MDB_val k = Val(kHardStateKey), v;
  int rc = mdb_get(txn.get(), meta_, &k, &v);
  if (rc == 0) {
    if (!DecodeHardState(View(v), &ps.hard_state)) {
      return Status::Corruption(db_path_ + ": hard state record is corrupt");
    }
  } else if (rc != MDB_NOTFOUND) {
    return Lmdb("get hard state", rc);
  }

  LogBounds b;
  std::optional<SnapshotRef> ref;
  if (Status s = ReadBounds(txn.get(), &b, &ref); !s.ok()) return s;
  if (ref) {
    Result<raft::Snapshot> snap = ReadSnapshotFile(snap_dir_, *ref);
    if (!snap.ok()) return snap.status();
    ps.snapshot = std::make_shared<const raft::Snapshot>(std::move(*snap));
  } else {
    ps.snapshot = std::make_shared<const raft::Snapshot>();
  }

  Cursor c;
  if (rc = c.Open(txn.get(), log_); rc != 0) return Lmdb("cursor", rc);
  raft::Index expect = b.snap_index + 1;
  raft::Term prev_term = b.snap_term;
  for (rc = c.Get(&k, &v, MDB_FIRST); rc == 0; rc = c.Get(&k, &v, MDB_NEXT)) {
    raft::Entry e;
    std::string why;
    if (!DecodeEntryValue(View(k), View(v), &e, &why)) {
      std::string where = k.mv_size == 8 ? std::to_string(DecodeIndexKey(View(k))) : "?";
      return Status::Corruption(db_path_ + ": log entry " + where + ": " + why);
    }
    if (e.index != expect) {
      return Status::Corruption(db_path_ + ": log entry " + std::to_string(e.index) +
                                " where " + std::to_string(expect) + " was expected");
    }
    if (e.term < prev_term) {
      return Status::Corruption(db_path_ + ": log entry " + std::to_string(e.index) +
                                " has term " + std::to_string(e.term) + " below " +
                                std::to_string(prev_term) + " before it");
    }
    prev_term = e.term;
    ++expect;
    ps.entries.push_back(std::move(e));
  }
  if (rc != MDB_NOTFOUND) return Lmdb("read log", rc);
  return ps;
}

Status LmdbLogStore::Save(const std::optional<raft::HardState>& hard_state,
                          const std::vector<raft::Entry>& entries,
                          const std::shared_ptr<const raft::Snapshot>& snapshot) {
  if (!failed_.ok()) return Refused();
  if (!hard_state && entries.empty() && snapshot == nullptr) return Status::Ok();

  Txn txn;
  if (int rc = txn.Begin(env_, 0); rc != 0) return Fail(Lmdb("begin", rc));
  LogBounds b;
  std::optional<SnapshotRef> old;
  if (Status s = ReadBounds(txn.get(), &b, &old); !s.ok()) return Fail(s);
  Result<SavePlan> plan =
      PlanSave(b, Lookup(txn.get()), entries, snapshot ? &snapshot->meta : nullptr);
  if (!plan.ok()) {
    // A refused call wrote nothing; a record that could not be read did.
    if (plan.status().code() == StatusCode::kDataLoss) return Fail(plan.status());
    return plan.status();
  }

  SnapshotRef staged;
  Status s = [&]() -> Status {
    if (plan->install_snapshot) {
      if (Status s = StageSnapshot(txn.get(), *snapshot, old, &staged); !s.ok()) return s;
      if (plan->drop_whole_log) {
        if (int rc = mdb_drop(txn.get(), log_, 0); rc != 0) return Lmdb("drop log", rc);
      } else if (plan->drop_through > 0) {
        if (Status s = DeleteThrough(txn.get(), plan->drop_through); !s.ok()) return s;
      }
    }
    if (plan->truncate_from > 0) {
      if (Status s = DeleteFrom(txn.get(), plan->truncate_from); !s.ok()) return s;
    }
    for (size_t k = plan->first_new; k < entries.size(); ++k) {
      const raft::Entry& e = entries[k];
      if (Status s = Put(txn.get(), log_, EncodeIndexKey(e.index), EncodeEntryValue(e));
          !s.ok()) {
        return s;
      }
    }
    if (hard_state) {
      if (Status s = Put(txn.get(), meta_, kHardStateKey, EncodeHardState(*hard_state));
          !s.ok()) {
        return s;
      }
    }
    return Commit(&txn);
  }();
  FinishSnapshot(s.ok(), old, staged);
  return s.ok() ? s : Fail(s);
}

Status LmdbLogStore::Compact(const raft::Snapshot& snapshot) {
  if (!failed_.ok()) return Refused();
  Txn txn;
  if (int rc = txn.Begin(env_, 0); rc != 0) return Fail(Lmdb("begin", rc));
  LogBounds b;
  std::optional<SnapshotRef> old;
  if (Status s = ReadBounds(txn.get(), &b, &old); !s.ok()) return Fail(s);
  if (Status s = CheckCompact(b, Lookup(txn.get()), snapshot.meta); !s.ok()) {
    if (s.code() == StatusCode::kDataLoss) return Fail(s);
    return s;
  }
  SnapshotRef staged;
  Status s = StageSnapshot(txn.get(), snapshot, old, &staged);
  if (s.ok()) s = DeleteThrough(txn.get(), snapshot.meta.index);
  if (s.ok()) s = Commit(&txn);
  FinishSnapshot(s.ok(), old, staged);
  return s.ok() ? s : Fail(s);
}

Result<std::optional<std::string>> LmdbLogStore::GetMeta(const std::string& key) {
  if (Status s = CheckMetaKey(key); !s.ok()) return s;
  Txn txn;
  if (int rc = txn.Begin(env_, MDB_RDONLY); rc != 0) return Lmdb("begin", rc);
  std::string full = std::string(kUserPrefix) + key;
  MDB_val k = Val(full), v;
  int rc = mdb_get(txn.get(), meta_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  if (rc != 0) return Lmdb("get meta", rc);
  return std::optional<std::string>(std::string(View(v)));
}

Status LmdbLogStore::PutMeta(const std::string& key, const std::string& value) {
  if (Status s = CheckMetaKey(key); !s.ok()) return s;
  if (!failed_.ok()) return Refused();
  Txn txn;
  if (int rc = txn.Begin(env_, 0); rc != 0) return Fail(Lmdb("begin", rc));
  Status s = Put(txn.get(), meta_, std::string(kUserPrefix) + key, value);
  if (s.ok()) s = Commit(&txn);
  return s.ok() ? s : Fail(s);
}

}  // namespace

Result<std::unique_ptr<LogStore>> OpenLmdbLogStore(const std::string& dir) {
  auto store = std::make_unique<LmdbLogStore>(dir);
  if (Status s = store->Open(); !s.ok()) return s;
  return std::unique_ptr<LogStore>(std::move(store));
}

}  // namespace blixard::storage
