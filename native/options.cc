#include "options.h"

#include <cstring>
#include <string>

namespace coapnode {

bool AddFlatOptions(coap_pdu_t* pdu, const uint8_t* flat, size_t length) {
  coap_optlist_t* list = nullptr;
  size_t at = 0;
  while (at + 4 <= length) {
    uint16_t number = (uint16_t)(flat[at] << 8 | flat[at + 1]);
    size_t len = (size_t)(flat[at + 2] << 8 | flat[at + 3]);
    at += 4;
    if (at + len > length) break;
    coap_optlist_t* node = coap_new_optlist(number, len, flat + at);
    if (node == nullptr || !coap_insert_optlist(&list, node)) {
      coap_delete_optlist(list);
      return false;
    }
    at += len;
  }
  bool ok = at == length && (list == nullptr || coap_add_optlist_pdu(pdu, &list));
  coap_delete_optlist(list);
  return ok;
}

namespace {
napi_value Undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}
}  // namespace

napi_value BufferCopy(napi_env env, const void* data, size_t length) {
  napi_value v;
  return napi_create_buffer_copy(env, length, data, nullptr, &v) == napi_ok ? v : Undefined(env);
}

napi_value Number(napi_env env, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok ? v : Undefined(env);
}

napi_value String(napi_env env, const std::string& value) {
  napi_value v;
  return napi_create_string_utf8(env, value.data(), value.size(), &v) == napi_ok ? v : Undefined(env);
}

napi_value ReadFlatOptions(napi_env env, const coap_pdu_t* pdu, const coap_opt_filter_t* skip) {
  coap_opt_iterator_t it;
  coap_opt_t* opt;
  std::string out;
  coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
  while ((opt = coap_option_next(&it)) != nullptr) {
    if (skip != nullptr && coap_option_filter_get(const_cast<coap_opt_filter_t*>(skip), it.number)) continue;
    uint32_t len = coap_opt_length(opt);
    const uint8_t* value = coap_opt_value(opt);
    char head[4] = {(char)(it.number >> 8), (char)(it.number & 0xff), (char)(len >> 8), (char)(len & 0xff)};
    out.append(head, 4);
    out.append(reinterpret_cast<const char*>(value), len);
  }
  return out.empty() ? Undefined(env) : BufferCopy(env, out.data(), out.size());
}

napi_value ReadPayload(napi_env env, const coap_pdu_t* pdu) {
  size_t len = 0, offset = 0, total = 0;
  const uint8_t* data = nullptr;
  if (!coap_get_data_large(pdu, &len, &data, &offset, &total) || len == 0) return Undefined(env);
  return BufferCopy(env, data, len);
}

namespace {
// Writes the flat options of `pdu` (minus `skip`) to `out`; the length written, or -1 when they
// do not fit in `capacity`.
ptrdiff_t FlatOptionsInto(const coap_pdu_t* pdu, const coap_opt_filter_t* skip, uint8_t* out, size_t capacity) {
  coap_opt_iterator_t it;
  coap_opt_t* opt;
  size_t at = 0;
  coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
  while ((opt = coap_option_next(&it)) != nullptr) {
    if (skip != nullptr && coap_option_filter_get(const_cast<coap_opt_filter_t*>(skip), it.number)) continue;
    uint32_t len = coap_opt_length(opt);
    if (at + 4 + len > capacity) return -1;
    out[at++] = (uint8_t)(it.number >> 8);
    out[at++] = (uint8_t)(it.number & 0xff);
    out[at++] = (uint8_t)(len >> 8);
    out[at++] = (uint8_t)(len & 0xff);
    memcpy(out + at, coap_opt_value(opt), len);
    at += len;
  }
  return (ptrdiff_t)at;
}
}  // namespace

void ReadMessage(napi_env env, const coap_pdu_t* pdu, const coap_opt_filter_t* skip, uint8_t* inbox, size_t capacity,
                 napi_value* payload, napi_value* options) {
  size_t len = 0, offset = 0, total = 0;
  const uint8_t* data = nullptr;
  if (!coap_get_data_large(pdu, &len, &data, &offset, &total)) len = 0;
  ptrdiff_t flat = inbox == nullptr || len > capacity ? -1 : FlatOptionsInto(pdu, skip, inbox, capacity - len);
  if (flat < 0) {
    *payload = ReadPayload(env, pdu);
    *options = ReadFlatOptions(env, pdu, skip);
    return;
  }
  if (len > 0) memcpy(inbox + flat, data, len);
  *payload = len > 0 ? Number(env, (double)len) : Undefined(env);
  *options = flat > 0 ? Number(env, (double)flat) : Undefined(env);
}

}  // namespace coapnode
