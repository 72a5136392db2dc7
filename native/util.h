// Small helpers shared by the Context implementation files.
#pragma once
#include <coap3/coap.h>
#include <napi.h>

#include <atomic>
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

// Buffers libcoap is sending from right now (for tests: must return to 0).
inline std::atomic<int64_t> heldBufferCount{0};

// Keeps a JS Buffer alive while libcoap sends from its memory (its large-data API), so a body
// is never copied; libcoap calls ReleaseHeldBuffer exactly once when it is done with it.
struct HeldBuffer {
  napi_env env;
  napi_ref ref;
};

inline HeldBuffer* HoldBuffer(napi_env env, napi_value buffer) {
  auto* held = new HeldBuffer{env, nullptr};
  if (napi_create_reference(env, buffer, 1, &held->ref) != napi_ok) {
    delete held;
    return nullptr;
  }
  heldBufferCount++;
  return held;
}

inline void ReleaseHeldBuffer(coap_session_t*, void* arg) {
  auto* held = static_cast<HeldBuffer*>(arg);
  napi_delete_reference(held->env, held->ref);
  delete held;
  heldBufferCount--;
}

// A handle scope that never throws (libcoap callbacks must not).
struct QuietHandleScope {
  napi_env env;
  napi_handle_scope scope = nullptr;
  explicit QuietHandleScope(napi_env e) : env(e) { napi_open_handle_scope(env, &scope); }
  ~QuietHandleScope() {
    if (scope != nullptr) napi_close_handle_scope(env, scope);
  }
};

}  // namespace detail
}  // namespace coapnode
