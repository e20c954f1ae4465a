// The host side of bridge networking: a Linux bridge per node with the
// cluster subnet's gateway address, and one persistent tap per VM attached
// to it. The agent prepares these before a bridge VM starts and removes the
// tap once the VM is gone from the node; backends only open the tap.
//
// Needs CAP_NET_ADMIN (root) in the daemon's network namespace; without it
// every call fails with kFailedPrecondition saying so.
// Thread safety: the Linux implementation is stateless (ioctls); the fake
// guards its state. Both may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"

namespace blixard::vmm {

class HostNetwork {
 public:
  virtual ~HostNetwork() = default;
  // Creates bridge `name` if missing, gives it `gateway/prefix` if it has no
  // IPv4 address yet, and sets it up. Idempotent.
  virtual Status EnsureBridge(const std::string& name, uint32_t gateway, int prefix) = 0;
  // Creates persistent tap `tap` if missing, attaches it to `bridge` and
  // sets it up. Idempotent.
  virtual Status EnsureTap(const std::string& tap, const std::string& bridge) = 0;
  // Removes tap `tap`; OK if it does not exist.
  // REQUIRES: no process holds it open (the VM is gone).
  virtual Status DeleteTap(const std::string& tap) = 0;
  virtual bool TapExists(const std::string& tap) = 0;
};

// ioctls on the running kernel (SIOCBRADDBR, TUNSETIFF/TUNSETPERSIST, ...).
std::unique_ptr<HostNetwork> NewLinuxHostNetwork();

// In memory, for tests, the simulator and --backend fake.
class FakeHostNetwork : public HostNetwork {
 public:
  Status EnsureBridge(const std::string& name, uint32_t gateway, int prefix) override;
  Status EnsureTap(const std::string& tap, const std::string& bridge) override;
  Status DeleteTap(const std::string& tap) override;
  bool TapExists(const std::string& tap) override;
  // tap -> bridge it is attached to.
  std::map<std::string, std::string> taps() const;
  std::set<std::string> bridges() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> taps_;
  std::set<std::string> bridges_;
};

// Starts a TCP connection to ip:port (IPv4, host order) and waits up to
// `timeout` for it to be established. Returns the connected socket (the
// caller closes it); kUnavailable if refused, unreachable or out of time.
Result<int> ConnectTcp(uint32_t ip, uint16_t port, std::chrono::milliseconds timeout);

// The tap of a VM on a node using `bridge`: "blx" + 12 hex digits of a hash
// of both names (interface names are at most 15 characters; VM names 63).
std::string TapName(const std::string& bridge, const std::string& vm);
// A locally administered unicast MAC from an IPv4 address: 52:54:a:b:c:d.
std::string MacForIpv4(uint32_t ip);

}  // namespace blixard::vmm
