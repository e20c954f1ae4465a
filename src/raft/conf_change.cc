// Binary form of a conf-change entry: little-endian fixed-width integers.
//   u8 version(1) | u8 type | u64 node | u32 len | context bytes |
//   u32 n | n x u64 voters | u32 m | m x u64 learners
#include "raft/conf_change.h"

#include <algorithm>

namespace blixard::raft {
namespace {

constexpr uint8_t kVersion = 1;

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  bool U8(uint8_t* v) {
    if (pos_ + 1 > s_.size()) return false;
    *v = static_cast<uint8_t>(s_[pos_++]);
    return true;
  }
  bool U32(uint32_t* v) { uint64_t x; if (!Fixed(4, &x)) return false; *v = static_cast<uint32_t>(x); return true; }
  bool U64(uint64_t* v) { return Fixed(8, v); }
  bool Bytes(size_t n, std::string* v) {
    if (n > s_.size() - pos_) return false;
    v->assign(s_, pos_, n);
    pos_ += n;
    return true;
  }
  bool Ids(std::vector<NodeId>* ids) {
    uint32_t n;
    if (!U32(&n) || n > (s_.size() - pos_) / 8) return false;
    ids->resize(n);
    for (auto& id : *ids) if (!U64(&id)) return false;
    return true;
  }
  bool AtEnd() const { return pos_ == s_.size(); }

 private:
  bool Fixed(int n, uint64_t* v) {
    if (pos_ + n > s_.size()) return false;
    *v = 0;
    for (int i = 0; i < n; ++i) *v |= static_cast<uint64_t>(static_cast<uint8_t>(s_[pos_ + i])) << (8 * i);
    pos_ += n;
    return true;
  }
  const std::string& s_;
  size_t pos_ = 0;
};

void PutIds(std::string* out, const std::vector<NodeId>& ids) {
  PutU32(out, static_cast<uint32_t>(ids.size()));
  for (NodeId id : ids) PutU64(out, id);
}

void InsertSorted(std::vector<NodeId>* v, NodeId id) {
  v->insert(std::lower_bound(v->begin(), v->end(), id), id);
}
void Erase(std::vector<NodeId>* v, NodeId id) {
  v->erase(std::remove(v->begin(), v->end(), id), v->end());
}

}  // namespace

std::string EncodeConfChangeEntry(const ConfChangeEntry& e) {
  std::string out;
  out.push_back(static_cast<char>(kVersion));
  out.push_back(static_cast<char>(e.change.type));
  PutU64(&out, e.change.node);
  PutU32(&out, static_cast<uint32_t>(e.change.context.size()));
  out += e.change.context;
  PutIds(&out, e.conf.voters);
  PutIds(&out, e.conf.learners);
  return out;
}

Result<ConfChangeEntry> DecodeConfChangeEntry(const std::string& data) {
  Reader r(data);
  ConfChangeEntry e;
  uint8_t version = 0, type = 0;
  uint32_t ctx_len = 0;
  if (!r.U8(&version) || version != kVersion) return Status::Corruption("conf change: bad version");
  if (!r.U8(&type) || type > static_cast<uint8_t>(ConfChangeType::kRemove)) {
    return Status::Corruption("conf change: bad type");
  }
  e.change.type = static_cast<ConfChangeType>(type);
  if (!r.U64(&e.change.node) || !r.U32(&ctx_len) || !r.Bytes(ctx_len, &e.change.context) ||
      !r.Ids(&e.conf.voters) || !r.Ids(&e.conf.learners) || !r.AtEnd()) {
    return Status::Corruption("conf change: truncated or trailing bytes");
  }
  return e;
}

Result<ConfState> ApplyConfChange(const ConfState& conf, const ConfChange& change) {
  if (change.node == kNoNode) return Status::InvalidArgument("conf change: node id 0");
  ConfState next = conf;
  const NodeId id = change.node;
  switch (change.type) {
    case ConfChangeType::kAddLearner:
      if (conf.IsMember(id)) return Status::FailedPrecondition("node is already a member");
      InsertSorted(&next.learners, id);
      break;
    case ConfChangeType::kPromote:
      if (!conf.IsLearner(id)) return Status::FailedPrecondition("only a learner can be promoted");
      Erase(&next.learners, id);
      InsertSorted(&next.voters, id);
      break;
    case ConfChangeType::kDemote:
      if (!conf.IsVoter(id)) return Status::FailedPrecondition("only a voter can be demoted");
      Erase(&next.voters, id);
      InsertSorted(&next.learners, id);
      break;
    case ConfChangeType::kRemove:
      if (!conf.IsMember(id)) return Status::FailedPrecondition("node is not a member");
      Erase(&next.voters, id);
      Erase(&next.learners, id);
      break;
  }
  if (next.voters.empty()) return Status::FailedPrecondition("change would leave no voter");
  return next;
}

}  // namespace blixard::raft
