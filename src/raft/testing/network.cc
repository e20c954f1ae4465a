#include "raft/testing/network.h"

#include <algorithm>
#include <sstream>

namespace blixard::raft::testing {

void MemDisk::Save(const Ready& rd) {
  if (rd.snapshot) {
    // The snapshot replaces the whole log unless the log holds its last
    // entry (same index and term), as in storage/log_plan.h.
    const SnapshotMeta& meta = rd.snapshot->meta;
    const bool holds = std::any_of(entries.begin(), entries.end(),
                                   [&](const Entry& e) { return e.index == meta.index && e.term == meta.term; });
    if (holds) {
      std::erase_if(entries, [&](const Entry& e) { return e.index <= meta.index; });
    } else {
      entries.clear();
    }
    snapshot = rd.snapshot;
  }
  if (!rd.entries.empty()) {
    // Stored entries are contiguous after the snapshot: truncate by position.
    const Index first = rd.entries.front().index;
    const Index base = snapshot->meta.index + 1;
    if (first >= base && first - base < entries.size()) entries.resize(first - base);
    entries.insert(entries.end(), rd.entries.begin(), rd.entries.end());
  }
  if (rd.hard_state) hard_state = *rd.hard_state;
}

void MemDisk::Compact(std::shared_ptr<const Snapshot> s) {
  snapshot = std::move(s);
  std::erase_if(entries, [&](const Entry& e) { return e.index <= snapshot->meta.index; });
}

PersistentState MemDisk::Load() const { return PersistentState{hard_state, snapshot, entries}; }

void App::Apply(const Entry& e) {
  applied = e.index;
  if (e.data.empty()) return;
  uint64_t f = hash ^ 1469598103934665603ULL;
  for (unsigned char c : e.data) f = (f ^ c) * 1099511628211ULL;
  hash = f;
  if (e.type == EntryType::kNormal) payloads.push_back(e.data);
}

std::string App::Encode() const {
  std::string s = std::to_string(applied) + "\n" + std::to_string(hash) + "\n";
  for (const auto& p : payloads) s += p + "\n";
  return s;
}

App App::Decode(const std::string& s) {
  App a;
  std::istringstream in(s);
  std::string line;
  if (std::getline(in, line)) a.applied = std::stoull(line);
  if (std::getline(in, line)) a.hash = std::stoull(line);
  while (std::getline(in, line)) a.payloads.push_back(line);
  return a;
}

Network::Network(int voters, Config base, uint64_t seed) : base_(base), seed_(seed) {
  auto snap = std::make_shared<Snapshot>();
  for (int i = 1; i <= voters; ++i) snap->meta.conf.voters.push_back(static_cast<NodeId>(i));
  for (int i = 1; i <= voters; ++i) {
    Node n;
    n.disk.snapshot = snap;
    Config c = base_;
    c.id = static_cast<NodeId>(i);
    c.seed = seed_;
    n.raft = std::make_unique<Raft>(c, n.disk.Load());
    nodes_.emplace(c.id, std::move(n));
  }
}

void Network::AddNode(NodeId id) {
  Node n;
  Config c = base_;
  c.id = id;
  c.seed = seed_;
  n.raft = std::make_unique<Raft>(c, n.disk.Load());
  nodes_.emplace(id, std::move(n));
}

std::vector<NodeId> Network::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

void Network::Observe(NodeId id) {
  Node& n = nodes_.at(id);
  if (!check_invariants) return;
  if (Status s = n.raft->CheckInvariants(); !s.ok()) Error("node " + std::to_string(id) + ": " + s.ToString());
  if (n.raft->role() == Role::kLeader) {
    auto [it, added] = leader_of_term_.emplace(n.raft->term(), id);
    if (!added && it->second != id) {
      Error("election safety: two leaders in term " + std::to_string(n.raft->term()));
    }
  }
}

void Network::Process(NodeId id) {
  Node& n = nodes_.at(id);
  if (!n.up) return;
  while (n.raft->has_ready()) {
    Ready rd = n.raft->ready();
    n.disk.Save(rd);
    for (auto& m : rd.messages) {
      if (m.to == id) Error("message to self");
      ++sent_[m.type];
      queue_.push_back(std::move(m));
    }
    if (rd.snapshot) n.app = App::Decode(rd.snapshot->data);
    for (const Entry& e : rd.committed_entries) {
      if (e.index != n.app.applied + 1) Error("node " + std::to_string(id) + " applied out of order");
      auto [it, added] = applied_.emplace(e.index, e);
      if (!added && !(it->second == e)) {
        Error("state machine safety: index " + std::to_string(e.index) + " applied differently");
      }
      n.app.Apply(e);
    }
    for (auto& r : rd.read_states) n.reads.push_back(r);
    n.raft->advance(rd);
  }
  Observe(id);
}

void Network::ProcessAll() {
  for (auto& [id, n] : nodes_) Process(id);
}

bool Network::Blocked(const Message& m) const {
  if (cut_.count({m.from, m.to})) return true;
  auto it = nodes_.find(m.to);
  if (it == nodes_.end() || !it->second.up) return true;
  return drop && drop(m);
}

bool Network::DeliverOne() {
  ProcessAll();
  if (queue_.empty()) return false;
  Message m = std::move(queue_.front());
  queue_.pop_front();
  if (Blocked(m)) return true;
  ++delivered_[m.type];
  (void)nodes_.at(m.to).raft->step(m);
  Process(m.to);
  return true;
}

void Network::DeliverAt(size_t i) {
  i %= queue_.size();
  Message m = std::move(queue_[i]);
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
  if (Blocked(m)) return;
  ++delivered_[m.type];
  (void)nodes_.at(m.to).raft->step(m);
  Process(m.to);
}

void Network::DropAt(size_t i) { queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i % queue_.size())); }

void Network::DuplicateAt(size_t i) { queue_.push_back(queue_[i % queue_.size()]); }

size_t Network::Stabilize(size_t max) {
  size_t n = 0;
  while (n < max && DeliverOne()) ++n;
  return n;
}

void Network::Tick(NodeId id, int n) {
  for (int i = 0; i < n; ++i) {
    if (!nodes_.at(id).up) return;
    nodes_.at(id).raft->tick();
    Process(id);
  }
}

void Network::TickAll(int n) {
  for (int i = 0; i < n; ++i) {
    for (auto& [id, node] : nodes_) {
      if (!node.up) continue;
      node.raft->tick();
      Process(id);
    }
    Stabilize();
  }
}

NodeId Network::Elect(NodeId id) {
  raft(id).campaign();
  Stabilize();
  return Leader();
}

NodeId Network::Leader() const {
  NodeId best = kNoNode;
  Term t = 0;
  for (const auto& [id, n] : nodes_) {
    if (n.up && n.raft->role() == Role::kLeader && n.raft->term() >= t) {
      best = id;
      t = n.raft->term();
    }
  }
  return best;
}

Result<Index> Network::Propose(std::string data) {
  NodeId l = Leader();
  if (l == kNoNode) return Status::Unavailable("no leader");
  auto r = raft(l).propose(std::move(data));
  Process(l);
  return r;
}

void Network::Cut(NodeId a, NodeId b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void Network::Isolate(NodeId id) {
  for (const auto& [other, n] : nodes_) {
    if (other != id) Cut(id, other);
  }
}

void Network::Heal() { cut_.clear(); }

void Network::Crash(NodeId id) {
  Node& n = nodes_.at(id);
  n.up = false;
  std::erase_if(queue_, [&](const Message& m) { return m.to == id || m.from == id; });
}

void Network::Restart(NodeId id) {
  Node& n = nodes_.at(id);
  Config c = base_;
  c.id = id;
  c.seed = seed_ + 1000 * (n.raft->term() + 1);
  n.raft = std::make_unique<Raft>(c, n.disk.Load());
  n.app = App::Decode(n.disk.snapshot->data);
  n.up = true;
  Process(id);
}

Status Network::Compact(NodeId id, Index index) {
  Node& n = nodes_.at(id);
  if (index != n.app.applied) return Status::InvalidArgument("test compacts at the applied index only");
  std::string data = n.app.Encode();
  auto meta = n.raft->compact(index, data);
  if (!meta.ok()) return meta.status();
  n.disk.Compact(std::make_shared<const Snapshot>(Snapshot{*meta, std::move(data)}));
  return Status::Ok();
}

uint64_t Network::sent(MessageType t) const {
  auto it = sent_.find(t);
  return it == sent_.end() ? 0 : it->second;
}

uint64_t Network::delivered(MessageType t) const {
  auto it = delivered_.find(t);
  return it == delivered_.end() ? 0 : it->second;
}

void Network::CheckLogMatching() {
  // Log Matching (§5.3): same index and term => identical up to there.
  std::vector<NodeId> all = ids();
  for (size_t a = 0; a < all.size(); ++a) {
    for (size_t b = a + 1; b < all.size(); ++b) {
      Raft& x = raft(all[a]);
      Raft& y = raft(all[b]);
      const Index lo = std::max(x.first_index(), y.first_index());
      const Index hi = std::min(x.last_index(), y.last_index());
      if (lo > hi) continue;
      auto ex = x.entries(lo, hi + 1);
      auto ey = y.entries(lo, hi + 1);
      bool matched_above = false;
      for (size_t k = ex.size(); k-- > 0;) {
        if (ex[k].term == ey[k].term) matched_above = true;
        if (matched_above && !(ex[k] == ey[k])) {
          Error("log matching violated at index " + std::to_string(ex[k].index));
          return;
        }
      }
    }
  }
}

std::string Network::ErrorText() const {
  std::string s;
  for (const auto& e : errors_) s += e + "\n";
  return s;
}

}  // namespace blixard::raft::testing
