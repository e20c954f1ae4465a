#include "transport/convert.h"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <utility>

namespace blixard::transport {
namespace {

constexpr uint32_t kMaxMessageType = static_cast<uint32_t>(raft::MessageType::kReadIndexResp);
constexpr uint32_t kMaxEntryType = static_cast<uint32_t>(raft::EntryType::kConfChange);

// Everything but entries and the snapshot.
void HeaderToWire(const raft::Message& m, v1::RaftMessage* w) {
  w->set_type(static_cast<uint32_t>(m.type));
  w->set_from(m.from);
  w->set_to(m.to);
  w->set_term(m.term);
  w->set_log_term(m.log_term);
  w->set_index(m.index);
  w->set_commit(m.commit);
  w->set_reject(m.reject);
  w->set_reject_hint(m.reject_hint);
  w->set_reject_term(m.reject_term);
  w->set_context(m.context);
}

bool HeaderFromWire(const v1::RaftMessage& w, raft::Message* m) {
  if (w.type() > kMaxMessageType) return false;
  m->type = static_cast<raft::MessageType>(w.type());
  m->from = w.from();
  m->to = w.to();
  m->term = w.term();
  m->log_term = w.log_term();
  m->index = w.index();
  m->commit = w.commit();
  m->reject = w.reject();
  m->reject_hint = w.reject_hint();
  m->reject_term = w.reject_term();
  m->context = w.context();
  return true;
}

// Entries is `const std::vector<raft::Entry>` (data copied) or
// `std::vector<raft::Entry>` (data moved out).
template <typename Entries>
void EntriesToWire(Entries& entries, v1::RaftMessage* w) {
  w->mutable_entries()->Reserve(static_cast<int>(entries.size()));
  for (auto& e : entries) {
    v1::RaftEntry* we = w->add_entries();
    we->set_term(e.term);
    we->set_index(e.index);
    we->set_type(static_cast<uint32_t>(e.type));
    if constexpr (std::is_const_v<Entries>) {
      we->set_data(e.data);
    } else {
      we->set_data(std::move(e.data));
    }
  }
}

// Wire is `const v1::RaftMessage` (data copied) or `v1::RaftMessage`
// (data moved out).
template <typename Wire>
bool EntriesFromWire(Wire& w, raft::Message* m) {
  m->entries.reserve(static_cast<size_t>(w.entries_size()));
  for (int i = 0; i < w.entries_size(); ++i) {
    const v1::RaftEntry& we = w.entries(i);
    if (we.type() > kMaxEntryType) return false;
    raft::Entry& e = m->entries.emplace_back();
    e.term = we.term();
    e.index = we.index();
    e.type = static_cast<raft::EntryType>(we.type());
    if constexpr (std::is_const_v<Wire>) {
      e.data = we.data();
    } else {
      e.data = std::move(*w.mutable_entries(i)->mutable_data());
    }
  }
  return true;
}

void MetaToWire(const raft::SnapshotMeta& meta, v1::RaftSnapshotMeta* w) {
  w->set_index(meta.index);
  w->set_term(meta.term);
  w->mutable_conf()->mutable_voters()->Add(meta.conf.voters.begin(), meta.conf.voters.end());
  w->mutable_conf()->mutable_learners()->Add(meta.conf.learners.begin(), meta.conf.learners.end());
}

raft::SnapshotMeta MetaFromWire(const v1::RaftSnapshotMeta& w) {
  raft::SnapshotMeta meta;
  meta.index = w.index();
  meta.term = w.term();
  meta.conf.voters.assign(w.conf().voters().begin(), w.conf().voters().end());
  meta.conf.learners.assign(w.conf().learners().begin(), w.conf().learners().end());
  return meta;
}

}  // namespace

std::vector<v1::RaftMessage> ToWire(const raft::Message& m, size_t chunk_bytes) {
  std::vector<v1::RaftMessage> out;
  if (m.type != raft::MessageType::kSnapshot) {
    v1::RaftMessage& w = out.emplace_back();
    HeaderToWire(m, &w);
    EntriesToWire(m.entries, &w);
    return out;
  }
  static const raft::Snapshot kEmpty;
  const raft::Snapshot& snap = m.snapshot ? *m.snapshot : kEmpty;
  const std::string& data = snap.data;
  v1::RaftMessage header;
  HeaderToWire(m, &header);
  EntriesToWire(m.entries, &header);  // normally none
  MetaToWire(snap.meta, header.mutable_snapshot_meta());
  header.set_snapshot_total_bytes(data.size());
  size_t offset = 0;
  do {
    size_t len = std::min(chunk_bytes, data.size() - offset);
    v1::RaftMessage& w = out.emplace_back(header);
    w.set_snapshot_offset(offset);
    w.set_snapshot_chunk(data.substr(offset, len));
    offset += len;
  } while (offset < data.size());
  return out;
}

std::optional<raft::Message> FromWire(const v1::RaftMessage& w) {
  raft::Message m;
  if (!HeaderFromWire(w, &m) || !EntriesFromWire(w, &m)) return std::nullopt;
  return m;
}

std::optional<raft::Message> FromWire(v1::RaftMessage&& w) {
  raft::Message m;
  if (!HeaderFromWire(w, &m) || !EntriesFromWire(w, &m)) return std::nullopt;
  return m;
}

std::vector<v1::RaftMessage> ToWire(raft::Message&& m, size_t chunk_bytes) {
  if (m.type == raft::MessageType::kSnapshot) return ToWire(std::as_const(m), chunk_bytes);
  std::vector<v1::RaftMessage> out;
  v1::RaftMessage& w = out.emplace_back();
  HeaderToWire(m, &w);
  EntriesToWire(m.entries, &w);
  return out;
}

std::optional<raft::Message> SnapshotAssembler::Add(const v1::RaftMessage& chunk) {
  const raft::NodeId from = chunk.from();
  const uint64_t total = chunk.snapshot_total_bytes();
  const uint64_t offset = chunk.snapshot_offset();
  const std::string& bytes = chunk.snapshot_chunk();
  const raft::Index index = chunk.snapshot_meta().index();
  const raft::Term term = chunk.snapshot_meta().term();

  auto it = partial_.find(from);
  bool continues = it != partial_.end() && it->second.index == index && it->second.term == term &&
                   it->second.total == total && it->second.data.size() == offset;
  if (!continues) {
    if (it != partial_.end()) partial_.erase(it);
    if (offset != 0 || total > max_bytes_ || partial_.size() >= kMaxSenders) return std::nullopt;
    // Nothing reserved ahead of the bytes: the string grows as they arrive.
    it = partial_.emplace(from, Partial{index, term, total, {}}).first;
  }
  Partial& p = it->second;
  if (bytes.size() > p.total - p.data.size()) {  // overruns the announced size
    partial_.erase(it);
    return std::nullopt;
  }
  p.data.append(bytes);
  if (p.data.size() < p.total) return std::nullopt;

  raft::Message m;
  if (!HeaderFromWire(chunk, &m) || !EntriesFromWire(chunk, &m)) {
    partial_.erase(it);
    return std::nullopt;
  }
  auto snap = std::make_shared<raft::Snapshot>();
  snap->meta = MetaFromWire(chunk.snapshot_meta());
  snap->data = std::move(p.data);
  m.snapshot = std::move(snap);
  partial_.erase(it);
  return m;
}

}  // namespace blixard::transport
