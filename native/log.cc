#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

namespace coapnode {

namespace {

std::atomic<int> printLevel{COAP_LOG_ERR};
// Per thread: each worker runs its own contexts, and libcoap logs on the thread it runs on.
thread_local std::deque<std::string> recent;
constexpr size_t kKept = 16;

// Lines for a JS log hook. libcoap logs from inside its own calls (and from JS calls into it),
// where JS must not run: lines are queued and handed over in one batch from the event loop.
struct Sink {
  Napi::ThreadSafeFunction tsfn;
  bool active = false;
  bool scheduled = false;
  std::vector<std::pair<int, std::string>> lines;
  uint32_t dropped = 0;
  uint32_t generation = 0;  // a released hook's late finalizer must not switch off its successor
};
thread_local Sink sink;
// A hook that cannot keep up (debug level under load) loses lines, never memory.
constexpr size_t kSinkMax = 10000;

std::string Trimmed(const char* message) {
  std::string line(message);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

void Deliver(Napi::Env env, Napi::Function fn) {
  sink.scheduled = false;
  std::vector<std::pair<int, std::string>> lines;
  lines.swap(sink.lines);
  uint32_t dropped = sink.dropped;
  sink.dropped = 0;
  if (!sink.active || env == nullptr) return;
  Napi::Array batch = Napi::Array::New(env, lines.size() * 2);
  for (size_t i = 0; i < lines.size(); i++) {
    batch.Set(2 * i, Napi::Number::New(env, lines[i].first));
    batch.Set(2 * i + 1, Napi::String::New(env, lines[i].second));
  }
  // The JS side catches its hook's errors; anything left is Node's uncaught-exception path.
  fn.Call({batch, Napi::Number::New(env, dropped)});
}

void ToSink(coap_log_t level, const char* message) {
  if (sink.lines.size() >= kSinkMax) {
    sink.dropped++;
  } else {
    sink.lines.emplace_back((int)level, Trimmed(message));
  }
  if (!sink.scheduled) {
    sink.scheduled = true;
    if (sink.tsfn.NonBlockingCall(Deliver) != napi_ok) sink.scheduled = false;
  }
}

void Handler(coap_log_t level, const char* message) {
  // libcoap alerts on every RST, including the one that answers a ping; ours become errors or pongs.
  if (level == COAP_LOG_ALERT && std::strncmp(message, "got RST for mid=", 16) == 0) return;
  if ((int)level <= printLevel.load()) {
    if (sink.active) ToSink(level, message);
    else std::fprintf(stderr, "libcoap: %s", message);
  }
  if (level > COAP_LOG_WARN) return;
  // Our own held-back ACK (see kDropResponse) is not a reason for anything.
  if (std::strstr(message, "Invalid PDU response code (1.00)") != nullptr) return;
  recent.push_back(Trimmed(message));
  if (recent.size() > kKept) recent.pop_front();
}

}  // namespace

void InstallLogHandler() {
  coap_set_log_handler(Handler);
  // Packet dumps too, so that they reach the hook (libcoap would fprintf them to stdout).
  coap_set_show_pdu_output(0);
  SetPrintLevel(COAP_LOG_ERR);
}

void SetPrintLevel(coap_log_t level) {
  printLevel = level;
  // libcoap must still produce warnings for the reasons kept above.
  coap_log_t produce = level > COAP_LOG_WARN ? level : COAP_LOG_WARN;
  coap_set_log_level(produce);
  coap_dtls_set_log_level(produce);
}

void SetLogSink(Napi::Env env, Napi::Value fn) {
  if (sink.active) {
    sink.active = false;
    sink.tsfn.Release();
  }
  sink.lines.clear();
  sink.dropped = 0;
  sink.scheduled = false;
  if (!fn.IsFunction()) return;
  uint32_t generation = ++sink.generation;
  sink.tsfn = Napi::ThreadSafeFunction::New(env, fn.As<Napi::Function>(), "libcoap:log", 0, 1,
                                            [generation](Napi::Env) {
                                              if (sink.generation == generation) sink.active = false;
                                            });
  // A log hook alone must not keep Node alive.
  sink.tsfn.Unref(env);
  sink.active = true;
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
