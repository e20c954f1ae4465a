// The client subcommands, one function each. They talk to one daemon over
// gRPC, print the result on stdout (table or JSON) and return the exit code:
// 0 ok, 1 error from the server or no server (message on stderr).
// Arguments arrive already validated by the parser in cli.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace blixard::cli {

inline constexpr const char* kDefaultAddr = "127.0.0.1:7001";

// Global flags of every client subcommand.
struct ClientOptions {
  std::string addr = kDefaultAddr;  // --addr / BLIXARD_ADDR: HOST:PORT or unix:/path
  std::string output = "table";     // -o table|json
  double timeout_seconds = 10;      // --timeout: gRPC deadline of each call
  // Where the credentials are (credentials.h): --data-dir / BLIXARD_DATA_DIR.
  std::string data_dir = "./data";
  bool insecure = false;            // --insecure: plaintext, for an --insecure node
  // --token / BLIXARD_TOKEN: a client token (blxt.…), sent instead of the
  // data dir's certificate; the CA still comes from BLIXARD_CA or the data dir.
  std::string token;
  // From the current context (contexts.h): the CA, and a client certificate
  // and key, by path; BLIXARD_CA, BLIXARD_CERT and BLIXARD_KEY win.
  std::string ca_file, cert_file, key_file;
};

// --wait: after the write, poll the VM until it reaches its desired state
// (progress on stderr); FAILED or running out of time exits 1.
struct WaitOptions {
  bool enabled = false;
  double seconds = 300;  // --wait-timeout
};

struct VmCreateArgs {
  std::string name;
  uint32_t vcpus = 1;
  uint64_t memory_mib = 128;
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  std::vector<std::string> disks;
  std::vector<std::string> labels;  // "k=v", checked by ParseLabel
  std::string restart;              // empty = server default (on-failure)
  std::vector<std::string> constraints;  // "k=v" / "k!=v" on node labels
  std::string anti_affinity_group;
  std::string strategy;             // binpack | spread; empty = cluster setting
  bool stopped = false;             // create with desired state STOPPED
  std::string network;              // none|user|bridge; empty = server default (user)
  std::vector<std::string> publish; // "[IP:]HOST:GUEST[/tcp|udp]", checked by ParsePublish
  uint32_t ready_port = 0;          // 0 = console readiness
  WaitOptions wait;
};

enum class VmVerb { kStart, kStop, kDelete, kRestart, kPause, kResume };

int VmCreate(const ClientOptions& o, const VmCreateArgs& args);
int VmList(const ClientOptions& o, bool stale);
int VmGet(const ClientOptions& o, const std::string& name, bool stale);
int VmAct(const ClientOptions& o, VmVerb verb, const std::string& name, const WaitOptions& wait = {});
// Sets one label; `label` is "KEY=VALUE" (checked by ParseLabel).
int VmLabel(const ClientOptions& o, const std::string& name, const std::string& label);
// The VM's console log, raw bytes on stdout; follow: keeps streaming (no
// deadline) until interrupted or the VM is deleted.
int VmLogs(const ClientOptions& o, const std::string& name, bool follow);

int ClusterStatus(const ClientOptions& o, bool stale);
int ClusterMembers(const ClientOptions& o);
int ClusterTransferLeader(const ClientOptions& o, uint64_t to_node_id);
int ClusterRemove(const ClientOptions& o, uint64_t node_id);
int ClusterLeave(const ClientOptions& o);
// `cluster set KEY VALUE` (empty VALUE: the default) and `cluster settings`.
int ClusterSet(const ClientOptions& o, const std::string& key, const std::string& value);
int ClusterSettings(const ClientOptions& o);

// Tokens and client credentials (token_commands.cc).
// `cluster token create`: a join token for a new node of `role`, for
// `uses` joins (0: any number) within `ttl_s`.
int ClusterTokenCreate(const ClientOptions& o, const std::string& role, int64_t ttl_s, uint32_t uses);
// `token create`: a client's bearer token (ttl_s 0: it never expires).
int TokenCreate(const ClientOptions& o, const std::string& role, const std::string& name, int64_t ttl_s);
// `token list` (join false) and `cluster token list` (join true).
int TokenList(const ClientOptions& o, bool join);
// `token revoke` and `cluster token revoke`: by id, or the whole token.
int TokenRevoke(const ClientOptions& o, const std::string& id);
// `cert create`: a new key and a client certificate for it, written to
// out_dir (ca.crt, client.crt, client.key; 0600).
int CertCreate(const ClientOptions& o, const std::string& role, const std::string& name, int64_t ttl_s,
               const std::string& out_dir);
// `cert revoke FILE|SERIAL`: a certificate file, or its serial (hex).
int CertRevoke(const ClientOptions& o, const std::string& what);

int NodeList(const ClientOptions& o);
int NodeDrain(const ClientOptions& o, uint64_t node_id, int64_t deadline_seconds);
int NodeUndrain(const ClientOptions& o, uint64_t node_id);

}  // namespace blixard::cli
