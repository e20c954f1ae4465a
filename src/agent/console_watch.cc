#include "agent/console_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/thread_name.h"

namespace blixard::agent {

ConsoleWatch::ConsoleWatch(std::function<void()> on_change) : on_change_(std::move(on_change)) {
  inotify_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  stop_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_ < 0 || stop_ < 0) return;
  thread_ = std::thread([this] {
    SetThreadName("console-watch");
    Run();
  });
}

ConsoleWatch::~ConsoleWatch() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(stop_, &one, sizeof(one));
    thread_.join();
  }
  if (inotify_ >= 0) close(inotify_);
  if (stop_ >= 0) close(stop_);
}

bool ConsoleWatch::Watch(const std::string& key, const std::string& path) {
  if (!thread_.joinable() || path.empty()) return false;
  std::lock_guard lk(mu_);
  int wd = inotify_add_watch(inotify_, path.c_str(), IN_MODIFY);
  if (wd < 0) return false;
  auto it = watches_.find(key);
  // The same file again gives the same descriptor: keep it.
  if (it != watches_.end() && it->second != wd) {
    bool shared = false;
    for (const auto& [k, w] : watches_) shared = shared || (k != key && w == it->second);
    if (!shared) inotify_rm_watch(inotify_, it->second);
  }
  watches_[key] = wd;
  return true;
}

void ConsoleWatch::Unwatch(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = watches_.find(key);
  if (it == watches_.end()) return;
  const int wd = it->second;
  watches_.erase(it);
  for (const auto& [k, w] : watches_) {
    if (w == wd) return;  // another key watches the same file
  }
  inotify_rm_watch(inotify_, wd);
}

bool ConsoleWatch::Watching(const std::string& key) const {
  std::lock_guard lk(mu_);
  return watches_.count(key) > 0;
}

void ConsoleWatch::Run() {
  alignas(inotify_event) char buf[4096];
  for (;;) {
    pollfd fds[2] = {{inotify_, POLLIN, 0}, {stop_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    bool changed = false;
    // Drain everything queued: one wake-up covers a burst of writes.
    while (read(inotify_, buf, sizeof(buf)) > 0) changed = true;
    if (changed) on_change_();
  }
}

}  // namespace blixard::agent
