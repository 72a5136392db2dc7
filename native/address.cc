#include "address.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <cstdlib>
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
  // Link-local and group addresses may name their interface: "ff02::fd%eth0".
  std::string ip = host;
  uint32_t scope = 0;
  size_t percent = host.find('%');
  if (percent != std::string::npos) {
    ip = host.substr(0, percent);
    std::string zone = host.substr(percent + 1);
    scope = if_nametoindex(zone.c_str());
    if (scope == 0 && !zone.empty() && zone.find_first_not_of("0123456789") == std::string::npos) {
      scope = (uint32_t)std::strtoul(zone.c_str(), nullptr, 10);
    }
    if (scope == 0) return false;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &out->addr.sin6.sin6_addr) == 1) {
    out->addr.sin6.sin6_family = AF_INET6;
    out->addr.sin6.sin6_scope_id = scope;
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
    std::string zone;
    char name[IF_NAMESIZE] = {0};
    if (addr->addr.sin6.sin6_scope_id != 0 && if_indextoname(addr->addr.sin6.sin6_scope_id, name) != nullptr) {
      zone = std::string("%") + name;
    }
    return "[" + std::string(ip) + zone + "]:" + std::to_string(ntohs(addr->addr.sin6.sin6_port));
  }
  return "";
}

}  // namespace coapnode
