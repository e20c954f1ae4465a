// The fixture of the worker tests (worker_test.cc, worker_partition_test.cc):
// 3 servers and workers as real processes on loopback, fake VM backend with
// a shared --fake-record ledger (support/fake_record.h), default 3 s node
// TTL. A worker joins through the servers' own addresses unless the test
// gives it others (join_, e.g. proxies).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/cluster.h"
#include "support/daemon.h"
#include "support/fake_record.h"

namespace blixard::testing {

constexpr int kVms = 6;

class WorkerCluster : public ::testing::Test {
 protected:
  struct Worker {
    std::string addr, data_dir;
    int starts = 0;
    std::unique_ptr<Child> child;
  };

  void SetUp() override {
    StartServers();
    for (uint64_t id : {11, 12}) ASSERT_TRUE(StartWorker(id));
  }

  void StartServers() {
    record_ = dir_.path() + "/record";
    cluster_ = std::make_unique<TestCluster>(
        TestCluster::Options{.node_args = {"--fake-record", record_}});
    ASSERT_TRUE(cluster_->Start(3));
    ASSERT_TRUE(cluster_->WaitForMembers({.voters = 3}));
  }

  void TearDown() override {
    if (HasFailure()) {
      for (auto& [id, w] : workers_) {
        if (w.child) std::cerr << "---- worker " << id << " ----\n" << w.child->Log();
      }
    }
  }

  std::vector<std::string> WorkerArgs(uint64_t id, const Worker& w) {
    std::vector<std::string> args = {BlixardBin(), "node", "--role", "worker", "--id", std::to_string(id),
                                     "--bind", w.addr, "--data-dir", w.data_dir, "--backend", "fake",
                                     "--fake-record", record_, "--label", "kind=worker",
                                     "--label", "worker=" + std::to_string(id)};
    if (auto j = join_.find(id); j != join_.end()) {
      for (const std::string& a : j->second) args.insert(args.end(), {"--join", a});
    } else {
      for (uint64_t s : {1, 2, 3}) args.insert(args.end(), {"--join", cluster_->Addr(s)});
    }
    if (auto e = extra_args_.find(id); e != extra_args_.end()) args.insert(args.end(), e->second.begin(), e->second.end());
    AddFakeCapacity(args);
    return args;
  }

  // Starts (or restarts) worker `id` and waits until the servers list it
  // as a READY worker.
  bool StartWorker(uint64_t id) {
    Worker& w = workers_[id];
    if (w.addr.empty()) {
      w.addr = cluster_->FreshAddr();
      w.data_dir = cluster_->FreshDataDir();
    }
    ++w.starts;
    // Workers take fault points (fiu-ctrl) on <fifo_>-<pid>; servers do not.
    setenv("BLIXARD_FAULTS_FIFO", fifo_.c_str(), 1);
    w.child = std::make_unique<Child>(
        WorkerArgs(id, w), dir_.path() + "/worker-" + std::to_string(id) + "-" + std::to_string(w.starts) + ".log");
    unsetenv("BLIXARD_FAULTS_FIFO");
    return WaitUntil([&] { return NodeOf(1, id).role() == v1::NODE_ROLE_WORKER &&
                                  NodeOf(1, id).health() == v1::NODE_HEALTH_READY; },
                     seconds(30));
  }

  // Stops worker `id` (SIGTERM, a clean exit) and starts it again with
  // `flags` added.
  void RestartWorker(uint64_t id, std::vector<std::string> flags) {
    Worker& w = workers_[id];
    w.child->Signal(SIGTERM);
    ASSERT_EQ(w.child->Wait(seconds(10)), 0) << w.child->Log();
    extra_args_[id] = std::move(flags);
    ASSERT_TRUE(StartWorker(id));
  }

  v1::Node NodeOf(uint64_t via, uint64_t id) {
    auto stub = v1::NodeService::NewStub(
        grpc::CreateChannel(cluster_->Addr(via), grpc::InsecureChannelCredentials()));
    v1::ListNodesResponse resp;
    if (stub->ListNodes(Ctx().get(), v1::ListNodesRequest(), &resp).ok()) {
      for (const v1::Node& n : resp.nodes()) {
        if (n.id() == id) return n;
      }
    }
    return v1::Node();
  }

  grpc::Status CreateVm(const std::string& name, const std::string& constraint) {
    v1::CreateVmRequest req;
    req.mutable_spec()->set_name(name);
    req.mutable_spec()->set_vcpus(1);
    req.mutable_spec()->set_memory_mib(128);
    req.mutable_spec()->add_constraints(constraint);
    req.set_start(true);
    v1::CreateVmResponse resp;
    return cluster_->Vms(1)->CreateVm(Ctx(20).get(), req, &resp);
  }

  void CreateWorkerVms() {
    for (int i = 0; i < kVms; ++i) {
      grpc::Status s = CreateVm("vm-" + std::to_string(i), "kind=worker");
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    ASSERT_TRUE(WaitUntil([&] { return AllRunning(0); }, seconds(60))) << cluster_->AllLogs();
  }

  std::optional<v1::ListVmsResponse> List(uint64_t via) {
    for (uint64_t id : {via, uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
      v1::ListVmsResponse list;
      if (cluster_->Vms(id)->ListVms(Ctx().get(), v1::ListVmsRequest(), &list).ok()) return list;
    }
    return std::nullopt;
  }

  // Every VM vm-* RUNNING or READY on a worker other than `not_on`.
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
    return n == kVms;
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

  // A worker that runs at least one VM.
  uint64_t PickVictim() {
    for (uint64_t id : {11, 12}) {
      if (!VmsOn(id).empty()) return id;
    }
    ADD_FAILURE() << "no worker runs a VM";
    return 0;
  }

  TempDir dir_;
  std::string record_;
  std::string fifo_ = dir_.path() + "/fiu";
  std::unique_ptr<TestCluster> cluster_;
  std::map<uint64_t, Worker> workers_;
  std::map<uint64_t, std::vector<std::string>> join_;  // a worker's --join, when not the servers'
  std::map<uint64_t, std::vector<std::string>> extra_args_;  // more flags for a worker
};

}  // namespace blixard::testing
