// Translation of CoAP options between libcoap PDUs and the flat form JS uses:
// a Buffer of records [number u16 BE][length u16 BE][value bytes].
#pragma once
#include <coap3/coap.h>
#include <napi.h>

namespace coapnode {

// Adds the options in `flat` to `pdu` (any order; libcoap sorts). Returns false on malformed input.
bool AddFlatOptions(coap_pdu_t* pdu, const uint8_t* flat, size_t length);

// Options of `pdu` except those in `skip` (e.g. Uri-Path, already known from the resource), or
// undefined when none are left, so the common GET costs no allocation.
Napi::Value ReadFlatOptions(Napi::Env env, const coap_pdu_t* pdu, const coap_opt_filter_t* skip);

// The PDU's whole body (libcoap reassembles block-wise transfers), or undefined when empty.
Napi::Value ReadPayload(Napi::Env env, const coap_pdu_t* pdu);

}  // namespace coapnode
