// libcoap's log, routed through us: lines at or above the user's level go to stderr, and recent
// warnings are kept so an error can carry libcoap's own reason (e.g. the TLS alert).
#pragma once
#include <coap3/coap.h>

#include <string>

namespace coapnode {

void InstallLogHandler();
void SetPrintLevel(coap_log_t level);
// The latest kept warning or error about `session` (any session when null), or "".
std::string RecentLog(const coap_session_t* session);
// The same as ": <reason>", or "" when there is none.
std::string RecentLogSuffix(const coap_session_t* session);

}  // namespace coapnode
