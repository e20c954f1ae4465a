#include "faults/nemesis.h"

#include <signal.h>

#include <algorithm>
#include <thread>

namespace blixard::faults {
namespace {

std::string Set(const std::vector<int>& ids) {
  std::string s = "{";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "}";
}

std::vector<int> Others(int n, const std::vector<int>& except) {
  std::vector<int> out;
  for (int i = 1; i <= n; ++i) {
    if (std::find(except.begin(), except.end(), i) == except.end()) out.push_back(i);
  }
  return out;
}

}  // namespace

const char* FaultName(FaultKind k) {
  switch (k) {
    case FaultKind::kKill: return "kill";
    case FaultKind::kKillLeader: return "kill-leader";
    case FaultKind::kPauseLeader: return "pause-leader";
    case FaultKind::kPartitionMinority: return "partition";
    case FaultKind::kIsolateLeader: return "isolate-leader";
    case FaultKind::kBridge: return "bridge";
    case FaultKind::kFlap: return "flap";
    case FaultKind::kRestartAll: return "restart-all";
    case FaultKind::kLossyNetwork: return "lossy-network";
    case FaultKind::kDiskFailure: return "disk-failure";
    case FaultKind::kCrashAfterPersist: return "crash-after-persist";
  }
  return "?";
}

std::vector<Fault> PlanSchedule(uint64_t seed, int nodes, int count, milliseconds min_hold,
                                milliseconds max_hold, bool fault_points) {
  std::mt19937_64 rng(seed);
  auto below = [&](uint64_t n) { return static_cast<int>(rng() % n); };
  std::vector<Fault> out;
  std::vector<int> kinds;
  for (int i = 0; i < count; ++i) {
    if (kinds.empty()) {
      for (int k = 0; k < (fault_points ? kAllFaultKinds : kBasicFaultKinds); ++k) kinds.push_back(k);
    }
    const int pick = below(kinds.size());
    Fault f;
    f.kind = static_cast<FaultKind>(kinds[pick]);
    kinds.erase(kinds.begin() + pick);
    f.hold = min_hold + milliseconds(below(static_cast<uint64_t>((max_hold - min_hold).count()) + 1));
    f.seed = rng();
    std::vector<int> all;
    for (int n = 1; n <= nodes; ++n) all.push_back(n);
    std::shuffle(all.begin(), all.end(), rng);
    switch (f.kind) {
      case FaultKind::kKill:
      case FaultKind::kDiskFailure:
        f.nodes = {all[0]};
        break;
      case FaultKind::kPartitionMinority:
        f.nodes.assign(all.begin(), all.begin() + 1 + below(static_cast<uint64_t>((nodes - 1) / 2)));
        std::sort(f.nodes.begin(), f.nodes.end());
        break;
      case FaultKind::kBridge: {
        // A, then the B side, 0, the C side: sides of (n-1)/2 each.
        const int side = (nodes - 1) / 2;
        f.nodes.push_back(all[0]);
        for (int k = 0; k < side; ++k) f.nodes.push_back(all[1 + k]);
        f.nodes.push_back(0);
        for (int k = 0; k < side; ++k) f.nodes.push_back(all[1 + side + k]);
        break;
      }
      case FaultKind::kFlap:
        f.nodes = {std::min(all[0], all[1]), std::max(all[0], all[1])};
        break;
      default:
        break;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string Describe(const Fault& f) {
  std::string s = FaultName(f.kind);
  switch (f.kind) {
    case FaultKind::kKill:
    case FaultKind::kDiskFailure: s += " n" + std::to_string(f.nodes[0]); break;
    case FaultKind::kPartitionMinority: s += " minority " + Set(f.nodes); break;
    case FaultKind::kBridge: {
      auto zero = std::find(f.nodes.begin(), f.nodes.end(), 0);
      s += " n" + std::to_string(f.nodes[0]) + " sees " +
           Set(std::vector<int>(f.nodes.begin() + 1, zero)) + " and " +
           Set(std::vector<int>(zero + 1, f.nodes.end()));
      break;
    }
    case FaultKind::kFlap:
      s += " n" + std::to_string(f.nodes[0]) + "<->n" + std::to_string(f.nodes[1]);
      break;
    default: break;
  }
  char hold[32];
  std::snprintf(hold, sizeof hold, " for %.1f s", static_cast<double>(f.hold.count()) / 1000);
  return s + hold;
}

std::string Nemesis::Apply(const Fault& f) {
  const int n = cluster_.size();
  auto leader = [&] { return cluster_.CurrentLeader(); };
  switch (f.kind) {
    case FaultKind::kKill:
      cluster_.Kill9(f.nodes[0]);
      return "killed n" + std::to_string(f.nodes[0]);
    case FaultKind::kKillLeader: {
      int l = leader();
      if (l == 0) return "no leader to kill";
      cluster_.Kill9(l);
      return "killed leader n" + std::to_string(l);
    }
    case FaultKind::kPauseLeader: {
      int l = leader();
      if (l == 0) return "no leader to pause";
      cluster_.Pause(l);
      return "paused leader n" + std::to_string(l);
    }
    case FaultKind::kPartitionMinority: {
      for (int a : f.nodes) {
        for (int b : Others(n, f.nodes)) lab_.Cut(a, b);
      }
      return "cut " + Set(f.nodes) + " from " + Set(Others(n, f.nodes));
    }
    case FaultKind::kIsolateLeader: {
      int l = leader();
      if (l == 0) return "no leader to isolate";
      for (int b : Others(n, {l})) lab_.Cut(l, b);
      return "isolated leader n" + std::to_string(l);
    }
    case FaultKind::kBridge: {
      auto zero = std::find(f.nodes.begin(), f.nodes.end(), 0);
      for (auto b = f.nodes.begin() + 1; b != zero; ++b) {
        for (auto c = zero + 1; c != f.nodes.end(); ++c) lab_.Cut(*b, *c);
      }
      return "bridge through n" + std::to_string(f.nodes[0]);
    }
    case FaultKind::kFlap:
      lab_.Cut(f.nodes[0], f.nodes[1]);
      return "flapping n" + std::to_string(f.nodes[0]) + "<->n" + std::to_string(f.nodes[1]);
    case FaultKind::kRestartAll:
      cluster_.KillAll();
      return "killed every node";
    case FaultKind::kLossyNetwork: {
      std::string done = "30% of Raft sends dropped on";
      for (int id = 1; id <= n; ++id) {
        if (cluster_.FaultControl(id, "enable_random name=transport/send,probability=0.3")) {
          armed_[id].insert("transport/send");
          done += " n" + std::to_string(id);
        }
      }
      return done;
    }
    case FaultKind::kDiskFailure: {
      const int id = f.nodes[0];
      std::string error;
      if (!cluster_.FaultControl(id, "enable name=storage/sync", &error)) return error;
      armed_[id].insert("storage/sync");
      expected_exit_[id] = 1;
      return "fsync fails on n" + std::to_string(id);
    }
    case FaultKind::kCrashAfterPersist: {
      int l = leader();
      if (l == 0) return "no leader to crash";
      std::string error;
      if (!cluster_.FaultControl(l, "enable name=node/crash-after-persist", &error)) return error;
      armed_[l].insert("node/crash-after-persist");
      expected_exit_[l] = 128 + SIGKILL;
      return "leader n" + std::to_string(l) + " dies after its next persist";
    }
  }
  return "";
}

void Nemesis::Hold(const Fault& f, std::chrono::steady_clock::time_point until) {
  std::mt19937_64 rng(f.seed);
  bool cut = true;
  while (std::chrono::steady_clock::now() < until) {
    auto next = std::chrono::steady_clock::now() + milliseconds(100 + rng() % 500);
    next = std::min(next, until);
    std::this_thread::sleep_until(next);  // the fault's own timing
    if (f.kind == FaultKind::kFlap && std::chrono::steady_clock::now() < until) {
      cut = !cut;
      if (cut) {
        lab_.Cut(f.nodes[0], f.nodes[1]);
      } else {
        lab_.Heal(f.nodes[0], f.nodes[1]);
      }
    }
  }
}

std::string Nemesis::Heal() {
  std::string done;
  // Fault points off on the nodes that still run with them.
  if (!armed_.empty()) done += "fault points off; ";
  for (const auto& [id, points] : armed_) {
    // A node that hit its storage fault is on its way out: let it finish.
    if (points.count("storage/sync") && cluster_.Running(id) &&
        cluster_.LogTail(id, 200).find("storage failure, stopping") != std::string::npos) {
      cluster_.WaitExit(id, milliseconds(60000));
    }
    if (!cluster_.Running(id) || cluster_.Paused(id)) continue;
    for (const std::string& p : points) cluster_.FaultControl(id, "disable name=" + p);
  }
  armed_.clear();
  if (!lab_.cuts().empty()) {
    lab_.HealAll();
    done += "links healed; ";
  }
  for (int id = 1; id <= cluster_.size(); ++id) {
    if (cluster_.Paused(id)) {
      cluster_.Resume(id);
      done += "n" + std::to_string(id) + " continued; ";
    }
  }
  for (int id = 1; id <= cluster_.size(); ++id) {
    if (!cluster_.Running(id)) {
      const int code = cluster_.ExitCode(id);
      auto expected = expected_exit_.find(id);
      if (expected != expected_exit_.end() && expected->second == code) {
        done += "n" + std::to_string(id) + " had stopped (" + std::to_string(code) + ")";
        if (code == 1) {
          const bool said = cluster_.LogTail(id, 200).find("storage failure") != std::string::npos;
          done += said ? " after a storage failure" : " WITHOUT saying why";
          if (!said) unexpected_.push_back("n" + std::to_string(id) + " stopped without a storage failure message");
        }
        done += "; ";
        expected_exit_.erase(id);
      } else if (code != 128 + SIGKILL) {
        unexpected_.push_back("n" + std::to_string(id) + " exited with " + std::to_string(code));
      }
      cluster_.Restart(id);
      done += "n" + std::to_string(id) + " restarted; ";
    }
  }
  if (done.empty()) return "nothing to heal";
  done.resize(done.size() - 2);
  return done;
}

}  // namespace blixard::faults
