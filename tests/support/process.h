// Test support: temp dirs, child processes, waiting on conditions.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace blixard::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv to completion, capturing stdout and stderr. `env` entries
// ("K=V") are added to the environment.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {});

// A child process whose stdout+stderr go to `log_path`.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log_path);
  ~Child();  // SIGKILLs and reaps if still running
  Child(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  // Waits up to `timeout` for exit; returns the exit code (128+N for signal N)
  // or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  bool Running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

// Polls `pred` with backoff until it holds or `timeout` passes; returns
// whether it held. Never a fixed sleep: the wait ends as soon as it holds.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeTcpPort();

// Path of the blixard binary under test.
std::string BlixardBin();

// Fake-backend nodes run no real VMs: unless the args set a capacity of
// their own, give them room for many (64 vCPUs, 64 GiB), so tests do not
// depend on the host's size.
void AddFakeCapacity(std::vector<std::string>& node_args);

// How many CPUs this process may run on (sched_getaffinity).
int OwnCpuCount();
// Lets every thread of process `pid` run only on the first CPU this
// process may run on; false if that failed for any thread.
bool NarrowToOneCpu(int pid);

}  // namespace blixard::testing
