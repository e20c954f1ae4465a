// The client side of the peer transport: one sender thread and one
// long-lived PeerService.Raft stream per peer (see transport.h).
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include "blixard/v1/raft.grpc.pb.h"
#include "transport/convert.h"
#include "transport/transport.h"

namespace blixard::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kInitialBackoff{50};
constexpr milliseconds kMaxBackoff{2000};
// Room for the batch envelope and the cluster id around the messages.
constexpr size_t kBatchOverheadBytes = 4096;

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, size_t max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, static_cast<int>(kInitialBackoff.count()));
  // gRPC uses the "min reconnect backoff" as the connect timeout, not as a
  // delay: 1 s lets a blackholed TCP peer fail fast without cutting short a
  // slow but live one.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(kMaxBackoff.count()));
  // A peer that vanishes without a FIN/RST (power loss, partition) fails the
  // stream within ~4 s instead of when the TCP retransmissions give up.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging an idle stream
  args.SetMaxSendMessageSize(static_cast<int>(std::min<size_t>(max_message_bytes, INT32_MAX)));
  // One connection per peer channel, not shared with other channels to the
  // same address (the node's forwarding client has its own).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

// One peer: a bounded queue drained by its own thread into one stream.
class PeerSender {
 public:
  PeerSender(raft::NodeId id, std::string address, const GrpcTransportOptions& options)
      : id_(id), options_(options), address_(std::move(address)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PeerSender() { Stop(); }

  // Never blocks on the network. Returns false if the message was dropped.
  bool Enqueue(raft::Message m) {
    std::lock_guard lk(mu_);
    if (stopping_ || queue_.size() >= options_.max_queue || Clock::now() < down_until_) {
      ++dropped_;
      return false;
    }
    queue_.push_back(std::move(m));
    cv_.notify_one();
    return true;
  }

  void SetAddress(const std::string& address) {
    std::lock_guard lk(mu_);
    if (address == address_) return;
    address_ = address;
    ++address_gen_;
    down_until_ = {};             // the new address deserves a try at once
    if (ctx_) ctx_->TryCancel();  // a Write blocked on the old address returns
    cv_.notify_one();
  }

  std::string address() const {
    std::lock_guard lk(mu_);
    return address_;
  }

  // Asks the thread to end: wakes it and cancels a call it may be blocked in.
  void SignalStop() {
    std::lock_guard lk(mu_);
    stopping_ = true;
    if (ctx_) ctx_->TryCancel();
    cv_.notify_one();
  }

  void Stop() {
    SignalStop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Stream {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientWriter<v1::RaftBatch>> writer;
    v1::RaftAck ack;
    Clock::time_point opened;
  };

  void Run();
  bool OpenStream(Stream& s);
  grpc::Status CloseStream(Stream& s, bool cancel);
  bool WriteAll(Stream& s, std::vector<raft::Message>& messages);

  const raft::NodeId id_;
  const GrpcTransportOptions& options_;  // owned by the transport, outlives us

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string address_;
  uint64_t address_gen_ = 0;
  std::deque<raft::Message> queue_;
  bool stopping_ = false;
  Clock::time_point down_until_;        // Enqueue drops until then (after a failure)
  grpc::ClientContext* ctx_ = nullptr;  // the open call, for TryCancel
  uint64_t dropped_ = 0;                // since the peer was last reported reachable

  // Sender thread only.
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PeerService::Stub> stub_;
  uint64_t channel_gen_ = ~uint64_t{0};
  std::string channel_address_;
  std::thread thread_;
};

bool PeerSender::OpenStream(Stream& s) {
  std::string address;
  uint64_t gen;
  {
    std::lock_guard lk(mu_);
    address = address_;
    gen = address_gen_;
  }
  if (gen != channel_gen_) {
    channel_ = MakeChannel(address, options_.max_message_bytes);
    stub_ = v1::PeerService::NewStub(channel_);
    channel_gen_ = gen;
    channel_address_ = address;
  }
  s.ctx = std::make_unique<grpc::ClientContext>();
  {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    ctx_ = s.ctx.get();
  }
  s.writer = stub_->Raft(s.ctx.get(), &s.ack);
  s.opened = Clock::now();
  return true;
}

grpc::Status PeerSender::CloseStream(Stream& s, bool cancel) {
  grpc::Status st;
  if (s.writer) {
    if (cancel) s.ctx->TryCancel();
    st = s.writer->Finish();
  }
  {
    std::lock_guard lk(mu_);
    ctx_ = nullptr;
  }
  s.writer.reset();
  s.ctx.reset();
  return st;
}

// Writes `messages` as few batches as the size limit allows. A message that
// alone exceeds the limit is dropped (it would fail the stream every time).
bool PeerSender::WriteAll(Stream& s, std::vector<raft::Message>& messages) {
  const size_t limit = options_.max_message_bytes > 2 * kBatchOverheadBytes
                           ? options_.max_message_bytes - kBatchOverheadBytes
                           : options_.max_message_bytes / 2;
  const size_t chunk = std::max<size_t>(1, std::min(kSnapshotChunkBytes, limit / 2));
  v1::RaftBatch batch;
  if (options_.cluster_id) batch.set_cluster_id(options_.cluster_id());
  size_t bytes = 0;
  auto flush = [&]() {
    if (batch.messages_size() == 0) return true;
    bool ok = s.writer->Write(batch);
    batch.clear_messages();
    bytes = 0;
    return ok;
  };
  for (raft::Message& m : messages) {
    for (v1::RaftMessage& w : ToWire(m, chunk)) {
      size_t size = w.ByteSizeLong() + 8;  // + field tag and length
      if (size > limit) {
        spdlog::error(
            "transport: dropping {} message of {} bytes to peer {}: over the {} byte "
            "message limit",
            raft::MessageTypeName(m.type), size, id_, limit);
        break;
      }
      if (bytes + size > limit && !flush()) return false;
      *batch.add_messages() = std::move(w);
      bytes += size;
    }
  }
  return flush();
}

void PeerSender::Run() {
  std::mt19937_64 rng(std::random_device{}() ^ id_);
  milliseconds backoff = kInitialBackoff;
  bool reported_down = false;
  Stream s;
  for (;;) {
    std::vector<raft::Message> messages;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      messages.assign(std::make_move_iterator(queue_.begin()),
                      std::make_move_iterator(queue_.end()));
      queue_.clear();
      if (s.writer && address_gen_ != channel_gen_) {
        lk.unlock();
        CloseStream(s, /*cancel=*/true);
      }
    }
    if (!s.writer && !OpenStream(s)) break;
    bool ok = WriteAll(s, messages);
    if (!ok && Clock::now() - s.opened >= kMaxBackoff) {
      // A stream that served for a while may have died while quiet (the peer
      // restarted, or closed an idle connection); the failure is old news, so
      // retry once on a fresh stream before dropping. A batch already written
      // may go twice: Raft messages tolerate duplicates.
      grpc::Status st = CloseStream(s, /*cancel=*/false);
      spdlog::debug("transport: stream to peer {} at {} ended ({}: {}); reopening", id_,
                    channel_address_, static_cast<int>(st.error_code()), st.error_message());
      backoff = kInitialBackoff;
      if (!OpenStream(s)) break;
      ok = WriteAll(s, messages);
    }
    if (ok) {
      // A Write that succeeds only proves the bytes were buffered (a refusing
      // peer fails the stream on its first read); a stream that lasts does.
      if (reported_down && Clock::now() - s.opened >= milliseconds(1000)) {
        uint64_t dropped;
        {
          std::lock_guard lk(mu_);
          dropped = std::exchange(dropped_, 0);
        }
        spdlog::info("transport: peer {} at {} reachable again ({} messages dropped meanwhile)",
                     id_, channel_address_, dropped);
        reported_down = false;
      }
      continue;
    }

    // The stream is broken: learn why, drop what was queued, back off.
    grpc::Status st = CloseStream(s, /*cancel=*/false);
    {
      std::lock_guard lk(mu_);
      if (stopping_) break;  // cancelled by Stop: nothing to report
    }
    std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
    milliseconds delay{jitter(rng)};
    backoff = std::min(backoff * 2, kMaxBackoff);
    if (!reported_down) {
      spdlog::warn("transport: stream to peer {} at {} failed ({}: {}); retrying with backoff", id_,
                   channel_address_, static_cast<int>(st.error_code()), st.error_message());
      reported_down = true;
    } else {
      spdlog::debug("transport: peer {} at {} still unreachable ({}: {}), next try in {} ms", id_,
                    channel_address_, static_cast<int>(st.error_code()), st.error_message(),
                    delay.count());
    }
    std::unique_lock lk(mu_);
    dropped_ += messages.size() + queue_.size();
    queue_.clear();
    if (stopping_) break;
    if (address_gen_ != channel_gen_) continue;  // moved: try the new address at once
    down_until_ = Clock::now() + delay;
    cv_.wait_until(lk, down_until_,
                   [&] { return stopping_ || down_until_ == Clock::time_point{}; });
    if (stopping_) break;
  }
  CloseStream(s, /*cancel=*/true);
}

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions options) : options_(std::move(options)) {}
  ~GrpcTransport() override { Stop(); }

  void Send(std::vector<raft::Message> messages) override {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    for (raft::Message& m : messages) {
      auto it = peers_.find(m.to);
      if (it != peers_.end()) it->second->Enqueue(std::move(m));
    }
  }

  void SetPeer(raft::NodeId id, const std::string& address) override {
    std::lock_guard lk(mu_);
    if (stopped_ || id == options_.self) return;
    auto it = peers_.find(id);
    if (it != peers_.end()) {
      it->second->SetAddress(address);
    } else {
      peers_.emplace(id, std::make_unique<PeerSender>(id, address, options_));
    }
  }

  void RemovePeer(raft::NodeId id) override {
    std::unique_ptr<PeerSender> peer;
    {
      std::lock_guard lk(mu_);
      auto it = peers_.find(id);
      if (it == peers_.end()) return;
      peer = std::move(it->second);
      peers_.erase(it);
    }
    peer->Stop();  // outside mu_: Send must not wait for the join
  }

  std::vector<std::pair<raft::NodeId, std::string>> Peers() const override {
    std::lock_guard lk(mu_);
    std::vector<std::pair<raft::NodeId, std::string>> out;
    for (const auto& [id, peer] : peers_) out.emplace_back(id, peer->address());
    return out;
  }

  void Stop() override {
    std::map<raft::NodeId, std::unique_ptr<PeerSender>> peers;
    {
      std::lock_guard lk(mu_);
      stopped_ = true;
      peers.swap(peers_);
    }
    for (auto& [id, peer] : peers) {  // signal all first, then join: Stop is prompt
      (void)id;
      peer->SignalStop();
    }
    peers.clear();
  }

 private:
  const GrpcTransportOptions options_;
  mutable std::mutex mu_;
  bool stopped_ = false;
  std::map<raft::NodeId, std::unique_ptr<PeerSender>> peers_;
};

}  // namespace

std::unique_ptr<Transport> NewGrpcTransport(GrpcTransportOptions options) {
  return std::make_unique<GrpcTransport>(std::move(options));
}

}  // namespace blixard::transport
