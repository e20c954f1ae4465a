#include "daemon/capacity.h"

#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "common/wall_clock.h"
#include "node/node.h"
#include "state/commands.h"
#include "state/validation.h"

namespace blixard::daemon {

using node::Clock;
using node::Node;
namespace {

uint64_t MemTotalMib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib / 1024;
  }
  return 0;
}

uint64_t Reserve(int64_t flag, uint64_t given, uint64_t total, uint64_t percent, uint64_t cap) {
  if (flag >= 0) return static_cast<uint64_t>(flag);
  if (given != 0) return 0;
  return std::min(total * percent / 100, cap);
}

}  // namespace

HostResources ReadHostResources(const std::string& data_dir) {
  HostResources h;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    h.vcpus = static_cast<uint64_t>(CPU_COUNT(&set));
  } else {
    h.vcpus = static_cast<uint64_t>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  }
  h.memory_mib = MemTotalMib();
  struct statvfs fs {};
  if (statvfs(data_dir.c_str(), &fs) == 0) {
    h.disk_mib = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize / (1024 * 1024);
  }
  return h;
}

Result<v1::Node> NodeOffer(const CapacityOptions& o, const HostResources& host) {
  if (!(o.cpu_overcommit >= 1.0 && o.cpu_overcommit <= 100.0)) {
    return Status::InvalidArgument("--cpu-overcommit " + std::to_string(o.cpu_overcommit) +
                                   " is out of range: use 1.0 (none) to 100");
  }
  v1::Node n;
  v1::NodeCapacity* total = n.mutable_host_capacity();
  total->set_vcpus(static_cast<uint32_t>(o.vcpus ? o.vcpus : host.vcpus));
  total->set_memory_mib(o.memory_mib ? o.memory_mib : host.memory_mib);
  total->set_disk_mib(o.disk_mib ? o.disk_mib : host.disk_mib);
  v1::NodeCapacity* reserved = n.mutable_reserved();
  reserved->set_vcpus(static_cast<uint32_t>(Reserve(o.reserve_vcpus, o.vcpus, total->vcpus(), 0, 0)));
  reserved->set_memory_mib(Reserve(o.reserve_memory_mib, o.memory_mib, total->memory_mib(), 10, 2048));
  reserved->set_disk_mib(Reserve(o.reserve_disk_mib, o.disk_mib, total->disk_mib(), 10, 10240));
  if (reserved->vcpus() >= total->vcpus()) {
    return Status::InvalidArgument("--reserve-vcpus " + std::to_string(reserved->vcpus()) +
                                   " leaves no vCPU of " + std::to_string(total->vcpus()) +
                                   " for VMs: reserve fewer, or give --capacity-vcpus");
  }
  if (reserved->memory_mib() >= total->memory_mib()) {
    return Status::InvalidArgument("--reserve-memory " + std::to_string(reserved->memory_mib()) +
                                   " MiB leaves no memory of " + std::to_string(total->memory_mib()) +
                                   " MiB for VMs: reserve less, or give --capacity-memory");
  }
  const uint32_t percent = static_cast<uint32_t>(std::lround(o.cpu_overcommit * 100));
  n.set_cpu_overcommit_percent(percent);
  v1::NodeCapacity* cap = n.mutable_capacity();
  cap->set_vcpus(static_cast<uint32_t>(
      std::min<uint64_t>((total->vcpus() - reserved->vcpus()) * percent / 100, UINT32_MAX)));
  cap->set_memory_mib(total->memory_mib() - reserved->memory_mib());
  cap->set_disk_mib(total->disk_mib() > reserved->disk_mib() ? total->disk_mib() - reserved->disk_mib() : 0);
  for (const std::string& l : o.labels) {
    const size_t eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--label " + l + " is invalid: use KEY=VALUE");
    }
    (*n.mutable_labels())[l.substr(0, eq)] = l.substr(eq + 1);
  }
  if (Status s = state::ValidateLabels(n.labels(), "--label"); !s.ok()) return s;
  return n;
}

bool SameOffer(const v1::Node& r, const v1::Node& o) {
  auto same = [](const v1::NodeCapacity& a, const v1::NodeCapacity& b) {
    return a.vcpus() == b.vcpus() && a.memory_mib() == b.memory_mib() && a.disk_mib() == b.disk_mib();
  };
  if (!same(r.capacity(), o.capacity()) || !same(r.host_capacity(), o.host_capacity()) ||
      !same(r.reserved(), o.reserved()) || r.cpu_overcommit_percent() != o.cpu_overcommit_percent() ||
      r.labels().size() != o.labels().size()) {
    return false;
  }
  for (const auto& [k, v] : o.labels()) {
    auto it = r.labels().find(k);
    if (it == r.labels().end() || it->second != v) return false;
  }
  return true;
}

OfferReporter::OfferReporter(std::string who, Read read, Write write,
                             std::optional<v1::Node> written, std::chrono::milliseconds period)
    : who_(std::move(who)),
      read_(std::move(read)),
      write_(std::move(write)),
      written_(std::move(written)),
      period_(period),
      thread_([this] { Run(); }) {}

OfferReporter::~OfferReporter() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void OfferReporter::Run() {
  std::unique_lock lk(mu_);
  do {
    lk.unlock();
    Result<v1::Node> offer = read_();
    if (!offer.ok()) {
      spdlog::debug("{}: reading its offer failed, retrying: {}", who_, offer.status().message());
    } else if (!written_ || !SameOffer(*written_, *offer)) {
      if (Status s = write_(*offer); s.ok()) {
        spdlog::info("{} now offers {} vCPUs, {} MiB memory, {} MiB disk", who_,
                     offer->capacity().vcpus(), offer->capacity().memory_mib(),
                     offer->capacity().disk_mib());
        written_ = std::move(*offer);
      } else {
        spdlog::debug("{}: reporting its offer failed, retrying: {}", who_, s.message());
      }
    }
    lk.lock();
  } while (!cv_.wait_for(lk, period_, [this] { return stopping_; }));
}

OfferReporter::Write ServerOfferWriter(Node& node) {
  return [&node](const v1::Node& offer) -> Status {
    bool registered = false, same = false;
    node.Read([&](const state::ClusterState& st) {
      if (const v1::Node* n = st.FindNode(node.id())) {
        registered = true;
        same = SameOffer(*n, offer);
      }
    });
    if (!registered) return Status::Unavailable("node " + std::to_string(node.id()) + " has no record yet");
    if (same) return Status::Ok();
    auto r = node.Propose(state::MakeUpdateNode(offer, NowUnixMs()), Clock::now() + std::chrono::seconds(5));
    if (!r.ok()) return r.status();
    return r->status;
  };
}

}  // namespace blixard::daemon
