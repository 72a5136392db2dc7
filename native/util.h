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

// The value behind a reference, or nullptr (raw: node-addon-api's Value() throws when the
// environment is going away).
inline napi_value RefValue(napi_env env, napi_ref ref) {
  napi_value value = nullptr;
  if (ref == nullptr || napi_get_reference_value(env, ref, &value) != napi_ok) return nullptr;
  return value;
}

struct HeldBufferDeleter {
  void operator()(HeldBuffer* held) const { ReleaseHeldBuffer(nullptr, held); }
};

// A JS Buffer's bytes, read with raw Node-API: node-addon-api's accessors throw C++ exceptions
// when the environment is going away, and nothing may throw through libcoap.
struct JsBytes {
  napi_value value = nullptr;
  const uint8_t* data = nullptr;
  size_t length = 0;
};

inline JsBytes BufferBytes(napi_env env, napi_value value) {
  JsBytes out;
  bool isBuffer = false;
  void* data = nullptr;
  if (value != nullptr && napi_is_buffer(env, value, &isBuffer) == napi_ok && isBuffer &&
      napi_get_buffer_info(env, value, &data, &out.length) == napi_ok) {
    out.value = value;
    out.data = static_cast<const uint8_t*>(data);
  } else {
    out.length = 0;
  }
  return out;
}

// A handler's body: a Buffer, or a short string written as UTF-8 into `scratch` (JS hands
// strings over as they are, to spare a Buffer per response). `value` stays null for a string:
// there is nothing to hold, the bytes must be copied if libcoap keeps them.
inline JsBytes ResultBytes(napi_env env, napi_value value, char* scratch, size_t size) {
  napi_valuetype type;
  if (value == nullptr || napi_typeof(env, value, &type) != napi_ok) return JsBytes();
  if (type != napi_string) return BufferBytes(env, value);
  JsBytes out;
  if (napi_get_value_string_utf8(env, value, scratch, size, &out.length) == napi_ok) {
    out.data = reinterpret_cast<const uint8_t*>(scratch);
  } else {
    out.length = 0;
  }
  return out;
}

inline JsBytes HeldBytes(HeldBuffer* held) {
  napi_value value = nullptr;
  if (held == nullptr || napi_get_reference_value(held->env, held->ref, &value) != napi_ok) return JsBytes();
  return BufferBytes(held->env, value);
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
