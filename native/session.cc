#include "session.h"

#include "addon.h"
#include "address.h"
#include "util.h"

namespace coapnode {

namespace {
struct WrapArgs {
  std::shared_ptr<ContextCore> core;
  coap_session_t* session;
  bool owned;
};
}  // namespace

Napi::Function Session::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&Session::Release>("release"),
                         InstanceMethod<&Session::ToString>("toString"),
                         InstanceAccessor<&Session::GetId>("id"),
                         InstanceAccessor<&Session::GetValid>("valid"),
                         InstanceAccessor<&Session::GetMtu, &Session::SetMtu>("mtu"),
                         InstanceAccessor<&Session::GetMaxPduSize>("maxPduSize"),
                         InstanceAccessor<&Session::GetRemote>("remote"),
                         InstanceAccessor<&Session::GetLocal>("local"),
                         InstanceAccessor<&Session::GetProto>("proto"),
                         InstanceAccessor<&Session::GetState>("state"),
                         InstanceAccessor<&Session::GetIsClient>("isClient"),
                         InstanceAccessor<&Session::GetPskIdentity>("pskIdentity"),
                         InstanceMethod<&Session::SetParameters>("setParameters"),
                     });
}

napi_value Session::Wrap(Napi::Env env, std::shared_ptr<ContextCore> core, coap_session_t* session, bool owned) {
  WrapArgs args{std::move(core), session, owned};
  napi_value external = nullptr;
  napi_value obj = nullptr;
  // Raw calls: may run from a libcoap callback, where nothing may throw (nullptr on failure).
  napi_value ctor = detail::RefValue(env, GetAddonData(env)->sessionCtor);
  if (ctor == nullptr || napi_create_external(env, &args, nullptr, nullptr, &external) != napi_ok ||
      napi_new_instance(env, ctor, 1, &external, &obj) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    return nullptr;
  }
  return obj;
}

Session* Session::FromCoap(coap_session_t* session) {
  return static_cast<Session*>(coap_session_get_app_data(session));
}

Session::Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "Session objects are created by Context.newClientSession()");
  }
  auto* args = info[0].As<Napi::External<WrapArgs>>().Data();
  core_ = args->core;
  session_ = args->session;
  owned_ = args->owned;
  id_ = GetAddonData(info.Env())->nextSessionId++;
  coap_session_set_app_data(session_, this);
}

Session::~Session() { Drop(); }

void Session::Drop() {
  if (!Alive()) {
    session_ = nullptr;
    return;
  }
  coap_session_set_app_data(session_, nullptr);
  if (owned_) core_->ReleaseSession(session_);
  session_ = nullptr;
}

void Session::Invalidate() { session_ = nullptr; }

Napi::Value Session::Release(const Napi::CallbackInfo& info) {
  Drop();
  return info.Env().Undefined();
}

Napi::Value Session::ToString(const Napi::CallbackInfo& info) {
  if (!Alive()) return Napi::String::New(info.Env(), "<released session>");
  return Napi::String::New(info.Env(), coap_session_str(session_));
}

Napi::Value Session::GetId(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

Napi::Value Session::GetValid(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Alive()); }

Napi::Value Session::GetMtu(const Napi::CallbackInfo& info) {
  // libcoap has no MTU getter: report what was last set (libcoap's default until then).
  return Napi::Number::New(info.Env(), mtu_);
}

void Session::SetMtu(const Napi::CallbackInfo& info, const Napi::Value& value) {
  if (!Alive()) throw Napi::Error::New(info.Env(), "session has been released");
  mtu_ = value.As<Napi::Number>().Uint32Value();
  coap_session_set_mtu(session_, mtu_);
}

Napi::Value Session::GetMaxPduSize(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), (double)coap_session_max_pdu_size(session_));
}

Napi::Value Session::GetRemote(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  return Napi::String::New(info.Env(), FormatAddress(coap_session_get_addr_remote(session_)));
}

Napi::Value Session::GetLocal(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  return Napi::String::New(info.Env(), FormatAddress(coap_session_get_addr_local(session_)));
}

Napi::Value Session::GetProto(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), coap_session_get_proto(session_));
}

Napi::Value Session::GetState(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), coap_session_get_state(session_));
}

Napi::Value Session::GetIsClient(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), coap_session_get_type(session_) == COAP_SESSION_TYPE_CLIENT);
}

}  // namespace coapnode

namespace coapnode {

Napi::Value Session::GetPskIdentity(const Napi::CallbackInfo& info) {
  if (!Alive()) return info.Env().Undefined();
  const coap_bin_const_t* id = coap_session_get_psk_identity(session_);
  if (id == nullptr || id->length == 0) return info.Env().Undefined();
  return Napi::Buffer<uint8_t>::Copy(info.Env(), id->s, id->length);
}

}  // namespace coapnode

namespace coapnode {

namespace {
// Milliseconds-precision fixed point (libcoap keeps thousandths).
coap_fixed_point_t Fixed(double value) {
  uint32_t thousandths = (uint32_t)(value * 1000.0 + 0.5);
  return coap_fixed_point_t{(uint16_t)(thousandths / 1000), (uint16_t)(thousandths % 1000)};
}
}  // namespace

Napi::Value Session::SetParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Alive()) throw Napi::Error::New(env, "session has been released");
  Napi::Object p = info[0].As<Napi::Object>();
  auto num = [&](const char* name, double* out) {
    Napi::Value v = p.Get(name);
    if (!v.IsNumber()) return false;
    *out = v.As<Napi::Number>().DoubleValue();
    return true;
  };
  double v;
  if (num("ackTimeout", &v)) coap_session_set_ack_timeout(session_, Fixed(v));
  if (num("ackRandomFactor", &v)) coap_session_set_ack_random_factor(session_, Fixed(v));
  if (num("maxRetransmit", &v)) coap_session_set_max_retransmit(session_, (uint16_t)v);
  if (num("nstart", &v)) coap_session_set_nstart(session_, (uint16_t)v);
  if (num("defaultLeisure", &v)) coap_session_set_default_leisure(session_, Fixed(v));
  if (num("probingRate", &v)) coap_session_set_probing_rate(session_, (uint32_t)v);
  return env.Undefined();
}

}  // namespace coapnode
