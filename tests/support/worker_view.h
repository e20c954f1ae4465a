// What worker tests read from the servers (nodes, VMs and where they run),
// and the partition check they share: whatever cuts a worker off (TCP
// proxies, network namespaces), it must fence before its VMs run elsewhere
// and, after the heal, run none of them again. Works with any way of
// reaching the servers (TestCluster on loopback, NetCluster in namespaces).
//
// Thread safety: for the test thread only.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "blixard/v1/blixard.grpc.pb.h"
#include "support/daemon.h"
#include "support/fake_record.h"
#include "support/process.h"

namespace blixard::testing {

using std::chrono::seconds;

class WorkerView {
 public:
  // The channel to server `id` (1..3).
  using ChannelFor = std::function<std::shared_ptr<grpc::Channel>(uint64_t id)>;
  // `vms`: how many VMs named vm-0.. the test creates on workers.
  WorkerView(ChannelFor channel, int vms) : channel_(std::move(channel)), vms_(vms) {}

  // Node `id` as server `via` lists it (empty when the call fails).
  v1::Node NodeOf(uint64_t via, uint64_t id) {
    v1::ListNodesResponse resp;
    if (v1::NodeService::NewStub(channel_(via))->ListNodes(Ctx().get(), v1::ListNodesRequest(), &resp).ok()) {
      for (const v1::Node& n : resp.nodes()) {
        if (n.id() == id) return n;
      }
    }
    return v1::Node();
  }

  // A started VM of 1 vCPU and 128 MiB with one placement constraint.
  grpc::Status CreateVm(const std::string& name, const std::string& constraint) {
    v1::CreateVmRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_vcpus(1);
    req.mutable_spec()->set_memory_mib(128);
    req.mutable_spec()->add_constraints(constraint);
    req.set_start(true);
    v1::CreateVmResponse resp;
    return v1::VmService::NewStub(channel_(1))->CreateVm(Ctx(20).get(), req, &resp);
  }

  // Creates vm-0.. constrained to kind=worker and waits until all run.
  bool CreateWorkerVms() {
    for (int i = 0; i < vms_; ++i) {
      grpc::Status s = CreateVm("vm-" + std::to_string(i), "kind=worker");
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) return false;
    }
    return WaitUntil([&] { return AllRunning(0); }, seconds(60));
  }

  std::optional<v1::ListVmsResponse> List(uint64_t via) {
    for (uint64_t id : {via, uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
      v1::ListVmsResponse list;
      if (v1::VmService::NewStub(channel_(id))->ListVms(Ctx().get(), v1::ListVmsRequest(), &list).ok()) {
        return list;
      }
    }
    return std::nullopt;
  }

  // Every VM vm-* RUNNING or READY on a worker (id 11 or more) other than `not_on`.
  bool AllRunning(uint64_t not_on) {
    auto list = List(1);
    if (!list) return false;
    int n = 0;
    for (const v1::Vm& vm : list->vms()) {
      if (vm.spec().name().rfind("vm-", 0) != 0) continue;
      ++n;
      const auto phase = vm.status().phase();
      if (vm.node_id() < 11 || vm.node_id() == not_on ||
          (phase != v1::VM_PHASE_RUNNING && phase != v1::VM_PHASE_READY)) {
        return false;
      }
    }
    return n == vms_;
  }

  bool Running(const std::string& name, uint64_t on) {
    auto list = List(1);
    if (!list) return false;
    for (const v1::Vm& vm : list->vms()) {
      if (vm.spec().name() == name) {
        return vm.node_id() == on && (vm.status().phase() == v1::VM_PHASE_RUNNING ||
                                      vm.status().phase() == v1::VM_PHASE_READY);
      }
    }
    return false;
  }

  std::set<std::string> VmsOn(uint64_t node) {
    std::set<std::string> out;
    if (auto list = List(1)) {
      for (const v1::Vm& vm : list->vms()) {
        if (vm.node_id() == node) out.insert(vm.spec().name());
      }
    }
    return out;
  }

 private:
  ChannelFor channel_;
  const int vms_;
};

// The partition check. Worker `cut_id` (process `cut`, which runs all of
// vm-0..) is cut off from every server by `cut_off()` (which returns what
// failed, "" when done; a failure stops the check, as does one of `heal()`);
// it must fence on its
// own TTL (kill each of its VMs) before the leader marks it DOWN and worker
// `other` runs them; after `heal()` it is READY again, starts none of them
// (they run elsewhere now), and runs a new VM placed on it. The ledger at
// `record` must never show a VM alive on two nodes.
inline void CheckCutAndHeal(WorkerView& view, const std::string& record, uint64_t cut_id, uint64_t other,
                            Child& cut, const std::function<std::string()>& cut_off,
                            const std::function<std::string()>& heal) {
  const std::set<std::string> moved = view.VmsOn(cut_id);
  ASSERT_FALSE(moved.empty());
  const int64_t cut_at = UnixNowMs();
  {
    const std::string failed = cut_off();
    ASSERT_EQ(failed, "") << "cutting worker " << cut_id << " off failed";
  }
  ASSERT_TRUE(WaitUntil([&] { return view.AllRunning(cut_id); }, seconds(30))) << cut.Log();
  const int64_t moved_ms = UnixNowMs() - cut_at;
  EXPECT_EQ(view.NodeOf(1, cut_id).health(), v1::NODE_HEALTH_DOWN);
  // How soon they moved is a figure, not a check (a loaded machine moves
  // them later, and the cut may fall anywhere in a heartbeat period): that
  // none ran on two nodes is checked on the ledger below.
  std::printf("partition: the %zu VMs of the cut-off worker run on worker %llu after %lld ms\n",
              moved.size(), static_cast<unsigned long long>(other), static_cast<long long>(moved_ms));
  // It fenced while cut off: each of its VMs was killed there, and each
  // started on the other worker only after that.
  std::set<std::string> killed;
  for (const RecordEvent& e : ReadRecord(record)) {
    if (e.node == cut_id && e.what == "kill" && e.at >= cut_at) killed.insert(e.vm);
  }
  EXPECT_EQ(killed, moved) << cut.Log();
  {
    const auto iv = Intervals(ReadRecord(record), {});
    EXPECT_EQ(Overlaps(iv), "");
    EXPECT_EQ(NotStartedElsewhere(iv, moved, cut_id, cut_at), "");
  }

  {
    const std::string failed = heal();
    ASSERT_EQ(failed, "") << "healing the cut failed";
  }
  ASSERT_TRUE(WaitUntil([&] { return view.NodeOf(1, cut_id).health() == v1::NODE_HEALTH_READY; },
                        seconds(20)))
      << cut.Log();
  // Its assignment stream works again: a VM placed on it now runs there.
  grpc::Status s = view.CreateVm("after-heal", "worker=" + std::to_string(cut_id));
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(WaitUntil([&] { return view.Running("after-heal", cut_id); }, seconds(20))) << cut.Log();
  ASSERT_TRUE(view.AllRunning(cut_id)) << "the moved VMs stay on worker " << other;

  const auto events = ReadRecord(record);
  for (const RecordEvent& e : events) {
    EXPECT_FALSE(e.node == cut_id && e.what == "start" && e.at >= cut_at && e.vm != "after-heal")
        << e.vm << " was started again on the worker that was cut off";
  }
  const auto iv = Intervals(events, {});
  EXPECT_EQ(Overlaps(iv), "");
  EXPECT_EQ(NotAliveOnce(iv, moved), "");
  EXPECT_NE(cut.Log().find("fenced"), std::string::npos) << cut.Log();
}

}  // namespace blixard::testing
