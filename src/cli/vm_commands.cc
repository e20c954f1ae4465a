// `blixard vm ...`: VmService calls.
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "blixard/v1/blixard.grpc.pb.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/parse.h"

namespace blixard::cli {
namespace {

// --wait: polls GetVm until the VM reaches its desired state, printing each
// new state on stderr (the progress of a boot: STARTING, RUNNING while the
// guest boots, READY). A VM that should run is waited for until READY (or
// PAUSED, frozen on purpose), not merely RUNNING. Returns the exit code;
// prints the final VM on success.
int WaitForDesired(const Client& client, v1::VmService::Stub& stub, const std::string& name,
                   const WaitOptions& wait) {
  const auto give_up = std::chrono::steady_clock::now() +
                       std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(wait.seconds));
  std::string last;
  while (true) {
    v1::GetVmRequest req;
    req.set_name(name);
    v1::VmResponse resp;
    auto status = stub.GetVm(client.Context().get(), req, &resp);
    if (!status.ok()) return client.Fail(status);
    const v1::Vm& vm = resp.vm();
    std::string state = VmStateText(vm);
    if (state != last) {
      std::cerr << fmt::format("{}: {}{}\n", name, state,
                               vm.status().message().empty() ? "" : " - " + vm.status().message());
      last = state;
    }
    const bool done = vm.desired_state() == v1::DESIRED_STATE_RUNNING
                          ? vm.status().phase() == v1::VM_PHASE_READY || vm.status().phase() == v1::VM_PHASE_PAUSED
                          : VmReachedDesired(vm);
    if (done) return client.Print(vm, VmDetails(vm, NowUnixMs()));
    if (vm.status().phase() == v1::VM_PHASE_FAILED) {
      std::cerr << fmt::format("error: vm \"{}\" failed: {}\n", name, vm.status().message());
      return 1;
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      std::cerr << fmt::format("error: DEADLINE_EXCEEDED: vm \"{}\" still {} after {}s (--wait-timeout)\n",
                               name, state, wait.seconds);
      return 1;
    }
    // Each poll is one linearizable read; 20 ms keeps --wait within 20 ms
    // of the state change (create -> READY is attributed in bench/README.md).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int VmCreate(const ClientOptions& o, const VmCreateArgs& args) {
  v1::CreateVmRequest req;
  v1::VmSpec* spec = req.mutable_spec();
  spec->set_name(args.name);
  spec->set_vcpus(args.vcpus);
  spec->set_memory_mib(args.memory_mib);
  spec->set_kernel(args.kernel);
  spec->set_initrd(args.initrd);
  spec->set_cmdline(args.cmdline);
  for (const auto& d : args.disks) spec->add_disks(d);
  for (const auto& l : args.labels) {
    auto kv = ParseLabel(l);  // validated by the parser; kept in case of direct calls
    if (!kv.ok()) return Client(o).Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, kv.status().message()));
    (*spec->mutable_labels())[kv->first] = kv->second;
  }
  if (!args.restart.empty()) {
    auto policy = ParseRestartPolicy(args.restart);
    if (!policy.ok()) {
      return Client(o).Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, policy.status().message()));
    }
    spec->set_restart_policy(*policy);
  }
  if (!args.network.empty()) {
    auto mode = ParseNetworkMode(args.network);
    if (!mode.ok()) return Client(o).Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, mode.status().message()));
    spec->set_network(*mode);
  }
  for (const auto& text : args.publish) {
    auto p = ParsePublish(text);
    if (!p.ok()) return Client(o).Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, p.status().message()));
    *spec->add_publish() = *p;
  }
  spec->set_ready_port(args.ready_port);
  for (const auto& c : args.constraints) spec->add_constraints(c);  // checked by the server
  spec->set_anti_affinity_group(args.anti_affinity_group);
  spec->set_strategy(args.strategy);
  req.set_start(!args.stopped);

  Client client(o);
  auto stub = v1::VmService::NewStub(client.channel());
  v1::CreateVmResponse resp;
  auto status = stub->CreateVm(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  if (args.wait.enabled) return WaitForDesired(client, *stub, args.name, args.wait);
  return client.Print(resp.vm(), fmt::format("vm \"{}\" created; state {}\n", resp.vm().spec().name(),
                                             VmStateText(resp.vm())));
}

int VmList(const ClientOptions& o, bool stale) {
  Client client(o);
  auto stub = v1::VmService::NewStub(client.channel());
  v1::ListVmsRequest req;
  req.set_stale(stale);
  v1::ListVmsResponse resp;
  auto status = stub->ListVms(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp, VmTable(resp.vms(), NowUnixMs()));
}

int VmGet(const ClientOptions& o, const std::string& name, bool stale) {
  Client client(o);
  auto stub = v1::VmService::NewStub(client.channel());
  v1::GetVmRequest req;
  req.set_name(name);
  req.set_stale(stale);
  v1::VmResponse resp;
  auto status = stub->GetVm(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp.vm(), VmDetails(resp.vm(), NowUnixMs()));
}

int VmAct(const ClientOptions& o, VmVerb verb, const std::string& name, const WaitOptions& wait) {
  Client client(o);
  auto stub = v1::VmService::NewStub(client.channel());
  v1::VmNameRequest req;
  req.set_name(name);
  if (verb == VmVerb::kDelete) {
    v1::DeleteVmResponse resp;
    auto status = stub->DeleteVm(client.Context().get(), req, &resp);
    if (!status.ok()) return client.Fail(status);
    return client.Print(resp, fmt::format("vm \"{}\" deleted\n", name));
  }
  v1::VmResponse resp;
  grpc::Status status;
  const char* doing = "";
  switch (verb) {
    case VmVerb::kStart:
      status = stub->StartVm(client.Context().get(), req, &resp);
      doing = "starting";
      break;
    case VmVerb::kStop:
      status = stub->StopVm(client.Context().get(), req, &resp);
      doing = "stopping";
      break;
    case VmVerb::kRestart:
      status = stub->RestartVm(client.Context().get(), req, &resp);
      doing = "restarting";
      break;
    case VmVerb::kPause:
      status = stub->PauseVm(client.Context().get(), req, &resp);
      doing = "paused";
      break;
    case VmVerb::kResume:
      status = stub->ResumeVm(client.Context().get(), req, &resp);
      doing = "resumed";
      break;
    case VmVerb::kDelete:
      break;  // handled above
  }
  if (!status.ok()) return client.Fail(status);
  if (wait.enabled) return WaitForDesired(client, *stub, name, wait);
  return client.Print(resp.vm(), fmt::format("vm \"{}\" {}; state {}\n", name, doing,
                                             VmStateText(resp.vm())));
}

int VmLabel(const ClientOptions& o, const std::string& name, const std::string& label) {
  auto kv = ParseLabel(label);
  if (!kv.ok()) {  // the parser checked it already
    std::cerr << "error: " << kv.status().message() << "\n";
    return 2;
  }
  Client client(o);
  auto stub = v1::VmService::NewStub(client.channel());
  v1::UpdateVmLabelsRequest req;
  req.set_name(name);
  req.set_key(kv->first);
  req.set_value(kv->second);
  v1::VmResponse resp;
  auto status = stub->UpdateVmLabels(client.Context().get(), req, &resp);
  if (!status.ok()) return client.Fail(status);
  return client.Print(resp.vm(), fmt::format("vm \"{}\" labelled {}={}\n", name, kv->first, kv->second));
}

int VmLogs(const ClientOptions& o, const std::string& name, bool follow) {
  Client client(o);
  auto stub = v1::VmService::NewStub(client.channel());
  v1::VmLogsRequest req;
  req.set_name(name);
  req.set_follow(follow);
  // Following has no end the client knows of: no deadline then.
  auto ctx = follow ? std::make_unique<grpc::ClientContext>() : client.Context();
  auto reader = stub->StreamVmLogs(ctx.get(), req);
  v1::VmLogChunk chunk;
  while (reader->Read(&chunk)) {
    std::cout.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    std::cout.flush();
  }
  auto status = reader->Finish();
  if (!status.ok()) return client.Fail(status);
  return 0;
}

}  // namespace blixard::cli
