#include "mc/model.h"

#include <algorithm>
#include <utility>

namespace blixard::mc {
namespace {

using raft::Entry;
using raft::Message;
using raft::Raft;
using raft::Role;

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t Mix(uint64_t h, uint64_t v) { return SplitMix(h ^ SplitMix(v)); }

uint64_t HashString(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return Mix(h, s.size());
}

uint64_t HashEntry(uint64_t h, const Entry& e) {
  h = Mix(h, e.term);
  h = Mix(h, e.index);
  h = Mix(h, static_cast<uint64_t>(e.type));
  return Mix(h, HashString(e.data));
}

std::string Str(uint64_t v) { return std::to_string(v); }

std::vector<Entry> LogOf(const Raft& r) { return r.entries(r.first_index(), r.last_index() + 1); }

}  // namespace

EntryId IdOf(const Entry& e) {
  return {e.term, Mix(static_cast<uint64_t>(e.type), HashString(e.data))};
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kDeliver: return "deliver";
    case Kind::kDeliverKeep: return "deliver-dup";
    case Kind::kDrop: return "drop";
    case Kind::kTimeout: return "timeout";
    case Kind::kHeartbeat: return "heartbeat";
    case Kind::kPropose: return "propose";
    case Kind::kCrash: return "crash-restart";
    case Kind::kInject: return "inject";
  }
  return "?";
}

uint64_t MessageHash(const Message& m) {
  uint64_t h = Mix(static_cast<uint64_t>(m.type), m.from);
  h = Mix(h, m.to);
  h = Mix(h, m.term);
  h = Mix(h, m.log_term);
  h = Mix(h, m.index);
  h = Mix(h, m.entries.size());
  for (const Entry& e : m.entries) h = HashEntry(h, e);
  h = Mix(h, m.commit);
  h = Mix(h, m.reject ? 1 : 0);
  h = Mix(h, m.reject_hint);
  h = Mix(h, m.reject_term);
  if (m.snapshot) {
    h = Mix(h, m.snapshot->meta.index);
    h = Mix(h, m.snapshot->meta.term);
    h = Mix(h, HashString(m.snapshot->data));
  }
  return Mix(h, HashString(m.context));
}

std::string Describe(const Message& m) {
  std::string s = std::string(raft::MessageTypeName(m.type)) + " " + Str(m.from) + "->" + Str(m.to) +
                  " term=" + Str(m.term);
  switch (m.type) {
    case raft::MessageType::kAppend:
      s += " prev=" + Str(m.index) + "@" + Str(m.log_term) + " entries=[";
      for (size_t i = 0; i < m.entries.size(); ++i) {
        const Entry& e = m.entries[i];
        s += (i ? " " : "") + Str(e.index) + "@" + Str(e.term) + (e.data.empty() ? "" : ":" + e.data);
      }
      s += "] commit=" + Str(m.commit);
      break;
    case raft::MessageType::kPreVote:
    case raft::MessageType::kVote:
      s += " last=" + Str(m.index) + "@" + Str(m.log_term);
      break;
    case raft::MessageType::kHeartbeat:
      s += " commit=" + Str(m.commit);
      break;
    case raft::MessageType::kAppendResp:
      s += " index=" + Str(m.index);
      [[fallthrough]];
    default:
      if (m.reject) s += " reject hint=" + Str(m.reject_hint);
      break;
  }
  return s;
}

Model::Model(ModelConfig config) : cfg_(config) {
  auto snap = std::make_shared<raft::Snapshot>();
  for (NodeId id = 1; id <= kNodes; ++id) snap->meta.conf.voters.push_back(id);
  bootstrap_ = std::move(snap);
}

raft::Config Model::CoreConfig(NodeId id) const {
  raft::Config c;
  c.id = id;
  c.election_tick = cfg_.election_tick;
  c.heartbeat_tick = cfg_.heartbeat_tick;
  c.pre_vote = cfg_.pre_vote;
  c.check_quorum = cfg_.check_quorum;
  c.seed = 42;  // the core mixes its id in
  return c;
}

State Model::Initial() const {
  State s;
  for (NodeId id = 1; id <= kNodes; ++id) {
    auto disk = std::make_shared<Durable>();
    disk->snapshot = bootstrap_;
    s.nodes[id - 1].core = std::make_shared<Raft>(CoreConfig(id), disk->Load());
    s.nodes[id - 1].disk = std::move(disk);
  }
  s.proposals_left = cfg_.proposals;
  s.crashes_left = cfg_.crashes;
  s.drops_left = cfg_.drops;
  s.dups_left = cfg_.dups;
  return s;
}

void Model::AddMessage(State& s, Message m) {
  const uint64_t h = MessageHash(m);
  const auto pos = std::upper_bound(s.net_hash.begin(), s.net_hash.end(), h) - s.net_hash.begin();
  s.net_hash.insert(s.net_hash.begin() + pos, h);
  s.net.insert(s.net.begin() + pos, std::move(m));
}

void Model::RemoveMessage(State& s, size_t i) {
  s.net_hash.erase(s.net_hash.begin() + static_cast<std::ptrdiff_t>(i));
  s.net.erase(s.net.begin() + static_cast<std::ptrdiff_t>(i));
}

size_t Model::FindMessage(const State& s, uint64_t hash) {
  return static_cast<size_t>(std::lower_bound(s.net_hash.begin(), s.net_hash.end(), hash) - s.net_hash.begin());
}

Status Model::Process(State& s, NodeId id, Raft& core, bool send) const {
  NodeState& node = s.nodes[id - 1];
  Status result;
  while (core.has_ready()) {
    raft::Ready rd = core.ready();
    // 1. persist
    if (rd.MustSync()) {
      auto disk = std::make_shared<Durable>(*node.disk);
      disk->Save(rd);
      node.disk = std::move(disk);
    }
    // 2. send
    for (Message& m : rd.messages) {
      if (m.to == id || m.to < 1 || m.to > kNodes) {
        if (result.ok()) result = Status::Internal("node " + Str(id) + " sent " + mc::Describe(m));
        continue;
      }
      if (send) AddMessage(s, std::move(m));
    }
    // 3. apply (no compaction in this model: a snapshot can only be the bootstrap one)
    if (rd.snapshot && rd.snapshot->meta.index != 0 && result.ok()) {
      result = Status::Internal("node " + Str(id) + " got a snapshot though nothing was compacted");
    }
    for (const Entry& e : rd.committed_entries) {
      if (e.index != node.applied.size() + 1 && result.ok()) {
        result = Status::Internal("state machine safety: node " + Str(id) + " applied index " + Str(e.index) +
                                  " after " + Str(node.applied.size()));
      }
      node.applied.push_back(IdOf(e));
    }
    // 4. advance
    core.advance(rd);
  }
  return result;
}

std::vector<Transition> Model::Successors(const State& s) const {
  std::vector<Transition> out;
  for (size_t i = 0; i < s.net.size(); ++i) {
    if (i > 0 && s.net_hash[i] == s.net_hash[i - 1]) continue;  // an identical copy: same successors
    const uint64_t h = s.net_hash[i];
    const NodeId to = s.net[i].to;
    out.push_back({Kind::kDeliver, to, h});
    if (s.dups_left > 0) out.push_back({Kind::kDeliverKeep, to, h});
    if (s.drops_left > 0) out.push_back({Kind::kDrop, to, h});
  }
  for (NodeId id = 1; id <= kNodes; ++id) {
    const bool leader = s.core(id).role() == Role::kLeader;
    if (!leader || cfg_.check_quorum) out.push_back({Kind::kTimeout, id, 0});
    if (leader) out.push_back({Kind::kHeartbeat, id, 0});
    if (leader && s.proposals_left > 0) out.push_back({Kind::kPropose, id, 0});
    if (s.crashes_left > 0) out.push_back({Kind::kCrash, id, 0});
    if (inject) out.push_back({Kind::kInject, id, 0});
  }
  return out;
}

Status Model::Apply(const State& s, const Transition& t, State* out) const {
  *out = s;
  State& n = *out;
  const NodeId id = t.node;
  std::unique_ptr<Raft> core;
  Status st;
  switch (t.kind) {
    case Kind::kDeliver:
    case Kind::kDeliverKeep:
    case Kind::kDrop: {
      const size_t i = FindMessage(n, t.msg);
      if (i >= n.net.size() || n.net_hash[i] != t.msg) return Status::Internal("model: no such message in flight");
      Message m = n.net[i];
      if (t.kind == Kind::kDeliverKeep) {
        --n.dups_left;
      } else {
        RemoveMessage(n, i);
      }
      if (t.kind == Kind::kDrop) {
        --n.drops_left;
        return Observe(n);
      }
      core = s.core(id).Clone();
      (void)core->step(m);  // a stale or misdirected message is the core's to ignore
      st = Process(n, id, *core);
      break;
    }
    case Kind::kTimeout: {
      core = s.core(id).Clone();
      const Role role = core->role();
      const Term term = core->term();
      if (role == Role::kLeader) {
        // §6.2 check quorum: the leader's election timer runs out. What it
        // sends meanwhile is lost (it is cut off), so this is the leader's
        // side of a partition; its heartbeats are modelled by kHeartbeat.
        for (int k = 0; k < cfg_.election_tick && core->role() == Role::kLeader; ++k) {
          core->tick();
          if (Status e = Process(n, id, *core, /*send=*/false); !e.ok() && st.ok()) st = e;
        }
      } else {
        // Tick until the randomized timeout in [election_tick, 2*election_tick) fires.
        for (int k = 0; k < 2 * cfg_.election_tick + 1; ++k) {
          const size_t before = n.net.size();
          core->tick();
          if (Status e = Process(n, id, *core); !e.ok() && st.ok()) st = e;
          if (core->role() != role || core->term() != term || n.net.size() != before) break;
        }
      }
      break;
    }
    case Kind::kHeartbeat:
      core = s.core(id).Clone();
      for (int k = 0; k < cfg_.heartbeat_tick; ++k) {
        core->tick();
        if (Status e = Process(n, id, *core); !e.ok() && st.ok()) st = e;
      }
      break;
    case Kind::kPropose:
      core = s.core(id).Clone();
      --n.proposals_left;
      (void)core->propose("v" + Str(static_cast<uint64_t>(++n.proposed)));  // refused: the client retries elsewhere
      st = Process(n, id, *core);
      break;
    case Kind::kCrash:
      // Everything not on disk is lost: the core's volatile state, unsent
      // messages and the state machine (rebuilt by re-applying the log).
      --n.crashes_left;
      core = std::make_unique<Raft>(CoreConfig(id), n.nodes[id - 1].disk->Load());
      n.nodes[id - 1].applied.clear();
      st = Process(n, id, *core);
      break;
    case Kind::kInject:
      // Not applicable: `n` is left equal to `s`, which the explorer has seen.
      if (!inject || !inject(n, id)) return Status::Ok();
      return Observe(n);
  }
  n.nodes[id - 1].core = std::move(core);
  Status checked = Observe(n);
  return st.ok() ? checked : st;
}

Status Model::Observe(State& s) const {
  std::array<std::vector<Entry>, kNodes> logs;
  for (NodeId id = 1; id <= kNodes; ++id) {
    const Raft& r = s.core(id);
    if (Status e = r.CheckInvariants(); !e.ok()) return Status::Internal("node " + Str(id) + ": " + e.ToString());
    if (r.first_index() != 1) return Status::Internal("node " + Str(id) + ": log compacted without compact()");
    logs[id - 1] = LogOf(r);
    // Election safety (§5.2): at most one leader per term, over the whole path.
    if (r.role() == Role::kLeader) {
      auto [it, added] = s.leaders.emplace(r.term(), id);
      if (!added && it->second != id) {
        return Status::Internal("election safety: nodes " + Str(it->second) + " and " + Str(id) +
                                " both leader of term " + Str(r.term()));
      }
    }
  }
  // Log matching (§5.3): logs agreeing on an entry's term at an index agree
  // on everything up to it.
  for (int a = 0; a < kNodes; ++a) {
    for (int b = a + 1; b < kNodes; ++b) {
      const auto& la = logs[a];
      const auto& lb = logs[b];
      size_t agree = std::min(la.size(), lb.size());
      while (agree > 0 && la[agree - 1].term != lb[agree - 1].term) --agree;
      for (size_t i = 0; i < agree; ++i) {
        if (!(la[i] == lb[i])) {
          return Status::Internal("log matching: nodes " + Str(a + 1) + " and " + Str(b + 1) + " agree on index " +
                                  Str(agree) + " (term " + Str(la[agree - 1].term) + ") but differ at index " +
                                  Str(i + 1));
        }
      }
    }
  }
  // Committed entries: what a node holds below its commit index was
  // committed, and never changes.
  for (NodeId id = 1; id <= kNodes; ++id) {
    const Raft& r = s.core(id);
    const auto& log = logs[id - 1];
    for (Index i = 1; i <= r.commit_index() && i <= log.size(); ++i) {
      const EntryId e = IdOf(log[i - 1]);
      auto [it, added] = s.committed.emplace(i, Committed{e, r.term()});
      if (added) continue;
      if (!(it->second.id == e)) {
        return Status::Internal("committed entry changed: node " + Str(id) + " commits " + Str(i) + "@" +
                                Str(e.term) + " but " + Str(i) + "@" + Str(it->second.id.term) +
                                " was committed before");
      }
      it->second.bound = std::min(it->second.bound, r.term());
    }
  }
  // Leader completeness (§5.4): a leader of a term >= the one an entry was
  // committed in holds it.
  for (NodeId id = 1; id <= kNodes; ++id) {
    const Raft& r = s.core(id);
    if (r.role() != Role::kLeader) continue;
    const auto& log = logs[id - 1];
    for (const auto& [i, c] : s.committed) {
      if (r.term() < c.bound) continue;
      if (i > log.size() || !(IdOf(log[i - 1]) == c.id)) {
        return Status::Internal("leader completeness: node " + Str(id) + " is leader of term " + Str(r.term()) +
                                " without committed entry " + Str(i) + "@" + Str(c.id.term));
      }
    }
  }
  // State machine safety (§5.4.3): every node applies the committed entry at
  // each index, so applied sequences are prefixes of one another.
  for (NodeId id = 1; id <= kNodes; ++id) {
    const auto& applied = s.nodes[id - 1].applied;
    for (size_t i = 0; i < applied.size(); ++i) {
      auto it = s.committed.find(i + 1);
      if (it == s.committed.end() || !(it->second.id == applied[i])) {
        return Status::Internal("state machine safety: node " + Str(id) + " applied " + Str(i + 1) + "@" +
                                Str(applied[i].term) +
                                (it == s.committed.end() ? std::string(", not known committed")
                                                         : ", committed there is " + Str(i + 1) + "@" +
                                                               Str(it->second.id.term) +
                                                               (it->second.id.term == applied[i].term
                                                                    ? " (same term, different data)"
                                                                    : "")));
      }
    }
  }
  return Status::Ok();
}

uint64_t Model::Hash(const State& s) const {
  uint64_t h = 0x6d632d737461746bULL;
  for (const NodeState& n : s.nodes) {
    h = Mix(h, n.core->StateDigest());
    const Durable& d = *n.disk;
    h = Mix(h, d.hard_state.term);
    h = Mix(h, d.hard_state.vote);
    h = Mix(h, d.hard_state.commit);
    h = Mix(h, d.snapshot->meta.index);
    h = Mix(h, d.entries.size());
    for (const Entry& e : d.entries) h = HashEntry(h, e);
    h = Mix(h, n.applied.size());
    for (const EntryId& e : n.applied) h = Mix(Mix(h, e.term), e.hash);
  }
  h = Mix(h, s.net_hash.size());
  for (uint64_t m : s.net_hash) h = Mix(h, m);
  h = Mix(h, static_cast<uint64_t>(s.proposals_left));
  h = Mix(h, static_cast<uint64_t>(s.crashes_left));
  h = Mix(h, static_cast<uint64_t>(s.drops_left));
  h = Mix(h, static_cast<uint64_t>(s.dups_left));
  h = Mix(h, static_cast<uint64_t>(s.proposed));
  for (const auto& [term, leader] : s.leaders) h = Mix(Mix(h, term), leader);
  h = Mix(h, 0xffff);
  for (const auto& [i, c] : s.committed) h = Mix(Mix(Mix(Mix(h, i), c.id.term), c.id.hash), c.bound);
  return h;
}

std::string Model::Describe(const State& s, const Transition& t) const {
  std::string d = KindName(t.kind);
  switch (t.kind) {
    case Kind::kDeliver:
    case Kind::kDeliverKeep:
    case Kind::kDrop: {
      const size_t i = FindMessage(s, t.msg);
      return d + " " + (i < s.net.size() && s.net_hash[i] == t.msg ? mc::Describe(s.net[i]) : "<gone>");
    }
    case Kind::kPropose:
      return d + " v" + Str(static_cast<uint64_t>(s.proposed + 1)) + " on node " + Str(t.node);
    default:
      return d + " node " + Str(t.node);
  }
}

std::string Model::Summary(const State& s) const {
  std::string out;
  for (NodeId id = 1; id <= kNodes; ++id) {
    const Raft& r = s.core(id);
    out += (id > 1 ? " | " : "") + Str(id) + ":" + raft::RoleName(r.role()) + " t" + Str(r.term()) + " last=" +
           Str(r.last_index()) + " commit=" + Str(r.commit_index()) + " applied=" +
           Str(s.nodes[id - 1].applied.size());
  }
  return out + " | in flight " + Str(s.net.size());
}

}  // namespace blixard::mc
