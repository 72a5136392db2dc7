// JS wrapper of one coap_context_t and the libuv poll handle that drives it.
#pragma once
#include <napi.h>
#include <uv.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core.h"
#include "security.h"
#include "util.h"

namespace coapnode {

class Context : public Napi::ObjectWrap<Context> {
 public:
  // JS callbacks made during DTLS handshakes (security.cc).
  enum SecurityHandler { kHint, kVerify, kPskKey, kPskSni, kPkiSni, kSecurityHandlers };

  static Napi::Function Define(Napi::Env env);
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override;

  // Frees everything without calling into JS (environment teardown, close()).
  void Shutdown();

  // Calls a security handler with the session's wrapper first; nullptr when JS cannot answer.
  napi_value CallSecurity(SecurityHandler which, coap_session_t* session, std::initializer_list<napi_value> args);

 private:
  struct PduDeleter {
    void operator()(coap_pdu_t* pdu) const { coap_delete_pdu(pdu); }
  };
  // A request whose handler has not answered yet. While `held` is set the CON request has not
  // been acknowledged at all (an answer in time goes out piggybacked); once `async` is set
  // libcoap has sent the empty ACK and will call the handler again for the separate response.
  // A GET answer kept natively (the fast path): no JS runs for requests to it.
  struct StaticRepresentation {
    int code = 0;
    int contentFormat = -1;
    std::string options;
    std::string etag;
    std::shared_ptr<const std::string> payload;
  };
  struct PendingAsync {
    coap_session_t* session;
    coap_async_t* async = nullptr;
    std::unique_ptr<coap_pdu_t, PduDeleter> held;
    coap_mid_t heldMid = 0;  // the copy gets a new message id; the ACK must echo the original
    // A notification whose handler answered later: sent as a message of this type (CON/NON)
    // of its own rather than as an ACK; -1 for a request.
    int notifyType = -1;
    int64_t observe = -1;  // the Observe value libcoap put in the response, -1 for none
    bool ready = false;
    int code = 0;
    int contentFormat = -1;
    std::string options;
    std::unique_ptr<detail::HeldBuffer, detail::HeldBufferDeleter> payload;
  };

  static Context* FromCoap(coap_context_t* ctx);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static coap_response_t OnResponse(coap_session_t* session, const coap_pdu_t* sent, const coap_pdu_t* received,
                                    const coap_mid_t mid);
  static void OnNack(coap_session_t* session, const coap_pdu_t* sent, const coap_nack_reason_t reason,
                     const coap_mid_t mid);
  static int OnEvent(coap_session_t* session, const coap_event_t event);
  static void OnStatic(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                       const coap_string_t* query, coap_pdu_t* response);
  void ReportAddedObserver(coap_session_t* session, int32_t resourceId);
  static void OnBlockProgress(coap_session_t* session, const coap_bin_const_t* token, size_t sofar, size_t total,
                              int upload);
  static void OnPong(coap_session_t* session, const coap_pdu_t* received, const coap_mid_t mid);
  static int OnObserveAdded(coap_session_t* session, coap_subscription_t* key, coap_proto_t proto,
                            coap_address_t* listen, coap_addr_tuple_t* addr, coap_bin_const_t* raw,
                            coap_bin_const_t* oscore, void* arg);
  static int OnObserveDeleted(coap_session_t* session, coap_subscription_t* key, void* arg);
  static void OnRequest(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                        const coap_string_t* query, coap_pdu_t* response);

  void RunBatch();
  void FinishAsync(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                   const coap_string_t* query, coap_pdu_t* response, PendingAsync& result);
  void FillResponse(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                    const coap_string_t* query, coap_pdu_t* response, int code, int contentFormat,
                    const uint8_t* options, size_t optionsLength, detail::JsBytes body,
                    const std::shared_ptr<const std::string>* native = nullptr);
  napi_value ServerSessionObject(coap_session_t* session);
  void ForgetSession(coap_session_t* session);
  // Calls into JS without ever throwing; nullptr when the call failed.
  napi_value Invoke(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  napi_value Invoke(const Napi::FunctionReference& fn, size_t argc, const napi_value* argv);

  Napi::Value NewClientSession(const Napi::CallbackInfo& info);
  Napi::Value AddClientSecurity(const Napi::CallbackInfo& info);
  Napi::Value SetServerPsk(const Napi::CallbackInfo& info);
  Napi::Value SetServerPki(const Napi::CallbackInfo& info);
  Napi::Value SetLimits(const Napi::CallbackInfo& info);
  Napi::Value SetRootCas(const Napi::CallbackInfo& info);
  Napi::Value SetReliable(const Napi::CallbackInfo& info);
  Napi::Value Ping(const Napi::CallbackInfo& info);
  napi_value SessionValue(coap_session_t* session);  // the JS wrapper, or undefined
  Napi::Value AddEndpoint(const Napi::CallbackInfo& info);
  Napi::Value RemoveEndpoint(const Napi::CallbackInfo& info);
  Napi::Value AddResource(const Napi::CallbackInfo& info);
  Napi::Value RegisterHandler(const Napi::CallbackInfo& info);
  Napi::Value Notify(const Napi::CallbackInfo& info);
  Napi::Value RegisterOption(const Napi::CallbackInfo& info);
  Napi::Value JoinGroup(const Napi::CallbackInfo& info);
  Napi::Value SetStatic(const Napi::CallbackInfo& info);
  Napi::Value CancelObserve(const Napi::CallbackInfo& info);
  Napi::Value SetTokenBase(const Napi::CallbackInfo& info);
  Napi::Value CancelRequest(const Napi::CallbackInfo& info);
  // Our tokens are tokenBase_ + a 32-bit counter: JS keys its requests by the counter.
  void WriteToken(uint8_t out[8], const Napi::Value& counter) const;
  napi_value TokenKey(napi_env env, const uint8_t* token, size_t length) const;
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value CompleteAsync(const Napi::CallbackInfo& info);
  Napi::Value Separate(const Napi::CallbackInfo& info);
  bool StartSeparate(PendingAsync& pending, int32_t id);
  bool SendPiggybacked(PendingAsync& pending);
  bool IsHeldDuplicate(coap_session_t* session, coap_bin_const_t token);
  Napi::Value SetActive(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<ContextCore> core_;
  uv_poll_t* poll_ = nullptr;
  Napi::AsyncContext* asyncContext_ = nullptr;
  Napi::FunctionReference onResponse_, onNack_, onEvent_, onRequest_, onError_, onPong_, onObserver_, onProgress_;
  // Observers by subscription: libcoap reports an added observer just before it calls the
  // resource's handler for that request, which is when we learn the resource.
  std::unordered_map<coap_subscription_t*, int32_t> observers_;
  coap_subscription_t* addedObserver_ = nullptr;
  coap_session_t* addedObserverSession_ = nullptr;
  Napi::FunctionReference onSecurity_[kSecurityHandlers];
  std::vector<std::unique_ptr<ClientSecurity>> clientSecurity_;
  ServerSecurity serverSecurity_;
  Napi::Reference<Napi::Int32Array> shared_;
  int32_t* sharedData_ = nullptr;  // [code, contentFormat, hasOptions, pendingId]
  Napi::Reference<Napi::Uint8Array> inboxRef_;
  uint8_t* inbox_ = nullptr;  // small incoming messages for JS (ReadMessage)
  size_t inboxSize_ = 0;
  bool canCallJs_ = true;
  bool closeRequested_ = false;
  static constexpr int kDatagramRepeat = 8;
  static constexpr int kMaxDatagramRepeat = 64;
  int repeat_ = kDatagramRepeat;  // offers of each readable datagram socket per prepare step (DESIGN §5)
  std::vector<int> corked_;  // stream sockets holding this wakeup's answers (TCP_CORK)
  std::unordered_map<coap_session_t*, Napi::ObjectReference> serverSessions_;
  std::unordered_map<int32_t, PendingAsync> pendingAsync_;
  // Held requests by session and token, so a retransmission is recognised without a scan of
  // pendingAsync_ on every request. Entries are checked against pendingAsync_ when found, so one
  // left behind by a failure path is harmless and dropped then.
  std::unordered_map<std::string, int32_t> heldKeys_;
  std::unordered_map<int32_t, coap_resource_t*> resources_;  // freed by coap_free_context
  int32_t unknownId_ = -1;
  uint8_t tokenBase_[4] = {0, 0, 0, 0};  // the resource for paths no other has (coap_resource_unknown_init2)
  std::unordered_map<int32_t, StaticRepresentation> statics_;
  // UTF-8 of a handler's string result (lib/core: INLINE_STRING UTF-16 units, 3 bytes each).
  char scratch_[4096];
  std::unordered_map<int32_t, coap_endpoint_t*> endpoints_;  // likewise, unless removed first
  int32_t nextEndpointId_ = 1;
};

}  // namespace coapnode
