// Small helpers shared by the Context implementation files.
#pragma once
#include <coap3/coap.h>
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace coapnode {
namespace detail {

// A response code libcoap refuses to send (class 1): the request is then dropped unanswered,
// which is how a handler holds back the ACK while its answer may still be piggybacked.
constexpr coap_pdu_code_t kDropResponse = (coap_pdu_code_t)(1 << 5);

inline std::string Hex(const uint8_t* data, size_t len) {
  static const char digits[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

inline void FreeCopy(coap_session_t*, void* data) { std::free(data); }

// A handle scope that never throws (libcoap callbacks must not).
struct QuietHandleScope {
  napi_env env;
  napi_handle_scope scope = nullptr;
  explicit QuietHandleScope(napi_env e) : env(e) { napi_open_handle_scope(env, &scope); }
  ~QuietHandleScope() {
    if (scope != nullptr) napi_close_handle_scope(env, scope);
  }
};

inline uint8_t* CopyBytes(const uint8_t* data, size_t len) {
  auto* copy = static_cast<uint8_t*>(std::malloc(len));
  if (copy != nullptr) std::memcpy(copy, data, len);
  return copy;
}

}  // namespace detail
}  // namespace coapnode
