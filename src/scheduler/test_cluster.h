// Builds ClusterStates for scheduler and controller tests through Apply, the
// only way the daemon builds them.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "state/cluster_state.h"
#include "state/commands.h"

namespace blixard::scheduler::testing {

class TestCluster {
 public:
  void Apply(const v1::Command& cmd) {
    auto r = st.Apply(cmd, ++index);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString() << " " << cmd.ShortDebugString();
  }
  void AddNode(uint64_t id, uint32_t vcpus, uint64_t memory_mib,
               const std::map<std::string, std::string>& labels = {},
               v1::NodeHealth health = v1::NODE_HEALTH_READY) {
    v1::Node n;
    n.set_id(id);
    n.set_address("127.0.0.1:" + std::to_string(7000 + id));
    n.set_role(v1::NODE_ROLE_VOTER);
    n.set_health(health);
    n.mutable_capacity()->set_vcpus(vcpus);
    n.mutable_capacity()->set_memory_mib(memory_mib);
    for (const auto& [k, v] : labels) (*n.mutable_labels())[k] = v;
    Apply(state::MakeRegisterNode(n, 1));
  }
  v1::VmSpec Spec(const std::string& name, uint32_t vcpus = 1, uint64_t memory_mib = 128) {
    v1::VmSpec spec;
    spec.set_name(name);
    spec.set_vcpus(vcpus);
    spec.set_memory_mib(memory_mib);
    return spec;
  }
  void AddVm(const v1::VmSpec& spec, bool start = true) { Apply(state::MakeCreateVm(spec, start, 1)); }
  void AddVm(const std::string& name, uint32_t vcpus = 1, uint64_t memory_mib = 128) {
    AddVm(Spec(name, vcpus, memory_mib));
  }
  void Place(const std::vector<state::Placement>& p) {
    if (!p.empty()) Apply(state::MakePlaceVms(p, 2));
  }
  const v1::Vm& Vm(const std::string& name) { return *st.FindVm(name); }

  state::ClusterState st;
  uint64_t index = 0;
};

}  // namespace blixard::scheduler::testing
