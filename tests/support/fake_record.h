// The shared record that fake-backend nodes append to (--fake-record FILE:
// "<unix_ms> node-<id> <vm> <event>" lines), and the checks tests make on
// it: when each VM was alive on which node, and whether it was ever alive
// on two nodes at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace blixard::testing {

// The record's clock: wall-clock milliseconds since the Unix epoch.
inline int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct RecordEvent {
  int64_t at = 0;
  uint64_t node = 0;
  std::string vm, what;
};

inline std::vector<RecordEvent> ReadRecord(const std::string& path) {
  std::vector<RecordEvent> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    RecordEvent e;
    std::string host;
    if (!(ls >> e.at >> host >> e.vm >> e.what) || host.rfind("node-", 0) != 0) continue;
    e.node = std::stoull(host.substr(5));
    out.push_back(e);
  }
  return out;
}

// Alive intervals [from, to) per VM and node; `died` ends every interval
// of a node at the time its process was killed (its in-process fake VMs
// went with it). Open intervals end at INT64_MAX.
struct Interval {
  uint64_t node;
  int64_t from, to;
};
inline std::map<std::string, std::vector<Interval>> Intervals(const std::vector<RecordEvent>& events,
                                                       const std::map<uint64_t, int64_t>& died) {
  std::map<std::string, std::vector<Interval>> out;
  std::map<std::pair<std::string, uint64_t>, int64_t> open;
  for (const RecordEvent& e : events) {
    const auto key = std::make_pair(e.vm, e.node);
    if (e.what == "start") {
      open[key] = e.at;
    } else if ((e.what == "stop" || e.what == "kill" || e.what == "crash") && open.count(key)) {
      out[e.vm].push_back({e.node, open[key], e.at});
      open.erase(key);
    }
  }
  for (const auto& [key, from] : open) {
    auto d = died.find(key.second);
    out[key.first].push_back({key.second, from, d == died.end() ? INT64_MAX : d->second});
  }
  return out;
}

// "vm X ran on nodes A and B at once" for every overlap.
inline std::string Overlaps(const std::map<std::string, std::vector<Interval>>& iv) {
  std::string msg;
  for (const auto& [vm, list] : iv) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        const Interval& a = list[i];
        const Interval& b = list[j];
        if (a.node != b.node && a.from < b.to && b.from < a.to) {
          msg += "vm " + vm + " ran on nodes " + std::to_string(a.node) + " [" +
                 std::to_string(a.from) + "," + std::to_string(a.to) + ") and " +
                 std::to_string(b.node) + " [" + std::to_string(b.from) + "," +
                 std::to_string(b.to) + ") at once\n";
        }
      }
    }
  }
  return msg;
}

// The VMs of `moved` that did not start on another node than `from` at or
// after `since` ("" when each did), one line each.
inline std::string NotStartedElsewhere(const std::map<std::string, std::vector<Interval>>& iv,
                                       const std::set<std::string>& moved, uint64_t from, int64_t since) {
  std::string msg;
  for (const std::string& vm : moved) {
    bool elsewhere = false;
    if (auto it = iv.find(vm); it != iv.end()) {
      for (const Interval& i : it->second) elsewhere |= i.node != from && i.from >= since;
    }
    if (!elsewhere) msg += "vm " + vm + " was not started on another node\n";
  }
  return msg;
}

// "vm-0" .. "vm-<n-1>".
inline std::set<std::string> NumberedVms(int n) {
  std::set<std::string> out;
  for (int i = 0; i < n; ++i) out.insert("vm-" + std::to_string(i));
  return out;
}

// The VMs of `vms` that are not alive (an open interval) on exactly one
// node ("" when each is), one line each.
inline std::string NotAliveOnce(const std::map<std::string, std::vector<Interval>>& iv,
                                const std::set<std::string>& vms) {
  std::string msg;
  for (const std::string& vm : vms) {
    int alive = 0;
    if (auto it = iv.find(vm); it != iv.end()) {
      for (const Interval& i : it->second) alive += i.to == INT64_MAX;
    }
    if (alive != 1) msg += "vm " + vm + " is alive on " + std::to_string(alive) + " nodes\n";
  }
  return msg;
}

}  // namespace blixard::testing
