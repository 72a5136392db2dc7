// Translation of CoAP options between libcoap PDUs and the flat form JS uses:
// a Buffer of records [number u16 BE][length u16 BE][value bytes].
#pragma once
#include <coap3/coap.h>
#include <napi.h>

#include <string>

namespace coapnode {

// Adds the options in `flat` to `pdu` (any order; libcoap sorts). Returns false on malformed input.
bool AddFlatOptions(coap_pdu_t* pdu, const uint8_t* flat, size_t length);

// These run inside libcoap callbacks, so they use the raw Node-API and never throw: a value that
// cannot be made (the environment is shutting down) comes back as undefined.

// Options of `pdu` except those in `skip` (e.g. Uri-Path, already known from the resource), or
// undefined when none are left, so the common GET costs no allocation.
napi_value ReadFlatOptions(napi_env env, const coap_pdu_t* pdu, const coap_opt_filter_t* skip);

// The PDU's whole body (libcoap reassembles block-wise transfers), or undefined when empty.
napi_value ReadPayload(napi_env env, const coap_pdu_t* pdu);

// The payload and the options (except `skip`) of `pdu` for a JS callback. When both fit in
// `inbox` (memory shared with JS) they are written there, options first, and passed as their
// lengths (undefined when empty): JS copies them out with one pooled allocation, far cheaper
// than a native Buffer (ArrayBuffer, backing store, finalizer) per message. Otherwise as
// ReadPayload and ReadFlatOptions.
void ReadMessage(napi_env env, const coap_pdu_t* pdu, const coap_opt_filter_t* skip, uint8_t* inbox, size_t capacity,
                 napi_value* payload, napi_value* options);

napi_value BufferCopy(napi_env env, const void* data, size_t length);
napi_value Number(napi_env env, double value);
napi_value String(napi_env env, const std::string& value);

}  // namespace coapnode
