#include "storage/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "storage/fault_points.h"

namespace blixard::storage {
namespace {

constexpr std::string_view kMagic("BLXSNAP\0", 8);
constexpr uint32_t kVersion = 1;

Status Errno(const std::string& what, const std::string& path, int err) {
  return Status::IoError(what + " " + path + ": " + std::strerror(err));
}

Status WriteAll(int fd, const std::string& path, std::string_view data) {
  while (!data.empty()) {
    if (int err = InjectedWriteError()) return Errno("write", path, err);
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

Status SyncFd(int fd, const std::string& path) {
  if (int err = InjectedSyncError()) return Errno("fsync", path, err);
  if (::fsync(fd) != 0) return Errno("fsync", path, errno);
  return Status::Ok();
}

}  // namespace

std::string SnapshotFileName(const raft::SnapshotMeta& meta) {
  return "snap-" + std::to_string(meta.index) + "-" + std::to_string(meta.term) + ".bin";
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir, errno);
  Status s = SyncFd(fd, dir);
  ::close(fd);
  return s;
}

Result<SnapshotRef> WriteSnapshotFile(const std::string& dir, const std::string& name,
                                      const raft::Snapshot& snap) {
  SnapshotRef ref;
  ref.file = name;
  ref.meta = snap.meta;
  ref.payload_size = snap.data.size();
  ref.payload_crc = Crc32c(snap.data);

  std::string header;
  EncodeSnapshotMeta(&header, snap.meta);
  PutFixed64(&header, ref.payload_size);
  PutFixed32(&header, ref.payload_crc);
  std::string head(kMagic);
  PutFixed32(&head, kVersion);
  PutFixed32(&head, static_cast<uint32_t>(header.size()));
  head += header;
  PutFixed32(&head, Crc32c(head));

  const std::string path = dir + "/" + ref.file;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp, errno);
  Status s = WriteAll(fd, tmp, head);
  if (s.ok()) s = WriteAll(fd, tmp, snap.data);
  if (s.ok()) s = SyncFd(fd, tmp);
  if (::close(fd) != 0 && s.ok()) s = Errno("close", tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Errno("rename", tmp, errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (s = SyncDir(dir); !s.ok()) return s;
  return ref;
}

Result<raft::Snapshot> ReadSnapshotFile(const std::string& dir, const SnapshotRef& ref) {
  const std::string path = dir + "/" + ref.file;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::Corruption(path + ": snapshot file is missing");
    return Errno("open", path, errno);
  }
  std::string content;
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) content.reserve(static_cast<size_t>(st.st_size));
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
    content.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);

  auto corrupt = [&](const std::string& why) { return Status::Corruption(path + ": " + why); };
  Reader r(content);
  if (r.Bytes(kMagic.size()) != kMagic) return corrupt("bad magic (not a snapshot file)");
  uint32_t version = r.Fixed32();
  if (!r.ok() || version != kVersion) return corrupt("unknown version " + std::to_string(version));
  uint32_t header_size = r.Fixed32();
  std::string_view header = r.Bytes(header_size);
  uint32_t header_crc = r.Fixed32();
  if (!r.ok()) return corrupt("truncated header");
  size_t head_size = kMagic.size() + 8 + header_size;
  if (Crc32c(std::string_view(content).substr(0, head_size)) != header_crc) {
    return corrupt("header checksum mismatch");
  }
  raft::Snapshot snap;
  Reader h(header);
  if (!DecodeSnapshotMeta(&h, &snap.meta)) return corrupt("malformed header");
  uint64_t payload_size = h.Fixed64();
  uint32_t payload_crc = h.Fixed32();
  if (!h.ok() || !h.empty()) return corrupt("malformed header");
  std::string_view payload = r.Rest();
  if (payload.size() != payload_size) {
    return corrupt("payload is " + std::to_string(payload.size()) + " bytes, header says " +
                   std::to_string(payload_size) + " (truncated or torn file)");
  }
  if (Crc32c(payload) != payload_crc) return corrupt("payload checksum mismatch");
  if (snap.meta != ref.meta || payload_size != ref.payload_size ||
      payload_crc != ref.payload_crc) {
    return corrupt("file does not match the snapshot recorded in the log store");
  }
  snap.data = std::string(payload);
  return snap;
}

}  // namespace blixard::storage
