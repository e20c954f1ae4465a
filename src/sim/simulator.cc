#include "sim/simulator.h"

#include <cstdio>
#include <string>
#include <utility>

#include "sim/world.h"

namespace blixard::sim {

std::string SimResult::DigestHex() const {
  char buf[32];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(digest));
  return buf;
}

Result<uint32_t> ParseFaults(const std::string& spec) {
  if (spec == "all") return static_cast<uint32_t>(kFaultAll);
  if (spec == "none" || spec.empty()) return 0u;
  static const std::pair<const char*, uint32_t> kNames[] = {
      {"net", kFaultNet},   {"partition", kFaultPartition}, {"crash", kFaultCrash},       {"pause", kFaultPause},
      {"disk", kFaultDisk}, {"membership", kFaultMembership}, {"transfer", kFaultTransfer}};
  uint32_t out = 0;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = spec.find(',', pos);
    const std::string word = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    bool found = false;
    for (const auto& [name, bit] : kNames) {
      if (word == name) {
        out |= bit;
        found = true;
      }
    }
    if (!found) {
      return Status::InvalidArgument("unknown fault kind '" + word +
                                     "': use all, none, or a comma list of net,partition,crash,pause,disk,"
                                     "membership,transfer");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::string FaultsToString(uint32_t faults) {
  if (faults == kFaultAll) return "all";
  if (faults == 0) return "none";
  static const char* const kNames[] = {"net", "partition", "crash", "pause", "disk", "membership", "transfer"};
  std::string s;
  for (int i = 0; i < 7; ++i) {
    if (faults & (1u << i)) s += (s.empty() ? "" : ",") + std::string(kNames[i]);
  }
  return s;
}

namespace {
constexpr std::pair<InjectedBug, const char*> kBugs[] = {
    {InjectedBug::kAckOnPropose, "ack-on-propose"},   {InjectedBug::kLocalRead, "local-read"},
    {InjectedBug::kLyingDisk, "lying-disk"},          {InjectedBug::kNoFence, "no-fence"},
    {InjectedBug::kNoCapacityRefusal, "no-capacity-refusal"}, {InjectedBug::kNoDrainMoves, "no-drain-moves"},
    {InjectedBug::kNoAntiAffinity, "no-anti-affinity"}, {InjectedBug::kWorkerNoFence, "worker-no-fence"},
    {InjectedBug::kNoVoterPromotion, "no-voter-promotion"}, {InjectedBug::kForwardGivesUp, "forward-gives-up"},
};
}  // namespace

const char* BugName(InjectedBug bug) {
  for (const auto& [b, name] : kBugs) {
    if (b == bug) return name;
  }
  return "none";
}

Result<InjectedBug> ParseBug(const std::string& name) {
  for (const auto& [b, n] : kBugs) {
    if (name == n) return b;
  }
  return Status::InvalidArgument(
      "--inject-bug ack-on-propose|local-read|lying-disk|no-fence|no-capacity-refusal|no-drain-moves|"
      "no-anti-affinity|worker-no-fence (the last five with --vms, the last with --workers)");
}

SimResult RunSimulation(const SimConfig& config) {
  detail::World w(config);
  return w.Run();
}

}  // namespace blixard::sim
