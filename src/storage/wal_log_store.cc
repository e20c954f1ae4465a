// The WAL store's files: segments, checkpoints, recovery and durability.
// The record format is in wal_records.h.
#include "storage/wal_log_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>

#include "storage/codec.h"
#include "storage/fault_points.h"
#include "storage/log_plan.h"
#include "storage/snapshot_file.h"
#include "storage/wal_records.h"

namespace blixard::storage {
namespace {

using wal::ApplyRecord;
using wal::EncodeCheckpoint;
using wal::EncodeMeta;
using wal::EncodeUpdate;
using wal::kCheckpoint;
using wal::kHeaderBytes;
using wal::kMaxRecordBytes;
using wal::kUpdate;
using wal::RecordAt;
using wal::WalState;

Status Errno(const std::string& what, const std::string& path, int err) {
  return Status::IoError(what + " " + path + ": " + std::strerror(err));
}

struct Segment {
  uint64_t seq = 0;
  std::string name;
};

std::string SegmentName(uint64_t seq, raft::Index first) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "wal-%016llx-%016llx.log", static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(first));
  return buf;
}

std::optional<uint64_t> ParseSegmentSeq(const std::string& name) {
  if (name.size() != 4 + 16 + 1 + 16 + 4 || name.rfind("wal-", 0) != 0 ||
      name.substr(name.size() - 4) != ".log") {
    return std::nullopt;
  }
  uint64_t seq = 0;
  for (char c : name.substr(4, 16)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    seq = seq * 16 + static_cast<uint64_t>(d);
  }
  return seq;
}

Status WriteAllAt(int fd, const std::string& path, std::string_view data, uint64_t offset) {
  while (!data.empty()) {
    if (int err = InjectedWriteError()) return Errno("write", path, err);
    if (data.size() > 1 && InjectedShortWrite()) {
      (void)::pwrite(fd, data.data(), data.size() / 2, static_cast<off_t>(offset));
      return Errno("write", path, EIO);
    }
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status ReadWholeFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path, errno);
  out->clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Errno("read", path, err);
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status::Ok();
}

class WalLogStore final : public LogStore {
 public:
  WalLogStore(const std::string& dir, const WalOptions& options)
      : dir_(dir), wal_dir_(dir + "/wal"), snap_dir_(dir + "/snapshots"), options_(options) {}
  ~WalLogStore() override {
    if (fd_ >= 0) ::close(fd_);
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
  std::string SegmentPath() const { return wal_dir_ + "/" + segment_; }
  Status Refused() const {
    return Status::FailedPrecondition("log store in " + dir_ +
                                      " refuses writes after an earlier error (" +
                                      failed_.ToString() + "); restart the node");
  }
  Status Fail(Status s) {
    failed_ = s;
    return s;
  }
  // Reads the newest segment into state_ and positions the write offset.
  Status Recover(const std::vector<Segment>& segments);
  // Writes a new segment holding a checkpoint of state_ (atomically: tmp
  // file, fsync, rename, fsync dir), switches to it and deletes the old one.
  Status StartSegment(uint64_t seq);
  // Appends one framed record durably (one write, one fdatasync), starting a
  // new segment first when this one is full. On error the record is erased
  // as far as possible and the caller must Fail().
  Status Append(const std::string& record);
  Status StageSnapshot(const raft::Snapshot& snap, SnapshotRef* staged);
  void FinishSnapshot(bool committed, const std::optional<SnapshotRef>& old,
                      const SnapshotRef& staged);
  void RemoveUnreferencedSnapshots();
  // Carries out a planned Save/Compact: one update record.
  Status Commit(const SavePlan& plan, const raft::Snapshot* snapshot,
                const std::vector<raft::Entry>& entries,
                const std::optional<raft::HardState>& hard_state);

  const std::string dir_, wal_dir_, snap_dir_;
  const WalOptions options_;
  int lock_fd_ = -1;
  int fd_ = -1;              // the live segment
  std::string segment_;      // its name
  uint64_t seq_ = 0;         // its sequence number
  uint64_t offset_ = 0;      // where the next record goes
  uint64_t checkpoint_ = 0;  // size of its checkpoint record
  uint64_t limit_ = 0;       // size it was preallocated to
  // Bytes of the segment written at least once (records or zeros). Records
  // land below it, so their fdatasync flushes data only: a first write into
  // a preallocated (unwritten) extent also converts it, a metadata write.
  uint64_t written_ = 0;
  WalState state_;
  Status load_error_;  // corruption found by Open(): reported by Load()
  Status failed_;
};

Status WalLogStore::Open() {
  std::error_code ec;
  for (const std::string& d : {wal_dir_, snap_dir_}) {
    std::filesystem::create_directories(d, ec);
    if (ec) return Status::IoError("create " + d + ": " + ec.message());
  }
  // Two daemons on one data dir would corrupt each other's log (and the
  // LMDB store takes the same lock, so the two stores exclude each other).
  const std::string lock_path = dir_ + "/LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Errno("open", lock_path, errno);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("data dir " + dir_ +
                                        " is in use by another log store (" + lock_path + ")");
    }
    return Errno("lock", lock_path, errno);
  }

  std::vector<Segment> segments;
  for (const auto& f : std::filesystem::directory_iterator(wal_dir_, ec)) {
    std::string name = f.path().filename().string();
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      std::filesystem::remove(f.path(), ec);  // a segment never renamed into place
    } else if (std::optional<uint64_t> seq = ParseSegmentSeq(name)) {
      segments.push_back({*seq, name});
    }
  }
  if (ec) return Status::IoError("list " + wal_dir_ + ": " + ec.message());
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.seq < b.seq; });

  if (segments.empty()) {
    if (std::filesystem::exists(dir_ + "/raft.mdb")) {
      return Status::FailedPrecondition(dir_ + " holds an LMDB log store (raft.mdb), not a WAL");
    }
    if (Status s = StartSegment(1); !s.ok()) return s;
    return SyncDir(dir_);
  }
  if (Status s = Recover(segments); !s.ok()) return s;
  if (!load_error_.ok()) return Status::Ok();
  // Older segments are left over from a deletion the crash interrupted.
  for (const Segment& seg : segments) {
    if (seg.seq != seq_) std::filesystem::remove(wal_dir_ + "/" + seg.name, ec);
  }
  RemoveUnreferencedSnapshots();
  return Status::Ok();
}

Status WalLogStore::Recover(const std::vector<Segment>& segments) {
  seq_ = segments.back().seq;
  segment_ = segments.back().name;
  const std::string path = SegmentPath();
  std::string data;
  if (Status s = ReadWholeFile(path, &data); !s.ok()) return s;
  std::string_view view(data);

  auto corrupt = [&](uint64_t at, const std::string& why) {
    load_error_ = Status::Corruption(path + ": record at offset " + std::to_string(at) + ": " +
                                     why);
    failed_ = load_error_;
    return Status::Ok();
  };
  size_t pos = 0;
  bool first = true;
  std::string why;
  while (pos < view.size()) {
    if (!RecordAt(view, pos)) {
      // Zeros from here on: the preallocated end. Otherwise a torn write,
      // unless a good record follows, which a torn last write cannot have.
      size_t end = view.find_last_not_of('\0');
      if (end == std::string_view::npos || end < pos) break;
      if (first) return corrupt(pos, "the segment's checkpoint fails its checksum");
      for (size_t p = pos + 1; p <= end; ++p) {
        if (RecordAt(view, p)) {
          return corrupt(pos, "checksum mismatch with a valid record at offset " +
                                  std::to_string(p) + " after it");
        }
      }
      fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd_ < 0) return Errno("open", path, errno);
      // Cut the torn write off, so a shorter record written here later is
      // not followed by its remains.
      if (Status s = WriteAllAt(fd_, path, std::string(end + 1 - pos, '\0'), pos); !s.ok()) {
        return s;
      }
      if (::fdatasync(fd_) != 0) return Errno("fdatasync", path, errno);
      break;
    }
    Reader h(view.substr(pos, kHeaderBytes));
    uint32_t len = h.Fixed32();
    uint8_t type = static_cast<uint8_t>(view[pos + kHeaderBytes]);
    if (first != (type == kCheckpoint)) {
      return corrupt(pos, first ? "segment does not start with a checkpoint"
                                : "checkpoint in the middle of a segment");
    }
    if (!ApplyRecord(type, view.substr(pos + kHeaderBytes + 1, len - 1), &state_, &why)) {
      return corrupt(pos, why);
    }
    if (first) checkpoint_ = kHeaderBytes + len;
    first = false;
    pos += kHeaderBytes + len;
  }
  if (first) return corrupt(0, "the segment has no checkpoint");
  offset_ = pos;
  limit_ = std::max<uint64_t>(view.size(), options_.segment_bytes);
  written_ = pos;  // what lies beyond may be unwritten extents
  if (fd_ < 0) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) return Errno("open", path, errno);
  }
  return Status::Ok();
}

Status WalLogStore::StartSegment(uint64_t seq) {
  const std::string name = SegmentName(seq, state_.SnapIndex() + 1);
  const std::string path = wal_dir_ + "/" + name;
  const std::string tmp = path + ".tmp";
  const std::string checkpoint = EncodeCheckpoint(state_);
  const uint64_t limit = std::max<uint64_t>(options_.segment_bytes, 2 * checkpoint.size());
  if (checkpoint.size() > kMaxRecordBytes) {
    return Status::FailedPrecondition("live Raft state of " + std::to_string(checkpoint.size()) +
                                      " bytes does not fit a WAL checkpoint; compact the log");
  }

  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp, errno);
  Status s = WriteAllAt(fd, tmp, checkpoint, 0);
  if (s.ok()) {
    // Preallocate, so appends neither change the size nor run out of space.
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(limit));
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) s = Errno("fallocate", tmp, rc);
  }
  if (s.ok()) {
    if (int err = InjectedSyncError()) {
      s = Errno("fsync", tmp, err);
    } else if (::fsync(fd) != 0) {
      s = Errno("fsync", tmp, errno);
    }
  }
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("rename", tmp, errno);
  if (s.ok()) s = SyncDir(wal_dir_);
  if (!s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  // The new segment is durable: the old one holds nothing it lacks.
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(SegmentPath().c_str());
  }
  fd_ = fd;
  segment_ = name;
  seq_ = seq;
  offset_ = checkpoint.size();
  checkpoint_ = checkpoint.size();
  limit_ = limit;
  written_ = offset_;
  return Status::Ok();
}

Status WalLogStore::Append(const std::string& record) {
  if (record.size() > kMaxRecordBytes) {
    return Status::InvalidArgument("a WAL record holds at most 4 GiB, this write is " +
                                   std::to_string(record.size()) + " bytes");
  }
  // A full segment is replaced by a new one that starts with a checkpoint.
  // limit_ is at least twice the checkpoint, so a live log larger than a
  // segment does not make every write a rotation (each rotation copies the
  // live state once per as much again appended).
  if (offset_ + record.size() > limit_ && offset_ > checkpoint_) {
    if (Status s = StartSegment(seq_ + 1); !s.ok()) return s;
  }
  const std::string path = SegmentPath();
  Status s;
  if (offset_ + record.size() > written_ && written_ < limit_) {
    // Zero the next stretch once, in the same sync as this record, so the
    // records after it overwrite written blocks. Zeros are what recovery
    // reads past the last record anyway.
    // One page per write: a larger write makes the page cache use large
    // folios, and each small record would then dirty (and sync) a whole one.
    constexpr uint64_t kZeroAhead = 256 << 10, kPage = 4096;
    static const std::string kZeros(kPage, '\0');
    const uint64_t end = std::min(limit_, std::max(offset_ + record.size(), written_ + kZeroAhead));
    while (s.ok() && written_ < end) {
      const uint64_t n = std::min(end, (written_ / kPage + 1) * kPage) - written_;
      s = WriteAllAt(fd_, path, std::string_view(kZeros).substr(0, n), written_);
      if (s.ok()) written_ += n;
    }
  }
  if (s.ok()) s = WriteAllAt(fd_, path, record, offset_);
  if (s.ok()) {
    if (int err = InjectedSyncError()) {
      s = Errno("fdatasync", path, err);
    } else if (::fdatasync(fd_) != 0) {
      s = Errno("fdatasync", path, errno);
    }
  }
  if (!s.ok()) {
    // Best effort: the caller is told the write failed, so a reopened store
    // should not find it. (After a failed fsync nothing is certain; the
    // store refuses writes until reopened.)
    if (::pwrite(fd_, std::string(record.size(), '\0').data(), record.size(),
                 static_cast<off_t>(offset_)) >= 0) {
      (void)::fdatasync(fd_);
    }
    return s;
  }
  offset_ += record.size();
  return Status::Ok();
}

Status WalLogStore::StageSnapshot(const raft::Snapshot& snap, SnapshotRef* staged) {
  // Never overwrite the file the durable state points at.
  std::string name = SnapshotFileName(snap.meta);
  if (state_.snapshot && state_.snapshot->file == name) {
    name = "snap-" + std::to_string(snap.meta.index) + "-" + std::to_string(snap.meta.term) +
           "-1.bin";
  }
  Result<SnapshotRef> ref = WriteSnapshotFile(snap_dir_, name, snap);
  if (!ref.ok()) return ref.status();
  *staged = std::move(*ref);
  return Status::Ok();
}

void WalLogStore::FinishSnapshot(bool committed, const std::optional<SnapshotRef>& old,
                                 const SnapshotRef& staged) {
  if (staged.file.empty()) return;
  std::error_code ec;
  if (!committed) {
    std::filesystem::remove(snap_dir_ + "/" + staged.file, ec);
  } else if (old && old->file != staged.file) {
    std::filesystem::remove(snap_dir_ + "/" + old->file, ec);
  }
}

void WalLogStore::RemoveUnreferencedSnapshots() {
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(snap_dir_, ec)) {
    std::string name = f.path().filename().string();
    if (name.rfind("snap-", 0) != 0 || (state_.snapshot && name == state_.snapshot->file)) {
      continue;
    }
    std::filesystem::remove(f.path(), ec);
  }
}

Result<raft::PersistentState> WalLogStore::Load() {
  if (!load_error_.ok()) return load_error_;
  raft::PersistentState ps;
  ps.hard_state = state_.hard_state;
  if (state_.snapshot) {
    Result<raft::Snapshot> snap = ReadSnapshotFile(snap_dir_, *state_.snapshot);
    if (!snap.ok()) return snap.status();
    ps.snapshot = std::make_shared<const raft::Snapshot>(std::move(*snap));
  } else {
    ps.snapshot = std::make_shared<const raft::Snapshot>();
  }
  ps.entries.assign(state_.entries.begin(), state_.entries.end());
  return ps;
}

Status WalLogStore::Commit(const SavePlan& plan, const raft::Snapshot* snapshot,
                           const std::vector<raft::Entry>& entries,
                           const std::optional<raft::HardState>& hard_state) {
  SnapshotRef staged;
  if (plan.install_snapshot) {
    if (Status s = StageSnapshot(*snapshot, &staged); !s.ok()) return Fail(s);
  }
  const std::string record =
      EncodeUpdate(plan, plan.install_snapshot ? &staged : nullptr, entries, hard_state);
  const std::optional<SnapshotRef> old = state_.snapshot;
  Status s = Append(record);
  if (s.ok()) {
    std::string why;
    if (!ApplyRecord(kUpdate, std::string_view(record).substr(kHeaderBytes + 1), &state_, &why)) {
      s = Status::Internal("WAL record does not apply to the state it was planned on: " + why);
    }
  }
  FinishSnapshot(s.ok(), old, staged);
  // A refused record wrote nothing; anything else leaves the files unknown.
  return s.ok() || s.code() == StatusCode::kInvalidArgument ? s : Fail(s);
}

Status WalLogStore::Save(const std::optional<raft::HardState>& hard_state,
                         const std::vector<raft::Entry>& entries,
                         const std::shared_ptr<const raft::Snapshot>& snapshot) {
  if (!failed_.ok()) return Refused();
  if (!hard_state && entries.empty() && snapshot == nullptr) return Status::Ok();
  Result<SavePlan> plan = PlanSave(state_.Bounds(), state_.Lookup(), entries,
                                   snapshot ? &snapshot->meta : nullptr);
  if (!plan.ok()) return plan.status();  // refused: nothing written
  return Commit(*plan, snapshot.get(), entries, hard_state);
}

Status WalLogStore::Compact(const raft::Snapshot& snapshot) {
  if (!failed_.ok()) return Refused();
  if (Status s = CheckCompact(state_.Bounds(), state_.Lookup(), snapshot.meta); !s.ok()) {
    return s;
  }
  SavePlan plan;
  plan.install_snapshot = true;  // matches the log: the prefix goes, the rest stays
  return Commit(plan, &snapshot, {}, std::nullopt);
}

Result<std::optional<std::string>> WalLogStore::GetMeta(const std::string& key) {
  if (Status s = CheckMetaKey(key); !s.ok()) return s;
  if (!load_error_.ok()) return load_error_;
  auto it = state_.meta.find(key);
  if (it == state_.meta.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status WalLogStore::PutMeta(const std::string& key, const std::string& value) {
  if (Status s = CheckMetaKey(key); !s.ok()) return s;
  if (!failed_.ok()) return Refused();
  if (Status s = Append(EncodeMeta(key, value)); !s.ok()) {
    return s.code() == StatusCode::kInvalidArgument ? s : Fail(s);
  }
  state_.meta[key] = value;
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<LogStore>> OpenWalLogStore(const std::string& dir,
                                                  const WalOptions& options) {
  auto store = std::make_unique<WalLogStore>(dir, options);
  if (Status s = store->Open(); !s.ok()) return s;
  return std::unique_ptr<LogStore>(std::move(store));
}

}  // namespace blixard::storage
