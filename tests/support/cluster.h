// A multi-node cluster of real `blixard node` processes on loopback TCP for
// integration tests: free ports, temp data dirs, start/stop/kill/restart of
// members, and waits on conditions with deadlines (never fixed sleeps).
//
// Node 1 bootstraps; every next node joins through a random running member.
// Every node gets the cluster-wide `node_args` plus its own.
//
// Thread safety: Vms()/Cluster()/Status()/Write() may be called from several
// threads (e.g. a writer thread while the test thread kills a member) as long
// as no thread starts, stops or restarts nodes at the same time; everything
// else is for the test thread only.
#pragma once

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "blixard/v1/blixard.grpc.pb.h"
#include "rpc/channels.h"
#include "support/process.h"

namespace blixard::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct RoleCount {
  size_t voters = 0;
  size_t standbys = 0;
  size_t learners = 0;
  bool operator==(const RoleCount&) const = default;
};

class TestCluster {
 public:
  struct Options {
    // Flags given to every node, e.g. {"--voters", "5"} or {"--tick-ms", "50"}.
    std::vector<std::string> node_args;
  };
  explicit TestCluster(Options options);
  TestCluster() : TestCluster(Options{}) {}
  ~TestCluster();  // SIGKILLs every node still running
  TestCluster(const TestCluster&) = delete;

  // Starts nodes 1..n one after another (node 1 bootstraps, each next joins
  // through a random running member), each waited for until ready. Returns
  // false (with the logs on stderr) when a node does not become ready.
  bool Start(size_t n);
  // Adds node `id` (not yet in the harness) joining through a random
  // running member; waits until it is ready.
  bool Add(uint64_t id, std::vector<std::string> extra_args = {});
  // Ready: the process runs, answers a linearizable status read, and lists
  // itself as a member.
  bool WaitReady(uint64_t id, milliseconds timeout = seconds(60));

  // The leader: a running, unpaused member that some member names as leader
  // and that confirms it with a linearizable status read; 0 when there is
  // none within `timeout`.
  uint64_t WaitForLeader(milliseconds timeout = seconds(30));
  // Waits until the leader's view has exactly these role counts and every
  // running member's local view agrees on the member set and roles.
  bool WaitForMembers(RoleCount want, milliseconds timeout = seconds(60));

  // Lifecycle of one member. Kill9/Stop wait for the process to exit.
  void Kill9(uint64_t id);
  int Stop(uint64_t id, int sig = SIGTERM);
  // Signals every running member at once, then waits for each to exit; a
  // test failure unless each exits with 0 (for sig != SIGKILL).
  void StopAll(int sig = SIGTERM);
  void Pause(uint64_t id);   // SIGSTOP, returns once stopped: alive but silent
  void Resume(uint64_t id);  // SIGCONT
  // Starts a stopped member again on the same address and data dir; waits
  // until ready unless `wait` is false.
  bool Restart(uint64_t id, bool wait = true);
  bool Running(uint64_t id);

  // Ids of nodes the harness knows (started at least once), and of the
  // running ones.
  std::vector<uint64_t> Ids() const;
  std::vector<uint64_t> RunningIds();

  const std::string& Addr(uint64_t id) const;
  const std::string& DataDir(uint64_t id) const;
  std::string Log(uint64_t id) const;
  // The process id of member `id` (running).
  int Pid(uint64_t id) const;
  std::string AllLogs() const;  // every node's log, labelled, for failure messages

  std::unique_ptr<v1::VmService::Stub> Vms(uint64_t id);
  std::unique_ptr<v1::ClusterService::Stub> Cluster(uint64_t id);
  // GetClusterStatus on `id`; nullopt when the call fails.
  std::optional<v1::GetClusterStatusResponse> Status(uint64_t id, bool stale,
                                                     milliseconds timeout = seconds(5));
  // Creates a VM record named `name` through member `id`, desired state
  // stopped (these tests are about the records, not about running VMs).
  grpc::Status CreateVm(uint64_t id, const std::string& name, milliseconds timeout = seconds(10));
  // Names of the VMs member `id` has (stale = its local state).
  std::optional<std::set<std::string>> VmNames(uint64_t id, bool stale,
                                               milliseconds timeout = seconds(5));
  // Waits until member `id`'s local state has every name in `names`.
  bool WaitForVms(uint64_t id, const std::set<std::string>& names,
                  milliseconds timeout = seconds(30));

  // Runs the CLI against member `id`: blixard <args...> --addr <addr>.
  CommandResult Cli(uint64_t id, std::vector<std::string> args) const;
  // A join token (pki/token.h) for a new node of `role` ("server" or
  // "worker"), made through a running member; "" (a test failure) when
  // none makes one. Nodes the harness adds get theirs itself.
  std::string JoinToken(const std::string& role = "server");
  // The admin credential of the cluster (its first node's data dir), for a
  // test's own channels (Insecure with --insecure, or before it exists).
  rpc::RpcSecurity Security() const;
  // A fresh channel to member `id` with that credential.
  std::shared_ptr<grpc::Channel> NewChannel(uint64_t id) const;
  // A fresh channel to member `id` that shows a server's certificate (as
  // one node calling another: the internal services), signed with the CA
  // key in the first node's data dir.
  std::shared_ptr<grpc::Channel> NewNodeChannel(uint64_t id) const;
  // The data dir whose credential the CLI uses (the first node's).
  const std::string& AdminDataDir() const { return admin_data_dir_; }
  // The argv `blixard node ...` for member `id` (with its join flags when
  // it has no data yet).
  std::vector<std::string> NodeArgs(uint64_t id) const;

  // A fresh address and data dir for a process the harness does not manage
  // (e.g. a node expected to fail joining).
  std::string FreshAddr();
  std::string FreshDataDir();

 private:
  struct Member {
    uint64_t id = 0;
    std::string addr;
    std::string data_dir;
    std::vector<std::string> join;  // --join targets of the first start
    std::string token;              // --token of the first start
    std::vector<std::string> extra_args;
    int starts = 0;
    std::unique_ptr<Child> child;
    std::shared_ptr<grpc::Channel> channel;
    std::mutex channel_mu;
  };
  Member& Get(uint64_t id);
  const Member& Get(uint64_t id) const;
  void Spawn(Member& m);
  std::shared_ptr<grpc::Channel> Channel(Member& m);
  bool LostPortRace(Member& m);
  uint64_t RandomRunning(uint64_t except);
  bool Insecure() const;  // the nodes run with --insecure

  Options options_;
  TempDir dir_;
  std::mt19937_64 rng_;
  int fresh_ = 0;
  std::map<uint64_t, std::unique_ptr<Member>> members_;
  std::string admin_data_dir_;  // the bootstrapping node's
  std::set<uint64_t> paused_;
};

// Creates VM records "<prefix>-<k>" (k = 1, 2, ...) one at a time in a
// thread, round robin over the members `via`, until Stop(); remembers which
// writes were acknowledged. Every name is tried once: a failed write may or
// may not have been applied, an acknowledged one must never be lost.
class BackgroundWriter {
 public:
  BackgroundWriter(TestCluster& cluster, std::vector<uint64_t> via, std::string prefix,
                   milliseconds write_timeout = seconds(10));
  ~BackgroundWriter();  // Stop()s
  void Stop();          // waits for the write in flight
  std::set<std::string> Acked() const;
  size_t acked() const;
  size_t failed() const;
  std::string last_error() const;
  // Waits until at least `n` writes were acknowledged.
  bool WaitForAcked(size_t n, milliseconds timeout);

 private:
  void Run();
  TestCluster& cluster_;
  const std::vector<uint64_t> via_;
  const std::string prefix_;
  const milliseconds write_timeout_;
  mutable std::mutex mu_;
  std::set<std::string> acked_;
  size_t failed_ = 0;
  std::string last_error_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A TCP port on 127.0.0.1 below the kernel's ephemeral range (so outgoing
// connections never take it) that was free a moment ago.
int FreeListenPort();

// Counts members by role.
RoleCount CountRoles(const v1::GetClusterStatusResponse& st);

}  // namespace blixard::testing
