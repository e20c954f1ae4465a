// rapidcheck generators for VM specs, nodes and state-machine commands, valid
// and invalid mixed, for property tests and the simulator's workloads.
//
// Names and node ids come from small pools so that random commands collide
// (a VM created twice, deleted, placed on a node that was just removed, ...);
// fully random names would almost never hit an existing record.
//
// Link target: blixard_state_testing (header only; brings in rapidcheck).
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "blixard/v1/state.pb.h"
#include "state/validation.h"

// rapidcheck prints counterexamples through showValue, found by ADL.
namespace blixard::v1 {
inline void showValue(const VmSpec& v, std::ostream& os) { os << v.ShortDebugString(); }
inline void showValue(const Node& v, std::ostream& os) { os << v.ShortDebugString(); }
inline void showValue(const Command& v, std::ostream& os) { os << v.ShortDebugString(); }
}  // namespace blixard::v1

namespace blixard::state::testing {

struct GenOptions {
  int vm_name_pool = 8;      // names vm-0 .. vm-{pool-1}
  int node_id_pool = 4;      // node ids 1 .. pool
  int invalid_percent = 15;  // share of deliberately invalid inputs
};

// A random valid DNS label of 1-63 chars.
inline rc::Gen<std::string> GenValidVmName() {
  static const std::string kEdge = "abcdefghijklmnopqrstuvwxyz0123456789";
  static const std::string kInner = kEdge + "-";
  return rc::gen::exec([] {
    const int len = *rc::gen::inRange(1, 64);
    std::string name(1, *rc::gen::elementOf(kEdge));
    if (len >= 2) {
      name += *rc::gen::container<std::string>(static_cast<size_t>(len - 2),
                                               rc::gen::elementOf(kInner));
      name += *rc::gen::elementOf(kEdge);
    }
    return name;
  });
}

// A name from the pool vm-0 .. vm-{pool-1}.
inline rc::Gen<std::string> GenPooledVmName(const GenOptions& opt = {}) {
  return rc::gen::map(rc::gen::inRange(0, opt.vm_name_pool),
                      [](int i) { return "vm-" + std::to_string(i); });
}

// Always rejected by ValidateVmName.
inline rc::Gen<std::string> GenInvalidVmName() {
  return rc::gen::elementOf(std::vector<std::string>{"", "Web_1", "-web", "web-", "web.1", "UPPER",
                                                     "with space", std::string(64, 'a'),
                                                     "caf\xc3\xa9"});
}

// Pooled names mostly, sometimes an invalid one.
inline rc::Gen<std::string> GenVmNameMix(const GenOptions& opt = {}) {
  return rc::gen::weightedOneOf<std::string>(
      {{static_cast<size_t>(100 - opt.invalid_percent), GenPooledVmName(opt)},
       {static_cast<size_t>(opt.invalid_percent), GenInvalidVmName()}});
}

inline rc::Gen<std::pair<std::string, std::string>> GenValidLabel() {
  return rc::gen::pair(
      rc::gen::elementOf(
          std::vector<std::string>{"app", "tier", "zone", "example.com/team", "Env_1"}),
      rc::gen::elementOf(std::vector<std::string>{"", "web", "db", "eu-west-1", "a b c"}));
}

// A spec that ValidateVmSpec accepts, named by `names`.
inline rc::Gen<v1::VmSpec> GenValidVmSpec(rc::Gen<std::string> names = GenValidVmName()) {
  return rc::gen::exec([names] {
    v1::VmSpec spec;
    spec.set_name(*names);
    spec.set_vcpus(*rc::gen::weightedOneOf<uint32_t>(
        {{8, rc::gen::inRange<uint32_t>(kMinVcpus, 9)},
         {1, rc::gen::inRange<uint32_t>(kMinVcpus, kMaxVcpus + 1)}}));
    spec.set_memory_mib(*rc::gen::weightedOneOf<uint64_t>(
        {{8, rc::gen::elementOf(std::vector<uint64_t>{16, 128, 256, 512, 1024, 4096})},
         {1, rc::gen::inRange<uint64_t>(kMinMemoryMib, kMaxMemoryMib + 1)}}));
    spec.set_kernel(*rc::gen::elementOf(std::vector<std::string>{"", "/boot/vmlinuz"}));
    spec.set_initrd(*rc::gen::elementOf(std::vector<std::string>{"", "/boot/initrd.img"}));
    spec.set_cmdline(*rc::gen::elementOf(std::vector<std::string>{"", "console=ttyS0 quiet"}));
    const auto labels = *rc::gen::container<std::vector<std::pair<std::string, std::string>>>(
        static_cast<size_t>(*rc::gen::inRange(0, 4)), GenValidLabel());
    for (const auto& [k, v] : labels) (*spec.mutable_labels())[k] = v;
    if (*rc::gen::inRange(0, 4) == 0) spec.add_disks("/var/lib/blixard/" + spec.name() + ".img");
    spec.set_restart_policy(*rc::gen::elementOf(
        std::vector<v1::RestartPolicy>{v1::RESTART_POLICY_UNSPECIFIED, v1::RESTART_POLICY_NEVER,
                                       v1::RESTART_POLICY_ON_FAILURE, v1::RESTART_POLICY_ALWAYS}));
    return spec;
  });
}

// A spec that ValidateVmSpec rejects: a valid one with one field broken.
inline rc::Gen<v1::VmSpec> GenInvalidVmSpec(rc::Gen<std::string> names = GenValidVmName()) {
  return rc::gen::exec([names] {
    v1::VmSpec spec = *GenValidVmSpec(names);
    switch (*rc::gen::inRange(0, 10)) {
      case 0:
        spec.set_name(*GenInvalidVmName());
        break;
      case 1:
        spec.set_vcpus(*rc::gen::elementOf(std::vector<uint32_t>{0, 256, 100000}));
        break;
      case 2:
        spec.set_memory_mib(
            *rc::gen::elementOf(std::vector<uint64_t>{0, 8, 15, kMaxMemoryMib + 1}));
        break;
      case 3:
        spec.set_kernel(std::string(kMaxPathLength + 1, 'k'));
        break;
      case 4:
        spec.set_cmdline(std::string(kMaxCmdlineLength + 1, 'c'));
        break;
      case 5:
        (*spec.mutable_labels())["bad key"] = "v";
        break;
      case 6:
        (*spec.mutable_labels())["k"] = std::string(kMaxLabelValueLength + 1, 'v');
        break;
      case 7:
        spec.set_restart_policy(static_cast<v1::RestartPolicy>(99));
        break;
      case 8:
        spec.add_disks("");
        break;
      default:
        for (size_t i = 0; i <= kMaxLabels; ++i) {
          (*spec.mutable_labels())["k" + std::to_string(i)] = "v";
        }
        break;
    }
    return spec;
  });
}

// Mostly valid specs with pooled names, invalid_percent of them broken.
inline rc::Gen<v1::VmSpec> GenVmSpec(const GenOptions& opt = {}) {
  return rc::gen::weightedOneOf<v1::VmSpec>(
      {{static_cast<size_t>(100 - opt.invalid_percent), GenValidVmSpec(GenPooledVmName(opt))},
       {static_cast<size_t>(opt.invalid_percent), GenInvalidVmSpec(GenPooledVmName(opt))}});
}

inline rc::Gen<uint64_t> GenNodeId(const GenOptions& opt = {}) {
  return rc::gen::inRange<uint64_t>(1, static_cast<uint64_t>(opt.node_id_pool) + 1);
}

// A node record with an id from the pool; invalid_percent of them broken.
inline rc::Gen<v1::Node> GenNode(const GenOptions& opt = {}) {
  return rc::gen::exec([opt] {
    v1::Node node;
    node.set_id(*GenNodeId(opt));
    node.set_address("10.0.0." + std::to_string(node.id()) + ":7001");
    node.set_role(*rc::gen::elementOf(std::vector<v1::NodeRole>{
        v1::NODE_ROLE_VOTER, v1::NODE_ROLE_LEARNER, v1::NODE_ROLE_WORKER}));
    node.set_health(*rc::gen::elementOf(std::vector<v1::NodeHealth>{
        v1::NODE_HEALTH_READY, v1::NODE_HEALTH_DOWN, v1::NODE_HEALTH_DRAINING}));
    node.mutable_capacity()->set_vcpus(*rc::gen::inRange<uint32_t>(1, 129));
    node.mutable_capacity()->set_memory_mib(*rc::gen::inRange<uint64_t>(1024, 1 << 20));
    if (*rc::gen::inRange(0, 2) == 0) (*node.mutable_labels())["zone"] = "a";
    if (*rc::gen::inRange(0, 100) < opt.invalid_percent) {
      switch (*rc::gen::inRange(0, 4)) {
        case 0:
          node.set_id(0);
          break;
        case 1:
          node.set_address("");
          break;
        case 2:
          node.set_role(static_cast<v1::NodeRole>(99));
          break;
        default:
          (*node.mutable_labels())[""] = "v";
          break;
      }
    }
    return node;
  });
}

// One command of any kind, valid and invalid mixed, aimed at pooled names and
// node ids. now_unix_ms is arbitrary (apply must not care about its order).
inline rc::Gen<v1::Command> GenCommand(const GenOptions& opt = {}) {
  using rc::gen::elementOf;
  using rc::gen::inRange;
  return rc::gen::exec([opt] {
    v1::Command cmd;
    cmd.set_now_unix_ms(*inRange<int64_t>(0, 2'000'000'000'000));
    const bool bad = *inRange(0, 100) < opt.invalid_percent;
    auto node_id = [&] { return bad ? *inRange<uint64_t>(0, 100) : *GenNodeId(opt); };
    switch (*rc::gen::weightedOneOf<int>({{30, rc::gen::just(0)},
                                          {8, rc::gen::just(1)},
                                          {10, rc::gen::just(2)},
                                          {15, rc::gen::just(3)},
                                          {10, rc::gen::just(4)},
                                          {4, rc::gen::just(5)},
                                          {3, rc::gen::just(6)},
                                          {15, rc::gen::just(7)},
                                          {2, rc::gen::just(8)}})) {
      case 0: {
        v1::CreateVm* op = cmd.mutable_create_vm();
        *op->mutable_spec() = *GenVmSpec(opt);
        op->set_desired_state(*elementOf(std::vector<v1::DesiredState>{
            v1::DESIRED_STATE_UNSPECIFIED, v1::DESIRED_STATE_RUNNING, v1::DESIRED_STATE_STOPPED,
            bad ? static_cast<v1::DesiredState>(9) : v1::DESIRED_STATE_RUNNING}));
        break;
      }
      case 1:
        cmd.mutable_delete_vm()->set_name(*GenVmNameMix(opt));
        break;
      case 2: {
        v1::SetVmDesiredState* op = cmd.mutable_set_vm_desired_state();
        op->set_name(*GenVmNameMix(opt));
        op->set_desired_state(
            bad ? *elementOf(std::vector<v1::DesiredState>{v1::DESIRED_STATE_UNSPECIFIED,
                                                           static_cast<v1::DesiredState>(9)})
                : *elementOf(std::vector<v1::DesiredState>{v1::DESIRED_STATE_RUNNING,
                                                           v1::DESIRED_STATE_STOPPED}));
        break;
      }
      case 3: {
        v1::ReportVmStatus* op = cmd.mutable_report_vm_status();
        op->set_name(*GenVmNameMix(opt));
        op->set_node_id(node_id());
        op->mutable_status()->set_phase(
            static_cast<v1::VmPhase>(bad ? *elementOf(std::vector<int>{0, 42}) : *inRange(1, 8)));
        op->mutable_status()->set_message(bad ? std::string(kMaxStatusMessageLength + 1, 'm')
                                              : "ok");
        break;
      }
      case 4:
        *cmd.mutable_register_node()->mutable_node() = *GenNode(opt);
        break;
      case 5:
        cmd.mutable_remove_node()->set_id(node_id());
        break;
      case 6:
        cmd.mutable_init_cluster()->set_cluster_id(
            *elementOf(std::vector<std::string>{"c-1", "c-1", "c-2", bad ? "" : "c-1"}));
        break;
      case 7: {
        v1::PlaceVms* op = cmd.mutable_place_vms();
        // A batch succeeds only if every placement does: keep valid ones small.
        const int n = bad ? *inRange(0, 5) : *elementOf(std::vector<int>{1, 1, 1, 2, 3});
        for (int i = 0; i < n; ++i) {
          v1::VmPlacement* p = op->add_placements();
          p->set_name(bad ? *GenVmNameMix(opt) : *GenPooledVmName(opt));
          p->set_node_id(*inRange<uint64_t>(0, static_cast<uint64_t>(opt.node_id_pool) + 1));
          p->set_expected_generation(*elementOf(std::vector<uint64_t>{0, 0, 0, 1, 2}));
        }
        break;
      }
      default:
        break;  // no op: always rejected
    }
    return cmd;
  });
}

inline rc::Gen<std::vector<v1::Command>> GenCommands(const GenOptions& opt = {}) {
  return rc::gen::container<std::vector<v1::Command>>(GenCommand(opt));
}

// Draws one value outside a rapidcheck property, reproducibly from `seed`:
// for the simulator, whose randomness all comes from one seed. `size` is
// rapidcheck's size (0-100): at 0 most generators give their minimum.
template <typename T>
T Sample(const rc::Gen<T>& gen, uint64_t seed, int size = rc::kNominalSize) {
  return gen(rc::Random(seed), size).value();
}

// `n` commands drawn reproducibly from `seed`.
inline std::vector<v1::Command> SampleCommands(uint64_t seed, size_t n,
                                               const GenOptions& opt = {}) {
  return Sample(rc::gen::container<std::vector<v1::Command>>(n, GenCommand(opt)), seed);
}

}  // namespace blixard::state::testing
