#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>

namespace coapnode {

namespace {

std::atomic<int> printLevel{COAP_LOG_ERR};
// Per thread: each worker runs its own contexts, and libcoap logs on the thread it runs on.
thread_local std::deque<std::string> recent;
constexpr size_t kKept = 16;

void Handler(coap_log_t level, const char* message) {
  // libcoap alerts on every RST, including the one that answers a ping; ours become errors or pongs.
  if (level == COAP_LOG_ALERT && std::strncmp(message, "got RST for mid=", 16) == 0) return;
  if ((int)level <= printLevel.load()) std::fprintf(stderr, "libcoap: %s", message);
  if (level > COAP_LOG_WARN) return;
  // Our own held-back ACK (see kDropResponse) is not a reason for anything.
  if (std::strstr(message, "Invalid PDU response code (1.00)") != nullptr) return;
  std::string line(message);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  recent.push_back(std::move(line));
  if (recent.size() > kKept) recent.pop_front();
}

}  // namespace

void InstallLogHandler() {
  coap_set_log_handler(Handler);
  SetPrintLevel(COAP_LOG_ERR);
}

void SetPrintLevel(coap_log_t level) {
  printLevel = level;
  // libcoap must still produce warnings for the reasons kept above.
  coap_log_t produce = level > COAP_LOG_WARN ? level : COAP_LOG_WARN;
  coap_set_log_level(produce);
  coap_dtls_set_log_level(produce);
}

std::string RecentLog(const coap_session_t* session) {
  std::string tag;
  if (session != nullptr) {
    std::string desc = coap_session_str(session);  // "local <-> remote proto"
    size_t arrow = desc.find("<-> ");
    tag = arrow == std::string::npos ? desc : desc.substr(arrow + 4, desc.find(' ', arrow + 4) - arrow - 4);
  }
  for (auto it = recent.rbegin(); it != recent.rend(); ++it) {
    if (tag.empty() || it->find(tag) != std::string::npos) return *it;
  }
  return "";
}

std::string RecentLogSuffix(const coap_session_t* session) {
  std::string r = RecentLog(session);
  return r.empty() ? "" : ": " + r;
}

}  // namespace coapnode
