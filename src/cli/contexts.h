// Named contexts, as kubectl's: where a cluster is and which credentials
// to show it, kept in the CLI's config file so that `blixard --addr …`
// and the BLIXARD_* variables need not be typed each time.
//
//   $XDG_CONFIG_HOME/blixard/config (default ~/.config/blixard/config),
//   JSON, mode 0600 (it may hold tokens):
//   {"current": "prod",
//    "contexts": {"prod": {"addr": "10.0.0.1:7001", "ca": "/etc/blx/ca.crt",
//                          "token": "blxt.…", "cert": "", "key": "",
//                          "data_dir": "", "insecure": false}}}
//
// What a flag or an environment variable sets wins over the current
// context; the context wins over the defaults.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace blixard::cli {

struct Context {
  std::string addr;
  std::string ca;        // the cluster CA certificate's path
  std::string token;     // a client token
  std::string cert, key; // a client certificate and its key (paths)
  std::string data_dir;  // a node's data dir, whose credentials to use
  bool insecure = false;
};

struct ContextFile {
  std::string current;
  std::map<std::string, Context> contexts;
};

// The config file's path (XDG_CONFIG_HOME, else HOME/.config).
std::string ContextFilePath();
// An absent file is an empty ContextFile; kInvalidArgument naming the
// file for one that does not parse.
Result<ContextFile> LoadContexts(const std::string& path);
// Written atomically, 0600 (its directory made 0700 if missing).
Status SaveContexts(const std::string& path, const ContextFile& file);

// `context add|use|list|remove`: print, and return the exit code.
int ContextAdd(const std::string& name, const Context& c);
int ContextUse(const std::string& name);
int ContextList(bool json);
int ContextRemove(const std::string& name);

}  // namespace blixard::cli
