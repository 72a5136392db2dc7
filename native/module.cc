// Addon entry: per-environment state, libcoap start-up, and the cleanup hook that frees every
// live context when the environment (main thread or worker) goes away.
#include <coap3/coap.h>
#include <napi.h>

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include "addon.h"
#include "context.h"
#include "log.h"
#include "random.h"
#include "session.h"
#include "util.h"

#ifndef COAP_NODE_DTLS
#define COAP_NODE_DTLS "none"
#endif

namespace coapnode {
namespace {

void Cleanup(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  std::vector<Context*> live(data->contexts.begin(), data->contexts.end());
  for (Context* c : live) c->Shutdown();
}

Napi::Value SetLogLevel(const Napi::CallbackInfo& info) {
  SetPrintLevel((coap_log_t)info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value SetLogHook(const Napi::CallbackInfo& info) {
  SetLogSink(info.Env(), info[0]);
  return info.Env().Undefined();
}

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("dtls", Napi::Boolean::New(env, coap_dtls_is_supported()));
  out.Set("psk", Napi::Boolean::New(env, coap_dtls_psk_is_supported()));
  out.Set("pki", Napi::Boolean::New(env, coap_dtls_pki_is_supported()));
  out.Set("rpk", Napi::Boolean::New(env, coap_dtls_rpk_is_supported()));
  out.Set("cid", Napi::Boolean::New(env, coap_dtls_cid_is_supported()));
  out.Set("tcp", Napi::Boolean::New(env, coap_tcp_is_supported()));
  out.Set("tls", Napi::Boolean::New(env, coap_tls_is_supported()));
  out.Set("ws", Napi::Boolean::New(env, coap_ws_is_supported()));
  out.Set("wss", Napi::Boolean::New(env, coap_wss_is_supported()));
  out.Set("oscore", Napi::Boolean::New(env, coap_oscore_is_supported()));
  return out;
}

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("libcoap", coap_package_version());
  out.Set("dtlsBackend", COAP_NODE_DTLS);
  coap_tls_version_t* tls = coap_get_tls_library_version();
  char buf[128];
  out.Set("tlsLibrary", coap_string_tls_version(buf, sizeof buf));
  if (tls != nullptr) {
    out.Set("tlsLibraryVersion", Napi::Number::New(env, (double)tls->version));
    out.Set("tlsBuiltVersion", Napi::Number::New(env, (double)tls->built_version));
  }
  return out;
}

// Bodies libcoap is still sending from JS memory: tests check every one is let go.
Napi::Value HeldBuffers(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), (double)detail::heldBufferCount.load());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static bool started = false;
  if (!started) {
    // Node unloads an addon when the last environment that loaded it (e.g. a worker) ends, but
    // libuv may still call close callbacks from this library afterwards: stay loaded.
    Dl_info self;
    if (dladdr(reinterpret_cast<void*>(&Init), &self) != 0 && self.dli_fname != nullptr) {
      dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE);
    }
    // Process-wide and idempotent enough for workers; libcoap keeps no per-thread state here.
    coap_startup();
    coap_set_prng(BufferedRandom);
    InstallLogHandler();
    started = true;
  }
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  napi_add_env_cleanup_hook(env, Cleanup, data);

  Napi::Function session = Session::Define(env);
  data->sessionCtor = Napi::Persistent(session);
  exports.Set("Session", session);
  exports.Set("Context", Context::Define(env));
  exports.Set("setLogLevel", Napi::Function::New(env, SetLogLevel));
  exports.Set("setLogHook", Napi::Function::New(env, SetLogHook));
  exports.Set("versions", Napi::Function::New(env, Versions));
  exports.Set("capabilities", Napi::Function::New(env, Capabilities));
  exports.Set("heldBuffers", Napi::Function::New(env, HeldBuffers));
  return exports;
}

}  // namespace
}  // namespace coapnode

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return coapnode::Init(env, exports); }

NODE_API_MODULE(libcoap, InitAddon)
