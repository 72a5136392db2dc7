// libcoap's log, routed through us: lines at or above the user's level go to stderr (or to the JS
// hook set with SetLogSink), and recent warnings are kept so an error can carry libcoap's own
// reason (e.g. the TLS alert).
#pragma once
#include <coap3/coap.h>
#include <napi.h>

#include <string>

namespace coapnode {

void InstallLogHandler();
void SetPrintLevel(coap_log_t level);
// Lines at or above the level go to `fn(batch, dropped)` on this thread's event loop instead of
// stderr (batch: [level, line, level, line, ...]); anything else as `fn` restores stderr.
void SetLogSink(Napi::Env env, Napi::Value fn);
// The latest kept warning or error about `session` (any session when null), or "".
std::string RecentLog(const coap_session_t* session);
// The same as ": <reason>", or "" when there is none.
std::string RecentLogSuffix(const coap_session_t* session);

}  // namespace coapnode
