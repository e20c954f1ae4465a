// The client side of the peer transport: one long-lived PeerService.Raft
// callback stream per peer, and a thread per peer that (re)opens it (see
// transport.h).
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "blixard/v1/raft.grpc.pb.h"
#include "common/fault_point.h"
#include "common/thread_name.h"
#include "rpc/channels.h"
#include "transport/convert.h"
#include "transport/transport.h"

namespace blixard::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Reopening a broken stream, and the channel's reconnects under it.
constexpr milliseconds kInitialBackoff{50};
constexpr milliseconds kMaxBackoff{2000};
// Room for the batch envelope and the cluster id around the messages.
constexpr size_t kBatchOverheadBytes = 4096;

class PeerSender;

// One PeerService.Raft call. Created and deleted by its sender's thread
// (deleted only after OnDone); its one write in flight is `batch`.
class Stream final : public grpc::ClientWriteReactor<v1::RaftBatch> {
 public:
  explicit Stream(PeerSender& owner) : owner_(owner) {}
  // Starts the call, holding it open until Release().
  void Open(v1::PeerService::Stub& stub) {
    stub.async()->Raft(&ctx, &ack, this);
    AddHold();
    StartCall();
    opened = Clock::now();
  }
  void Release() { RemoveHold(); }
  void OnWriteDone(bool ok) override;
  void OnDone(const grpc::Status& s) override;

  grpc::ClientContext ctx;
  v1::RaftAck ack;
  v1::RaftBatch batch;
  Clock::time_point opened;

 private:
  PeerSender& owner_;
};

// One peer: a bounded queue and one stream. Writes start on the thread that
// queues (when no write is in flight) or on gRPC's thread that completes the
// previous one, so a batch goes out without a thread hop; the peer's own
// thread only opens and closes streams and backs off after failures.
class PeerSender {
 public:
  PeerSender(raft::NodeId id, std::string address, const GrpcTransportOptions& options)
      : id_(id), options_(options), address_(std::move(address)) {
    thread_ = std::thread([this] {
      SetThreadName("peer-" + std::to_string(id_));
      Run();
    });
  }
  ~PeerSender() { Stop(); }

  // Never blocks on the network; messages over the queue bound, or sent
  // while the peer is backed off, are dropped.
  void Enqueue(std::vector<raft::Message>& messages) {
    Stream* s = nullptr;
    {
      std::lock_guard lk(mu_);
      if (stopping_ || Clock::now() < down_until_) {
        dropped_ += messages.size();
        return;
      }
      for (raft::Message& m : messages) {
        if (queue_.size() >= options_.max_queue || BLIXARD_FAULT("transport/send")) {
          ++dropped_;
        } else {
          queue_.push_back(std::move(m));
        }
      }
      if (!stream_) {
        cv_.notify_one();  // the thread opens one
      } else if (CanWriteLocked() && TakeBatchLocked(stream_->batch)) {
        writing_ = true;
        s = stream_;
      }
    }
    if (s) s->StartWrite(&s->batch);
  }

  void SetAddress(const std::string& address) {
    std::lock_guard lk(mu_);
    if (address == address_) return;
    address_ = address;
    ++address_gen_;
    down_until_ = {};  // the new address deserves a try at once
    cv_.notify_one();  // the thread closes a stream to the old address
  }

  std::string address() const {
    std::lock_guard lk(mu_);
    return address_;
  }

  // Asks the thread to end; it cancels a call in progress.
  void SignalStop() {
    std::lock_guard lk(mu_);
    stopping_ = true;
    cv_.notify_one();
  }

  void Stop() {
    SignalStop();
    if (thread_.joinable()) thread_.join();
  }

  // Stream reactions (gRPC threads, or inline in StartWrite).
  void WriteDone(bool ok);
  void StreamDone(const grpc::Status& s);

 private:
  void Run();
  void OpenStream();
  grpc::Status CloseStream();
  bool CanWriteLocked() const {
    return stream_ && !writing_ && !broken_ && !closing_ && !stopping_ && address_gen_ == channel_gen_;
  }
  // Moves queued messages into `batch` up to the size limit; false if there
  // is nothing to send.
  bool TakeBatchLocked(v1::RaftBatch& batch);

  const raft::NodeId id_;
  const GrpcTransportOptions& options_;  // owned by the transport, outlives us

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string address_;
  uint64_t address_gen_ = 0;
  uint64_t channel_gen_ = ~uint64_t{0};  // the generation stream_ was opened for
  std::deque<raft::Message> queue_;
  std::deque<v1::RaftMessage> wire_;  // chunks of a message partly taken into a batch
  bool stopping_ = false;
  Clock::time_point down_until_;  // Enqueue drops until then (after a failure)
  uint64_t dropped_ = 0;          // since the peer was last reported reachable
  Stream* stream_ = nullptr;
  bool writing_ = false;   // stream_ has a write in flight
  bool broken_ = false;    // a write on stream_ failed
  bool closing_ = false;   // the thread is closing stream_: no new writes
  bool done_ = false;      // stream_'s OnDone ran
  grpc::Status done_status_;
  std::optional<v1::RaftBatch> retry_;  // resent once on the next stream
  bool reported_down_ = false;

  // Sender thread only.
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PeerService::Stub> stub_;
  std::string channel_address_;
  std::thread thread_;
};

void Stream::OnWriteDone(bool ok) { owner_.WriteDone(ok); }
void Stream::OnDone(const grpc::Status& s) { owner_.StreamDone(s); }

bool PeerSender::TakeBatchLocked(v1::RaftBatch& batch) {
  const size_t limit = options_.max_message_bytes > 2 * kBatchOverheadBytes
                           ? options_.max_message_bytes - kBatchOverheadBytes
                           : options_.max_message_bytes / 2;
  const size_t chunk = std::max<size_t>(1, std::min(kSnapshotChunkBytes, limit / 2));
  batch.Clear();
  size_t bytes = 0;
  while (true) {
    if (wire_.empty()) {
      if (queue_.empty()) break;
      raft::Message m = std::move(queue_.front());
      queue_.pop_front();
      const raft::MessageType type = m.type;
      for (v1::RaftMessage& w : ToWire(std::move(m), chunk)) {
        size_t size = w.ByteSizeLong() + 8;  // + field tag and length
        if (size > limit) {
          spdlog::error(
              "transport: dropping {} message of {} bytes to peer {}: over the {} byte "
              "message limit",
              raft::MessageTypeName(type), size, id_, limit);
          wire_.clear();
          break;
        }
        wire_.push_back(std::move(w));
      }
      continue;
    }
    size_t size = wire_.front().ByteSizeLong() + 8;
    if (batch.messages_size() > 0 && bytes + size > limit) break;
    *batch.add_messages() = std::move(wire_.front());
    wire_.pop_front();
    bytes += size;
  }
  if (batch.messages_size() == 0) return false;
  if (options_.cluster_id) batch.set_cluster_id(options_.cluster_id());
  return true;
}

void PeerSender::WriteDone(bool ok) {
  Stream* s = nullptr;
  {
    std::lock_guard lk(mu_);
    writing_ = false;
    if (!ok) {
      // A stream that served for a while may have died while quiet (the
      // peer restarted, or closed an idle connection); the failure is old
      // news, so its batch gets one more try on a fresh stream. A batch
      // already written may go twice: Raft messages tolerate duplicates.
      if (Clock::now() - stream_->opened >= kMaxBackoff) {
        retry_ = std::move(stream_->batch);
      }
      broken_ = true;
      cv_.notify_one();
      return;
    }
    // A write that succeeds only proves the bytes were buffered (a refusing
    // peer fails the stream on its first read); a stream that lasts does.
    if (reported_down_ && Clock::now() - stream_->opened >= std::chrono::milliseconds(1000)) {
      spdlog::info("transport: peer {} at {} reachable again ({} messages dropped meanwhile)", id_,
                   channel_address_, std::exchange(dropped_, 0));
      reported_down_ = false;
    }
    if (CanWriteLocked() && TakeBatchLocked(stream_->batch)) {
      writing_ = true;
      s = stream_;
    } else if (closing_ || stopping_ || address_gen_ != channel_gen_) {
      cv_.notify_one();  // the thread waits for this write before closing the stream
    }
  }
  if (s) s->StartWrite(&s->batch);
}

void PeerSender::StreamDone(const grpc::Status& st) {
  std::lock_guard lk(mu_);
  done_ = true;
  done_status_ = st;
  cv_.notify_one();
}

// Sender thread: opens a stream to the current address and, if a batch is
// ready (one to retry, or queued messages), starts writing it.
void PeerSender::OpenStream() {
  std::string address;
  uint64_t gen;
  {
    std::lock_guard lk(mu_);
    address = address_;
    gen = address_gen_;
  }
  if (gen != channel_gen_ || !channel_) {
    channel_ = rpc::NewChannel(address, rpc::ChannelOptions::RaftStream(
                                            options_.max_message_bytes, kInitialBackoff.count(),
                                            kMaxBackoff.count()));
    stub_ = v1::PeerService::NewStub(channel_);
    channel_address_ = address;
  }
  auto* s = new Stream(*this);
  s->Open(*stub_);
  bool write = false;
  {
    std::lock_guard lk(mu_);
    channel_gen_ = gen;
    stream_ = s;
    writing_ = broken_ = closing_ = done_ = false;
    if (retry_) {
      s->batch = std::move(*retry_);
      retry_.reset();
      write = writing_ = true;
    } else if (CanWriteLocked() && TakeBatchLocked(s->batch)) {
      write = writing_ = true;
    }
  }
  if (write) s->StartWrite(&s->batch);
}

// Sender thread: ends the stream (a write in flight is cancelled) and waits
// for gRPC to let go of it. Returns how the call ended.
grpc::Status PeerSender::CloseStream() {
  Stream* s;
  {
    std::lock_guard lk(mu_);
    s = stream_;
    closing_ = true;  // no new writes from here on
  }
  s->ctx.TryCancel();
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return !writing_; });
  }
  s->Release();
  grpc::Status st;
  {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return done_; });
    st = done_status_;
    stream_ = nullptr;
  }
  delete s;
  return st;
}

void PeerSender::Run() {
  std::mt19937_64 rng(std::random_device{}() ^ id_);
  milliseconds backoff = kInitialBackoff;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] {
        if (stopping_) return true;
        if (!stream_) return !queue_.empty() || retry_.has_value();
        return (broken_ && !writing_) || address_gen_ != channel_gen_;
      });
      if (stopping_) break;
    }
    if (!stream_) {  // only this thread sets it
      OpenStream();
      continue;
    }
    bool moved, retry;
    {
      std::lock_guard lk(mu_);
      moved = address_gen_ != channel_gen_;
      retry = retry_.has_value();
    }
    grpc::Status st = CloseStream();
    if (moved) continue;  // the next messages open a stream to the new address
    if (retry) {
      spdlog::debug("transport: stream to peer {} at {} ended ({}: {}); reopening", id_,
                    channel_address_, static_cast<int>(st.error_code()), st.error_message());
      backoff = kInitialBackoff;
      continue;
    }

    // The stream is broken: drop what was queued, back off.
    std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
    milliseconds delay{jitter(rng)};
    backoff = std::min(backoff * 2, kMaxBackoff);
    std::unique_lock lk(mu_);
    if (stopping_) break;
    if (!reported_down_) {
      spdlog::warn("transport: stream to peer {} at {} failed ({}: {}); retrying with backoff", id_,
                   channel_address_, static_cast<int>(st.error_code()), st.error_message());
      reported_down_ = true;
    } else {
      spdlog::debug("transport: peer {} at {} still unreachable ({}: {}), next try in {} ms", id_,
                    channel_address_, static_cast<int>(st.error_code()), st.error_message(),
                    delay.count());
    }
    dropped_ += queue_.size() + (wire_.empty() ? 0 : 1);
    queue_.clear();
    wire_.clear();
    if (address_gen_ != channel_gen_) continue;  // moved: try the new address at once
    down_until_ = Clock::now() + delay;
    cv_.wait_until(lk, down_until_,
                   [&] { return stopping_ || down_until_ == Clock::time_point{}; });
    if (stopping_) break;
  }
  if (stream_) CloseStream();
}

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions options) : options_(std::move(options)) {}
  ~GrpcTransport() override { Stop(); }

  void Send(std::vector<raft::Message> messages) override {
    // One Enqueue per peer: a Ready's messages to a peer go out as one batch.
    std::map<raft::NodeId, std::vector<raft::Message>> by_peer;
    for (raft::Message& m : messages) by_peer[m.to].push_back(std::move(m));
    std::lock_guard lk(mu_);
    if (stopped_) return;
    for (auto& [to, batch] : by_peer) {
      auto it = peers_.find(to);
      if (it != peers_.end()) it->second->Enqueue(batch);
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
