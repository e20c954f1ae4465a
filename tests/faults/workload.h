// The client workload of a fault run: concurrent clients, each bound to one
// node (client c talks to node c % n + 1 through its own gRPC channel), that
// create and delete VM records and write and read one label of some VMs as
// a register ("r"). Every operation goes into the History (history.h) with
// its outcome: ok (answer known), fail (a read that got no answer), unknown
// (a write that got no answer: it may or may not have happened).
//
// Keys: registers "r-<k>" are shared by all clients; a register retires
// after `ops_per_register` operations and the client that retires it creates
// the next, so every per-key history stays small enough to check. Churn
// names "c<client>-<k>" are created once by their client and maybe deleted
// once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "faults/cluster.h"
#include "faults/history.h"

namespace blixard::faults {

inline constexpr char kRegisterLabel[] = "r";

struct WorkloadOptions {
  int clients = 6;
  uint64_t seed = 1;
  milliseconds op_timeout{2000};
  milliseconds think{10};         // pause between a client's operations
  milliseconds backoff{150};      // pause after an operation without an answer
  int registers = 3;              // live at once
  int ops_per_register = 40;
  // Negative control: reads from the asked node's local state (GetVm with
  // stale set) instead of ReadIndex; under partitions the checker must
  // find them.
  bool stale_reads = false;
};

class Workload {
 public:
  Workload(NetCluster& cluster, History& history, WorkloadOptions options);
  ~Workload();  // Stop()s
  void Start();
  void Stop();  // waits for the operations in flight

  // One operation through node `node` by client id `client`, recorded.
  // Returns its outcome. Used by the clients and by the recovery probe.
  // `channel`: null for the node's shared one.
  Outcome Run(int client, int node, OpType type, const std::string& key,
              const std::string& value = {}, std::shared_ptr<grpc::Channel> channel = nullptr);

 private:
  void Client(int c);
  std::string PickRegister(uint64_t r, int c);

  NetCluster& cluster_;
  History& history_;
  const WorkloadOptions options_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<std::string> live_;       // live register names
  std::vector<int> used_;               // ops per live register
  int next_register_ = 0;
};

}  // namespace blixard::faults
