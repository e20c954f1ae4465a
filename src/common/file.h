// Small whole-file reads and durable replacements.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

#include "common/status.h"

namespace blixard {

// Replaces `path` with `contents`, durably and atomically: writes
// path.tmp with `mode`, fsyncs it, renames it over `path`, fsyncs the
// directory. A crash leaves the old file or the new one, never a mix.
Status WriteFileAtomically(const std::string& path, const std::string& contents, mode_t mode = 0644);

// The whole file; nullopt if it does not exist.
Result<std::optional<std::string>> ReadWholeFile(const std::string& path);

}  // namespace blixard
