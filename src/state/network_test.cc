// VM networking in the replicated state: spec validation, published ports
// unique in the cluster, bridge addresses allocated lowest-free at apply.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <string>

#include "state/cluster_state.h"
#include "state/commands.h"
#include "state/network.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

v1::VmSpec Vm(const std::string& name, v1::NetworkMode mode = v1::NETWORK_MODE_UNSPECIFIED) {
  v1::VmSpec s;
  s.set_name(name);
  s.set_vcpus(1);
  s.set_memory_mib(128);
  s.set_network(mode);
  return s;
}

v1::PortPublish* Publish(v1::VmSpec& s, uint32_t host, uint32_t guest,
                         v1::PortProtocol proto = v1::PORT_PROTOCOL_UNSPECIFIED) {
  v1::PortPublish* p = s.add_publish();
  p->set_host_port(host);
  p->set_guest_port(guest);
  p->set_protocol(proto);
  return p;
}

class Applier {
 public:
  ApplyResult Do(const v1::Command& cmd) { return state.Apply(cmd, ++index); }
  ApplyResult Create(const v1::VmSpec& spec) { return Do(MakeCreateVm(spec, true, 1000)); }
  ApplyResult Delete(const std::string& name) { return Do(MakeDeleteVm(name, 1000)); }
  ClusterState state;
  uint64_t index = 0;
};

TEST(Ipv4, ParsesAndFormatsDottedQuads) {
  EXPECT_EQ(*ParseIpv4("10.77.0.1"), 0x0a4d0001u);
  EXPECT_EQ(FormatIpv4(0x0a4d0001u), "10.77.0.1");
  for (const char* bad : {"", "10.77.0", "10.77.0.256", "10.77.0.01", "a.b.c.d", "1.2.3.4.5", "1.2.3.4 "}) {
    EXPECT_FALSE(ParseIpv4(bad).ok()) << bad;
  }
}

TEST(Ipv4, SubnetsNeedAPrefixAndNoHostBits) {
  auto s = ParseSubnet("10.77.0.0/16");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(FormatIpv4(s->gateway()), "10.77.0.1");
  EXPECT_EQ(FormatIpv4(s->first_vm()), "10.77.0.2");
  EXPECT_EQ(FormatIpv4(s->last_vm()), "10.77.255.254");
  EXPECT_NE(ParseSubnet("10.77.0.1/16").status().message().find("use 10.77.0.0/16"), std::string::npos);
  EXPECT_FALSE(ParseSubnet("10.77.0.0").ok());
  EXPECT_FALSE(ParseSubnet("10.77.0.0/31").ok());
  EXPECT_FALSE(ParseSubnet("10.0.0.0/7").ok());
}

TEST(NetworkValidation, PublishNeedsUserNetworking) {
  v1::VmSpec s = Vm("web", v1::NETWORK_MODE_BRIDGE);
  Publish(s, 8080, 80);
  Status st = ValidateVmSpec(s);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("--network user"), std::string::npos) << st.message();
  s.set_network(v1::NETWORK_MODE_USER);
  EXPECT_TRUE(ValidateVmSpec(s).ok());
  s.set_network(v1::NETWORK_MODE_UNSPECIFIED);  // the default is user
  EXPECT_TRUE(ValidateVmSpec(s).ok());
}

TEST(NetworkValidation, RejectsBadPortsProtocolsAddressesAndDuplicates) {
  for (auto [host, guest] : {std::pair<uint32_t, uint32_t>{0, 80}, {8080, 0}, {70000, 80}, {8080, 65536}}) {
    v1::VmSpec s = Vm("web");
    Publish(s, host, guest);
    EXPECT_NE(ValidateVmSpec(s).message().find("ports are 1-65535"), std::string::npos);
  }
  v1::VmSpec s = Vm("web");
  Publish(s, 8080, 80)->set_protocol(static_cast<v1::PortProtocol>(9));
  EXPECT_NE(ValidateVmSpec(s).message().find("use tcp or udp"), std::string::npos);
  s = Vm("web");
  Publish(s, 8080, 80)->set_host_ip("localhost");
  EXPECT_NE(ValidateVmSpec(s).message().find("not an IPv4 address"), std::string::npos);
  s = Vm("web");
  Publish(s, 8080, 80);
  Publish(s, 8080, 81, v1::PORT_PROTOCOL_TCP);
  EXPECT_NE(ValidateVmSpec(s).message().find("tcp/8080 twice"), std::string::npos);
  s = Vm("web");
  Publish(s, 8080, 80);
  Publish(s, 8080, 80, v1::PORT_PROTOCOL_UDP);  // another protocol is another port
  EXPECT_TRUE(ValidateVmSpec(s).ok());
  s = Vm("web");
  s.set_network(static_cast<v1::NetworkMode>(7));
  EXPECT_NE(ValidateVmSpec(s).message().find("use none, user or bridge"), std::string::npos);
}

TEST(NetworkValidation, ReadyPortMustBeReachable) {
  v1::VmSpec s = Vm("web");
  s.set_ready_port(80);
  EXPECT_NE(ValidateVmSpec(s).message().find("--publish HOST:80"), std::string::npos);
  Publish(s, 8080, 80, v1::PORT_PROTOCOL_UDP);
  EXPECT_FALSE(ValidateVmSpec(s).ok()) << "a UDP publish does not carry a TCP probe";
  Publish(s, 8081, 80);
  EXPECT_TRUE(ValidateVmSpec(s).ok());
  s = Vm("web", v1::NETWORK_MODE_BRIDGE);
  s.set_ready_port(22);
  EXPECT_TRUE(ValidateVmSpec(s).ok());
  s.set_network(v1::NETWORK_MODE_NONE);
  EXPECT_NE(ValidateVmSpec(s).message().find("no network"), std::string::npos);
  s.set_ready_port(65536);
  EXPECT_FALSE(ValidateVmSpec(s).ok());
}

TEST(NetworkState, APublishedPortIsRefusedNamingTheVmThatHasItUntilThatVmIsDeleted) {
  Applier a;
  v1::VmSpec web = Vm("web-1");
  Publish(web, 8080, 80);
  ASSERT_TRUE(a.Create(web).status.ok());
  v1::VmSpec clash = Vm("web-2");
  Publish(clash, 9090, 90);
  Publish(clash, 8080, 81);
  ApplyResult r = a.Create(clash);
  EXPECT_EQ(r.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status.message().find("tcp/8080 is already published by vm \"web-1\""), std::string::npos)
      << r.status.message();
  EXPECT_EQ(a.state.FindVm("web-2"), nullptr);
  EXPECT_EQ(a.state.PublisherOf(v1::PORT_PROTOCOL_TCP, 9090), nullptr) << "a refused create reserved a port";
  v1::VmSpec udp = Vm("dns");
  Publish(udp, 8080, 53, v1::PORT_PROTOCOL_UDP);
  EXPECT_TRUE(a.Create(udp).status.ok()) << "udp/8080 is not tcp/8080";
  ASSERT_TRUE(a.Delete("web-1").status.ok());
  EXPECT_TRUE(a.Create(clash).status.ok());
  EXPECT_EQ(*a.state.PublisherOf(v1::PORT_PROTOCOL_TCP, 8080), "web-2");
  EXPECT_TRUE(a.state.CheckInvariants().ok());
}

TEST(NetworkState, BridgeVmsGetTheLowestFreeAddressAndReleaseItOnDelete) {
  Applier a;
  auto ip = [&](const std::string& name) { return a.state.FindVm(name)->ipv4_address(); };
  ASSERT_TRUE(a.Create(Vm("a", v1::NETWORK_MODE_BRIDGE)).status.ok());
  ASSERT_TRUE(a.Create(Vm("u")).status.ok());
  ASSERT_TRUE(a.Create(Vm("b", v1::NETWORK_MODE_BRIDGE)).status.ok());
  EXPECT_EQ(ip("a"), "10.77.0.2/16");
  EXPECT_EQ(a.state.FindVm("a")->ipv4_gateway(), "10.77.0.1");
  EXPECT_EQ(ip("u"), "");
  EXPECT_EQ(ip("b"), "10.77.0.3/16");
  ASSERT_TRUE(a.Delete("a").status.ok());
  ASSERT_TRUE(a.Create(Vm("c", v1::NETWORK_MODE_BRIDGE)).status.ok());
  EXPECT_EQ(ip("c"), "10.77.0.2/16");
  EXPECT_TRUE(a.state.CheckInvariants().ok());
}

TEST(NetworkState, TheSubnetChangesOnlyWhileNoVmHoldsAnAddress) {
  Applier a;
  EXPECT_EQ(a.state.vm_subnet(), "10.77.0.0/16");
  EXPECT_EQ(a.Do(MakeSetVmSubnet("10.9.0.1/24", 1)).status.code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(a.Do(MakeSetVmSubnet("192.168.50.0/30", 1)).status.ok());
  ASSERT_TRUE(a.Create(Vm("a", v1::NETWORK_MODE_BRIDGE)).status.ok());
  EXPECT_EQ(a.state.FindVm("a")->ipv4_address(), "192.168.50.2/30");
  ApplyResult full = a.Create(Vm("b", v1::NETWORK_MODE_BRIDGE));
  EXPECT_EQ(full.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(full.status.message().find("all 1 addresses of subnet 192.168.50.0/30 are taken"),
            std::string::npos)
      << full.status.message();
  ApplyResult change = a.Do(MakeSetVmSubnet("10.1.0.0/16", 1));
  EXPECT_EQ(change.status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(change.status.message().find("vm \"a\""), std::string::npos) << change.status.message();
  ASSERT_TRUE(a.Delete("a").status.ok());
  EXPECT_TRUE(a.Do(MakeSetVmSubnet("10.1.0.0/16", 1)).status.ok());
  EXPECT_EQ(a.state.vm_subnet(), "10.1.0.0/16");
}

TEST(NetworkState, SnapshotsKeepTheSubnetAddressesAndPublishedPorts) {
  Applier a;
  ASSERT_TRUE(a.Do(MakeSetVmSubnet("10.5.0.0/24", 1)).status.ok());
  ASSERT_TRUE(a.Create(Vm("a", v1::NETWORK_MODE_BRIDGE)).status.ok());
  v1::VmSpec web = Vm("web");
  Publish(web, 8080, 80);
  ASSERT_TRUE(a.Create(web).status.ok());
  ClusterState copy;
  ASSERT_TRUE(copy.RestoreSnapshot(a.state.EncodeSnapshot()).ok());
  EXPECT_EQ(copy, a.state);
  EXPECT_EQ(copy.vm_subnet(), "10.5.0.0/24");
  ASSERT_NE(copy.PublisherOf(v1::PORT_PROTOCOL_TCP, 8080), nullptr);
  ClusterState next = copy;
  ASSERT_TRUE(next.Apply(MakeCreateVm(Vm("b", v1::NETWORK_MODE_BRIDGE), true, 1), copy.applied_index() + 1).status.ok());
  EXPECT_EQ(next.FindVm("b")->ipv4_address(), "10.5.0.3/24");

  // A snapshot where two VMs share an address is refused.
  v1::ClusterStateSnapshot snap;
  ASSERT_TRUE(snap.ParseFromString(next.EncodeSnapshot()));
  snap.mutable_vms(1)->set_ipv4_address("10.5.0.2/24");
  ClusterState bad;
  Status s = bad.RestoreSnapshot(snap.SerializeAsString());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("shares address"), std::string::npos) << s.message();
}

// Any sequence of creates and deletes (bridge, user, with ports) in a small
// subnet: every create of a bridge VM gets the lowest address free at that
// moment or is refused only when none is free; no two VMs ever hold one
// address; deletes free addresses; and the invariants hold throughout.
RC_GTEST_PROP(NetworkProperties, BridgeAddressesAreLowestFreeAndNeverShared, ()) {
  Applier a;
  RC_ASSERT(a.Do(MakeSetVmSubnet("10.8.0.0/28", 1)).status.ok());  // 13 VM addresses: .2-.14
  const auto subnet = *ParseSubnet("10.8.0.0/28");
  std::map<std::string, uint32_t> model;  // bridge VM -> address
  std::set<std::string> names;
  const int steps = *rc::gen::inRange(1, 80);
  for (int i = 0; i < steps; ++i) {
    const std::string name = "vm-" + std::to_string(*rc::gen::inRange(0, 20));
    const int op = *rc::gen::inRange(0, 3);
    if (op == 0) {
      ApplyResult r = a.Delete(name);
      RC_ASSERT(r.status.ok() == (names.count(name) == 1));
      names.erase(name);
      model.erase(name);
    } else {
      const bool bridge = op == 1;
      ApplyResult r = a.Create(Vm(name, bridge ? v1::NETWORK_MODE_BRIDGE : v1::NETWORK_MODE_USER));
      if (names.count(name)) {
        RC_ASSERT(r.status.code() == StatusCode::kAlreadyExists);
        continue;
      }
      std::set<uint32_t> used;
      for (const auto& [n, ip] : model) used.insert(ip);
      uint32_t lowest = subnet.first_vm();
      while (used.count(lowest)) ++lowest;
      if (bridge && lowest > subnet.last_vm()) {
        RC_ASSERT(r.status.code() == StatusCode::kFailedPrecondition);
        continue;
      }
      RC_ASSERT(r.status.ok());
      names.insert(name);
      if (bridge) {
        RC_ASSERT(r.vm->ipv4_address() == FormatIpv4(lowest) + "/28");
        model[name] = lowest;
      } else {
        RC_ASSERT(r.vm->ipv4_address().empty());
      }
    }
    std::set<std::string> seen;
    for (const auto& [n, vm] : a.state.vms()) {
      if (!vm.ipv4_address().empty()) RC_ASSERT(seen.insert(vm.ipv4_address()).second);
    }
    RC_ASSERT(a.state.CheckInvariants().ok());
  }
  ClusterState copy;
  RC_ASSERT(copy.RestoreSnapshot(a.state.EncodeSnapshot()).ok());
  RC_ASSERT(copy == a.state);
}

}  // namespace
}  // namespace blixard::state
