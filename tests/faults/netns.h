// Test hosts for fault runs: a network namespace per node and one for the
// clients, each with an `eth0` that is one end of a veth pair whose other
// end is a port of bridge `br0` in a hub namespace. Addresses 10.213.0.0/24
// exist only inside these namespaces (node i: 10.213.0.i, clients:
// 10.213.0.250), so runs in parallel do not see each other and nothing
// reaches the host's networks.
//
// Links between nodes are cut with blackhole routes in the nodes'
// namespaces (this kernel has no netem); the clients' links are never cut.
//
// Names are "bxf-<pid>-<k>-<role>", unique per run; Create() first removes
// what runs that died (pid gone) left behind, and the destructor removes
// everything this lab created, killing any process still inside. Needs root
// (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
//
// Thread safety: Cut/Heal/Isolate may be called from any thread (serialized);
// the rest from the owning thread.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace blixard::faults {

inline constexpr char kNetnsPrefix[] = "bxf-";

class NetnsLab {
 public:
  // Builds the hub, `nodes` node namespaces (1..nodes) and the client one.
  static Result<std::unique_ptr<NetnsLab>> Create(int nodes);
  ~NetnsLab();
  NetnsLab(const NetnsLab&) = delete;

  int nodes() const { return nodes_; }
  std::string NodeNs(int i) const;
  std::string ClientNs() const;
  static std::string NodeIp(int i);
  // argv prefix that runs a command inside node i's namespace.
  std::vector<std::string> Exec(int i) const;

  // Moves the calling thread into the client namespace; threads it starts
  // afterwards (gRPC's too) are born there. Call before any gRPC use.
  Status EnterClientNamespace() const;

  // Cuts both directions between nodes i and j / heals them. Idempotent.
  Status Cut(int i, int j);
  Status Heal(int i, int j);
  Status HealAll();
  std::set<std::pair<int, int>> cuts() const;  // (i < j)

  // Removes the namespaces of runs whose process is gone (and kills what
  // still runs inside them). Returns how many namespaces were removed.
  static int CleanupDeadRuns();

 private:
  NetnsLab(std::string base, int nodes) : base_(std::move(base)), nodes_(nodes) {}
  Status Build();
  void Destroy();
  Status Route(bool add, int from, int to);

  const std::string base_;
  const int nodes_;
  std::vector<std::string> created_;  // namespaces, in creation order
  mutable std::mutex mu_;
  std::set<std::pair<int, int>> cuts_;
};

}  // namespace blixard::faults
