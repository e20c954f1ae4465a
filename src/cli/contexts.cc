#include "cli/contexts.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/output.h"
#include "common/file.h"

namespace blixard::cli {
namespace {

Status MakeDirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string part = dir.substr(0, slash);
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IoError("cannot create " + part + ": " + std::strerror(errno));
    }
    if (slash == std::string::npos) return Status::Ok();
  }
}

int Fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

}  // namespace

std::string ContextFilePath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && *xdg != '\0') return std::string(xdg) + "/blixard/config";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : ".") + "/.config/blixard/config";
}

Result<ContextFile> LoadContexts(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  ContextFile f;
  if (!*text) return f;
  try {
    const nlohmann::json j = nlohmann::json::parse(**text);
    f.current = j.value("current", "");
    const nlohmann::json contexts = j.value("contexts", nlohmann::json::object());
    for (const auto& [name, c] : contexts.items()) {
      f.contexts[name] = Context{c.value("addr", ""),     c.value("ca", ""),  c.value("token", ""),
                                 c.value("cert", ""),     c.value("key", ""), c.value("data_dir", ""),
                                 c.value("insecure", false)};
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(path + " is not a blixard config file (" + e.what() +
                                   "); fix it or remove it and add the contexts again");
  }
  return f;
}

Status SaveContexts(const std::string& path, const ContextFile& f) {
  nlohmann::json j = {{"current", f.current}, {"contexts", nlohmann::json::object()}};
  for (const auto& [name, c] : f.contexts) {
    j["contexts"][name] = {{"addr", c.addr}, {"ca", c.ca},     {"token", c.token},      {"cert", c.cert},
                           {"key", c.key},   {"data_dir", c.data_dir}, {"insecure", c.insecure}};
  }
  if (Status s = MakeDirs(path.substr(0, path.rfind('/'))); !s.ok()) return s;
  return WriteFileAtomically(path, j.dump(2) + "\n", 0600);
}

int ContextAdd(const std::string& name, const Context& c) {
  const std::string path = ContextFilePath();
  auto f = LoadContexts(path);
  if (!f.ok()) return Fail(f.status());
  if (c.addr.empty()) return Fail(Status::InvalidArgument("a context needs --addr HOST:PORT"));
  if (!c.token.empty() && (!c.cert.empty() || !c.key.empty())) {
    return Fail(Status::InvalidArgument("give a context either --token or --cert and --key, not both"));
  }
  if (c.cert.empty() != c.key.empty()) return Fail(Status::InvalidArgument("--cert and --key go together"));
  const bool replaced = f->contexts.contains(name);
  f->contexts[name] = c;
  if (f->current.empty()) f->current = name;
  if (Status s = SaveContexts(path, *f); !s.ok()) return Fail(s);
  std::cout << fmt::format("context {} {} in {}{}\n", name, replaced ? "replaced" : "added", path,
                           f->current == name ? " (current)" : "; 'blixard context use " + name + "' to use it");
  return 0;
}

int ContextUse(const std::string& name) {
  const std::string path = ContextFilePath();
  auto f = LoadContexts(path);
  if (!f.ok()) return Fail(f.status());
  if (!f->contexts.contains(name)) {
    return Fail(Status::NotFound("no context " + name + " in " + path + "; 'blixard context list' shows them"));
  }
  f->current = name;
  if (Status s = SaveContexts(path, *f); !s.ok()) return Fail(s);
  std::cout << fmt::format("now using context {}\n", name);
  return 0;
}

int ContextList(bool json) {
  auto f = LoadContexts(ContextFilePath());
  if (!f.ok()) return Fail(f.status());
  std::vector<std::vector<std::string>> rows;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, c] : f->contexts) {
    const std::string auth = c.insecure            ? "insecure"
                             : !c.token.empty()    ? "token"
                             : !c.cert.empty()     ? "certificate"
                             : !c.data_dir.empty() ? "data dir " + c.data_dir
                                                   : "./data";
    rows.push_back({name == f->current ? "*" : "", name, c.addr, auth});
    out.push_back({{"name", name}, {"current", name == f->current}, {"addr", c.addr}, {"credentials", auth}});
  }
  std::cout << (json ? out.dump(2) + "\n" : RenderTable({"CURRENT", "NAME", "ADDRESS", "CREDENTIALS"}, rows));
  return 0;
}

int ContextRemove(const std::string& name) {
  const std::string path = ContextFilePath();
  auto f = LoadContexts(path);
  if (!f.ok()) return Fail(f.status());
  if (f->contexts.erase(name) == 0) return Fail(Status::NotFound("no context " + name + " in " + path));
  if (f->current == name) f->current.clear();
  if (Status s = SaveContexts(path, *f); !s.ok()) return Fail(s);
  std::cout << fmt::format("context {} removed\n", name);
  return 0;
}

}  // namespace blixard::cli
