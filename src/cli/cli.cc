// CLI11 wiring: which subcommands and flags exist, and which function in
// commands.h (or the daemon) each one calls. The only file including CLI11.
#include "cli/cli.h"

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/contexts.h"
#include "cli/parse.h"
#include "cli/version.h"
#include "state/settings.h"

namespace blixard::cli {
namespace {

// Everything the parser fills; one subcommand runs, so they share fields.
struct Args {
  ClientOptions client;
  VmCreateArgs create;
  std::string name_flag;  // `vm create --name NAME`, the original CLI's form
  std::string name;
  std::string value;
  bool stale = false;
  bool follow = false;
  uint64_t id = 0;
  std::string deadline;
  std::string label;  // `vm label NAME KEY=VALUE`
  uint32_t uses = 0;  // `cluster token create --uses`
  std::string out;    // `cert create --out`
  std::string cert_lifetime;  // `node --cert-lifetime`
  Context context;            // `context add`
  WaitOptions wait;
  daemon::DaemonOptions daemon;
  std::function<int()> action;  // set by the callback of the chosen subcommand
};

void AddWaitFlags(CLI::App* cmd, WaitOptions& wait) {
  cmd->add_flag("--wait", wait.enabled, "wait until the VM reaches its desired state, showing progress");
  cmd->add_option("--wait-timeout", wait.seconds, "give up waiting after this many seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

// A CLI11 check built from one of the parse.h functions.
template <typename F>
CLI::Validator Check(F parse, std::string what) {
  return CLI::Validator(
      [parse](std::string& s) -> std::string {
        auto r = parse(s);
        return r.ok() ? std::string() : r.status().message();
      },
      std::move(what));
}

// CLI11's message, reworded where it misleads, then the usage of the
// deepest subcommand given.
std::string FailureWithUsage(const CLI::App* app, const CLI::Error& e) {
  const CLI::App* sub = app;
  std::string path = app->get_name();
  while (!sub->get_subcommands().empty()) {
    sub = sub->get_subcommands().front();
    path += " " + sub->get_name();
  }
  std::string message = e.what();
  const auto extra = app->remaining(true);
  if (message.find("subcommand is required") != std::string::npos && !extra.empty()) {
    message = "unknown command \"" + extra.front() + "\" for \"" + path + "\"";
  }
  return "error: " + message + "\n\n" + app->help();
}

void AddTtlOption(CLI::App* cmd, std::string& ttl, const std::string& help, const std::string& shown_default) {
  cmd->add_option("--ttl", ttl, help)->check(Check(ParseDurationSeconds, "duration"))->default_str(shown_default);
}

// `blixard token ...` (clients' bearer tokens) and `blixard cert create`.
void AddCredentialCommands(CLI::App& app, Args& a) {
  const std::vector<std::string> roles = {"admin", "operator", "reader"};
  auto* token = app.add_subcommand("token", "Bearer tokens for clients (BLIXARD_TOKEN), each with a role");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "Print a new client token (shown once: the cluster keeps a hash)");
  create->add_option("--role", a.value, "admin (everything), operator (VMs, drains) or reader (reads only)")
      ->required()
      ->check(CLI::IsMember(roles));
  create->add_option("--name", a.name, "who holds it, for the audit trail (default: the role)");
  AddTtlOption(create, a.deadline, "how long it is valid: 30m, 12h, 90d (default: until revoked)", "never");
  create->callback([&a] {
    a.action = [&a] {
      return TokenCreate(a.client, a.value, a.name, a.deadline.empty() ? 0 : *ParseDurationSeconds(a.deadline));
    };
  });
  token->add_subcommand("list", "List the client tokens (ids, names, roles; never the secrets)")->callback([&a] {
    a.action = [&a] { return TokenList(a.client, /*join=*/false); };
  });
  auto* revoke = token->add_subcommand("revoke", "Revoke a client token: calls with it are refused from then on");
  revoke->add_option("id", a.name, "the token's id (as token list shows it) or the token")->required();
  revoke->callback([&a] { a.action = [&a] { return TokenRevoke(a.client, a.name); }; });

  auto* cert = app.add_subcommand("cert", "Client certificates of the cluster CA");
  cert->require_subcommand(1);
  auto* cert_create = cert->add_subcommand("create", "Make a key and a client certificate for it in --out DIR");
  cert_create->add_option("--role", a.value, "admin, operator or reader")->required()->check(CLI::IsMember(roles));
  cert_create->add_option("--name", a.name, "who holds it, for the audit trail (default: the role)");
  cert_create->add_option("--out", a.out, "directory for ca.crt, client.crt and client.key")->required();
  AddTtlOption(cert_create, a.deadline, "how long it is valid: 12h, 90d, 365d", "90d");
  cert_create->callback([&a] {
    a.action = [&a] {
      return CertCreate(a.client, a.value, a.name, a.deadline.empty() ? 0 : *ParseDurationSeconds(a.deadline), a.out);
    };
  });
  auto* cert_revoke = cert->add_subcommand("revoke", "Revoke a certificate before it expires: servers refuse it");
  cert_revoke->add_option("cert", a.name, "the certificate's file (client.crt) or its serial")->required();
  cert_revoke->callback([&a] { a.action = [&a] { return CertRevoke(a.client, a.name); }; });
}

// `blixard context add|use|list|remove` (contexts.h).
void AddContextCommands(CLI::App& app, Args& a) {
  auto* ctx = app.add_subcommand("context", "Named clusters and credentials in ~/.config/blixard/config");
  ctx->require_subcommand(1);
  auto* add = ctx->add_subcommand("add", "Add (or replace) a context; the first one added becomes current");
  add->add_option("name", a.name, "its name")->required();
  add->add_option("--addr", a.context.addr, "the daemon: HOST:PORT or unix:/path")->required();
  add->add_option("--ca", a.context.ca, "the cluster CA certificate (a node's DATA_DIR/tls/ca.crt)");
  add->add_option("--token", a.context.token, "a client token (blixard token create)");
  add->add_option("--cert", a.context.cert, "a client certificate (blixard cert create)");
  add->add_option("--key", a.context.key, "its key");
  add->add_option("--data-dir", a.context.data_dir, "a node's data dir whose admin credential to use");
  add->add_flag("--insecure", a.context.insecure, "plaintext, for a cluster started with --insecure");
  add->callback([&a] { a.action = [&a] { return ContextAdd(a.name, a.context); }; });
  auto* use = ctx->add_subcommand("use", "Make a context the current one");
  use->add_option("name", a.name, "its name")->required();
  use->callback([&a] { a.action = [&a] { return ContextUse(a.name); }; });
  ctx->add_subcommand("list", "List the contexts (* the current one)")->callback([&a] {
    a.action = [&a] { return ContextList(a.client.output == "json"); };
  });
  auto* remove = ctx->add_subcommand("remove", "Remove a context");
  remove->add_option("name", a.name, "its name")->required();
  remove->callback([&a] { a.action = [&a] { return ContextRemove(a.name); }; });
}

// The current context's settings, where no flag or variable gave one.
// False (the error printed) when the config file is broken.
bool ApplyContext(const CLI::App& app, ClientOptions& o) {
  auto f = LoadContexts(ContextFilePath());
  if (!f.ok()) {
    std::cerr << "error: " << f.status().message() << "\n";
    return false;
  }
  if (f->current.empty()) return true;
  auto it = f->contexts.find(f->current);
  if (it == f->contexts.end()) return true;
  const Context& c = it->second;
  const auto unset = [&](const char* flag) { return app.get_option(flag)->count() == 0; };
  if (unset("--addr") && !c.addr.empty()) o.addr = c.addr;
  if (unset("--data-dir") && !c.data_dir.empty()) o.data_dir = c.data_dir;
  if (unset("--token") && !c.token.empty()) o.token = c.token;
  if (unset("--insecure") && c.insecure) o.insecure = true;
  o.ca_file = c.ca;
  o.cert_file = c.cert;
  o.key_file = c.key;
  return true;
}

void AddVmCommands(CLI::App& app, Args& a) {
  auto* vm = app.add_subcommand("vm", "Create, inspect and control VMs");
  vm->require_subcommand(1);

  auto* create = vm->add_subcommand("create", "Create a VM; it starts unless --stopped");
  VmCreateArgs& c = a.create;
  create->add_option("name", c.name, "VM name (DNS label)");
  create->add_option("--name", a.name_flag, "VM name, instead of the positional NAME");
  create->add_option("--vcpus", c.vcpus, "virtual CPUs")->capture_default_str();
  create->add_option("--memory", c.memory_mib, "memory in MiB")->capture_default_str();
  create->add_option("--kernel", c.kernel, "host path of the guest kernel (default: the node's)");
  create->add_option("--initrd", c.initrd, "host path of the initramfs (default: the node's)");
  create->add_option("--cmdline", c.cmdline, "extra kernel command line");
  create->add_option("--disk", c.disks, "host path of a raw disk image (repeatable)");
  create->add_option("--label", c.labels, "label KEY=VALUE (repeatable)")
      ->type_name("KEY=VALUE")
      ->check(Check(ParseLabel, ""));
  create->add_option("--restart", c.restart, "restart policy: never|on-failure|always (default on-failure)")
      ->type_name("POLICY")
      ->check(Check(ParseRestartPolicy, ""));
  create->add_option("--constraint", c.constraints,
                     "place only on nodes whose labels match KEY=VALUE, or not KEY!=VALUE (repeatable)")
      ->type_name("KEY=VALUE|KEY!=VALUE");
  create->add_option("--anti-affinity-group", c.anti_affinity_group,
                     "never on a node with another VM of this group");
  create->add_option("--strategy", c.strategy, "binpack or spread (default: the cluster setting)")
      ->check(CLI::IsMember({"binpack", "spread"}));
  create->add_flag("--stopped", c.stopped, "create without starting it");
  create->add_option("--network", c.network,
                     "none | user (default: NAT, reachable through --publish) | bridge (a tap on "
                     "the node's bridge, an address from the cluster subnet; needs root on the node)")
      ->type_name("MODE")
      ->check(Check(ParseNetworkMode, ""));
  create->add_option("--publish", c.publish,
                     "forward a node port to the guest (user network; repeatable; host ports are "
                     "unique in the cluster)")
      ->type_name("[IP:]HOST:GUEST[/tcp|udp]")
      ->check(Check(ParsePublish, ""));
  create->add_option("--ready-port", c.ready_port,
                     "ready once the guest accepts TCP on this port (default: the guest's console line)")
      ->check(CLI::Range(1, 65535));
  AddWaitFlags(create, c.wait);
  create->callback([&a] {
    if (!a.create.name.empty() && !a.name_flag.empty() && a.create.name != a.name_flag) {
      throw CLI::ValidationError("name", "NAME and --name differ: give the name once");
    }
    if (a.create.name.empty()) a.create.name = a.name_flag;
    if (a.create.name.empty()) throw CLI::RequiredError("NAME (or --name)");
    a.action = [&a] { return VmCreate(a.client, a.create); };
  });

  auto* list = vm->add_subcommand("list", "List VMs");
  list->add_flag("--stale", a.stale, "answer from the addressed node's local state, without a quorum read");
  list->callback([&a] { a.action = [&a] { return VmList(a.client, a.stale); }; });

  auto* get = vm->add_subcommand("get", "Show one VM");
  get->add_option("name", a.name, "VM name")->required();
  get->add_flag("--stale", a.stale, "answer from the addressed node's local state, without a quorum read");
  get->callback([&a] { a.action = [&a] { return VmGet(a.client, a.name, a.stale); }; });

  struct Verb {
    const char* name;
    const char* help;
    VmVerb verb;
  };
  for (Verb v : {Verb{"start", "Set a VM's desired state to running", VmVerb::kStart},
                 Verb{"stop", "Set a VM's desired state to stopped", VmVerb::kStop},
                 Verb{"delete", "Delete a VM (stopping it first)", VmVerb::kDelete},
                 Verb{"restart", "Stop a running VM and boot it again (starts a stopped one)",
                      VmVerb::kRestart},
                 Verb{"pause", "Stop a running VM's vCPUs", VmVerb::kPause},
                 Verb{"resume", "Continue a paused VM's vCPUs", VmVerb::kResume}}) {
    auto* sub = vm->add_subcommand(v.name, v.help);
    sub->add_option("name", a.name, "VM name")->required();
    if (v.verb == VmVerb::kStart || v.verb == VmVerb::kStop) AddWaitFlags(sub, a.wait);
    sub->callback([&a, verb = v.verb] {
      a.action = [&a, verb] { return VmAct(a.client, verb, a.name, a.wait); };
    });
  }

  auto* label = vm->add_subcommand("label", "Set one label of a VM (the VM keeps running)");
  label->add_option("name", a.name, "VM name")->required();
  label->add_option("label", a.label, "label KEY=VALUE")
      ->required()
      ->type_name("KEY=VALUE")
      ->check(Check(ParseLabel, ""));
  label->callback([&a] { a.action = [&a] { return VmLabel(a.client, a.name, a.label); }; });

  auto* logs = vm->add_subcommand("logs", "Print a VM's console log (from the node that runs it)");
  logs->add_option("name", a.name, "VM name")->required();
  logs->add_flag("-f,--follow", a.follow, "keep printing new output until interrupted");
  logs->callback([&a] { a.action = [&a] { return VmLogs(a.client, a.name, a.follow); }; });
}

void AddClusterCommands(CLI::App& app, Args& a) {
  auto* cluster = app.add_subcommand("cluster", "Inspect and change cluster membership");
  cluster->require_subcommand(1);

  auto* status = cluster->add_subcommand("status", "Raft status of the addressed node and the members");
  status->add_flag("--stale", a.stale, "answer from the addressed node's local state, without a quorum read");
  status->callback([&a] { a.action = [&a] { return ClusterStatus(a.client, a.stale); }; });

  cluster->add_subcommand("members", "List the members")->callback([&a] {
    a.action = [&a] { return ClusterMembers(a.client); };
  });

  auto* transfer = cluster->add_subcommand("transfer-leader", "Hand leadership to another voter");
  transfer->add_option("id", a.id, "node id of the new leader")->required();
  transfer->callback([&a] { a.action = [&a] { return ClusterTransferLeader(a.client, a.id); }; });

  auto* remove = cluster->add_subcommand("remove", "Remove a member from the cluster");
  remove->add_option("id", a.id, "node id to remove")->required();
  remove->callback([&a] { a.action = [&a] { return ClusterRemove(a.client, a.id); }; });

  auto* set = cluster->add_subcommand("set", "Change a cluster setting: " + state::ClusterSettingsSummary());
  std::vector<std::string> keys;
  for (const auto& s : state::ClusterSettings()) keys.emplace_back(s.key);
  set->add_option("key", a.name, "setting")->required()->check(CLI::IsMember(keys));
  set->add_option("value", a.value, "new value (empty: the default)")->required();
  set->callback([&a] { a.action = [&a] { return ClusterSet(a.client, a.name, a.value); }; });
  cluster->add_subcommand("settings", "Show the cluster settings")->callback([&a] {
    a.action = [&a] { return ClusterSettings(a.client); };
  });

  auto* token = cluster->add_subcommand("token", "Join tokens for new nodes");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand("create", "Print a join token: blixard node ... --join ADDR --token T");
  token_create->add_option("--role", a.value, "what the new node joins as: server or worker")
      ->check(CLI::IsMember({"server", "worker"}))
      ->default_str("server");
  AddTtlOption(token_create, a.deadline, "how long the token is valid: 90s, 30m, 1h, 2d (at most 30d)", "1h");
  token_create->add_option("--uses", a.uses, "how many nodes may join with it (default: any number)")
      ->check(CLI::PositiveNumber);
  token_create->callback([&a] {
    a.action = [&a] {
      const int64_t ttl = a.deadline.empty() ? 3600 : *ParseDurationSeconds(a.deadline);
      return ClusterTokenCreate(a.client, a.value.empty() ? "server" : a.value, ttl, a.uses);
    };
  });
  token->add_subcommand("list", "List the join tokens (ids, uses, expiry; never the secrets)")->callback([&a] {
    a.action = [&a] { return TokenList(a.client, /*join=*/true); };
  });
  auto* token_revoke = token->add_subcommand("revoke", "Revoke a join token: no node joins with it any more");
  token_revoke->add_option("id", a.name, "the token's id (as token list shows it) or the token")->required();
  token_revoke->callback([&a] { a.action = [&a] { return TokenRevoke(a.client, a.name); }; });

  cluster->add_subcommand("leave", "Make the addressed node leave the cluster")->callback([&a] {
    a.action = [&a] { return ClusterLeave(a.client); };
  });
}

// `blixard node [daemon flags]` runs the daemon; `blixard node list|drain|
// undrain` are client commands.
void AddNodeCommands(CLI::App& app, Args& a, const DaemonRunner& run_daemon) {
  auto* cmd = app.add_subcommand("node", "Run a cluster member (daemon), or list/drain nodes");
  cmd->require_subcommand(0, 1);
  daemon::DaemonOptions& d = a.daemon;
  cmd->add_option("--id", d.id, "this node's id (unique in the cluster, > 0)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--bind", d.bind, "where to serve gRPC: HOST:PORT or unix:/path")->capture_default_str();
  cmd->add_option("--data-dir", d.data_dir, "directory for the Raft log, snapshots and VM state")
      ->capture_default_str();
  cmd->add_option("--token", d.token,
                  "join token for a first --join (make one on a member: blixard cluster token create)");
  cmd->add_flag("--insecure", d.insecure,
                "serve and call without TLS or certificates: anyone who reaches the port is trusted");
  cmd->add_option("--cert-lifetime", a.cert_lifetime,
                  "how long the node certificates this server signs last (each is renewed at two thirds of it): "
                  "1h, 30d, 365d")
      ->check(Check(ParseDurationSeconds, "duration"))
      ->default_str("365d");
  cmd->add_option("--join", d.join, "address of an existing member to join through (repeatable, or comma-separated)")
      ->delimiter(',');
  cmd->add_option("--role", d.role,
                  "server: a Raft member that may run VMs; worker: runs VMs only, registers with the "
                  "servers given by --join")
      ->check(CLI::IsMember({"server", "worker"}))
      ->capture_default_str();
  cmd->add_option("--log-level", d.log_level, "log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  cmd->add_option("--log-format", d.log_format, "log format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--snapshot-threshold", d.snapshot_threshold,
                  "applied entries between snapshots (default: 10000, or the number of VMs and "
                  "nodes in the state if larger)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tick-ms", d.tick_ms, "Raft tick interval in milliseconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--election-ticks", d.election_ticks, "ticks without a leader before an election")
      ->check(CLI::Range(2, 1000))
      ->capture_default_str();
  cmd->add_option("--max-message-bytes", d.max_message_bytes, "largest gRPC message accepted")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--voters", d.voters, "how many members vote (the rest are standbys and learners)")
      ->check(CLI::Range(1, 7))
      ->capture_default_str();
  cmd->add_option("--voter-replace-after", d.voter_replace_after_s,
                  "seconds a voter may be unreachable before a standby replaces it")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  cmd->add_option("--store", d.store, "Raft log store: wal (one fsync per batch) or lmdb")
      ->check(CLI::IsMember({"wal", "lmdb"}))
      ->capture_default_str();
  cmd->add_option("--backend", d.backend,
                  "how VMs run: qemu (microVMs), microvm-nix (a microvm.nix flake per VM, run with nix; "
                  "Nix hosts) or fake (simulated, for tests)")
      ->check(CLI::IsMember({"qemu", "microvm-nix", "fake"}))
      ->capture_default_str();
  cmd->add_option("--microvm-hypervisor", d.microvm_hypervisor,
                  "microvm-nix: microvm.hypervisor of VMs without a microvm.hypervisor label "
                  "(qemu, cloud-hypervisor, firecracker, ...)")
      ->capture_default_str();
  cmd->add_option("--microvm-nixpkgs", d.microvm_nixpkgs, "microvm-nix: nixpkgs flake ref (default nixos-24.05)");
  cmd->add_option("--microvm-flake", d.microvm_flake,
                  "microvm-nix: microvm.nix flake ref (default github:astro/microvm.nix)");
  cmd->add_option("--fake-record", d.fake_record,
                  "with --backend fake: append every VM start/stop/kill to FILE (tests)");
  cmd->add_option("--node-ttl", d.node_ttl_s,
                  "seconds a node may be silent before it is marked down and its VMs move; "
                  "it stops its own VMs a little earlier when it cannot reach the leader")
      ->check(CLI::Range(0.3, 3600.0))
      ->capture_default_str();
  cmd->add_flag("--fence-guard", d.fence_guard, "internal: the node's fence guard process")->group("");
  cmd->add_option("--runtime-dir", d.runtime_dir, "per-VM runtime dirs (default DATA_DIR/vms)");
  cmd->add_option("--guest-dir", d.guest_dir,
                  "default guest kernel+initrd (default $BLIXARD_GUEST_DIR or ~/.cache/blixard/guest)");
  cmd->add_option("--accel", d.accel, "qemu accelerator; auto uses KVM only when it works")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
      ->capture_default_str();
  cmd->add_option("--bridge", d.bridge, "Linux bridge for --network bridge VMs (created if missing)")
      ->capture_default_str();
  cmd->add_option("--vm-subnet", d.vm_subnet,
                  "IPv4 subnet bridge VMs get addresses from; set when this node bootstraps a new "
                  "cluster (default 10.77.0.0/16)");
  cmd->add_option("--join-timeout", d.join_timeout_s, "seconds to keep trying to join")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  daemon::CapacityOptions& cap = d.capacity;
  cmd->add_option("--capacity-vcpus", cap.vcpus, "vCPUs VMs may use (default: the host's CPUs)");
  cmd->add_option("--capacity-memory", cap.memory_mib, "MiB of memory VMs may use (default: the host's)");
  cmd->add_option("--capacity-disk", cap.disk_mib, "MiB of disk (default: the data dir's file system)");
  cmd->add_option("--reserve-vcpus", cap.reserve_vcpus,
                  "vCPUs kept for the host (default 0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--reserve-memory", cap.reserve_memory_mib,
                  "MiB kept for the host (default: 10% of host memory, at most 2048; 0 with --capacity-memory)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--reserve-disk", cap.reserve_disk_mib,
                  "MiB of disk kept for the host (default: 10%, at most 10240; 0 with --capacity-disk)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--cpu-overcommit", cap.cpu_overcommit,
                  "vCPUs handed out per host CPU (memory is never overcommitted)")
      ->check(CLI::Range(1.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--label", cap.labels, "node label KEY=VALUE for VM constraints (repeatable)")
      ->type_name("KEY=VALUE")
      ->check(Check(ParseLabel, ""));
  cmd->callback([cmd, &a, &run_daemon] {
    if (cmd->get_subcommands().empty()) {
      if (!a.cert_lifetime.empty()) {
        const int64_t s = *ParseDurationSeconds(a.cert_lifetime);
        if (s < 10 || s > 10LL * 365 * 24 * 3600) {
          throw CLI::ValidationError("--cert-lifetime", "must be between 10s and 3650d");
        }
        a.daemon.cert_lifetime_s = s;
      }
      a.action = [&a, &run_daemon] { return run_daemon(a.daemon); };
    }
  });

  cmd->add_subcommand("list", "List nodes: role, health, capacity")->callback([&a] {
    a.action = [&a] { return NodeList(a.client); };
  });

  auto* drain = cmd->add_subcommand("drain", "Move VMs off a node and place no new ones there");
  drain->add_option("id", a.id, "node id")->required();
  drain->add_option("--deadline", a.deadline, "after this long, e.g. 5m, move every VM still there at once, "
                                               "whether or not another node has room yet (default: none: "
                                               "move a few at a time, each once it fits elsewhere)")
      ->type_name("DURATION")
      ->check(Check(ParseDurationSeconds, ""));
  drain->callback([&a] {
    a.action = [&a] {
      return NodeDrain(a.client, a.id, a.deadline.empty() ? 0 : *ParseDurationSeconds(a.deadline));
    };
  });

  auto* undrain = cmd->add_subcommand("undrain", "Let a drained node take VMs again");
  undrain->add_option("id", a.id, "node id")->required();
  undrain->callback([&a] { a.action = [&a] { return NodeUndrain(a.client, a.id); }; });
}

}  // namespace

int Run(int argc, const char* const* argv, const DaemonRunner& run_daemon) {
  CLI::App app{"Blixard: a microVM orchestrator.", "blixard"};
  app.fallthrough();  // global flags also after the subcommand: `blixard vm list -o json`
  app.require_subcommand(1);
  app.failure_message(FailureWithUsage);
  app.set_version_flag("--version", std::string("blixard ") + BLIXARD_VERSION);

  Args a;
  app.add_option("--addr", a.client.addr, "daemon to talk to: HOST:PORT or unix:/path")
      ->envname("BLIXARD_ADDR")
      ->capture_default_str();
  app.add_option("--data-dir", a.client.data_dir,
                 "a node's data dir, where the CLI finds its credentials (tls/ca.crt, tls/admin.*)")
      ->envname("BLIXARD_DATA_DIR")
      ->capture_default_str();
  app.add_flag("--insecure", a.client.insecure, "talk plaintext, to a node started with --insecure");
  app.add_option("--token", a.client.token, "a client token (blixard token create) instead of the data dir's credential")
      ->envname("BLIXARD_TOKEN");
  app.add_option("-o,--output", a.client.output, "output format: table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", a.client.timeout_seconds, "deadline of each call, in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  AddNodeCommands(app, a, run_daemon);
  AddVmCommands(app, a);
  AddClusterCommands(app, a);
  AddCredentialCommands(app, a);
  AddContextCommands(app, a);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help and --version exit 0
  }
  if (!a.action) return 2;
  const CLI::App* node = app.get_subcommand("node");
  const bool runs_daemon = node->parsed() && node->get_subcommands().empty();
  if (!runs_daemon && !app.got_subcommand("context") && !ApplyContext(app, a.client)) return 2;
  return a.action();
}

}  // namespace blixard::cli
