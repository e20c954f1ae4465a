// ClusterState: bridge VM addresses and published ports (cluster-wide
// unique, allocated at apply; see cluster_state.h).
#include <string>

#include "state/cluster_state.h"
#include "state/network.h"
#include "state/validation.h"

namespace blixard::state {
namespace {

// Address text "a.b.c.d/N" -> the address; 0 if it does not parse.
uint32_t AddressOf(const v1::Vm& vm) {
  const std::string& text = vm.ipv4_address();
  auto ip = ParseIpv4(std::string_view(text).substr(0, text.find('/')));
  return ip.ok() ? *ip : 0;
}

}  // namespace

std::string ClusterState::vm_subnet() const {
  return vm_subnet_.empty() ? std::string(kDefaultVmSubnet) : vm_subnet_;
}

const std::string* ClusterState::PublisherOf(int protocol, uint32_t host_port) const {
  auto it = published_.find({protocol, host_port});
  return it == published_.end() ? nullptr : &it->second;
}

Status ClusterState::ReserveNetwork(v1::Vm& vm) {
  const v1::VmSpec& spec = vm.spec();
  for (const v1::PortPublish& p : spec.publish()) {
    if (const std::string* owner = PublisherOf(PublishProtocol(p), p.host_port())) {
      return Status::FailedPrecondition(
          "host port " + PublishKeyText(p) + " is already published by vm " + Quote(*owner) +
          ": published ports are unique in the cluster; choose another host port or delete " +
          Quote(*owner));
    }
  }
  if (!UsesBridgeNetwork(spec)) return Status::Ok();
  auto subnet = ParseSubnet(vm_subnet());  // valid: checked when it was set
  if (!subnet.ok()) return Status::Internal(subnet.status().message());
  // Lowest free address: walk the allocated ones in order until a gap.
  uint32_t candidate = subnet->first_vm();
  for (auto it = addresses_.lower_bound(candidate);
       it != addresses_.end() && it->first == candidate; ++it) {
    ++candidate;
  }
  if (candidate > subnet->last_vm()) {
    return Status::FailedPrecondition(
        "vm " + Quote(spec.name()) + " needs a bridge address but all " +
        std::to_string(subnet->last_vm() - subnet->first_vm() + 1) + " addresses of subnet " +
        subnet->ToString() + " are taken: delete a bridge VM or use --network user");
  }
  vm.set_ipv4_address(FormatIpv4(candidate) + "/" + std::to_string(subnet->prefix));
  vm.set_ipv4_gateway(FormatIpv4(subnet->gateway()));
  return Status::Ok();
}

void ClusterState::IndexNetwork(const v1::Vm& vm) {
  for (const v1::PortPublish& p : vm.spec().publish()) {
    published_.emplace(std::make_pair(PublishProtocol(p), p.host_port()), vm.spec().name());
  }
  if (!vm.ipv4_address().empty()) addresses_.emplace(AddressOf(vm), vm.spec().name());
}

void ClusterState::UnindexNetwork(const v1::Vm& vm) {
  for (const v1::PortPublish& p : vm.spec().publish()) {
    auto it = published_.find({PublishProtocol(p), p.host_port()});
    if (it != published_.end() && it->second == vm.spec().name()) published_.erase(it);
  }
  if (!vm.ipv4_address().empty()) {
    auto it = addresses_.find(AddressOf(vm));
    if (it != addresses_.end() && it->second == vm.spec().name()) addresses_.erase(it);
  }
}

Status ClusterState::ApplySetVmSubnet(const v1::SetVmSubnet& op) {
  auto subnet = ParseSubnet(op.cidr());
  if (!subnet.ok()) return subnet.status();
  const std::string cidr = subnet->ToString();
  if (cidr == vm_subnet()) return Status::Ok();
  if (!addresses_.empty()) {
    return Status::FailedPrecondition(
        "the VM subnet is " + vm_subnet() + " and " + std::to_string(addresses_.size()) +
        " bridge VMs hold addresses from it (vm " + Quote(addresses_.begin()->second) +
        ", ...): delete them before changing it to " + cidr);
  }
  vm_subnet_ = cidr == kDefaultVmSubnet ? "" : cidr;
  return Status::Ok();
}

Status ClusterState::CheckNetworkInvariants() const {
  auto broken = [](std::string what) { return Status::Internal("invariant broken: " + what); };
  auto subnet = ParseSubnet(vm_subnet());
  if (!subnet.ok()) return broken(subnet.status().message());
  size_t published = 0, addressed = 0;
  for (const auto& [name, vm] : vms_) {
    const std::string what = "vm " + Quote(name);
    for (const v1::PortPublish& p : vm.spec().publish()) {
      ++published;
      const std::string* owner = PublisherOf(PublishProtocol(p), p.host_port());
      if (!owner || *owner != name) {
        return broken(what + " publishes " + PublishKeyText(p) + ", which the index gives to " +
                      (owner ? Quote(*owner) : std::string("nobody")));
      }
    }
    const bool bridge = UsesBridgeNetwork(vm.spec());
    if (bridge != !vm.ipv4_address().empty()) {
      return broken(what + (bridge ? " is a bridge VM without an address"
                                   : " has address " + vm.ipv4_address() + " but no bridge network"));
    }
    if (!bridge) continue;
    ++addressed;
    const uint32_t ip = AddressOf(vm);
    const std::string expected = FormatIpv4(ip) + "/" + std::to_string(subnet->prefix);
    if (vm.ipv4_address() != expected || !subnet->Contains(ip) || ip < subnet->first_vm() ||
        ip > subnet->last_vm() || vm.ipv4_gateway() != FormatIpv4(subnet->gateway())) {
      return broken(what + " has address " + vm.ipv4_address() + " via " + vm.ipv4_gateway() +
                    ", not a VM address of subnet " + subnet->ToString());
    }
    auto owner = addresses_.find(ip);
    if (owner == addresses_.end() || owner->second != name) {
      return broken(what + " shares address " + vm.ipv4_address() + " with vm " +
                    (owner == addresses_.end() ? std::string("<none>") : Quote(owner->second)));
    }
  }
  if (published != published_.size() || addressed != addresses_.size()) {
    return broken("the network index holds " + std::to_string(published_.size()) + " ports and " +
                  std::to_string(addresses_.size()) + " addresses, not " + std::to_string(published) +
                  " and " + std::to_string(addressed));
  }
  return Status::Ok();
}

}  // namespace blixard::state
