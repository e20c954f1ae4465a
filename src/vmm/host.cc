#include "vmm/host.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace blixard::vmm {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Value of the first "key<spaces>: value" line.
std::string FirstField(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name != key) continue;
    std::string value = line.substr(colon + 1);
    auto start = value.find_first_not_of(" \t");
    return start == std::string::npos ? "" : value.substr(start);
  }
  return "";
}

}  // namespace

uint64_t ParseCpuinfoTscKhz(const std::string& cpuinfo) {
  std::string mhz = FirstField(cpuinfo, "cpu MHz");
  if (mhz.empty()) return 0;
  try {
    double v = std::stod(mhz);
    return v > 0 ? static_cast<uint64_t>(std::llround(v * 1000.0)) : 0;
  } catch (...) {
    return 0;
  }
}

bool CpuinfoHasVirtualization(const std::string& cpuinfo) {
  std::istringstream flags(" " + FirstField(cpuinfo, "flags") + " ");
  std::string flag;
  while (flags >> flag) {
    if (flag == "vmx" || flag == "svm") return true;
  }
  return false;
}

uint64_t HostTscKhz() { return ParseCpuinfoTscKhz(ReadFile("/proc/cpuinfo")); }

bool KvmUsable(std::string* why) {
  auto no = [why](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return no("/dev/kvm does not open");
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) {
    close(fd);
    return no("/dev/kvm has API version " + std::to_string(version));
  }
  int vm = ioctl(fd, KVM_CREATE_VM, 0);
  if (vm < 0) {
    close(fd);
    return no("KVM_CREATE_VM failed");
  }
  close(vm);
  close(fd);
  if (!CpuinfoHasVirtualization(ReadFile("/proc/cpuinfo"))) {
    return no("/dev/kvm works but the CPU has no vmx/svm (e.g. kvm_pvm); unmodified kernels do not boot there");
  }
  if (why) *why = "KVM works";
  return true;
}

Accel ResolveAccel(Accel requested, std::string* why) {
  if (requested != Accel::kAuto) {
    if (why) *why = std::string("accel ") + AccelName(requested) + " requested";
    return requested;
  }
  return KvmUsable(why) ? Accel::kKvm : Accel::kTcg;
}

}  // namespace blixard::vmm
