// The server side of the peer transport: PeerService.Raft reads one
// sender's stream of batches and hands each batch to the sink. A callback
// service: reads complete on gRPC's threads, so no thread is parked per
// stream and a batch reaches the sink without another thread hop.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <optional>

#include "blixard/v1/raft.grpc.pb.h"
#include "rpc/security.h"
#include "transport/convert.h"
#include "transport/transport.h"

namespace blixard::transport {
namespace {

class PeerServiceImpl;

// One inbound stream. Owned by gRPC between its creation and OnDone.
class StreamReader final : public grpc::ServerReadReactor<v1::RaftBatch> {
 public:
  StreamReader(PeerServiceImpl& service, grpc::CallbackServerContext* ctx)
      : service_(service), ctx_(ctx) {
    if (auto caller = rpc::CallerOf(ctx)) sender_ = caller->node_id;
    StartRead(&batch_);
  }
  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  PeerServiceImpl& service_;
  grpc::CallbackServerContext* ctx_;
  SnapshotAssembler snapshots_;  // per stream: a broken stream discards partial snapshots
  v1::RaftBatch batch_;
  // The node id the sender's certificate names (TLS): every message of the
  // stream must be from it.
  std::optional<uint64_t> sender_;
};

class PeerServiceImpl final : public v1::PeerService::CallbackService {
 public:
  PeerServiceImpl(std::function<std::string()> cluster_id, MessageSink sink)
      : cluster_id_(std::move(cluster_id)), sink_(std::move(sink)) {}

  grpc::ServerReadReactor<v1::RaftBatch>* Raft(grpc::CallbackServerContext* context,
                                               v1::RaftAck* /*response*/) override {
    return new StreamReader(*this, context);
  }

  // The refusal for a batch from another cluster; OK for ours.
  grpc::Status CheckCluster(const v1::RaftBatch& batch, const std::string& peer) {
    if (batch.cluster_id().empty() || !cluster_id_) return grpc::Status::OK;
    std::string ours = cluster_id_();
    if (ours.empty() || ours == batch.cluster_id()) return grpc::Status::OK;
    // The sender retries every few seconds: say it once in a while.
    spdlog::log(RefusalLogDue() ? spdlog::level::warn : spdlog::level::debug,
                "transport: refusing Raft stream from {}: cluster id {} is not ours ({})", peer,
                batch.cluster_id(), ours);
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "cluster id " + batch.cluster_id() + " does not match this node's " + ours +
                            ": the peer belongs to another cluster");
  }

  const MessageSink& sink() const { return sink_; }

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

void StreamReader::OnReadDone(bool ok) {
  if (!ok) {  // the sender closed the stream, or it broke
    Finish(grpc::Status::OK);
    return;
  }
  if (grpc::Status refusal = service_.CheckCluster(batch_, ctx_->peer()); !refusal.ok()) {
    Finish(refusal);
    return;
  }
  std::vector<raft::Message> messages;
  messages.reserve(batch_.messages_size());
  for (const v1::RaftMessage& w : batch_.messages()) {
    if (sender_ && w.from() != *sender_) {
      spdlog::warn("transport: refusing Raft stream from {}: its certificate names node {}, a message claims node {}",
                   ctx_->peer(), *sender_, w.from());
      Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "node " + std::to_string(*sender_) + " may not send Raft messages as node " +
                              std::to_string(w.from())));
      return;
    }
  }
  for (v1::RaftMessage& w : *batch_.mutable_messages()) {
    std::optional<raft::Message> m = IsSnapshotChunk(w) ? snapshots_.Add(w) : FromWire(std::move(w));
    if (m) {
      messages.push_back(std::move(*m));
    } else if (!IsSnapshotChunk(w)) {
      spdlog::warn("transport: dropping malformed message (type {}) from {}", w.type(), ctx_->peer());
    }
  }
  if (!messages.empty()) service_.sink()(std::move(messages));
  StartRead(&batch_);
}

}  // namespace

std::unique_ptr<grpc::Service> NewPeerService(std::function<std::string()> cluster_id,
                                              MessageSink sink) {
  return std::make_unique<PeerServiceImpl>(std::move(cluster_id), std::move(sink));
}

}  // namespace blixard::transport
