#include "faults/workload.h"

#include <condition_variable>
#include <random>

namespace blixard::faults {
namespace {

// Waits `d` unless stop is set meanwhile (client pacing, not a test wait).
void Pace(const std::atomic<bool>& stop, milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        milliseconds(10), until - std::chrono::steady_clock::now()));
  }
}

}  // namespace

Workload::Workload(NetCluster& cluster, History& history, WorkloadOptions options)
    : cluster_(cluster), history_(history), options_(options) {
  for (int i = 0; i < options_.registers; ++i) {
    live_.push_back("r-" + std::to_string(next_register_++));
    used_.push_back(0);
  }
}

Workload::~Workload() { Stop(); }

void Workload::Start() {
  // The first registers are created up front, through node 1.
  for (const std::string& name : live_) Run(-1, 1, OpType::kCreate, name);
  for (int c = 0; c < options_.clients; ++c) threads_.emplace_back([this, c] { Client(c); });
}

void Workload::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

Outcome Workload::Run(int client, int node, OpType type, const std::string& key,
                      const std::string& value, std::shared_ptr<grpc::Channel> channel) {
  Op op;
  op.client = client;
  op.node = static_cast<uint64_t>(node);
  op.key = key;
  op.type = type;
  op.value = value;
  op.invoke_us = NowUs();
  const uint64_t id = history_.Invoke(op);
  auto stub = v1::VmService::NewStub(channel ? channel : cluster_.Channel(node));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.op_timeout);
  grpc::Status s;
  std::string read_value;
  switch (type) {
    case OpType::kCreate: {
      v1::CreateVmRequest req;
      req.mutable_spec()->set_name(key);
      req.mutable_spec()->set_vcpus(1);
      req.mutable_spec()->set_memory_mib(128);  // the guest kernel's minimum
      // Registers run (the fake backend starts them), churn VMs stay stopped.
      req.set_start(key.rfind("r-", 0) == 0);
      v1::CreateVmResponse resp;
      s = stub->CreateVm(&ctx, req, &resp);
      break;
    }
    case OpType::kDelete: {
      v1::VmNameRequest req;
      req.set_name(key);
      v1::DeleteVmResponse resp;
      s = stub->DeleteVm(&ctx, req, &resp);
      break;
    }
    case OpType::kWrite: {
      v1::UpdateVmLabelsRequest req;
      req.set_name(key);
      req.set_key(kRegisterLabel);
      req.set_value(value);
      v1::VmResponse resp;
      s = stub->UpdateVmLabels(&ctx, req, &resp);
      break;
    }
    case OpType::kRead: {
      v1::GetVmRequest req;  // linearizable (ReadIndex) unless stale is set
      req.set_name(key);
      req.set_stale(options_.stale_reads);
      v1::VmResponse resp;
      s = stub->GetVm(&ctx, req, &resp);
      if (s.ok()) {
        auto it = resp.vm().spec().labels().find(kRegisterLabel);
        if (it != resp.vm().spec().labels().end()) read_value = it->second;
      }
      break;
    }
  }
  const auto code = s.error_code();
  if (s.ok()) {
    history_.Complete(id, Outcome::kOk, true, read_value);
    return Outcome::kOk;
  }
  if (code == grpc::StatusCode::NOT_FOUND ||
      (code == grpc::StatusCode::ALREADY_EXISTS && type == OpType::kCreate)) {
    history_.Complete(id, Outcome::kOk, false, "", s.error_message());
    return Outcome::kOk;
  }
  const std::string why = std::to_string(code) + ": " + s.error_message();
  // A read without an answer changed nothing; a write may have happened.
  const Outcome o = type == OpType::kRead ? Outcome::kFail : Outcome::kUnknown;
  history_.Complete(id, o, true, "", why);
  return o;
}

std::string Workload::PickRegister(uint64_t r, int c) {
  std::lock_guard lk(mu_);
  const size_t i = r % live_.size();
  std::string name = live_[i];
  if (++used_[i] >= options_.ops_per_register) {
    live_[i] = "r-" + std::to_string(next_register_++);
    used_[i] = 0;
    return "+" + live_[i];  // the caller creates it
  }
  return name;
}

void Workload::Client(int c) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(c));
  const int node = c % cluster_.size() + 1;
  std::vector<std::string> mine;  // churn names created (or maybe created)
  int next_churn = 0, next_value = 0;
  while (!stop_) {
    const uint64_t dice = rng() % 100;
    Outcome o = Outcome::kOk;
    if (dice < 70) {
      std::string key = PickRegister(rng(), c);
      if (key[0] == '+') {
        o = Run(c, node, OpType::kCreate, key.substr(1));
      } else if (dice < 40) {
        o = Run(c, node, OpType::kWrite, key,
                "c" + std::to_string(c) + "-" + std::to_string(next_value++));
      } else {
        o = Run(c, node, OpType::kRead, key);
      }
    } else if (dice < 85 || mine.empty()) {
      std::string key = "c" + std::to_string(c) + "-" + std::to_string(next_churn++);
      mine.push_back(key);
      o = Run(c, node, OpType::kCreate, key);
    } else if (dice < 95) {
      const size_t i = rng() % mine.size();
      o = Run(c, node, OpType::kDelete, mine[i]);
      mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      o = Run(c, node, OpType::kRead, mine[rng() % mine.size()]);
    }
    Pace(stop_, o == Outcome::kOk ? options_.think : options_.backoff);
  }
}

}  // namespace blixard::faults
