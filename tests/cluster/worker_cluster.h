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
#include "support/worker_view.h"

namespace blixard::testing {

constexpr int kVms = 6;

class WorkerCluster : public ::testing::Test {
 protected:
  struct Worker {
    std::string addr, data_dir;
    std::string token;  // its join token (a restart keeps its certificate)
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
    view_ = std::make_unique<WorkerView>(
        [this](uint64_t id) {
          auto& ch = channels_[id];
          if (!ch) ch = cluster_->NewChannel(id);
          return ch;
        },
        kVms);
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
    if (!w.token.empty()) args.insert(args.end(), {"--token", w.token});
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
      w.token = cluster_->JoinToken("worker");
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

  // Reads through the servers (support/worker_view.h).
  v1::Node NodeOf(uint64_t via, uint64_t id) { return view_->NodeOf(via, id); }
  grpc::Status CreateVm(const std::string& name, const std::string& constraint) {
    return view_->CreateVm(name, constraint);
  }
  void CreateWorkerVms() { ASSERT_TRUE(view_->CreateWorkerVms()) << cluster_->AllLogs(); }
  bool AllRunning(uint64_t not_on) { return view_->AllRunning(not_on); }
  bool Running(const std::string& name, uint64_t on) { return view_->Running(name, on); }
  std::set<std::string> VmsOn(uint64_t node) { return view_->VmsOn(node); }

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
  std::unique_ptr<WorkerView> view_;
  std::map<uint64_t, std::shared_ptr<grpc::Channel>> channels_;  // to the servers
  std::map<uint64_t, Worker> workers_;
  std::map<uint64_t, std::vector<std::string>> join_;  // a worker's --join, when not the servers'
  std::map<uint64_t, std::vector<std::string>> extra_args_;  // more flags for a worker
};

}  // namespace blixard::testing
