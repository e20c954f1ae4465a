#include "cli/output.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace blixard::cli {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

v1::Vm MakeVm(const std::string& name, v1::VmPhase phase, v1::DesiredState desired) {
  v1::Vm vm;
  vm.mutable_spec()->set_name(name);
  vm.mutable_spec()->set_vcpus(2);
  vm.mutable_spec()->set_memory_mib(256);
  vm.set_desired_state(desired);
  vm.mutable_status()->set_phase(phase);
  vm.set_created_at_unix_ms(kNow - 125'000);
  return vm;
}

TEST(RenderTable, AlignsColumnsWithoutTrailingSpaces) {
  EXPECT_EQ(RenderTable({"NAME", "STATE"}, {{"web-1", "RUNNING"}, {"a", ""}}),
            "NAME   STATE\n"
            "web-1  RUNNING\n"
            "a\n");
}

TEST(RenderTable, PrintsTheHeaderForNoRows) { EXPECT_EQ(RenderTable({"ID", "ADDRESS"}, {}), "ID  ADDRESS\n"); }

TEST(RenderFields, AlignsValues) {
  EXPECT_EQ(RenderFields({{"name", "web-1"}, {"generation", "3"}}),
            "name:       web-1\n"
            "generation: 3\n");
}

TEST(FormatAge, UsesTheLargestWholeUnit) {
  EXPECT_EQ(FormatAge(kNow - 5'000, kNow), "5s");
  EXPECT_EQ(FormatAge(kNow - 59'999, kNow), "59s");
  EXPECT_EQ(FormatAge(kNow - 3 * 60'000 - 10'000, kNow), "3m");
  EXPECT_EQ(FormatAge(kNow - 2 * 3'600'000, kNow), "2h");
  EXPECT_EQ(FormatAge(kNow - 4 * 86'400'000LL - 5, kNow), "4d");
}

TEST(FormatAge, UnknownAndFutureTimes) {
  EXPECT_EQ(FormatAge(0, kNow), "-");
  EXPECT_EQ(FormatAge(kNow + 10'000, kNow), "0s");
}

TEST(FormatMemoryMib, UsesGiWhenEven) {
  EXPECT_EQ(FormatMemoryMib(128), "128Mi");
  EXPECT_EQ(FormatMemoryMib(2048), "2Gi");
  EXPECT_EQ(FormatMemoryMib(1536), "1536Mi");
  EXPECT_EQ(FormatMemoryMib(1024 * 1024), "1Ti");
  EXPECT_EQ(FormatMemoryMib(0), "0Mi");
}

TEST(VmStateText, ShowsDesiredStateOnlyWhileNotReached) {
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_PENDING, v1::DESIRED_STATE_RUNNING)), "PENDING (want running)");
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_RUNNING, v1::DESIRED_STATE_RUNNING)), "RUNNING");
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_READY, v1::DESIRED_STATE_RUNNING)), "READY");
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_RUNNING, v1::DESIRED_STATE_STOPPED)), "RUNNING (want stopped)");
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_STOPPED, v1::DESIRED_STATE_STOPPED)), "STOPPED");
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_UNSPECIFIED, v1::DESIRED_STATE_RUNNING)),
            "UNKNOWN (want running)");
}

TEST(VmReachedDesired, RunningOrReadyForRunningStoppedForStopped) {
  EXPECT_TRUE(VmReachedDesired(MakeVm("a", v1::VM_PHASE_READY, v1::DESIRED_STATE_RUNNING)));
  EXPECT_FALSE(VmReachedDesired(MakeVm("a", v1::VM_PHASE_STARTING, v1::DESIRED_STATE_RUNNING)));
  EXPECT_FALSE(VmReachedDesired(MakeVm("a", v1::VM_PHASE_FAILED, v1::DESIRED_STATE_RUNNING)));
  EXPECT_TRUE(VmReachedDesired(MakeVm("a", v1::VM_PHASE_STOPPED, v1::DESIRED_STATE_STOPPED)));
  EXPECT_FALSE(VmReachedDesired(MakeVm("a", v1::VM_PHASE_STOPPING, v1::DESIRED_STATE_STOPPED)));
}

TEST(VmTable, ListsNameStateNodeVcpusMemoryAge) {
  google::protobuf::RepeatedPtrField<v1::Vm> vms;
  *vms.Add() = MakeVm("web-1", v1::VM_PHASE_PENDING, v1::DESIRED_STATE_RUNNING);
  v1::Vm placed = MakeVm("db", v1::VM_PHASE_RUNNING, v1::DESIRED_STATE_RUNNING);
  placed.set_node_id(2);
  *vms.Add() = placed;
  EXPECT_EQ(VmTable(vms, kNow),
            "NAME   STATE                   NODE  VCPUS  MEMORY  AGE\n"
            "web-1  PENDING (want running)  -     2      256Mi   2m\n"
            "db     RUNNING                 2     2      256Mi   2m\n");
}

TEST(VmTable, ShowsAddressesWhenAVmHasABridgeAddressOrPublishedPorts) {
  google::protobuf::RepeatedPtrField<v1::Vm> vms;
  v1::Vm bridged = MakeVm("db", v1::VM_PHASE_READY, v1::DESIRED_STATE_RUNNING);
  bridged.set_node_id(1);
  bridged.set_ipv4_address("10.77.0.2/16");
  *vms.Add() = bridged;
  v1::Vm published = MakeVm("web", v1::VM_PHASE_READY, v1::DESIRED_STATE_RUNNING);
  published.set_node_id(1);
  v1::PortPublish* p = published.mutable_spec()->add_publish();
  p->set_host_port(8080);
  p->set_guest_port(80);
  *vms.Add() = published;
  *vms.Add() = MakeVm("quiet", v1::VM_PHASE_STOPPED, v1::DESIRED_STATE_STOPPED);
  EXPECT_EQ(VmTable(vms, kNow),
            "NAME   STATE    NODE  VCPUS  MEMORY  AGE  ADDRESSES\n"
            "db     READY    1     2      256Mi   2m   10.77.0.2/16\n"
            "web    READY    1     2      256Mi   2m   127.0.0.1:8080->80/tcp\n"
            "quiet  STOPPED  -     2      256Mi   2m   -\n");
}

TEST(VmDetails, SortsLabelsAndNamesDefaults) {
  v1::Vm vm = MakeVm("web-1", v1::VM_PHASE_RUNNING, v1::DESIRED_STATE_RUNNING);
  (*vm.mutable_spec()->mutable_labels())["zone"] = "b";
  (*vm.mutable_spec()->mutable_labels())["app"] = "web";
  std::string text = VmDetails(vm, kNow);
  EXPECT_NE(text.find("name:           web-1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("labels:         app=web,zone=b\n"), std::string::npos) << text;
  EXPECT_NE(text.find("restart:        on-failure\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kernel:         (node default)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("(2m ago)"), std::string::npos) << text;
}

TEST(VmDetails, ShowsNodeReasonAndUptime) {
  v1::Vm vm = MakeVm("web-1", v1::VM_PHASE_READY, v1::DESIRED_STATE_RUNNING);
  vm.set_node_id(3);
  vm.mutable_status()->set_message("ready");
  vm.mutable_status()->set_running_since_unix_ms(kNow - 90'000);
  std::string text = VmDetails(vm, kNow);
  EXPECT_NE(text.find("node:           3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("reason:         ready\n"), std::string::npos) << text;
  EXPECT_NE(text.find("uptime:         1m\n"), std::string::npos) << text;
  vm.mutable_status()->set_phase(v1::VM_PHASE_STOPPED);
  vm.mutable_status()->set_running_since_unix_ms(0);
  EXPECT_NE(VmDetails(vm, kNow).find("uptime:         -\n"), std::string::npos);
}

TEST(VmDetails, ShowsTheNetworkAndWhereTheVmIsReached) {
  v1::Vm vm = MakeVm("web-1", v1::VM_PHASE_READY, v1::DESIRED_STATE_RUNNING);
  EXPECT_NE(VmDetails(vm, kNow).find("network:        user\n"), std::string::npos);
  EXPECT_EQ(VmAddresses(vm), "-");
  v1::PortPublish* p = vm.mutable_spec()->add_publish();
  p->set_host_port(8080);
  p->set_guest_port(80);
  p = vm.mutable_spec()->add_publish();
  p->set_host_ip("0.0.0.0");
  p->set_host_port(5353);
  p->set_guest_port(53);
  p->set_protocol(v1::PORT_PROTOCOL_UDP);
  vm.mutable_spec()->set_ready_port(80);
  std::string text = VmDetails(vm, kNow);
  EXPECT_NE(text.find("addresses:      127.0.0.1:8080->80/tcp,0.0.0.0:5353->53/udp\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ready when:     tcp port 80 answers\n"), std::string::npos) << text;
  vm.mutable_spec()->clear_publish();
  vm.mutable_spec()->set_network(v1::NETWORK_MODE_BRIDGE);
  vm.set_ipv4_address("10.77.0.2/16");
  text = VmDetails(vm, kNow);
  EXPECT_NE(text.find("network:        bridge\n"), std::string::npos) << text;
  EXPECT_NE(text.find("addresses:      10.77.0.2/16\n"), std::string::npos) << text;
}

TEST(VmStateText, APausedVmHasReachedRunning) {
  EXPECT_EQ(VmStateText(MakeVm("a", v1::VM_PHASE_PAUSED, v1::DESIRED_STATE_RUNNING)), "PAUSED");
}

TEST(EnumNames, DropPrefixAndLowerCase) {
  EXPECT_EQ(PhaseName(v1::VM_PHASE_STARTING), "starting");
  EXPECT_EQ(RoleName(v1::NODE_ROLE_LEARNER), "learner");
  EXPECT_EQ(HealthName(v1::NODE_HEALTH_UNSPECIFIED), "-");
  EXPECT_EQ(RestartPolicyName(v1::RESTART_POLICY_ON_FAILURE), "on-failure");
}

TEST(ClusterStatusText, ShowsIndexesAndMarksTheLeader) {
  v1::GetClusterStatusResponse st;
  st.set_cluster_id("c-1");
  st.set_node_id(2);
  st.set_term(7);
  st.set_leader_id(1);
  st.set_commit_index(40);
  st.set_role("follower");
  auto* m1 = st.add_members();
  m1->set_id(1);
  m1->set_address("127.0.0.1:7001");
  m1->set_role(v1::NODE_ROLE_VOTER);
  m1->set_match_index(40);
  m1->set_last_contact_ms_ago(-1);
  auto* m2 = st.add_members();
  m2->set_id(2);
  m2->set_address("127.0.0.1:7002");
  m2->set_role(v1::NODE_ROLE_VOTER);
  m2->set_last_contact_ms_ago(12);
  std::string text = ClusterStatusText(st);
  EXPECT_NE(text.find("cluster:        c-1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("answered by:    node 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("leader:         node 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("commit index:   40\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ID  ADDRESS         ROLE            MATCH  CONTACT\n"
                      "1   127.0.0.1:7001  voter (leader)  40     -\n"
                      "2   127.0.0.1:7002  voter           -      12ms\n"),
            std::string::npos)
      << text;
}

TEST(TokenTable, ShowsUsesExpiryAndWhoMadeEachButNoSecret) {
  google::protobuf::RepeatedPtrField<v1::Token> join;
  v1::Token* t = join.Add();
  t->set_id("00000000000000a1");
  t->set_kind(v1::TOKEN_KIND_JOIN_WORKER);
  t->set_max_uses(3);
  t->set_uses(1);
  t->set_created_unix_ms(kNow - 120'000);
  t->set_expires_unix_ms(kNow - 1);
  t->set_created_by("client root (admin)");
  EXPECT_EQ(TokenTable(join, true, kNow),
            "ID                ROLE    USES  EXPIRES  AGE  CREATED BY\n"
            "00000000000000a1  worker  1/3   expired  2m   client root (admin)\n");
  google::protobuf::RepeatedPtrField<v1::Token> clients;
  t = clients.Add();
  t->set_id("00000000000000c1");
  t->set_kind(v1::TOKEN_KIND_CLIENT);
  t->set_role("reader");
  t->set_name("rita");
  t->set_created_unix_ms(kNow);
  EXPECT_EQ(TokenTable(clients, false, kNow),
            "ID                NAME  ROLE    EXPIRES  AGE  CREATED BY\n"
            "00000000000000c1  rita  reader  never    0s   -\n");
}

TEST(ToJson, UsesProtoFieldNamesAndPrintsDefaults) {
  v1::ListVmsResponse resp;
  v1::Vm vm = MakeVm("web-1", v1::VM_PHASE_PENDING, v1::DESIRED_STATE_RUNNING);
  (*vm.mutable_spec()->mutable_labels())["b"] = "2";
  (*vm.mutable_spec()->mutable_labels())["a"] = "1";
  *resp.add_vms() = vm;
  auto j = nlohmann::json::parse(ToJson(resp));
  const auto& v = j.at("vms").at(0);
  EXPECT_EQ(v.at("spec").at("name"), "web-1");
  EXPECT_EQ(v.at("spec").at("memory_mib"), "256");  // proto3 JSON: 64-bit ints are strings
  EXPECT_EQ(v.at("desired_state"), "DESIRED_STATE_RUNNING");
  EXPECT_EQ(v.at("node_id"), "0");  // default still printed
  EXPECT_EQ(v.at("status").at("phase"), "VM_PHASE_PENDING");
  EXPECT_EQ(v.at("spec").at("labels").dump(), R"({"a":"1","b":"2"})");
  EXPECT_EQ(ToJson(resp), ToJson(resp));
}

TEST(ToJson, EmptyListIsAnEmptyArray) {
  auto j = nlohmann::json::parse(ToJson(v1::ListVmsResponse()));
  ASSERT_TRUE(j.at("vms").is_array());
  EXPECT_TRUE(j.at("vms").empty());
}

TEST(GrpcCodeName, NamesAllCodes) {
  EXPECT_STREQ(GrpcCodeName(6), "ALREADY_EXISTS");
  EXPECT_STREQ(GrpcCodeName(14), "UNAVAILABLE");
  EXPECT_STREQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_STREQ(GrpcCodeName(99), "UNKNOWN");
}

}  // namespace
}  // namespace blixard::cli
