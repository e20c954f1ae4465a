#include "api/assignment_streams.h"

#include <algorithm>

#include "common/thread_name.h"

namespace blixard::api {

using node::Clock;

class AssignmentStreams::Stream final : public grpc::ServerWriteReactor<v1::AssignmentUpdate> {
 public:
  Stream(AssignmentStreams* hub, uint64_t node_id, uint64_t from_version)
      : hub_(hub), node_id(node_id), from_version(from_version), catch_up_until(Clock::now() + kCatchUpWait) {}

  void OnWriteDone(bool ok) override { hub_->WriteDone(this, ok); }
  void OnCancel() override { hub_->Cancelled(this); }
  void OnDone() override {
    hub_->Done(this);
    delete this;
  }

  AssignmentStreams* const hub_;
  const uint64_t node_id;
  const uint64_t from_version;
  const Clock::time_point catch_up_until;
  // Under the hub's mu_. While busy (claimed by the hub's thread, or a write
  // in flight) nobody finishes the stream, so it stays alive.
  bool busy = false;
  bool finishing = false;  // Finish called (or about to be)
  bool cancelled = false;
  std::optional<Clock::time_point> due;  // its entry in the hub's timers_
  // Touched only by whoever holds the stream busy.
  std::optional<state::AssignmentFeed> feed;  // once this server reached from_version
  Clock::time_point last_send{};
  std::optional<grpc::Status> end;  // finish with this instead of writing
  v1::AssignmentUpdate out;         // the message being written
};

AssignmentStreams::AssignmentStreams(node::Node& node) : node_(node) {
  listener_ = node_.AddApplyListener([this](uint64_t) {
    std::lock_guard lk(mu_);
    // No stream to look at (a server with no workers): nothing to wake for.
    // A stream opened later reads the state then (pending_).
    if (streams_.empty()) return;
    applied_moved_ = true;
    cv_.notify_one();
  });
  thread_ = std::thread([this] {
    SetThreadName("assign-streams");
    Run();
  });
}

AssignmentStreams::~AssignmentStreams() {
  node_.RemoveApplyListener(listener_);
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

uint64_t AssignmentStreams::set_reads(uint64_t node_id) const {
  std::lock_guard lk(reads_mu_);
  auto it = set_reads_.find(node_id);
  return it == set_reads_.end() ? 0 : it->second;
}

uint64_t AssignmentStreams::looks(uint64_t node_id) const {
  std::lock_guard lk(reads_mu_);
  auto it = looks_.find(node_id);
  return it == looks_.end() ? 0 : it->second;
}

void AssignmentStreams::SetTimer(Stream* s, std::optional<Clock::time_point> due) {
  if (s->due) timers_.erase({*s->due, s});
  s->due = due;
  if (due) timers_.insert({*due, s});
}

grpc::ServerWriteReactor<v1::AssignmentUpdate>* AssignmentStreams::Open(
    const v1::WatchAssignmentsRequest& req) {
  auto* s = new Stream(this, req.node_id(), req.from_version());
  std::lock_guard lk(mu_);
  streams_.insert(s);
  pending_.push_back(s);
  cv_.notify_one();
  return s;
}

void AssignmentStreams::Run() {
  std::unique_lock lk(mu_);
  while (true) {
    auto woken = [&] {
      return stop_ || applied_moved_ || !pending_.empty() ||
             (!timers_.empty() && timers_.begin()->first <= Clock::now());
    };
    if (!timers_.empty()) {
      cv_.wait_until(lk, timers_.begin()->first, woken);
    } else {
      cv_.wait(lk, woken);
    }
    if (stop_) return;
    std::vector<Stream*> candidates;
    if (applied_moved_) {
      candidates.assign(streams_.begin(), streams_.end());
    } else {
      candidates.swap(pending_);
      const auto now = Clock::now();
      for (auto it = timers_.begin(); it != timers_.end() && it->first <= now; ++it) {
        candidates.push_back(it->second);
      }
    }
    applied_moved_ = false;
    pending_.clear();
    std::vector<Stream*> claimed;
    for (Stream* s : candidates) {
      // A busy stream is looked at again when its write completes; a
      // finishing one never. Either way its timer is done.
      SetTimer(s, std::nullopt);
      if (!s->busy && !s->finishing) {
        s->busy = true;
        claimed.push_back(s);
      }
    }
    lk.unlock();
    Serve(claimed);
    lk.lock();
  }
}

void AssignmentStreams::Serve(const std::vector<Stream*>& claimed) {
  if (claimed.empty()) return;
  // Read before the state: each set is at least this new.
  const uint64_t applied = node_.GetStatus().applied_index;
  const auto now = Clock::now();
  std::vector<bool> write(claimed.size(), false);
  std::vector<std::optional<Clock::time_point>> due(claimed.size());
  {
    std::lock_guard lk(reads_mu_);
    for (Stream* s : claimed) ++looks_[s->node_id];
  }
  for (size_t i = 0; i < claimed.size(); ++i) {
    Stream* s = claimed[i];
    node_.Read([&](const state::ClusterState& st) {
      if (!s->feed) {
        // Never serve a set older than the worker's: it could bring back a
        // VM that has moved away.
        if (st.applied_index() < s->from_version) {
          if (now >= s->catch_up_until) {
            s->end = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                  "this server's state is behind the worker's (version " +
                                      std::to_string(st.applied_index()) + " < " +
                                      std::to_string(s->from_version) + "): try another server");
          }
          return;
        }
        std::optional<state::AssignmentSet> held;
        if (s->from_version > 0) {
          std::lock_guard lk(history_mu_);
          held = history_.At(s->node_id, s->from_version);
        }
        s->feed.emplace(s->node_id, s->from_version, std::move(held));
      }
      const uint64_t reads = s->feed->set_reads();
      if (auto u = s->feed->Next(st, applied, now - s->last_send >= kProgressEvery)) {
        s->out = std::move(*u);
        write[i] = true;
      }
      if (const uint64_t more = s->feed->set_reads() - reads) {
        std::lock_guard lk(reads_mu_);
        set_reads_[s->node_id] += more;
      }
    });
    if (write[i]) {
      s->last_send = now;
      std::lock_guard lk(history_mu_);
      history_.Remember(s->node_id, s->feed->sent_version(), s->feed->shared_sent());
    }
    if (write[i]) continue;  // looked at again when the write completes
    if (!s->feed) {
      if (!s->end) due[i] = now + kProgressEvery / 2;  // a catch-up check
    } else if (s->feed->sent_applied() < applied) {
      due[i] = s->last_send + kProgressEvery;  // progress
    }
  }
  std::vector<Stream*> finish;
  {
    std::lock_guard lk(mu_);
    for (size_t i = 0; i < claimed.size(); ++i) {
      Stream* s = claimed[i];
      if (s->cancelled || s->end) {
        write[i] = false;
        s->busy = false;
        s->finishing = true;
        finish.push_back(s);
      } else if (!write[i]) {
        s->busy = false;
        SetTimer(s, due[i]);
      }
    }
  }
  // Not touched after StartWrite: the write may complete (and the stream
  // end) at once on another thread.
  for (size_t i = 0; i < claimed.size(); ++i) {
    if (write[i]) claimed[i]->StartWrite(&claimed[i]->out);
  }
  for (Stream* s : finish) s->Finish(s->end ? *s->end : grpc::Status::CANCELLED);
}

void AssignmentStreams::WriteDone(Stream* s, bool ok) {
  bool finish = false;
  {
    std::lock_guard lk(mu_);
    s->busy = false;
    if (!ok || s->cancelled) {
      finish = !s->finishing;
      s->finishing = true;
    } else {
      pending_.push_back(s);  // whatever changed while it was written
      cv_.notify_one();
    }
  }
  if (finish) s->Finish(ok ? grpc::Status::CANCELLED : grpc::Status::OK);  // !ok: the worker went away
}

void AssignmentStreams::Cancelled(Stream* s) {
  bool finish = false;
  {
    std::lock_guard lk(mu_);
    s->cancelled = true;
    if (!s->busy && !s->finishing) {
      s->finishing = true;
      finish = true;
    }
  }
  if (finish) s->Finish(grpc::Status::CANCELLED);
}

void AssignmentStreams::Done(Stream* s) {
  std::lock_guard lk(mu_);
  SetTimer(s, std::nullopt);
  streams_.erase(s);
  pending_.erase(std::remove(pending_.begin(), pending_.end(), s), pending_.end());
}

}  // namespace blixard::api
