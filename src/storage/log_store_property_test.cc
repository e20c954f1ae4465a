// Random sequences of writes against a plain model of the contract: every
// store must answer every call as the model does and Load() what it holds,
// across restarts of the on-disk stores (LMDB, and the WAL with segments
// small enough that writes often start a new one).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <ostream>

#include "storage/log_store.h"
#include "storage/mem_log_store.h"
#include "storage/test_util.h"
#include "storage/wal_log_store.h"

namespace blixard::storage {
namespace {

using testing::TempDir;

// The contract of log_store.h, written the obvious way (independently of
// log_plan.cc, which both stores share).
struct Model {
  raft::HardState hard_state;
  raft::Snapshot snapshot;
  std::map<raft::Index, raft::Entry> log;
  std::map<std::string, std::string> meta;

  raft::Index LastIndex() const { return log.empty() ? snapshot.meta.index : log.rbegin()->first; }
  std::optional<raft::Term> TermAt(raft::Index i) const {
    if (i == snapshot.meta.index) return snapshot.meta.term;
    auto it = log.find(i);
    if (it == log.end()) return std::nullopt;
    return it->second.term;
  }
  raft::Term MaxTerm() const {
    raft::Term t = std::max(hard_state.term, snapshot.meta.term);
    return log.empty() ? t : std::max(t, log.rbegin()->second.term);
  }

  StatusCode Save(const std::optional<raft::HardState>& hs, const std::vector<raft::Entry>& entries,
                  const std::shared_ptr<const raft::Snapshot>& snap) {
    Model next = *this;
    if (snap) {
      if (snap->meta.index < snapshot.meta.index) return StatusCode::kFailedPrecondition;
      if (TermAt(snap->meta.index) == snap->meta.term) {
        next.log.erase(next.log.begin(), next.log.upper_bound(snap->meta.index));
      } else {
        next.log.clear();
      }
      next.snapshot = *snap;
    }
    for (size_t k = 0; k < entries.size(); ++k) {
      const raft::Entry& e = entries[k];
      if (e.index == 0) return StatusCode::kInvalidArgument;
      if (k > 0 && (e.index != entries[k - 1].index + 1 || e.term < entries[k - 1].term)) {
        return StatusCode::kInvalidArgument;
      }
    }
    bool first = true;
    for (const raft::Entry& e : entries) {
      if (e.index <= next.snapshot.meta.index) continue;
      if (first) {
        if (e.index > next.LastIndex() + 1) return StatusCode::kInvalidArgument;
        if (e.term < *next.TermAt(e.index - 1)) return StatusCode::kInvalidArgument;
        next.log.erase(next.log.lower_bound(e.index), next.log.end());
        first = false;
      }
      next.log[e.index] = e;
    }
    if (hs) next.hard_state = *hs;
    *this = std::move(next);
    return StatusCode::kOk;
  }

  StatusCode Compact(const raft::Snapshot& snap) {
    if (snap.meta.index < snapshot.meta.index || snap.meta.index > LastIndex()) {
      return StatusCode::kFailedPrecondition;
    }
    if (TermAt(snap.meta.index) != snap.meta.term) return StatusCode::kInvalidArgument;
    log.erase(log.begin(), log.upper_bound(snap.meta.index));
    snapshot = snap;
    return StatusCode::kOk;
  }
};

// One step of a run. The raw numbers are turned into a call that makes sense
// for the model's state at that moment (mostly valid, sometimes not).
struct Op {
  enum Kind { kAppend, kConflict, kGap, kInstall, kCompact, kHardState, kMeta, kRestart, kCount };
  int kind = 0;
  uint32_t a = 0, b = 0, c = 0;
};

std::ostream& operator<<(std::ostream& os, const Op& op) {
  static const char* names[] = {"append", "conflict", "gap",  "install",
                                "compact", "hard_state", "meta", "restart"};
  return os << names[op.kind] << "(" << op.a << "," << op.b << "," << op.c << ")";
}

void showValue(const Op& op, std::ostream& os) { os << op; }

rc::Gen<Op> GenOp() {
  return rc::gen::build<Op>(rc::gen::set(&Op::kind, rc::gen::inRange<int>(0, Op::kCount)),
                            rc::gen::set(&Op::a, rc::gen::inRange<uint32_t>(0, 1000)),
                            rc::gen::set(&Op::b, rc::gen::inRange<uint32_t>(0, 1000)),
                            rc::gen::set(&Op::c, rc::gen::inRange<uint32_t>(0, 1000)));
}

std::vector<raft::Entry> Entries(raft::Index first, size_t n, raft::Term term, uint32_t salt) {
  std::vector<raft::Entry> out;
  for (size_t k = 0; k < n; ++k) {
    raft::Entry e = testing::MakeEntry(first + k, term, "d" + std::to_string(salt + k));
    if ((salt + k) % 5 == 0) e.type = raft::EntryType::kConfChange;
    if ((salt + k) % 7 == 0) e.data.clear();
    out.push_back(std::move(e));
  }
  return out;
}

void AssertSameAsModel(LogStore* store, const Model& m, const char* which) {
  Result<raft::PersistentState> ps = store->Load();
  RC_ASSERT(ps.ok());
  RC_ASSERT(ps->hard_state == m.hard_state);
  RC_ASSERT(ps->snapshot != nullptr);
  RC_ASSERT(*ps->snapshot == m.snapshot);
  std::vector<raft::Entry> want;
  for (const auto& [i, e] : m.log) want.push_back(e);
  if (ps->entries != want) RC_FAIL(std::string(which) + ": entries differ from the model");
  for (const auto& [k, v] : m.meta) RC_ASSERT(store->GetMeta(k)->value_or("") == v);
}

RC_GTEST_PROP(LogStoreProperty, BothStoresBehaveLikeTheModel, ()) {
  const auto ops = *rc::gen::container<std::vector<Op>>(GenOp());
  TempDir dir, wal_dir;
  std::unique_ptr<LogStore> lmdb, wal;
  auto reopen = [&] {
    lmdb.reset();
    Result<std::unique_ptr<LogStore>> r = OpenLmdbLogStore(dir.path());
    RC_ASSERT(r.ok());
    lmdb = std::move(*r);
    wal.reset();
    Result<std::unique_ptr<LogStore>> w = OpenWalLogStore(wal_dir.path(), {.segment_bytes = 512});
    RC_ASSERT(w.ok());
    wal = std::move(*w);
  };
  reopen();
  MemLogStore mem;
  Model m;
  uint32_t salt = 0;

  for (const Op& op : ops) {
    salt += 100;
    const raft::Index snap = m.snapshot.meta.index;
    const raft::Index last = m.LastIndex();
    const raft::Term term = m.MaxTerm() + (op.c % 3 == 0 ? 1 : 0);
    StatusCode want = StatusCode::kOk;
    auto both = [&](const std::function<Status(LogStore*)>& call) {
      Status a = call(lmdb.get());
      Status b = call(&mem);
      Status c = call(wal.get());
      RC_ASSERT(a.code() == want);
      RC_ASSERT(b.code() == want);
      RC_ASSERT(c.code() == want);
    };
    switch (op.kind) {
      case Op::kAppend:
      case Op::kConflict:
      case Op::kGap: {
        // Start anywhere from a little below the snapshot (covered entries
        // are skipped) to just past the end, or past that (a gap).
        raft::Index lo = snap > 2 ? snap - 2 : 1;
        raft::Index first = lo + op.a % (last + 2 - lo);
        if (op.kind == Op::kAppend) first = last + 1;
        if (op.kind == Op::kGap) first = last + 2 + op.a % 3;
        auto entries = Entries(first, 1 + op.b % 4, term, salt);
        std::optional<raft::HardState> hs;
        if (op.c % 2 == 0) hs = raft::HardState{.term = term, .vote = op.b % 3, .commit = snap};
        want = m.Save(hs, entries, nullptr);
        both([&](LogStore* s) { return s->Save(hs, entries, nullptr); });
        break;
      }
      case Op::kInstall: {
        raft::Index index = snap + op.a % (last - snap + 4);
        if (op.c % 11 == 0 && snap > 0) index = snap - 1;  // stale: refused
        // Half the time the snapshot matches the log's entry at its index.
        raft::Term t = (op.b % 2 == 0 && m.TermAt(index)) ? *m.TermAt(index) : term;
        auto s = testing::MakeSnapshot(index, t, "image-" + std::to_string(salt),
                                       {1, 2 + op.b % 3}, op.c % 2 ? std::vector<raft::NodeId>{9}
                                                                   : std::vector<raft::NodeId>{});
        std::vector<raft::Entry> entries;
        if (op.c % 4 == 1) entries = Entries(index + 1 - op.b % 2, 1 + op.a % 3, t, salt);
        want = m.Save(std::nullopt, entries, s);
        both([&](LogStore* st) { return st->Save(std::nullopt, entries, s); });
        break;
      }
      case Op::kCompact: {
        raft::Index index = snap + op.a % (last - snap + 2);  // sometimes past the end
        raft::Term t = m.TermAt(index).value_or(term);
        if (op.c % 9 == 0) ++t;  // wrong term: refused
        auto s = testing::MakeSnapshot(index, t, "compact-" + std::to_string(salt));
        want = m.Compact(*s);
        both([&](LogStore* st) { return st->Compact(*s); });
        break;
      }
      case Op::kHardState: {
        raft::HardState hs{.term = term, .vote = op.a % 4, .commit = std::min<raft::Index>(last, op.b)};
        want = m.Save(hs, {}, nullptr);
        both([&](LogStore* s) { return s->Save(hs, {}, nullptr); });
        break;
      }
      case Op::kMeta: {
        std::string key = "k" + std::to_string(op.a % 3);
        std::string value = "v" + std::to_string(op.b);
        m.meta[key] = value;
        both([&](LogStore* s) { return s->PutMeta(key, value); });
        break;
      }
      case Op::kRestart:
        reopen();
        break;
    }
    AssertSameAsModel(lmdb.get(), m, "lmdb");
    AssertSameAsModel(&mem, m, "mem");
    AssertSameAsModel(wal.get(), m, "wal");
  }
}

}  // namespace
}  // namespace blixard::storage
