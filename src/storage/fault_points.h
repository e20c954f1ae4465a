// libfiu fault points of the storage, compiled in only with FIU_ENABLE
// (BLIXARD_FIU=ON). Enable them from a test with fiu_enable("storage/sync", …):
//   storage/write   a write (LMDB put, snapshot file write) fails with EIO
//   storage/enospc  the same write fails with ENOSPC
//   storage/sync    a durable commit (LMDB commit, snapshot fsync) fails with EIO
//   storage/short-write  a WAL write stops halfway: the first half reaches the
//                   file, then EIO
#pragma once

#include <cerrno>

#ifdef FIU_ENABLE
#include <fiu.h>
#endif

namespace blixard::storage {

// The errno to fail a write with, or 0.
inline int InjectedWriteError() {
#ifdef FIU_ENABLE
  if (fiu_fail("storage/write")) return EIO;
  if (fiu_fail("storage/enospc")) return ENOSPC;
#endif
  return 0;
}

// Whether this write stops halfway (WAL).
inline bool InjectedShortWrite() {
#ifdef FIU_ENABLE
  if (fiu_fail("storage/short-write")) return true;
#endif
  return false;
}

// The errno to fail a sync with, or 0.
inline int InjectedSyncError() {
#ifdef FIU_ENABLE
  if (fiu_fail("storage/sync")) return EIO;
#endif
  return 0;
}

}  // namespace blixard::storage
