#include "daemon/ack_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

namespace blixard::daemon {

AckFile::Lock::Lock(const std::string& lock_path, bool wait) {
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return;  // data dir gone: nothing to serialise with
  int r;
  while ((r = ::flock(fd_, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
  }
  held_ = r == 0;
}

AckFile::Lock::~Lock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Status AckFile::Save(const AckRecord& record) const {
  Lock lock = Locked(true);
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << record.sent_ms << ' ' << (record.sole_voter ? 1 : 0) << "\n";
    if (!out) return Status::IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) return Status::IoError("cannot replace " + path_);
  return Status::Ok();
}

AckRecord AckFile::Load() const {
  AckRecord r;
  std::ifstream in(path_);
  int64_t sent = -1;
  if (!(in >> sent)) return r;
  r.sent_ms = sent;
  int solo = 0;
  if (in >> solo) r.sole_voter = solo == 1;  // absent in files of older daemons
  return r;
}

}  // namespace blixard::daemon
