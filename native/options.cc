#include "options.h"

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

Napi::Value ReadFlatOptions(Napi::Env env, const coap_pdu_t* pdu, const coap_opt_filter_t* skip) {
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
  if (out.empty()) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(out.data()), out.size());
}

Napi::Value ReadPayload(Napi::Env env, const coap_pdu_t* pdu) {
  size_t len = 0, offset = 0, total = 0;
  const uint8_t* data = nullptr;
  if (!coap_get_data_large(pdu, &len, &data, &offset, &total) || len == 0) return env.Undefined();
  return Napi::Buffer<uint8_t>::Copy(env, data, len);
}

}  // namespace coapnode
