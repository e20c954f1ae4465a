// A cluster of real `blixard node` processes (--backend fake), node i in
// its own network namespace of a NetnsLab at 10.213.0.i:7001. Node 1
// bootstraps; the others join through it. The caller must be in the lab's
// client namespace to talk to the nodes.
//
// Thread safety: Stub()/Status()/Leader() from any thread; lifecycle calls
// (Start, Kill9, Restart, Pause, Resume, KillAll) from one thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "blixard/v1/blixard.grpc.pb.h"
#include "faults/netns.h"
#include "support/process.h"

namespace blixard::faults {

using std::chrono::milliseconds;

class NetCluster {
 public:
  // A join token for a new node of `role` ("server", "worker") made through
  // node 1; "" when it makes none (or the nodes run --insecure).
  std::string JoinToken(const std::string& role) const;
  struct Options {
    int nodes = 3;
    std::string dir;                      // data dirs and logs go here
    std::vector<std::string> node_args;   // extra flags for every node
    // Environment for every node process ("K=V"), e.g. fault point control.
    std::vector<std::string> node_env;
    bool fault_points = false;  // nodes take fault point commands (FaultControl)
  };
  NetCluster(NetnsLab& lab, Options options);
  ~NetCluster();  // SIGKILLs what still runs

  // Starts nodes 1..n; false (and why in *error) when one does not become
  // ready in time.
  bool Start(std::string* error);

  void Kill9(int id);
  // Waits up to `timeout` for node id's process to exit on its own.
  void WaitExit(int id, milliseconds timeout);
  // Starts a stopped node again on its data dir; does not wait.
  void Restart(int id);
  void Pause(int id);   // SIGSTOP, returns once stopped
  void Resume(int id);  // SIGCONT
  void KillAll();
  // Sends a libfiu remote-control command ("enable name=storage/sync") to
  // node id's process (nodes listen on BLIXARD_FAULTS_FIFO when
  // Options::fault_points). false when it was not applied.
  bool FaultControl(int id, const std::string& command, std::string* error = nullptr);
  bool Running(int id);
  bool Paused(int id) const;
  // The pid of node id's process (0 when not running).
  int Pid(int id);
  // How node id's last process ended: exit code, 128+signal, -1 if running.
  int ExitCode(int id);

  int size() const { return options_.nodes; }
  std::string Addr(int id) const;
  const std::string& DataDir(int id) const;
  std::string Log(int id) const;      // every start's log
  std::string LogTail(int id, size_t lines) const;

  // The shared channel to node id (replaced when the node restarts).
  std::shared_ptr<grpc::Channel> Channel(int id);
  // A channel of its own (no reconnect backoff inherited from earlier
  // failures), e.g. to time recovery.
  std::shared_ptr<grpc::Channel> NewChannel(int id) const;
  void ResetChannel(int id);
  std::optional<v1::GetClusterStatusResponse> Status(int id, bool stale, milliseconds timeout);
  // A running, unpaused node that some node names leader and that confirms
  // it with a linearizable status read; 0 when none within `timeout`.
  int WaitForLeader(milliseconds timeout);
  // The leader as running nodes see it now (stale views, majority vote); 0
  // when unknown.
  int CurrentLeader();

 private:
  struct Node {
    int id = 0;
    std::string data_dir;
    int starts = 0;
    std::unique_ptr<testing::Child> child;
    bool paused = false;
    int last_exit = -1;
    std::shared_ptr<grpc::Channel> channel;
    std::string token;  // --token of its first join
  };
  std::vector<std::string> Argv(int id, bool join) const;
  void Spawn(Node& n, bool join);
  std::string LogPath(int id, int start) const;
  std::string FifoBase(int id) const;

  NetnsLab& lab_;
  Options options_;
  std::map<int, Node> nodes_;
  mutable std::mutex channel_mu_;
};

}  // namespace blixard::faults
