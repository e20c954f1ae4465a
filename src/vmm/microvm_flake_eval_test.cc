// The flakes the microvm-nix backend writes, checked by the real Nix
// (Debian's nix-bin, unpacked by scripts/nix-tools; ctest fixture
// blixard_nix_tools, path in $BLIXARD_NIX_TOOLS): they parse, and evaluated
// against stubs of the nixpkgs and microvm.nix inputs they hand
// nixpkgs.lib.nixosSystem exactly the values of the VM's config.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "vmm/microvm_flake.h"

namespace blixard::vmm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Stands in for the two inputs. nixosSystem merges the modules that are
// plain attribute sets (what the generated flake passes besides microvm's
// module) the way the module system would for these options, and returns
// them with what it was called with.
constexpr char kStubEval[] = R"nix(
let
  flake = import ./flake.nix;
  merge = a: b: a // builtins.mapAttrs
    (k: v: if builtins.isAttrs v && a ? ${k} && builtins.isAttrs a.${k} then merge a.${k} v else v) b;
  nixpkgs.lib.nixosSystem = args: {
    inherit (args) system;
    microvmModule = builtins.head args.modules;
    config = builtins.foldl' merge { microvm.declaredRunner = "runner-of-the-stub"; }
      (builtins.filter (m: !(m ? stubModule)) args.modules);
  };
  microvm.nixosModules.microvm = { stubModule = "microvm.nix"; };
  outputs = flake.outputs { self = outputs; inherit nixpkgs microvm; };
in {
  inherit (flake) description inputs;
  configurations = builtins.attrNames outputs.nixosConfigurations;
  vm = outputs.nixosConfigurations.${builtins.head (builtins.attrNames outputs.nixosConfigurations)};
  packages = outputs.packages;
}
)nix";

struct ShellRun {
  int exit_code = -1;
  std::string out;
};

// Runs a shell command; stdout, stderr folded in.
ShellRun Shell(const std::string& command) {
  ShellRun r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class MicrovmFlakeEval : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tools = getenv("BLIXARD_NIX_TOOLS");
    ASSERT_TRUE(tools && *tools) << "set BLIXARD_NIX_TOOLS to the output of scripts/nix-tools (ctest does)";
    instantiate_ = std::string(tools) + "/bin/nix-instantiate";
    dir_ = fs::temp_directory_path() / ("blixard-flake-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  ShellRun Parse() { return Shell(instantiate_ + " --parse " + (dir_ / "flake.nix").string()); }

  nlohmann::json Eval(const std::string& flake) {
    Write("flake.nix", flake);
    Write("eval.nix", kStubEval);
    ShellRun r = Shell(instantiate_ + " --eval --strict --json " + (dir_ / "eval.nix").string());
    EXPECT_EQ(r.exit_code, 0) << r.out << "\nflake.nix:\n" << flake;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  std::string instantiate_;
  fs::path dir_;
};

MicrovmFlakeInput Full() {
  MicrovmFlakeInput in;
  in.config.name = "web-1";
  in.config.vcpus = 2;
  in.config.memory_mib = 384;
  in.config.cmdline = "loglevel=4 x=${not-nix} back\\slash $HOME";
  in.config.disks = {"/data/a.img", "/data/b b.img"};
  in.config.shares = {{"/srv/www", "www", "/var/www"}};
  in.config.net.mode = NetworkConfig::Mode::kUser;
  in.config.net.publish = {PortForward{PortForward::Protocol::kTcp, "127.0.0.1", 8080, 80},
                           PortForward{PortForward::Protocol::kUdp, "0.0.0.0", 5353, 53}};
  in.runtime_dir = "/var/lib/blixard/vms/web-1";
  in.nixpkgs = "path:/srv/nixpkgs";
  in.microvm = "github:astro/microvm.nix/v0.5.0";
  return in;
}

TEST_F(MicrovmFlakeEval, TheGeneratedFlakeParses) {
  Write("flake.nix", BuildMicrovmFlake(Full()));
  ShellRun r = Parse();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // A flake with a syntax error is reported, so the check above means something.
  Write("flake.nix", "{ outputs = { self }: { ; }");
  EXPECT_NE(Parse().exit_code, 0);
}

TEST_F(MicrovmFlakeEval, EvaluatesToTheVmsValues) {
  nlohmann::json j = Eval(BuildMicrovmFlake(Full()));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["description"], "Blixard microVM web-1");
  EXPECT_EQ(j["inputs"]["nixpkgs"]["url"], "path:/srv/nixpkgs");
  EXPECT_EQ(j["inputs"]["microvm"]["url"], "github:astro/microvm.nix/v0.5.0");
  EXPECT_EQ(j["inputs"]["microvm"]["inputs"]["nixpkgs"]["follows"], "nixpkgs");
  EXPECT_EQ(j["configurations"], nlohmann::json::array({"web-1"}));
  EXPECT_EQ(j["packages"]["x86_64-linux"]["default"], "runner-of-the-stub");

  const nlohmann::json& vm = j["vm"];
  EXPECT_EQ(vm["system"], "x86_64-linux");
  EXPECT_EQ(vm["microvmModule"]["stubModule"], "microvm.nix");
  const nlohmann::json& c = vm["config"];
  EXPECT_EQ(c["networking"]["hostName"], "web-1");
  EXPECT_EQ(c["boot"]["kernelParams"],
            nlohmann::json::array({"loglevel=4", "x=${not-nix}", "back\\slash", "$HOME"}));
  EXPECT_EQ(c["systemd"]["services"]["blixard-ready"]["script"], "echo BLIXARD-GUEST-READY > /dev/console");
  EXPECT_EQ(c["systemd"]["services"]["blixard-ready"]["wantedBy"], nlohmann::json::array({"multi-user.target"}));

  const nlohmann::json& m = c["microvm"];
  EXPECT_EQ(m["hypervisor"], "qemu");
  EXPECT_EQ(m["vcpu"], 2);
  EXPECT_EQ(m["mem"], 384);
  EXPECT_EQ(m["socket"], "/var/lib/blixard/vms/web-1/control.sock");
  ASSERT_EQ(m["volumes"].size(), 2u);
  EXPECT_EQ(m["volumes"][0], nlohmann::json({{"image", "/data/a.img"}, {"mountPoint", nullptr},
                                             {"autoCreate", false}, {"size", 0}}));
  EXPECT_EQ(m["volumes"][1]["image"], "/data/b b.img");
  EXPECT_EQ(m["shares"], nlohmann::json::array({{{"proto", "9p"}, {"tag", "www"}, {"source", "/srv/www"},
                                                 {"mountPoint", "/var/www"}}}));
  EXPECT_EQ(m["interfaces"], nlohmann::json::array({{{"type", "user"}, {"id", "net0"},
                                                     {"mac", DerivedMac("web-1")}}}));
  ASSERT_EQ(m["forwardPorts"].size(), 2u);
  EXPECT_EQ(m["forwardPorts"][0], nlohmann::json({{"from", "host"}, {"proto", "tcp"},
                                                  {"host", {{"address", "127.0.0.1"}, {"port", 8080}}},
                                                  {"guest", {{"port", 80}}}}));
  EXPECT_EQ(m["forwardPorts"][1]["proto"], "udp");
  EXPECT_EQ(m["forwardPorts"][1]["host"]["address"], "0.0.0.0");
}

TEST_F(MicrovmFlakeEval, AMinimalVmWithATapAndAnotherHypervisor) {
  MicrovmFlakeInput in;
  in.config.name = "db-1";
  in.config.net.mode = NetworkConfig::Mode::kTap;
  in.config.net.tap = "blx-db-1";
  in.config.net.mac = "52:54:00:aa:bb:cc";
  in.hypervisor = "firecracker";
  in.runtime_dir = "/run/vms/db-1";
  nlohmann::json j = Eval(BuildMicrovmFlake(in));
  const nlohmann::json& m = j["vm"]["config"]["microvm"];
  EXPECT_EQ(m["hypervisor"], "firecracker");
  EXPECT_EQ(m["vcpu"], 1);
  EXPECT_EQ(m["mem"], 128);
  EXPECT_EQ(m["volumes"], nlohmann::json::array());
  EXPECT_EQ(m["shares"], nlohmann::json::array());
  EXPECT_EQ(m["forwardPorts"], nlohmann::json::array());
  EXPECT_EQ(m["interfaces"], nlohmann::json::array({{{"type", "tap"}, {"id", "blx-db-1"},
                                                     {"mac", "52:54:00:aa:bb:cc"}}}));
  EXPECT_EQ(j["vm"]["config"]["boot"]["kernelParams"], nlohmann::json::array());
  EXPECT_EQ(j["packages"]["x86_64-linux"]["default"], "runner-of-the-stub");
}

}  // namespace
}  // namespace blixard::vmm
