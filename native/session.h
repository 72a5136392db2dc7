// JS wrapper of one coap_session_t. A client session wrapper owns exactly one libcoap reference,
// dropped once by release() or, as a safety net, by the finalizer. A server session wrapper is
// borrowed: libcoap owns the session and tells us (SERVER_SESSION_DEL) when it is gone.
#pragma once
#include <napi.h>

#include <memory>

#include "core.h"

namespace coapnode {

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Makes the JS wrapper (nullptr on failure); `owned` means it takes over one reference the
  // caller already holds.
  static napi_value Wrap(Napi::Env env, std::shared_ptr<ContextCore> core, coap_session_t* session, bool owned);
  static Session* FromCoap(coap_session_t* session);

  explicit Session(const Napi::CallbackInfo& info);
  ~Session() override;

  coap_session_t* Get() const { return Alive() ? session_ : nullptr; }
  uint32_t Id() const { return id_; }
  // A client session to a group address: answers come from each member's own address.
  bool Multicast() const { return multicast_; }
  void SetMulticast() { multicast_ = true; }
  // libcoap has freed (or is freeing) the session: forget the pointer.
  void Invalidate();

 private:
  bool Alive() const { return session_ != nullptr && core_ && !core_->Closed(); }
  void Drop();

  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value ToString(const Napi::CallbackInfo& info);
  Napi::Value GetId(const Napi::CallbackInfo& info);
  Napi::Value GetValid(const Napi::CallbackInfo& info);
  Napi::Value GetMtu(const Napi::CallbackInfo& info);
  void SetMtu(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value GetMaxPduSize(const Napi::CallbackInfo& info);
  Napi::Value GetRemote(const Napi::CallbackInfo& info);
  Napi::Value GetLocal(const Napi::CallbackInfo& info);
  Napi::Value GetProto(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value GetIsClient(const Napi::CallbackInfo& info);
  Napi::Value GetPskIdentity(const Napi::CallbackInfo& info);
  Napi::Value SetParameters(const Napi::CallbackInfo& info);

  std::shared_ptr<ContextCore> core_;
  coap_session_t* session_ = nullptr;
  bool owned_ = false;
  uint32_t id_ = 0;
  uint32_t mtu_ = COAP_DEFAULT_MTU;
  bool multicast_ = false;
};

}  // namespace coapnode
