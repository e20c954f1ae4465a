// Helpers shared by the storage tests.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "raft/types.h"

namespace blixard::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "blixard-storage-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline raft::Entry MakeEntry(raft::Index index, raft::Term term, std::string data = "") {
  raft::Entry e;
  e.index = index;
  e.term = term;
  e.data = data.empty() ? "cmd-" + std::to_string(index) + "-" + std::to_string(term) : data;
  return e;
}

// Entries first..last, all with `term`.
inline std::vector<raft::Entry> MakeEntries(raft::Index first, raft::Index last, raft::Term term) {
  std::vector<raft::Entry> out;
  for (raft::Index i = first; i <= last; ++i) out.push_back(MakeEntry(i, term));
  return out;
}

inline std::shared_ptr<const raft::Snapshot> MakeSnapshot(raft::Index index, raft::Term term,
                                                          std::string data = "state",
                                                          std::vector<raft::NodeId> voters = {1, 2, 3},
                                                          std::vector<raft::NodeId> learners = {}) {
  auto s = std::make_shared<raft::Snapshot>();
  s->meta.index = index;
  s->meta.term = term;
  s->meta.conf.voters = std::move(voters);
  s->meta.conf.learners = std::move(learners);
  s->data = std::move(data);
  return s;
}

}  // namespace blixard::storage::testing
