// What a VM's host process and its runtime dir say, for the process
// backends (process_hypervisor.cc): reading files the process and its
// monitor shell left, whether a pid is still the VM's process, and why a VM
// whose process is gone ended.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"
#include "vmm/hypervisor.h"
#include "vmm/runner.h"
#include "vmm/vm_config.h"

namespace blixard::vmm {

// The whole file, or nullopt if it cannot be read.
std::optional<std::string> ReadFile(const std::string& path);
// `s` without trailing newlines and spaces.
std::string Trim(std::string s);
// The last `n` non-empty lines of a file, joined with " | ".
std::string LastLines(const std::string& path, int n);

// OK if the published host port can be bound now, else FAILED_PRECONDITION
// naming it (INVALID_ARGUMENT for an address that is not IPv4).
Status CheckHostPortFree(const PortForward& p);

// The command line of the live (not zombie) process `pid`, if any.
std::optional<std::string> LiveCmdline(int pid);
// The live process `pid`, if it is the VM in `dir`. A recycled pid belongs
// to some other program: it will not name our dir.
bool ProcessIsOurs(int pid, const std::string& dir, const Runner& runner);
bool ProcessMentions(int pid, const std::string& text);
// CPU time (user + system) the process `pid` has used, if it exists.
std::optional<uint64_t> ProcessCpuMs(int pid);
// Waits until `pid` is gone, up to `timeout`. True if gone.
bool WaitGone(int pid, std::chrono::milliseconds timeout);
// "SIGKILL" for 9.
std::string SignalName(int sig);

// "nothing on its console (is N MiB of memory enough ...?)".
std::string NothingOnConsole(const VmConfig& c);

// Fills info.state (STOPPED or FAILED), reason, exit_status and term_signal
// for the VM in `dir` whose process (`pid`, 0 if none was recorded) is no
// longer alive, from the files in `dir`: stop-requested, wedged, exit, the
// process's log and the console.
void DescribeEnded(const std::string& dir, int pid, const Runner& runner, VmInfo& info);

}  // namespace blixard::vmm
