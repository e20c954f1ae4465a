// Wakes the agent when a booting VM's console file grows, so its readiness
// line is seen as soon as the guest prints it rather than at the next poll.
//
// Linux inotify (IN_MODIFY) on each watched file, read by a thread of its
// own that calls `on_change` (which must not block: the agent's wake-up).
// Watching is best effort: if inotify is unavailable, or a file cannot be
// watched, Watch returns false and the caller keeps polling.
//
// Thread safety: every method may be called from any thread; `on_change`
// runs on the watcher's thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace blixard::agent {

class ConsoleWatch {
 public:
  explicit ConsoleWatch(std::function<void()> on_change);
  ~ConsoleWatch();  // stops the thread, drops every watch

  // Watches `path` for `key` (replacing an earlier watch of that key, e.g.
  // the console of a previous boot). False if it cannot be watched.
  bool Watch(const std::string& key, const std::string& path);
  void Unwatch(const std::string& key);
  bool Watching(const std::string& key) const;

 private:
  void Run();

  std::function<void()> on_change_;
  int inotify_ = -1;
  int stop_ = -1;  // eventfd: wakes the thread to exit
  mutable std::mutex mu_;
  std::map<std::string, int> watches_;  // key -> inotify watch descriptor
  std::thread thread_;
};

}  // namespace blixard::agent
