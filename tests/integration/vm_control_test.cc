// What acts on a running VM, through the real gRPC API and the CLI, with the
// fake backend (its guest's console: "fake: booting NAME" then the
// readiness line): console logs, pause/resume, restart.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/daemon.h"

namespace blixard::testing {
namespace {

class VmControl : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(d_.Start()); }

  void CreateRunning(const std::string& name) {
    v1::CreateVmRequest req;
    *req.mutable_spec() = Spec(name);
    req.set_start(true);
    v1::CreateVmResponse resp;
    ASSERT_TRUE(d_.Vms()->CreateVm(Ctx().get(), req, &resp).ok());
    ASSERT_TRUE(WaitUntil([&] { return Get(name).status().phase() == v1::VM_PHASE_READY; },
                          std::chrono::seconds(20)))
        << d_.log();
  }

  v1::Vm Get(const std::string& name) {
    v1::GetVmRequest req;
    req.set_name(name);
    v1::VmResponse resp;
    d_.Vms()->GetVm(Ctx(5).get(), req, &resp);
    return resp.vm();
  }

  static v1::VmNameRequest Name(const std::string& name) {
    v1::VmNameRequest req;
    req.set_name(name);
    return req;
  }

  // A followed log stream of `name`, on `ctx`.
  std::unique_ptr<grpc::ClientReader<v1::VmLogChunk>> Follow(const std::string& name, grpc::ClientContext* ctx) {
    v1::VmLogsRequest req;
    req.set_name(name);
    req.set_follow(true);
    return d_.Vms()->StreamVmLogs(ctx, req);
  }

  // The whole log (no follow).
  grpc::Status Logs(const std::string& name, std::string* out) {
    v1::VmLogsRequest req;
    req.set_name(name);
    auto ctx = Ctx();
    auto reader = d_.Vms()->StreamVmLogs(ctx.get(), req);
    v1::VmLogChunk chunk;
    while (reader->Read(&chunk)) *out += chunk.data();
    return reader->Finish();
  }

  TestDaemon d_;
};

TEST_F(VmControl, LogsShowTheConsoleOfTheCurrentBoot) {
  CreateRunning("web-1");
  std::string log;
  ASSERT_TRUE(Logs("web-1", &log).ok());
  EXPECT_NE(log.find("fake: booting web-1\n"), std::string::npos) << log;
  EXPECT_NE(log.find("BLIXARD-GUEST-READY web-1"), std::string::npos) << log;

  CommandResult cli = d_.Cli({"vm", "logs", "web-1"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, log);
}

// `vm logs -f` right after a create waits for the VM to be placed and
// then follows its console, instead of failing with "not placed".
TEST_F(VmControl, FollowedLogsOfAVmNotYetPlacedWaitForIt) {
  v1::CreateVmRequest create;
  *create.mutable_spec() = Spec("later");
  create.set_start(false);  // a stopped VM is not placed
  v1::CreateVmResponse created;
  ASSERT_TRUE(d_.Vms()->CreateVm(Ctx().get(), create, &created).ok());
  ASSERT_EQ(Get("later").node_id(), 0u);

  auto ctx = Ctx(30);
  auto reader = Follow("later", ctx.get());
  std::string log;
  std::atomic<bool> ended{false};
  std::thread follower([&] {
    v1::VmLogChunk chunk;
    while (log.find("BLIXARD-GUEST-READY later") == std::string::npos && reader->Read(&chunk)) log += chunk.data();
    ended = true;
  });
  v1::VmResponse started;
  ASSERT_TRUE(d_.Vms()->StartVm(Ctx().get(), Name("later"), &started).ok());
  EXPECT_TRUE(WaitUntil([&] { return ended.load(); }, std::chrono::seconds(25)));
  ctx->TryCancel();
  follower.join();
  EXPECT_NE(log.find("fake: booting later\n"), std::string::npos) << log << reader->Finish().error_message();
}

TEST_F(VmControl, FollowedLogsEndWhenTheVmIsDeleted) {
  CreateRunning("web-1");
  auto ctx = Ctx(20);
  auto reader = Follow("web-1", ctx.get());
  std::string log;
  v1::VmLogChunk chunk;
  while (log.find("BLIXARD-GUEST-READY") == std::string::npos && reader->Read(&chunk)) {
    log += chunk.data();
  }
  ASSERT_NE(log.find("BLIXARD-GUEST-READY"), std::string::npos) << log;
  v1::DeleteVmResponse deleted;
  ASSERT_TRUE(d_.Vms()->DeleteVm(Ctx().get(), Name("web-1"), &deleted).ok());
  while (reader->Read(&chunk)) {
  }
  grpc::Status s = reader->Finish();
  EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
}

TEST_F(VmControl, PauseAndResumeRoundTrip) {
  CreateRunning("web-1");
  v1::VmResponse paused;
  ASSERT_TRUE(d_.Vms()->PauseVm(Ctx().get(), Name("web-1"), &paused).ok());
  EXPECT_EQ(paused.vm().status().phase(), v1::VM_PHASE_PAUSED);
  // (A pass of the node agent that began before the pause may still report
  // the old phase once.)
  ASSERT_TRUE(WaitUntil([&] { return Get("web-1").status().phase() == v1::VM_PHASE_PAUSED; },
                        std::chrono::seconds(10)));
  CommandResult get = d_.Cli({"vm", "get", "web-1"});
  EXPECT_NE(get.out.find("PAUSED"), std::string::npos) << get.out;

  v1::VmResponse resumed;
  ASSERT_TRUE(d_.Vms()->ResumeVm(Ctx().get(), Name("web-1"), &resumed).ok());
  EXPECT_EQ(resumed.vm().status().phase(), v1::VM_PHASE_READY);

  // The same through the CLI.
  CommandResult p = d_.Cli({"vm", "pause", "web-1"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("PAUSED"), std::string::npos) << p.out;
  CommandResult r = d_.Cli({"vm", "resume", "web-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("READY"), std::string::npos) << r.out;
}

TEST_F(VmControl, RestartBootsTheVmAgain) {
  CreateRunning("web-1");
  const v1::Vm before = Get("web-1");
  ASSERT_GT(before.status().running_since_unix_ms(), 0);
  CommandResult r = d_.Cli({"vm", "restart", "web-1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("restarting"), std::string::npos) << r.out;
  ASSERT_TRUE(WaitUntil(
      [&] {
        v1::Vm vm = Get("web-1");
        return vm.status().phase() == v1::VM_PHASE_READY &&
               vm.status().running_since_unix_ms() > before.status().running_since_unix_ms();
      },
      std::chrono::seconds(20)))
      << d_.log();
  EXPECT_GT(Get("web-1").generation(), before.generation());

  CommandResult get = d_.Cli({"vm", "get", "web-1"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("node:           1\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("reason:         ready\n"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("uptime:         "), std::string::npos) << get.out;
  EXPECT_EQ(get.out.find("uptime:         -"), std::string::npos) << get.out;
}

TEST_F(VmControl, ErrorsSayWhatIsWrong) {
  std::string log;
  grpc::Status s = Logs("ghost", &log);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  v1::VmResponse resp;
  s = d_.Vms()->PauseVm(Ctx().get(), Name("ghost"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  s = d_.Vms()->RestartVm(Ctx().get(), Name("ghost"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();

  // WatchVms says what to use instead, and names nothing that exists now
  // as missing (it once blamed the node agent).
  {
    auto ctx = Ctx();
    auto watch = d_.Vms()->WatchVms(ctx.get(), v1::WatchVmsRequest());
    v1::VmEvent event;
    EXPECT_FALSE(watch->Read(&event));
    const grpc::Status w = watch->Finish();
    EXPECT_EQ(w.error_code(), grpc::StatusCode::UNIMPLEMENTED) << w.error_message();
    EXPECT_NE(w.error_message().find("poll GetVm"), std::string::npos) << w.error_message();
    EXPECT_EQ(w.error_message().find("agent"), std::string::npos) << w.error_message();
  }

  // A VM that does not run cannot be paused.
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec("cold");
  req.set_start(false);
  v1::CreateVmResponse created;
  ASSERT_TRUE(d_.Vms()->CreateVm(Ctx().get(), req, &created).ok());
  s = d_.Vms()->PauseVm(Ctx().get(), Name("cold"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("cold"), std::string::npos) << s.error_message();

  CommandResult cli = d_.Cli({"vm", "logs", "ghost"});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("NOT_FOUND"), std::string::npos) << cli.err;
}

}  // namespace
}  // namespace blixard::testing
