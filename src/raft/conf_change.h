// Encoding of configuration-change entries. A conf-change entry carries the
// whole resulting configuration (not a delta), so the configuration in force
// at any log position is simply the last conf-change entry at or before it
// (or the snapshot's). Compact binary, standard library only.
#pragma once

#include <string>

#include "common/status.h"
#include "raft/types.h"

namespace blixard::raft {

struct ConfChangeEntry {
  ConfChange change;  // what was asked
  ConfState conf;     // the configuration after it
  bool operator==(const ConfChangeEntry&) const = default;
};

std::string EncodeConfChangeEntry(const ConfChangeEntry& e);
Result<ConfChangeEntry> DecodeConfChangeEntry(const std::string& data);

// The configuration that results from applying `change` to `conf`.
// kFailedPrecondition when the change does not apply (adding a member,
// promoting a non-learner, demoting a non-voter, removing a non-member) or
// would leave no voter; kInvalidArgument for node id 0.
Result<ConfState> ApplyConfChange(const ConfState& conf, const ConfChange& change);

}  // namespace blixard::raft
