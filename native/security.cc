#include "security.h"

#include <cstring>

#include "context.h"
#include "options.h"

namespace coapnode {

namespace {

std::string Bytes(Napi::Object obj, const char* name) {
  Napi::Value v = obj.Get(name);
  if (v.IsBuffer()) {
    auto b = v.As<Napi::Buffer<char>>();
    return std::string(b.Data(), b.Length());
  }
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  return std::string();
}

bool Flag(Napi::Object obj, const char* name) { return obj.Get(name).ToBoolean().Value(); }

coap_bin_const_t Bin(const std::string& s) {
  return coap_bin_const_t{s.size(), reinterpret_cast<const uint8_t*>(s.data())};
}

// Returns a Buffer's bytes, or false for anything else (e.g. undefined: "no answer").
bool ToBytes(napi_env env, napi_value v, std::string* out) {
  bool isBuffer = false;
  if (v == nullptr || napi_is_buffer(env, v, &isBuffer) != napi_ok || !isBuffer) return false;
  void* data;
  size_t len;
  napi_get_buffer_info(env, v, &data, &len);
  out->assign(static_cast<const char*>(data), len);
  return true;
}

bool Element(napi_env env, napi_value arr, uint32_t i, std::string* out) {
  bool isArray = false;
  if (arr == nullptr || napi_is_array(env, arr, &isArray) != napi_ok || !isArray) return false;
  napi_value v;
  if (napi_get_element(env, arr, i, &v) != napi_ok) return false;
  return ToBytes(env, v, out);
}

const coap_dtls_cpsk_info_t* OnHint(coap_str_const_t* hint, coap_session_t* session, void* arg) {
  auto* sec = static_cast<ClientSecurity*>(arg);
  napi_env env = sec->owner->Env();
  std::string h(hint != nullptr ? reinterpret_cast<const char*>(hint->s) : "", hint != nullptr ? hint->length : 0);
  napi_value r = sec->owner->CallSecurity(Context::kHint, session, {String(env, h)});
  if (!Element(env, r, 0, &sec->hintIdentity) || !Element(env, r, 1, &sec->hintKey)) {
    sec->hintInfo.identity = Bin(sec->identity);  // keep the configured credentials
    sec->hintInfo.key = Bin(sec->key);
  } else {
    sec->hintInfo.identity = Bin(sec->hintIdentity);
    sec->hintInfo.key = Bin(sec->hintKey);
  }
  return &sec->hintInfo;
}

int OnCommonName(const char* cn, const uint8_t* der, size_t derLength, coap_session_t* session, unsigned depth,
                 int validated, void* arg) {
  Context* owner = *static_cast<Context**>(arg);
  napi_env env = owner->Env();
  napi_value r = owner->CallSecurity(Context::kVerify, session,
                                     {String(env, cn != nullptr ? cn : ""), BufferCopy(env, der, derLength),
                                      Number(env, depth), Number(env, validated ? 1 : 0)});
  bool ok = false;
  return r != nullptr && napi_get_value_bool(env, r, &ok) == napi_ok && ok ? 1 : 0;
}

const coap_bin_const_t* OnIdentity(coap_bin_const_t* identity, coap_session_t* session, void* arg) {
  auto* sec = static_cast<ServerSecurity*>(arg);
  napi_env env = sec->owner->Env();
  napi_value r = sec->owner->CallSecurity(Context::kPskKey, session,
                                          {BufferCopy(env, identity->s, identity->length)});
  if (!ToBytes(env, r, &sec->lastKey)) return nullptr;  // unknown identity: handshake fails
  sec->lastKeyBin = Bin(sec->lastKey);
  return &sec->lastKeyBin;
}

const coap_dtls_spsk_info_t* OnPskSni(const char* sni, coap_session_t* session, void* arg) {
  auto* sec = static_cast<ServerSecurity*>(arg);
  napi_env env = sec->owner->Env();
  napi_value r = sec->owner->CallSecurity(Context::kPskSni, session, {String(env, sni != nullptr ? sni : "")});
  if (!Element(env, r, 1, &sec->sniKey)) return &sec->psk.psk_info;  // no SNI or an unknown name: the default
  if (!Element(env, r, 0, &sec->sniHint)) sec->sniHint = sec->hint;
  sec->sniInfo.hint = Bin(sec->sniHint);
  sec->sniInfo.key = Bin(sec->sniKey);
  return &sec->sniInfo;
}

coap_dtls_key_t* OnPkiSni(const char* sni, void* arg) {
  auto* sec = static_cast<ServerSecurity*>(arg);
  std::string name = sni != nullptr ? sni : "";
  auto found = sec->pkiSni.find(name);
  if (found != sec->pkiSni.end()) return &found->second->second;
  napi_env env = sec->owner->Env();
  napi_value r = sec->owner->CallSecurity(Context::kPkiSni, nullptr, {String(env, name)});
  auto entry = std::make_unique<std::pair<PemSet, coap_dtls_key_t>>();
  if (!Element(env, r, 0, &entry->first.cert) || !Element(env, r, 1, &entry->first.key)) {
    return &sec->pki.pki_key;  // unknown name: the default certificate
  }
  entry->first.ca = sec->pem.ca;
  entry->first.Fill(&entry->second);
  coap_dtls_key_t* out = &entry->second;
  sec->pkiSni[name] = std::move(entry);
  return out;
}

void FillPki(coap_dtls_pki_t* pki, Napi::Object config, const PemSet& pem) {
  std::memset(pki, 0, sizeof *pki);
  pki->version = COAP_DTLS_PKI_SETUP_VERSION;
  pki->verify_peer_cert = Flag(config, "verifyPeer");
  pki->check_common_ca = !pem.ca.empty();
  pki->allow_self_signed = Flag(config, "allowSelfSigned");
  pki->allow_expired_certs = Flag(config, "allowExpired");
  pki->cert_chain_validation = 1;
  pki->cert_chain_verify_depth = 3;
  pki->allow_no_crl = 1;
  pki->allow_expired_crl = 1;
  pem.Fill(&pki->pki_key);
}

}  // namespace

void PemSet::Fill(coap_dtls_key_t* out) const {
  std::memset(out, 0, sizeof *out);
  out->key_type = COAP_PKI_KEY_PEM_BUF;
  // Lengths include the terminating NUL each std::string carries (GnuTLS wants one).
  auto view = [](const std::string& s, const uint8_t** p, size_t* len) {
    *p = s.empty() ? nullptr : reinterpret_cast<const uint8_t*>(s.c_str());
    *len = s.empty() ? 0 : s.size() + 1;
  };
  view(ca, &out->key.pem_buf.ca_cert, &out->key.pem_buf.ca_cert_len);
  view(cert, &out->key.pem_buf.public_cert, &out->key.pem_buf.public_cert_len);
  view(key, &out->key.pem_buf.private_key, &out->key.pem_buf.private_key_len);
}

std::unique_ptr<ClientSecurity> MakeClientSecurity(Napi::Object config, Context* owner) {
  auto sec = std::make_unique<ClientSecurity>();
  sec->owner = owner;
  Napi::Value pskValue = config.Get("psk");
  Napi::Value pkiValue = config.Get("pki");
  if (pskValue.IsObject()) {
    Napi::Object p = pskValue.As<Napi::Object>();
    sec->isPsk = true;
    sec->identity = Bytes(p, "identity");
    sec->key = Bytes(p, "key");
    sec->sni = Bytes(p, "sni");
    sec->psk.version = COAP_DTLS_CPSK_SETUP_VERSION;
    sec->psk.psk_info.identity = Bin(sec->identity);
    sec->psk.psk_info.key = Bin(sec->key);
    sec->psk.client_sni = sec->sni.empty() ? nullptr : &sec->sni[0];
    if (Flag(p, "hint")) {
      sec->psk.validate_ih_call_back = OnHint;
      sec->psk.ih_call_back_arg = sec.get();
    }
  } else if (pkiValue.IsObject()) {
    Napi::Object p = pkiValue.As<Napi::Object>();
    sec->pem.ca = Bytes(p, "ca");
    sec->pem.cert = Bytes(p, "cert");
    sec->pem.key = Bytes(p, "key");
    sec->sni = Bytes(p, "sni");
    FillPki(&sec->pki, p, sec->pem);
    sec->pki.client_sni = sec->sni.empty() ? nullptr : &sec->sni[0];
    sec->pki.validate_cn_call_back = OnCommonName;
    sec->pki.cn_call_back_arg = &sec->owner;
  } else {
    throw Napi::TypeError::New(config.Env(), "security needs psk or pki");
  }
  return sec;
}

void SetServerPsk(ServerSecurity& sec, Napi::Object config) {
  sec.hint = Bytes(config, "hint");
  sec.key = Bytes(config, "key");
  std::memset(&sec.psk, 0, sizeof sec.psk);
  sec.psk.version = COAP_DTLS_SPSK_SETUP_VERSION;
  sec.psk.psk_info.hint = Bin(sec.hint);
  sec.psk.psk_info.key = Bin(sec.key);
  if (Flag(config, "lookup")) {
    sec.psk.validate_id_call_back = OnIdentity;
    sec.psk.id_call_back_arg = &sec;
  }
  if (Flag(config, "sni")) {
    sec.psk.validate_sni_call_back = OnPskSni;
    sec.psk.sni_call_back_arg = &sec;
  }
}

void SetServerPki(ServerSecurity& sec, Napi::Object config) {
  sec.pem.ca = Bytes(config, "ca");
  sec.pem.cert = Bytes(config, "cert");
  sec.pem.key = Bytes(config, "key");
  FillPki(&sec.pki, config, sec.pem);
  if (Flag(config, "verify")) {
    sec.pki.validate_cn_call_back = OnCommonName;
    sec.pki.cn_call_back_arg = &sec.owner;
  }
  if (Flag(config, "sni")) {
    sec.pki.validate_sni_call_back = OnPkiSni;
    sec.pki.sni_call_back_arg = &sec;
  }
}

}  // namespace coapnode
