// Test stand-in for qemu-system-x86_64 whose QMP monitor can wedge, as
// qemu 7.2's does when a monitor connection arrives while it exits. Takes
// qemu's command line (only -qmp unix:PATH,... and -pidfile PATH matter),
// writes the pidfile, and answers QMP (greeting; qmp_capabilities and
// query-status, running) until a file named `wedge` appears in the
// pidfile's directory; from then on it accepts connections and reads
// commands but never answers. A file `answer-connections` holding N makes
// it answer only its first N connections. While a file named `busy` is there it also
// burns CPU, like a live guest's vCPU. Runs until killed.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

std::string Arg(int argc, char** argv, const std::string& flag) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return "";
}

void Send(int fd, const nlohmann::json& j) {
  std::string line = j.dump() + "\r\n";
  (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
}

}  // namespace

int main(int argc, char** argv) {
  std::string qmp = Arg(argc, argv, "-qmp");
  const std::string pidfile = Arg(argc, argv, "-pidfile");
  if (qmp.rfind("unix:", 0) != 0 || pidfile.empty()) {
    std::fprintf(stderr, "stuck_monitor_qemu: need -qmp unix:PATH and -pidfile PATH\n");
    return 1;
  }
  const std::string path = qmp.substr(5, qmp.find(',') - 5);
  const std::string wedge = std::filesystem::path(pidfile).parent_path() / "wedge";

  int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  ::unlink(path.c_str());
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listener, 16) != 0) {
    std::perror("stuck_monitor_qemu: listen");
    return 1;
  }
  std::ofstream(pidfile) << ::getpid() << "\n";

  const std::string busy = std::filesystem::path(pidfile).parent_path() / "busy";
  std::thread([busy] {
    for (;;) {
      if (!std::filesystem::exists(busy)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  }).detach();

  const std::string answer_limit = std::filesystem::path(pidfile).parent_path() / "answer-connections";
  int accepted = 0;
  std::map<int, bool> silent;          // fd -> accepted past the limit
  std::map<int, std::string> clients;  // fd -> unparsed input
  for (;;) {
    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    for (auto& [fd, buf] : clients) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) <= 0) continue;
    const bool wedged = std::filesystem::exists(wedge);
    if (fds[0].revents & POLLIN) {
      int c = ::accept(listener, nullptr, nullptr);
      if (c >= 0) {
        clients[c];
        int limit = -1;
        std::ifstream(answer_limit) >> limit;
        silent[c] = limit >= 0 && ++accepted > limit;
        if (!wedged && !silent[c]) Send(c, {{"QMP", {{"version", {{"qemu", {{"major", 7}, {"minor", 2}, {"micro", 0}}}}}, {"capabilities", nlohmann::json::array()}}}});
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      char chunk[4096];
      ssize_t n = ::read(fds[i].fd, chunk, sizeof(chunk));
      if (n <= 0) {
        ::close(fds[i].fd);
        clients.erase(fds[i].fd);
        silent.erase(fds[i].fd);
        continue;
      }
      std::string& buf = clients[fds[i].fd];
      buf.append(chunk, n);
      for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
        if (wedged || silent[fds[i].fd]) continue;
        auto req = nlohmann::json::parse(buf.substr(0, nl), nullptr, false);
        if (req.is_discarded()) continue;
        nlohmann::json ret = nlohmann::json::object();
        if (req.value("execute", "") == "query-status") ret = {{"status", "running"}, {"running", true}};
        nlohmann::json reply = {{"return", ret}};
        if (req.contains("id")) reply["id"] = req["id"];
        Send(fds[i].fd, reply);
      }
    }
  }
}
