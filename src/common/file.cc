#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace blixard {
namespace {

Status Errno(const std::string& what) { return Status::IoError(what + ": " + std::strerror(errno)); }

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& contents, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno("cannot create " + tmp);
  // open() applies the umask; the file gets exactly `mode`.
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    return Errno("cannot chmod " + tmp);
  }
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Errno("cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return Errno("cannot sync " + tmp);
  }
  if (::close(fd) != 0) return Errno("cannot close " + tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Errno("cannot rename " + tmp + " to " + path);
  const int dir = ::open(DirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno("cannot open the directory of " + path);
  const int r = ::fsync(dir);
  ::close(dir);
  if (r != 0) return Errno("cannot sync the directory of " + path);
  return Status::Ok();
}

Result<std::optional<std::string>> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Errno("cannot read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Errno("cannot read " + path);
  return std::optional<std::string>(ss.str());
}

}  // namespace blixard
