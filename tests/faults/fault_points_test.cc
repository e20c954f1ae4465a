// Fault points in a real daemon (one node, the default WAL store): a storage
// error stops the node with a message that says so, and the node recovers
// every acknowledged write from disk at restart; a crash between persisting
// and applying loses nothing; corrupt files stop the start with an error
// naming the file, while a torn write at the end of the log (what a crash
// leaves) is cut and the node starts.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "support/daemon.h"
#include "support/process.h"

namespace blixard::testing {
namespace {

namespace fs = std::filesystem;

#ifdef FIU_ENABLE

// Runs fiu-ctrl against the daemon, which listens on BLIXARD_FAULTS_FIFO.
bool FiuCtrl(const std::string& base, int pid, const std::string& command) {
  CommandResult r = RunCommand({"/usr/bin/timeout", "10", "/usr/bin/fiu-ctrl", "-f", base, "-c",
                                command, std::to_string(pid)});
  return r.exit_code == 0 && r.out.find("error") == std::string::npos;
}

grpc::Status Create(TestDaemon& d, const std::string& name) {
  v1::CreateVmRequest req;
  *req.mutable_spec() = Spec(name);
  v1::CreateVmResponse resp;
  return d.Vms()->CreateVm(Ctx(5).get(), req, &resp);
}

std::set<std::string> Names(TestDaemon& d) {
  v1::ListVmsRequest req;
  v1::ListVmsResponse resp;
  EXPECT_TRUE(d.Vms()->ListVms(Ctx(10).get(), req, &resp).ok());
  std::set<std::string> out;
  for (const auto& vm : resp.vms()) out.insert(vm.spec().name());
  return out;
}

// The daemon inherits the test's environment (one test per process).
class DaemonFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fifo_ = fifo_dir_.path() + "/fiu";
    setenv("BLIXARD_FAULTS_FIFO", fifo_.c_str(), 1);
  }
  void TearDown() override { unsetenv("BLIXARD_FAULTS_FIFO"); }

  // Creates n VMs "vm-<k>", each acknowledged.
  std::set<std::string> CreateSome(TestDaemon& d, int n) {
    std::set<std::string> names;
    for (int k = 0; k < n; ++k) {
      std::string name = "vm-" + std::to_string(k);
      EXPECT_TRUE(Create(d, name).ok()) << name;
      names.insert(name);
    }
    return names;
  }

  TempDir fifo_dir_;
  std::string fifo_;
};

class StorageFaultTest : public DaemonFaultTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(StorageFaultTest, StorageErrorStopsTheNodeAndRestartRecoversFromDisk) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  std::set<std::string> acked = CreateSome(d, 10);
  ASSERT_TRUE(FiuCtrl(fifo_, d.child()->pid(), std::string("enable name=") + GetParam()));
  EXPECT_FALSE(Create(d, "doomed").ok());  // its Save fails
  const int code = d.child()->Wait(std::chrono::seconds(20));
  EXPECT_EQ(code, 1) << d.log();
  EXPECT_NE(d.log().find("storage failure, stopping the node"), std::string::npos) << d.log();
  const std::string why = std::string(GetParam()) == "storage/enospc" ? "No space left on device"
                                                                       : "Input/output error";
  EXPECT_NE(d.log().find(why), std::string::npos) << d.log();

  ASSERT_TRUE(d.Start());  // no fault points this time: recovers from disk
  std::set<std::string> now = Names(d);
  for (const std::string& name : acked) EXPECT_TRUE(now.count(name)) << name << " lost";
  EXPECT_TRUE(Create(d, "after").ok());
}

INSTANTIATE_TEST_SUITE_P(FaultPoints, StorageFaultTest,
                         ::testing::Values("storage/sync", "storage/write", "storage/enospc",
                                           "storage/short-write"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string name = std::string(info.param).substr(8);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_F(DaemonFaultTest, CrashBetweenPersistAndApplyLosesNothing) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  std::set<std::string> acked = CreateSome(d, 5);
  ASSERT_TRUE(FiuCtrl(fifo_, d.child()->pid(), "enable name=node/crash-after-persist"));
  EXPECT_FALSE(Create(d, "persisted").ok());  // the node dies before answering
  EXPECT_EQ(d.child()->Wait(std::chrono::seconds(20)), 128 + SIGKILL);
  ASSERT_TRUE(d.Start());
  std::set<std::string> now = Names(d);
  for (const std::string& name : acked) EXPECT_TRUE(now.count(name)) << name << " lost";
  // It was durable, so the restarted leader commits and applies it.
  EXPECT_TRUE(now.count("persisted"));
}

TEST_F(DaemonFaultTest, DroppedSendsAreNotAnErrorForOneNode) {
  TestDaemon d;
  ASSERT_TRUE(d.Start());
  ASSERT_TRUE(FiuCtrl(fifo_, d.child()->pid(), "enable name=transport/send"));
  EXPECT_TRUE(Create(d, "alone").ok());
}

#endif  // FIU_ENABLE

TEST(FaultControl, UnknownCommandStopsTheStartWithTheReason) {
  setenv("BLIXARD_FAULTS", "explode name=storage/sync", 1);
  TestDaemon d;
  d.Spawn();
  const int code = d.child()->Wait(std::chrono::seconds(20));
  unsetenv("BLIXARD_FAULTS");
  EXPECT_EQ(code, 2) << d.log();
  EXPECT_NE(d.log().find("BLIXARD_FAULTS"), std::string::npos) << d.log();
}

// ---- corrupt files at start ----

std::string OnlyFile(const std::string& dir, const std::string& prefix) {
  std::string found;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().filename().string().rfind(prefix, 0) == 0) found = f.path().string();
  }
  return found;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void WriteAt(const std::string& path, size_t offset, const std::string& bytes) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A daemon with some history, stopped cleanly.
std::set<std::string> Prepare(TestDaemon& d, int n) {
  EXPECT_TRUE(d.Start());
  std::set<std::string> names;
  for (int k = 0; k < n; ++k) {
    std::string name = "vm-" + std::to_string(k);
    v1::CreateVmRequest req;
    *req.mutable_spec() = Spec(name);
    v1::CreateVmResponse resp;
    EXPECT_TRUE(d.Vms()->CreateVm(Ctx(5).get(), req, &resp).ok());
    names.insert(name);
  }
  EXPECT_EQ(d.Stop(), 0);
  return names;
}

int StartFails(TestDaemon& d) {
  d.Spawn();
  return d.child()->Wait(std::chrono::seconds(20));
}

TEST(CorruptFiles, FlippedBitInTheSnapshotStopsTheStartNamingTheFile) {
  TestDaemon d(TestDaemon::Options{.extra_args = {"--snapshot-threshold", "5"}});
  Prepare(d, 12);
  const std::string snap = OnlyFile(d.data_dir() + "/snapshots", "snap-");
  ASSERT_FALSE(snap.empty());
  std::string bytes = ReadFile(snap);
  ASSERT_GT(bytes.size(), 40u);
  WriteAt(snap, bytes.size() - 3, std::string(1, static_cast<char>(bytes[bytes.size() - 3] ^ 0x10)));
  EXPECT_EQ(StartFails(d), 1) << d.log();
  EXPECT_NE(d.log().find(snap), std::string::npos) << d.log();
  EXPECT_NE(d.log().find("corrupt"), std::string::npos) << d.log();
}

// Offsets of the records in a WAL segment (fixed32 length, fixed32 crc,
// body), up to the zeros of the preallocated end, which go to *end.
std::vector<size_t> RecordOffsets(const std::string& data, size_t* end = nullptr) {
  std::vector<size_t> out;
  size_t pos = 0;
  while (pos + 8 <= data.size()) {
    uint32_t len = static_cast<uint8_t>(data[pos]) | static_cast<uint8_t>(data[pos + 1]) << 8 |
                   static_cast<uint8_t>(data[pos + 2]) << 16 |
                   static_cast<uint32_t>(static_cast<uint8_t>(data[pos + 3])) << 24;
    if (len == 0) break;
    out.push_back(pos);
    pos += 8 + len;
  }
  if (end) *end = pos;
  return out;
}

TEST(CorruptFiles, DamagedRecordInTheMiddleOfTheLogStopsTheStartNamingTheFile) {
  TestDaemon d;
  Prepare(d, 10);
  const std::string wal = OnlyFile(d.data_dir() + "/wal", "wal-");
  ASSERT_FALSE(wal.empty());
  std::string data = ReadFile(wal);
  std::vector<size_t> records = RecordOffsets(data);
  ASSERT_GT(records.size(), 6u);
  const size_t victim = records[records.size() / 2];
  WriteAt(wal, victim + 9, std::string(1, static_cast<char>(data[victim + 9] ^ 0x01)));
  EXPECT_EQ(StartFails(d), 1) << d.log();
  EXPECT_NE(d.log().find(wal), std::string::npos) << d.log();
  EXPECT_NE(d.log().find("offset " + std::to_string(victim)), std::string::npos) << d.log();
}

TEST(CorruptFiles, TornWriteAtTheEndOfTheLogIsCutAndEveryAcknowledgedWriteStays) {
  TestDaemon d;
  std::set<std::string> acked = Prepare(d, 10);
  const std::string wal = OnlyFile(d.data_dir() + "/wal", "wal-");
  std::string data = ReadFile(wal);
  size_t end = 0;
  ASSERT_FALSE(RecordOffsets(data, &end).empty());
  // What a crash in the middle of the next append leaves: a header that
  // promises more than was written, and part of a body.
  WriteAt(wal, end, std::string("\x40\x00\x00\x00\x12\x34\x56\x78\x02partial", 16));
  ASSERT_TRUE(d.Start()) << d.log();
  std::set<std::string> now = Names(d);
  for (const std::string& name : acked) EXPECT_TRUE(now.count(name)) << name << " lost";
}

}  // namespace
}  // namespace blixard::testing
