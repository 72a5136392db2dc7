#include "address.h"

#include <arpa/inet.h>
#include <cstring>

namespace coapnode {

bool ParseAddress(const std::string& host, uint16_t port, coap_address_t* out) {
  coap_address_init(out);
  if (inet_pton(AF_INET, host.c_str(), &out->addr.sin.sin_addr) == 1) {
    out->addr.sin.sin_family = AF_INET;
    out->addr.sin.sin_port = htons(port);
    out->size = sizeof(struct sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &out->addr.sin6.sin6_addr) == 1) {
    out->addr.sin6.sin6_family = AF_INET6;
    out->addr.sin6.sin6_port = htons(port);
    out->size = sizeof(struct sockaddr_in6);
    return true;
  }
  return false;
}

std::string FormatAddress(const coap_address_t* addr) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (addr->addr.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &addr->addr.sin.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(addr->addr.sin.sin_port));
  }
  if (addr->addr.sa.sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &addr->addr.sin6.sin6_addr, ip, sizeof ip);
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(addr->addr.sin6.sin6_port));
  }
  return "";
}

}  // namespace coapnode
