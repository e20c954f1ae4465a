// The server side of the peer transport: PeerService.Raft reads one
// sender's stream of batches and hands each message to the sink.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <climits>

#include "blixard/v1/raft.grpc.pb.h"
#include "transport/convert.h"
#include "transport/transport.h"

namespace blixard::transport {
namespace {

class PeerServiceImpl final : public v1::PeerService::Service {
 public:
  PeerServiceImpl(std::function<std::string()> cluster_id, MessageSink sink)
      : cluster_id_(std::move(cluster_id)), sink_(std::move(sink)) {}

  // Occupies one server thread for the life of the stream (one per peer).
  grpc::Status Raft(grpc::ServerContext* context, grpc::ServerReader<v1::RaftBatch>* reader,
                    v1::RaftAck* /*response*/) override {
    SnapshotAssembler snapshots;  // per stream: a broken stream discards partial snapshots
    v1::RaftBatch batch;
    while (reader->Read(&batch)) {
      std::string ours = cluster_id_ ? cluster_id_() : std::string();
      if (!ours.empty() && !batch.cluster_id().empty() && ours != batch.cluster_id()) {
        // The sender retries every few seconds: say it once in a while.
        spdlog::log(RefusalLogDue() ? spdlog::level::warn : spdlog::level::debug,
                    "transport: refusing Raft stream from {}: cluster id {} is not ours ({})",
                    context->peer(), batch.cluster_id(), ours);
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "cluster id " + batch.cluster_id() + " does not match this node's " +
                                ours + ": the peer belongs to another cluster");
      }
      for (const v1::RaftMessage& w : batch.messages()) {
        std::optional<raft::Message> m = IsSnapshotChunk(w) ? snapshots.Add(w) : FromWire(w);
        if (m) {
          sink_(std::move(*m));
        } else if (!IsSnapshotChunk(w)) {
          spdlog::warn("transport: dropping malformed message (type {}) from {}", w.type(),
                       context->peer());
        }
      }
    }
    return grpc::Status::OK;
  }

 private:
  bool RefusalLogDue() {
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
    int64_t last = last_refusal_log_s_.load();
    return now - last >= 30 && last_refusal_log_s_.compare_exchange_strong(last, now);
  }

  const std::function<std::string()> cluster_id_;
  const MessageSink sink_;
  std::atomic<int64_t> last_refusal_log_s_{INT64_MIN / 2};
};

}  // namespace

void ConfigurePeerServer(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
}

std::unique_ptr<grpc::Service> NewPeerService(std::function<std::string()> cluster_id,
                                              MessageSink sink) {
  return std::make_unique<PeerServiceImpl>(std::move(cluster_id), std::move(sink));
}

}  // namespace blixard::transport
