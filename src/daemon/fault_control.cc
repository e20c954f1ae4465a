#include "daemon/fault_control.h"

#include <cstdlib>
#include <string>

#ifdef FIU_ENABLE
#include <fiu-control.h>
#include <fiu.h>
#endif

namespace blixard::daemon {

Status EnableFaultPointsFromEnv() {
  const char* commands = std::getenv("BLIXARD_FAULTS");
  const char* fifo = std::getenv("BLIXARD_FAULTS_FIFO");
  if ((!commands || !*commands) && (!fifo || !*fifo)) return Status::Ok();
#ifdef FIU_ENABLE
  fiu_init(0);
  std::string all = commands ? commands : "";
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find(';', pos);
    if (end == std::string::npos) end = all.size();
    std::string cmd = all.substr(pos, end - pos);
    pos = end + 1;
    if (cmd.find_first_not_of(' ') == std::string::npos) continue;
    char* error = nullptr;
    if (fiu_rc_string(cmd.c_str(), &error) != 0) {
      return Status::InvalidArgument("BLIXARD_FAULTS: cannot apply \"" + cmd + "\": " +
                                     (error ? error : "unknown error"));
    }
  }
  if (fifo && *fifo && fiu_rc_fifo(fifo) != 0) {
    return Status::Internal(std::string("BLIXARD_FAULTS_FIFO: cannot listen on ") + fifo);
  }
  return Status::Ok();
#else
  return Status::FailedPrecondition(
      "BLIXARD_FAULTS/BLIXARD_FAULTS_FIFO set, but this build has no fault points "
      "(configure with -DBLIXARD_FIU=ON)");
#endif
}

}  // namespace blixard::daemon
