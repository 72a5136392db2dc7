// Numeric address <-> coap_address_t. Name resolution happens in JS (node:dns), never here.
#pragma once
#include <coap3/coap.h>
#include <string>

namespace coapnode {

bool ParseAddress(const std::string& host, uint16_t port, coap_address_t* out);
std::string FormatAddress(const coap_address_t* addr);  // "127.0.0.1:5683" or "[::1]:5683"

}  // namespace coapnode
