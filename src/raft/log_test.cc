// RaftLog and Progress: the building blocks, driven directly.
#include "raft/log.h"

#include <gtest/gtest.h>

#include "raft/progress.h"

namespace blixard::raft {
namespace {

std::vector<Entry> Ents(std::vector<std::pair<Index, Term>> it) {
  std::vector<Entry> out;
  for (auto [i, t] : it) out.push_back(Entry{t, i, EntryType::kNormal, "e" + std::to_string(i)});
  return out;
}

RaftLog Log(std::vector<std::pair<Index, Term>> it, Index snap_index = 0, Term snap_term = 0) {
  auto s = std::make_shared<Snapshot>();
  s->meta.index = snap_index;
  s->meta.term = snap_term;
  return RaftLog(s, Ents(it), 0);
}

TEST(RaftLog, TermLookupAndBounds) {
  RaftLog log = Log({{6, 2}, {7, 3}}, 5, 2);
  EXPECT_EQ(log.first_index(), 6u);
  EXPECT_EQ(log.last_index(), 7u);
  EXPECT_EQ(log.term(5), std::optional<Term>(2));
  EXPECT_EQ(log.term(7), std::optional<Term>(3));
  EXPECT_FALSE(log.term(4).has_value());  // compacted
  EXPECT_FALSE(log.term(8).has_value());  // beyond the end
  EXPECT_TRUE(log.is_up_to_date(7, 3));
  EXPECT_TRUE(log.is_up_to_date(1, 4));
  EXPECT_FALSE(log.is_up_to_date(6, 3));
  EXPECT_FALSE(log.is_up_to_date(100, 2));
  EXPECT_TRUE(log.CheckInvariants().ok());
}

TEST(RaftLog, MaybeAppendRejectsMismatchAndTruncatesConflicts) {
  RaftLog log = Log({{1, 1}, {2, 1}, {3, 2}, {4, 2}});
  bool truncated = false;
  EXPECT_FALSE(log.maybe_append(2, 2, Ents({{3, 3}}), &truncated).has_value());
  // Already-held entries are not truncated (a delayed, shorter append).
  auto r = log.maybe_append(1, 1, Ents({{2, 1}}), &truncated);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2u);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(log.last_index(), 4u);
  // A conflict at 3 drops 3 and 4.
  r = log.maybe_append(2, 1, Ents({{3, 3}}), &truncated);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(truncated);
  EXPECT_EQ(log.last_index(), 3u);
  EXPECT_EQ(log.term(3), std::optional<Term>(3));
  EXPECT_EQ(log.unstable_from(), 3u);
  EXPECT_TRUE(log.CheckInvariants().ok());
}

TEST(RaftLog, FindConflictByTerm) {
  RaftLog log = Log({{1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 4}, {6, 4}});
  EXPECT_EQ(log.find_conflict_by_term(6, 3), std::make_pair(Index{4}, Term{2}));
  EXPECT_EQ(log.find_conflict_by_term(6, 4), std::make_pair(Index{6}, Term{4}));
  EXPECT_EQ(log.find_conflict_by_term(6, 1), std::make_pair(Index{2}, Term{1}));
  EXPECT_EQ(log.find_conflict_by_term(100, 1), std::make_pair(Index{2}, Term{1}));
  EXPECT_EQ(log.find_conflict_by_term(6, 0), std::make_pair(Index{0}, Term{0}));
  RaftLog compacted = Log({{6, 5}}, 5, 3);
  EXPECT_EQ(compacted.find_conflict_by_term(6, 2), std::make_pair(Index{4}, Term{0}));
}

TEST(RaftLog, UnstableCommittedAndApplied) {
  RaftLog log = Log({});
  log.append(Ents({{1, 1}, {2, 1}, {3, 1}}));
  EXPECT_EQ(log.unstable_entries().size(), 3u);
  log.commit_to(2);
  EXPECT_EQ(log.next_committed_entries().size(), 2u);
  log.mark_applying(2);
  EXPECT_FALSE(log.has_next_committed());
  log.stable_to(3, 1);
  EXPECT_FALSE(log.has_unstable());
  log.stable_to(3, 9);  // stale acknowledgement: ignored
  log.applied_to(2);
  EXPECT_EQ(log.applied(), 2u);
  log.commit_to(1);  // never decreases
  EXPECT_EQ(log.committed(), 2u);
  EXPECT_TRUE(log.CheckInvariants().ok());
}

TEST(RaftLog, SliceRespectsSizeButSendsAtLeastOne) {
  RaftLog log = Log({{1, 1}, {2, 1}, {3, 1}});
  EXPECT_EQ(log.slice(1, 4, 0).size(), 1u);
  EXPECT_EQ(log.slice(1, 4, 1 << 20).size(), 3u);
  EXPECT_EQ(log.slice(2, 3, 1 << 20).size(), 1u);
}

TEST(RaftLog, CompactAndRestore) {
  RaftLog log = Log({});
  log.append(Ents({{1, 1}, {2, 1}, {3, 2}}));
  log.stable_to(3, 2);
  log.commit_to(3);
  log.applied_to(2);
  auto s = std::make_shared<Snapshot>();
  s->meta.index = 3;
  s->meta.term = 2;
  EXPECT_FALSE(log.compact(s).ok());  // above applied
  s->meta.index = 2;
  s->meta.term = 1;
  ASSERT_TRUE(log.compact(s).ok());
  EXPECT_EQ(log.first_index(), 3u);
  EXPECT_EQ(log.term(2), std::optional<Term>(1));
  auto r = std::make_shared<Snapshot>();
  r->meta.index = 10;
  r->meta.term = 4;
  log.restore(r);
  EXPECT_EQ(log.last_index(), 10u);
  EXPECT_EQ(log.committed(), 10u);
  EXPECT_EQ(log.unstable_snapshot(), r);
  EXPECT_FALSE(log.has_next_committed());
  EXPECT_TRUE(log.CheckInvariants().ok());
}

TEST(RaftProgress, ProbeReplicateSnapshotTransitions) {
  Progress pr(2);
  pr.next = 10;
  EXPECT_FALSE(pr.is_paused());
  pr.probe_sent = true;
  EXPECT_TRUE(pr.is_paused());
  EXPECT_FALSE(pr.maybe_decr_to(5, 3));  // not the probe we sent (9)
  EXPECT_TRUE(pr.maybe_decr_to(9, 3));
  EXPECT_EQ(pr.next, 4u);
  EXPECT_TRUE(pr.maybe_update(5));
  pr.become_replicate();
  EXPECT_EQ(pr.next, 6u);
  pr.inflights.add(6);
  pr.inflights.add(7);
  EXPECT_TRUE(pr.is_paused());  // window of 2 is full
  pr.inflights.free_le(6);
  EXPECT_FALSE(pr.is_paused());
  EXPECT_FALSE(pr.maybe_decr_to(5, 0));  // stale: already matched
  pr.become_snapshot(20);
  EXPECT_TRUE(pr.is_paused());
  pr.become_probe();
  EXPECT_EQ(pr.next, 21u);
}

}  // namespace
}  // namespace blixard::raft
