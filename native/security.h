// DTLS/TLS security set-ups (libcoap's coap_dtls_cpsk_t, coap_dtls_spsk_t, coap_dtls_pki_t) built
// from the plain objects lib/ prepares. libcoap keeps pointers into these structs, so each one,
// with the bytes it points to, lives as long as the context it was given to.
#pragma once
#include <coap3/coap.h>
#include <napi.h>

#include <map>
#include <memory>
#include <string>

namespace coapnode {

class Context;

// Copies of key material with the libcoap views onto them.
struct PemSet {
  std::string ca, cert, key;
  void Fill(coap_dtls_key_t* out) const;
};

struct ClientSecurity {
  Context* owner = nullptr;
  bool isPsk = false;
  std::string identity, key, sni;
  PemSet pem;
  coap_dtls_cpsk_t psk{};
  coap_dtls_pki_t pki{};
  // What the identity-hint callback returned last; libcoap copies it before the next call.
  std::string hintIdentity, hintKey;
  coap_dtls_cpsk_info_t hintInfo{};
};

struct ServerSecurity {
  Context* owner = nullptr;
  std::string hint, key;
  coap_dtls_spsk_t psk{};
  PemSet pem;
  coap_dtls_pki_t pki{};
  // Results handed back to libcoap from callbacks (copied by libcoap, or, for PKI SNI, loaded
  // into a TLS context that libcoap keeps per name).
  std::string lastKey;
  coap_bin_const_t lastKeyBin{};
  std::string sniHint, sniKey;
  coap_dtls_spsk_info_t sniInfo{};
  std::map<std::string, std::unique_ptr<std::pair<PemSet, coap_dtls_key_t>>> pkiSni;
};

// Parse lib/'s objects; throw TypeError on malformed ones (they are validated in TS first).
std::unique_ptr<ClientSecurity> MakeClientSecurity(Napi::Object config, Context* owner);
void SetServerPsk(ServerSecurity& sec, Napi::Object config);
void SetServerPki(ServerSecurity& sec, Napi::Object config);

}  // namespace coapnode
