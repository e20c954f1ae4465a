// WorkerService.WatchAssignments on a server: every worker's stream, served
// as gRPC callback (reactor) streams by one thread, so that a thousand
// open streams cost no thread each and nothing while idle.
//
// The thread wakes when the node applies entries (Node::AddApplyListener;
// then it looks at every idle stream), when a write to a worker completes
// (that stream), and when a stream's own timer is due (progress owed, or a
// catch-up check; only the streams whose time has come, so one stream
// waiting for this server to catch up costs the others nothing). It asks
// each stream it looks at for what to
// send (a node whose VMs did not change is not read at all; see
// ClusterState::AssignmentsChangedAt) and starts those writes; one write per
// stream is in flight at a time, so a slow worker gets one diff of
// everything that changed meanwhile.
//
// Thread safety: Open may be called from any thread (gRPC's).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <thread>
#include <vector>

#include "blixard/v1/internal.grpc.pb.h"
#include "node/node.h"
#include "state/assignments.h"

namespace blixard::api {

class AssignmentStreams {
 public:
  // The stream's pacing (state/assignments.h, shared with the simulator).
  static constexpr auto kProgressEvery = std::chrono::milliseconds(state::kAssignmentProgressEveryMs);
  static constexpr auto kCatchUpWait = std::chrono::milliseconds(state::kAssignmentCatchUpWaitMs);

  explicit AssignmentStreams(node::Node& node);
  // REQUIRES: the gRPC server is shut down (every stream is done).
  ~AssignmentStreams();

  // The reactor for one WatchAssignments call (request already checked).
  grpc::ServerWriteReactor<v1::AssignmentUpdate>* Open(const v1::WatchAssignmentsRequest& req);

  // How many times a stream of `node_id` read the node's set from the
  // state (for tests: an unchanged node's set is not read).
  uint64_t set_reads(uint64_t node_id) const;
  // How many times a stream of `node_id` was looked at (its feed asked
  // against the state), whether or not it then sent or read anything.
  uint64_t looks(uint64_t node_id) const;

 private:
  class Stream;
  void Run();
  // Looks at `claimed` (busy, owned by this thread until released), starts
  // the writes they need and sets the timers of those that owe progress or
  // a catch-up check.
  void Serve(const std::vector<Stream*>& claimed);
  // Under mu_: (re)sets or clears `s`'s timer.
  void SetTimer(Stream* s, std::optional<node::Clock::time_point> due);
  void WriteDone(Stream* s, bool ok);
  void Cancelled(Stream* s);
  void Done(Stream* s);

  node::Node& node_;
  uint64_t listener_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool applied_moved_ = false;     // since the last pass: look at every stream
  std::set<Stream*> streams_;      // open, not yet done
  std::vector<Stream*> pending_;   // new or written: look at these next pass
  // Each stream's timer (Stream::due), earliest first; at most one per stream.
  std::set<std::pair<node::Clock::time_point, Stream*>> timers_;
  std::mutex history_mu_;
  state::AssignmentHistory history_;
  mutable std::mutex reads_mu_;
  std::map<uint64_t, uint64_t> set_reads_;
  std::map<uint64_t, uint64_t> looks_;
  std::thread thread_;
};

}  // namespace blixard::api
