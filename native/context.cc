#include "context.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>

#include <cstdlib>
#include <cstring>

#include "addon.h"
#include "address.h"
#include "options.h"
#include "log.h"
#include "session.h"
#include "util.h"

// libcoap's own (coap_net_internal.h, not in its public headers): drops a session's queued
// messages with a token, as libcoap does for a cancelled observation.
extern "C" void coap_cancel_all_messages(coap_context_t* context, coap_session_t* session, coap_bin_const_t* token);
extern "C" void coap_cancel_delayed_messages(coap_session_t* session, coap_bin_const_t* token);

namespace coapnode {

using namespace detail;

namespace {
constexpr int kEpollBatch = 64;
constexpr int kMaxRounds = 16;  // bounds one wakeup so timers and other handles still run
}  // namespace

Napi::Function Context::Define(Napi::Env env) {
  return DefineClass(env, "Context",
                     {
                         InstanceMethod<&Context::NewClientSession>("newClientSession"),
                         InstanceMethod<&Context::AddClientSecurity>("addClientSecurity"),
                         InstanceMethod<&Context::SetServerPsk>("setServerPsk"),
                         InstanceMethod<&Context::SetServerPki>("setServerPki"),
                         InstanceMethod<&Context::SetLimits>("setLimits"),
                         InstanceMethod<&Context::SetRootCas>("setRootCas"),
                         InstanceMethod<&Context::SetReliable>("setReliable"),
                         InstanceMethod<&Context::Ping>("ping"),
                         InstanceMethod<&Context::AddEndpoint>("addEndpoint"),
                         InstanceMethod<&Context::RemoveEndpoint>("removeEndpoint"),
                         InstanceMethod<&Context::AddResource>("addResource"),
                         InstanceMethod<&Context::RegisterHandler>("registerHandler"),
                         InstanceMethod<&Context::Notify>("notify"),
                         InstanceMethod<&Context::RegisterOption>("registerOption"),
                         InstanceMethod<&Context::JoinGroup>("joinGroup"),
                         InstanceMethod<&Context::SetStatic>("setStatic"),
                         InstanceMethod<&Context::CancelObserve>("cancelObserve"),
                         InstanceMethod<&Context::SetTokenBase>("setTokenBase"),
                         InstanceMethod<&Context::CancelRequest>("cancelRequest"),
                         InstanceMethod<&Context::Send>("send"),
                         InstanceMethod<&Context::CompleteAsync>("completeAsync"),
                         InstanceMethod<&Context::Separate>("separate"),
                         InstanceMethod<&Context::SetActive>("setActive"),
                         InstanceMethod<&Context::Close>("close"),
                     });
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsObject() || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    throw Napi::TypeError::New(env, "Context(handlers, shared) is internal: use lib/core");
  }
  Napi::Object handlers = info[0].As<Napi::Object>();
  onResponse_ = Napi::Persistent(handlers.Get("response").As<Napi::Function>());
  onNack_ = Napi::Persistent(handlers.Get("nack").As<Napi::Function>());
  onEvent_ = Napi::Persistent(handlers.Get("event").As<Napi::Function>());
  onRequest_ = Napi::Persistent(handlers.Get("request").As<Napi::Function>());
  onError_ = Napi::Persistent(handlers.Get("error").As<Napi::Function>());
  onPong_ = Napi::Persistent(handlers.Get("pong").As<Napi::Function>());
  onObserver_ = Napi::Persistent(handlers.Get("observer").As<Napi::Function>());
  onProgress_ = Napi::Persistent(handlers.Get("progress").As<Napi::Function>());
  const char* securityNames[kSecurityHandlers] = {"hint", "verify", "pskKey", "pskSni", "pkiSni"};
  for (int i = 0; i < kSecurityHandlers; i++) {
    onSecurity_[i] = Napi::Persistent(handlers.Get(securityNames[i]).As<Napi::Function>());
  }
  serverSecurity_.owner = this;
  Napi::Int32Array shared = info[1].As<Napi::Int32Array>();
  if (shared.ElementLength() < 4) throw Napi::RangeError::New(env, "shared state needs 4 slots");
  shared_ = Napi::Persistent(shared);
  sharedData_ = shared.Data();
  Napi::Uint8Array inbox = info[2].As<Napi::Uint8Array>();
  inboxRef_ = Napi::Persistent(inbox);
  inbox_ = inbox.Data();
  inboxSize_ = inbox.ByteLength();

  core_ = std::make_shared<ContextCore>();
  core_->ctx = coap_new_context(nullptr);
  if (core_->ctx == nullptr) throw Napi::Error::New(env, "coap_new_context() failed");
  coap_context_set_app_data(core_->ctx, this);
  coap_context_set_block_mode(core_->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(core_->ctx, OnResponse);
  coap_register_nack_handler(core_->ctx, OnNack);
  coap_register_event_handler(core_->ctx, OnEvent);
  coap_register_pong_handler(core_->ctx, OnPong);
  coap_register_block_progress_handler(core_->ctx, OnBlockProgress);
  coap_persist_track_funcs(core_->ctx, OnObserveAdded, OnObserveDeleted, nullptr, nullptr, nullptr, 0, this);

  int fd = coap_context_get_coap_fd(core_->ctx);
  if (fd < 0) {
    Shutdown();
    throw Napi::Error::New(env, "libcoap was built without epoll support");
  }
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, fd);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, OnPoll);
  uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  asyncContext_ = new Napi::AsyncContext(env, "CoapContext");
  GetAddonData(env)->contexts.insert(this);
}

Context::~Context() {
  Shutdown();
  delete asyncContext_;
}

Context* Context::FromCoap(coap_context_t* ctx) {
  return ctx == nullptr ? nullptr : static_cast<Context*>(coap_context_get_app_data(ctx));
}

void Context::Shutdown() {
  if (core_ == nullptr || core_->Closed()) return;
  canCallJs_ = false;
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  for (auto& entry : serverSessions_) {
    Session* s = Session::FromCoap(entry.first);
    if (s != nullptr) s->Invalidate();
  }
  serverSessions_.clear();  // the references' destructors never throw, unlike Reset()
  pendingAsync_.clear();
  heldKeys_.clear();
  observers_.clear();
  addedObserver_ = nullptr;
  resources_.clear();
  statics_.clear();
  endpoints_.clear();
  core_->deferredReleases.clear();  // coap_free_context frees every session regardless
  coap_context_t* ctx = core_->ctx;
  core_->ctx = nullptr;  // every Session wrapper now sees the context as gone
  coap_context_set_app_data(ctx, nullptr);
  coap_free_context(ctx);
  Napi::Env env = Env();
  AddonData* data = GetAddonData(env);
  if (data != nullptr) data->contexts.erase(this);
}

napi_value Context::Invoke(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  return Invoke(fn, args.size(), args.begin());
}

napi_value Context::Invoke(const Napi::FunctionReference& fn, size_t argc, const napi_value* argv) {
  napi_env env = Env();
  napi_value recv, result = nullptr;
  napi_get_undefined(env, &recv);
  napi_value callee = RefValue(env, fn);
  if (callee != nullptr && napi_call_function(env, recv, callee, argc, argv, &result) == napi_ok) return result;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    // A call that fails without an exception means the environment is being torn down
    // (worker.terminate()): stop calling into JS for good.
    canCallJs_ = false;
    return nullptr;
  }
  // Our trampolines catch user errors; anything reaching here goes to the 'error' path, never
  // as a throw into libcoap or libuv.
  napi_value error;
  napi_get_and_clear_last_exception(env, &error);
  if (&fn != &onError_) Invoke(onError_, {error});
  return nullptr;
}

void Context::OnPoll(uv_poll_t* handle, int status, int) {
  auto* self = static_cast<Context*>(handle->data);
  if (status < 0 || self == nullptr) return;
  self->RunBatch();
}

void Context::RunBatch() {
  napi_env env = Env();
  // One handle scope and one callback scope per wakeup: promise continuations run once, after
  // libcoap returns. Raw calls, because nothing may throw into libuv; if the scopes cannot be
  // opened the environment is going away and libcoap runs without calling into JS.
  napi_handle_scope handleScope = nullptr;
  napi_callback_scope callbackScope = nullptr;
  if (canCallJs_ && napi_open_handle_scope(env, &handleScope) == napi_ok) {
    napi_value resource;
    if (napi_create_object(env, &resource) != napi_ok ||
        napi_open_callback_scope(env, resource, *asyncContext_, &callbackScope) != napi_ok) {
      canCallJs_ = false;
    }
  } else {
    canCallJs_ = false;
  }
  struct epoll_event ready[kEpollBatch];
  struct epoll_event batch[kEpollBatch * kMaxDatagramRepeat];  // 48 KiB: every ready socket gets its offers
  int fd = coap_context_get_coap_fd(core_->ctx);
  {
    InLibcoap guard(*core_);
    for (int round = 0; round < kMaxRounds && !closeRequested_; round++) {
      int n = epoll_wait(fd, ready, kEpollBatch, 0);
      if (repeat_ > 1) {
        // Adapt the offers per prepare step (DESIGN §5): a socket still readable after a full
        // round wanted more (each prepare step walks every session, so with thousands of them
        // it must serve many datagrams); one drained at the first round had enough.
        if (n > 0 && round > 0) repeat_ = std::min(kMaxDatagramRepeat, repeat_ * 2);
        else if (n <= 0 && round == 1) repeat_ = std::max(kDatagramRepeat, repeat_ - repeat_ / 4);
      }
      if (n <= 0) break;
      // Offer each readable datagram socket several times per call so a busy socket is drained
      // before libcoap's per-call session walk runs again; surplus offers just hit EAGAIN.
      // A connected stream is offered once (libcoap reads it until its buffer comes back
      // short), and rounds go on while it stays readable: a TLS read returns one record.
      // Everything sent on a readable stream socket during this wakeup (answers from handlers
      // and, after the callback scope, requests from promise continuations) is corked, so it
      // leaves in as few segments as possible: one send() per PDU otherwise costs a segment,
      // an ACK and, on loopback, the peer's receive path each time.
      size_t m = 0;
      bool busy = false;
      for (int i = 0; i < n; i++) {
        int stream = coap_epoll_event_stream_fd(&ready[i]);
        int reps = 1;
        if (stream != COAP_INVALID_SOCKET) {
          int on = 1;
          if (setsockopt(stream, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0) corked_.push_back(stream);
          busy = true;
        } else if (ready[i].data.ptr != nullptr && ready[i].events == EPOLLIN) {
          reps = repeat_;
          busy = busy || reps > 1;
        }
        for (int r = 0; r < reps && m < sizeof batch / sizeof batch[0]; r++) batch[m++] = ready[i];
      }
      coap_io_do_epoll(core_->ctx, batch, m);
      if (!busy) break;
    }
  }
  if (closeRequested_) {
    Shutdown();
  } else {
    core_->DrainDeferred();
  }
  if (callbackScope != nullptr) napi_close_callback_scope(env, callbackScope);
  if (handleScope != nullptr) napi_close_handle_scope(env, handleScope);
  // Uncorking flushes. A socket libcoap closed meanwhile fails harmlessly (EBADF), and a number
  // reused since by a new socket finds it uncorked already.
  for (int s : corked_) {
    int off = 0;
    setsockopt(s, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
  }
  corked_.clear();
}

coap_response_t Context::OnResponse(coap_session_t* session, const coap_pdu_t*, const coap_pdu_t* received,
                                    const coap_mid_t) {
  Context* self = FromCoap(coap_session_get_context(session));
  Session* wrapper = Session::FromCoap(session);
  if (self == nullptr || !self->canCallJs_ || wrapper == nullptr) return COAP_RESPONSE_OK;
  Napi::Env env = self->Env();
  coap_bin_const_t token = coap_pdu_get_token(received);
  // While libcoap hands over an answer to a group request, the session's remote address is
  // the member that sent it.
  napi_value from = nullptr;
  if (wrapper->Multicast()) from = String(env, FormatAddress(coap_session_get_addr_remote(session)));
  else napi_get_undefined(env, &from);
  napi_value payload, options;
  ReadMessage(env, received, nullptr, self->inbox_, self->inboxSize_, &payload, &options);
  self->Invoke(self->onResponse_,
               {Number(env, wrapper->Id()), self->TokenKey(env, token.s, token.length),
                Number(env, coap_pdu_get_code(received)), Number(env, coap_pdu_get_type(received)),
                Number(env, coap_pdu_get_mid(received)), payload, options, from});
  return COAP_RESPONSE_OK;
}

void Context::OnBlockProgress(coap_session_t* session, const coap_bin_const_t* token, size_t sofar, size_t total,
                              int upload) {
  Context* self = FromCoap(coap_session_get_context(session));
  Session* wrapper = Session::FromCoap(session);
  if (self == nullptr || !self->canCallJs_ || wrapper == nullptr || self->onProgress_.IsEmpty()) return;
  Napi::Env env = self->Env();
  self->Invoke(self->onProgress_, {Number(env, wrapper->Id()), self->TokenKey(env, token->s, token->length),
                                   Number(env, (double)sofar), Number(env, (double)total), Number(env, upload)});
}

void Context::OnNack(coap_session_t* session, const coap_pdu_t* sent, const coap_nack_reason_t reason,
                     const coap_mid_t) {
  Context* self = FromCoap(coap_session_get_context(session));
  Session* wrapper = Session::FromCoap(session);
  if (self == nullptr || !self->canCallJs_ || wrapper == nullptr || sent == nullptr) return;
  napi_env env = self->Env();
  if (reason == COAP_NACK_RST && coap_pdu_get_code(sent) == COAP_EMPTY_CODE) {
    // The RST that answers a CoAP ping (an empty CON) on UDP/DTLS.
    self->Invoke(self->onPong_, {Number(env, wrapper->Id())});
    return;
  }
  coap_bin_const_t token = coap_pdu_get_token(sent);
  self->Invoke(self->onNack_, {Number(env, wrapper->Id()), self->TokenKey(env, token.s, token.length), Number(env, reason),
                               String(env, RecentLog(session))});
}

int Context::OnEvent(coap_session_t* session, const coap_event_t event) {
  Context* self = FromCoap(coap_session_get_context(session));
  if (self == nullptr) return 0;
  // Server sessions get their wrapper when libcoap first reports them (an accepted TCP
  // connection before SERVER_SESSION_NEW), so every later event reaches JS.
  if (self->canCallJs_ && (event == COAP_EVENT_SERVER_SESSION_NEW ||
                           (event == COAP_EVENT_TCP_CONNECTED &&
                            coap_session_get_type(session) == COAP_SESSION_TYPE_SERVER))) {
    self->ServerSessionObject(session);
  }
  Session* wrapper = Session::FromCoap(session);
  if (self->canCallJs_ && wrapper != nullptr) {
    napi_env env = self->Env();
    napi_value object = RefValue(env, *wrapper);
    if (object != nullptr) self->Invoke(self->onEvent_, {object, Number(env, event)});
  }
  if (event == COAP_EVENT_SERVER_SESSION_DEL) self->ForgetSession(session);
  return 0;
}

void Context::OnPong(coap_session_t* session, const coap_pdu_t*, const coap_mid_t) {
  Context* self = FromCoap(coap_session_get_context(session));
  Session* wrapper = Session::FromCoap(session);
  if (self == nullptr || !self->canCallJs_ || wrapper == nullptr) return;
  self->Invoke(self->onPong_, {Number(self->Env(), wrapper->Id())});
}

int Context::OnObserveAdded(coap_session_t* session, coap_subscription_t* key, coap_proto_t, coap_address_t*,
                            coap_addr_tuple_t*, coap_bin_const_t*, coap_bin_const_t*, void* arg) {
  auto* self = static_cast<Context*>(arg);
  self->addedObserver_ = key;
  self->addedObserverSession_ = session;
  return 1;
}

int Context::OnObserveDeleted(coap_session_t* session, coap_subscription_t* key, void* arg) {
  auto* self = static_cast<Context*>(arg);
  if (self->addedObserver_ == key) self->addedObserver_ = nullptr;
  auto found = self->observers_.find(key);
  if (found == self->observers_.end()) return 1;
  int32_t resourceId = found->second;
  self->observers_.erase(found);
  if (self->canCallJs_) {
    napi_env env = self->Env();
    QuietHandleScope scope(env);
    self->Invoke(self->onObserver_, {Number(env, resourceId), Number(env, 0), self->SessionValue(session)});
  }
  return 1;
}

void Context::ForgetSession(coap_session_t* session) {
  for (auto it = pendingAsync_.begin(); it != pendingAsync_.end();) {
    it = it->second.session == session ? pendingAsync_.erase(it) : std::next(it);
  }
  // Held-request keys of this session now point at nothing; drop them rather than wait.
  std::string prefix(reinterpret_cast<const char*>(&session), sizeof session);
  for (auto it = heldKeys_.begin(); it != heldKeys_.end();) {
    it = it->first.compare(0, prefix.size(), prefix) == 0 ? heldKeys_.erase(it) : std::next(it);
  }
  auto found = serverSessions_.find(session);
  if (found == serverSessions_.end()) return;
  Session* wrapper = Session::FromCoap(session);
  if (wrapper != nullptr) wrapper->Invalidate();
  coap_session_set_app_data(session, nullptr);
  serverSessions_.erase(found);
}

napi_value Context::ServerSessionObject(coap_session_t* session) {
  auto found = serverSessions_.find(session);
  napi_env env = Env();
  if (found != serverSessions_.end()) return RefValue(env, found->second);
  napi_value obj = Session::Wrap(env, core_, session, false);
  napi_ref ref = nullptr;
  if (obj == nullptr || napi_create_reference(env, obj, 1, &ref) != napi_ok) return nullptr;
  serverSessions_.emplace(session, Napi::ObjectReference(env, ref));
  return obj;
}

Napi::Value Context::NewClientSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  int proto = info[0].As<Napi::Number>().Int32Value();
  std::string host = info[1].As<Napi::String>().Utf8Value();
  uint16_t port = (uint16_t)info[2].As<Napi::Number>().Uint32Value();
  ClientSecurity* security = nullptr;
  if (info[3].IsNumber()) {
    uint32_t id = info[3].As<Napi::Number>().Uint32Value();
    if (id == 0 || id > clientSecurity_.size()) throw Napi::RangeError::New(env, "unknown security set-up");
    security = clientSecurity_[id - 1].get();
  }
  coap_address_t remote;
  if (!ParseAddress(host, port, &remote)) throw Napi::TypeError::New(env, "not a numeric IP address: " + host);
  coap_session_t* session;
  {
    InLibcoap guard(*core_);
    if (security == nullptr) {
      session = coap_new_client_session(core_->ctx, nullptr, &remote, (coap_proto_t)proto);
    } else if (security->isPsk) {
      session = coap_new_client_session_psk2(core_->ctx, nullptr, &remote, (coap_proto_t)proto, &security->psk);
    } else {
      session = coap_new_client_session_pki(core_->ctx, nullptr, &remote, (coap_proto_t)proto, &security->pki);
    }
    // A (D)TLS handshake or a TCP connect has just started; libcoap only arms the timers that
    // retransmit or time it out when its I/O is next prepared, so prepare now.
    if (session != nullptr && (security != nullptr || proto != COAP_PROTO_UDP)) {
      coap_tick_t now;
      coap_ticks(&now);
      coap_io_prepare_epoll(core_->ctx, now);
    }
  }
  if (session == nullptr) {
    throw Napi::Error::New(env, "libcoap could not open a session to " + host + RecentLogSuffix(nullptr));
  }
  if (info[4].IsString() && (proto == COAP_PROTO_WS || proto == COAP_PROTO_WSS)) {
    // The Host header of the WebSocket upgrade: the URL's host name rather than the address.
    std::string wsHost = info[4].As<Napi::String>().Utf8Value();
    coap_str_const_t h{wsHost.size(), reinterpret_cast<const uint8_t*>(wsHost.data())};
    coap_ws_set_host_request(session, &h);
  }
  napi_value obj = Session::Wrap(env, core_, session, true);
  if (obj == nullptr) {
    coap_session_release(session);
    throw Napi::Error::New(env, "cannot create the session wrapper");
  }
  if (coap_is_mcast(&remote)) Session::FromCoap(session)->SetMulticast();
  return Napi::Value(env, obj);
}

Napi::Value Context::AddClientSecurity(const Napi::CallbackInfo& info) {
  clientSecurity_.push_back(MakeClientSecurity(info[0].As<Napi::Object>(), this));
  return Napi::Number::New(info.Env(), (double)clientSecurity_.size());
}

Napi::Value Context::SetServerPsk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  coapnode::SetServerPsk(serverSecurity_, info[0].As<Napi::Object>());
  if (!coap_context_set_psk2(core_->ctx, &serverSecurity_.psk)) {
    throw Napi::Error::New(env, "libcoap refused the PSK set-up" + RecentLogSuffix(nullptr));
  }
  return env.Undefined();
}

Napi::Value Context::SetServerPki(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  coapnode::SetServerPki(serverSecurity_, info[0].As<Napi::Object>());
  if (!coap_context_set_pki(core_->ctx, &serverSecurity_.pki)) {
    throw Napi::Error::New(env, "libcoap refused the certificate set-up" + RecentLogSuffix(nullptr));
  }
  return env.Undefined();
}

Napi::Value Context::SetRootCas(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  return Napi::Boolean::New(env, coap_context_set_pki_root_cas(core_->ctx, nullptr, dir.c_str()) == 1);
}

Napi::Value Context::SetReliable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  if (info[0].IsNumber()) coap_context_set_keepalive(core_->ctx, info[0].As<Napi::Number>().Uint32Value());
  if (info[1].IsNumber()) coap_context_set_csm_max_message_size(core_->ctx, info[1].As<Napi::Number>().Uint32Value());
  return env.Undefined();
}

Napi::Value Context::Ping(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  coap_session_t* session = Session::Unwrap(info[0].As<Napi::Object>())->Get();
  if (session == nullptr) throw Napi::Error::New(env, "session has been released");
  coap_mid_t mid;
  {
    InLibcoap guard(*core_);
    mid = coap_session_send_ping(session);
  }
  core_->DrainDeferred();
  if (mid == COAP_INVALID_MID) throw Napi::Error::New(env, "libcoap could not send the ping" + RecentLogSuffix(session));
  return Napi::Number::New(env, mid);
}

Napi::Value Context::SetLimits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  if (info[0].IsNumber()) coap_context_set_max_handshake_sessions(core_->ctx, info[0].As<Napi::Number>().Uint32Value());
  if (info[1].IsNumber()) coap_context_set_max_idle_sessions(core_->ctx, info[1].As<Napi::Number>().Uint32Value());
  if (info[2].IsNumber()) coap_context_set_session_timeout(core_->ctx, info[2].As<Napi::Number>().Uint32Value());
  if (info[3].IsNumber()) coap_context_set_max_body_size(core_->ctx, (size_t)info[3].As<Napi::Number>().Int64Value());
  if (info[4].IsBoolean()) coap_context_set_reuse_port(core_->ctx, info[4].As<Napi::Boolean>().Value() ? 1 : 0);
  if (info[5].IsNumber()) coap_context_set_max_block_size(core_->ctx, info[5].As<Napi::Number>().Uint32Value());
  return env.Undefined();
}

napi_value Context::SessionValue(coap_session_t* session) {
  napi_value undefined;
  napi_get_undefined(Env(), &undefined);
  if (session == nullptr) return undefined;
  if (coap_session_get_type(session) != COAP_SESSION_TYPE_CLIENT) {
    napi_value obj = ServerSessionObject(session);
    return obj != nullptr ? obj : undefined;
  }
  Session* wrapper = Session::FromCoap(session);
  napi_value obj = wrapper != nullptr ? RefValue(Env(), *wrapper) : nullptr;
  return obj != nullptr ? obj : undefined;
}

napi_value Context::CallSecurity(SecurityHandler which, coap_session_t* session,
                                 std::initializer_list<napi_value> args) {
  if (!canCallJs_) return nullptr;
  napi_env env = Env();
  std::vector<napi_value> all;
  all.reserve(args.size() + 1);
  all.push_back(SessionValue(session));
  all.insert(all.end(), args.begin(), args.end());
  return Invoke(onSecurity_[which], all.size(), all.data());
}

Napi::Value Context::AddEndpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  int proto = info[0].As<Napi::Number>().Int32Value();
  std::string host = info[1].As<Napi::String>().Utf8Value();
  uint16_t port = (uint16_t)info[2].As<Napi::Number>().Uint32Value();
  coap_address_t local;
  if (!ParseAddress(host, port, &local)) throw Napi::TypeError::New(env, "not a numeric IP address: " + host);
  coap_endpoint_t* ep = coap_new_endpoint(core_->ctx, &local, (coap_proto_t)proto);
  if (ep == nullptr) {
    throw Napi::Error::New(env, "cannot listen on " + FormatAddress(&local) + " (address in use or not available)");
  }
  // libcoap records the bound address (the real port when 0 was asked for) in its description.
  std::string desc = coap_endpoint_str(ep);
  size_t space = desc.rfind(' ');
  size_t colon = desc.rfind(':', space);
  int bound = colon == std::string::npos ? port : std::atoi(desc.c_str() + colon + 1);
  // A listening TCP/WebSocket socket offered again makes libcoap try another accept
  // (allocating a session for it), and it cannot be told apart from a datagram endpoint in
  // the epoll events: a context with one offers every socket once.
  if (proto != COAP_PROTO_UDP && proto != COAP_PROTO_DTLS) repeat_ = 1;
  int32_t id = nextEndpointId_++;
  endpoints_[id] = ep;
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, id));
  out.Set(1u, Napi::Number::New(env, bound));
  return out;
}

Napi::Value Context::RemoveEndpoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto found = endpoints_.find(info[0].As<Napi::Number>().Int32Value());
  if (found == endpoints_.end() || core_->Closed()) return Napi::Boolean::New(env, false);
  if (core_->depth > 0) throw Napi::Error::New(env, "an endpoint cannot be freed from inside a libcoap callback");
  coap_free_endpoint(found->second);
  endpoints_.erase(found);
  return Napi::Boolean::New(env, true);
}

Napi::Value Context::AddResource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int32_t id = info[1].As<Napi::Number>().Int32Value();
  coap_str_const_t* uri = coap_new_str_const(reinterpret_cast<const uint8_t*>(path.data()), path.size());
  // 0: not observable; 1: NON notifications (libcoap's periodic CON); 2: CON; 3: NON always.
  int notifications = info[2].As<Napi::Number>().Int32Value();
  int flags = COAP_RESOURCE_FLAGS_RELEASE_URI | (notifications == 2   ? COAP_RESOURCE_FLAGS_NOTIFY_CON
                                                 : notifications == 3 ? COAP_RESOURCE_FLAGS_NOTIFY_NON_ALWAYS
                                                                      : COAP_RESOURCE_FLAGS_NOTIFY_NON);
  // Resources whose If-None-Match is decided in JS (they may have no representation).
  if (info[4].ToBoolean().Value()) flags |= COAP_RESOURCE_FLAGS_APP_IF_NONE_MATCH;
  // The unknown resource (libcoap's name) takes requests for every path no other resource has.
  bool unknown = info[5].ToBoolean().Value();
  coap_resource_t* r;
  if (unknown) {
    coap_delete_str_const(uri);
    r = coap_resource_unknown_init2(nullptr, flags & COAP_RESOURCE_FLAGS_APP_IF_NONE_MATCH);
  } else {
    r = coap_resource_init(uri, flags);
  }
  if (r == nullptr) throw Napi::Error::New(env, "coap_resource_init() failed");
  if (unknown) unknownId_ = id;
  coap_resource_set_userdata(r, (void*)(intptr_t)id);
  if (notifications != 0) coap_resource_set_get_observable(r, 1);
  // Link attributes for /.well-known/core, which libcoap answers itself: [[name, value], ...]
  // with values already in link-format form (quoted where needed).
  if (info[3].IsArray()) {
    Napi::Array attrs = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < attrs.Length(); i++) {
      Napi::Array pair = attrs.Get(i).As<Napi::Array>();
      std::string name = pair.Get(0u).As<Napi::String>().Utf8Value();
      std::string value = pair.Get(1u).As<Napi::String>().Utf8Value();
      coap_add_attr(r, coap_new_str_const(reinterpret_cast<const uint8_t*>(name.data()), name.size()),
                    value.empty() ? nullptr
                                  : coap_new_str_const(reinterpret_cast<const uint8_t*>(value.data()), value.size()),
                    COAP_ATTR_FLAGS_RELEASE_NAME | COAP_ATTR_FLAGS_RELEASE_VALUE);
    }
  }
  coap_add_resource(core_->ctx, r);
  resources_[id] = r;
  return env.Undefined();
}

Napi::Value Context::JoinGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  std::string group = info[0].As<Napi::String>().Utf8Value();
  std::string ifname = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string();
  // libcoap joins the group on every UDP endpoint of the group's address family (and asserts
  // that there is an endpoint at all).
  if (endpoints_.empty()) throw Napi::Error::New(env, "cannot join multicast group " + group + ": no endpoint to join it on");
  if (coap_join_mcast_group_intf(core_->ctx, group.c_str(), ifname.empty() ? nullptr : ifname.c_str()) != 0) {
    throw Napi::Error::New(env, "cannot join multicast group " + group + RecentLogSuffix(nullptr));
  }
  return env.Undefined();
}

Napi::Value Context::RegisterOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  // A critical option libcoap does not know makes it answer 4.02 Bad Option itself.
  coap_register_option(core_->ctx, (uint16_t)info[0].As<Napi::Number>().Uint32Value());
  return env.Undefined();
}

Napi::Value Context::Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  auto found = resources_.find(info[0].As<Napi::Number>().Int32Value());
  if (found == resources_.end()) throw Napi::RangeError::New(env, "unknown resource");
  // libcoap marks the resource dirty and re-runs its GET handler for each observer from its
  // own I/O step (never from inside this call).
  return Napi::Boolean::New(env, coap_resource_notify_observers(found->second, nullptr) == 1);
}

Napi::Value Context::CancelObserve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) return Napi::Boolean::New(env, false);
  coap_session_t* session = Session::Unwrap(info[0].As<Napi::Object>())->Get();
  if (session == nullptr) return Napi::Boolean::New(env, false);
  uint8_t token[8];
  WriteToken(token, info[1]);
  coap_binary_t bin{sizeof token, token};
  int ok;
  {
    InLibcoap guard(*core_);
    ok = coap_cancel_observe(session, &bin, COAP_MESSAGE_CON);
  }
  core_->DrainDeferred();
  return Napi::Boolean::New(env, ok == 1);
}

Napi::Value Context::CancelRequest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) return env.Undefined();
  coap_session_t* session = Session::Unwrap(info[0].As<Napi::Object>())->Get();
  if (session == nullptr) return env.Undefined();
  uint8_t token[8];
  WriteToken(token, info[1]);
  coap_bin_const_t bin{sizeof token, token};
  {
    // Its retransmissions stop, and (NSTART) the next request waiting behind it goes out; one
    // still waiting for its turn is withdrawn (patch 0020), so an abort means never sent.
    InLibcoap guard(*core_);
    coap_cancel_all_messages(core_->ctx, session, &bin);
    coap_cancel_delayed_messages(session, &bin);
  }
  core_->DrainDeferred();
  return env.Undefined();
}

Napi::Value Context::SetTokenBase(const Napi::CallbackInfo& info) {
  auto base = info[0].As<Napi::Buffer<uint8_t>>();
  std::memcpy(tokenBase_, base.Data(), std::min(base.Length(), sizeof tokenBase_));
  return info.Env().Undefined();
}

void Context::WriteToken(uint8_t out[8], const Napi::Value& counter) const {
  uint32_t n = counter.As<Napi::Number>().Uint32Value();
  std::memcpy(out, tokenBase_, 4);
  out[4] = (uint8_t)(n >> 24);
  out[5] = (uint8_t)(n >> 16);
  out[6] = (uint8_t)(n >> 8);
  out[7] = (uint8_t)n;
}

// A token of ours reaches JS as its counter (a number: no string to make or hash per message);
// anything else as hex, which no request of ours is keyed by.
napi_value Context::TokenKey(napi_env env, const uint8_t* token, size_t length) const {
  if (length == 8 && std::memcmp(token, tokenBase_, 4) == 0) {
    return Number(env, (double)(((uint32_t)token[4] << 24) | ((uint32_t)token[5] << 16) | ((uint32_t)token[6] << 8) | token[7]));
  }
  return String(env, Hex(token, length));
}

Napi::Value Context::RegisterHandler(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  auto found = resources_.find(info[0].As<Napi::Number>().Int32Value());
  if (found == resources_.end()) throw Napi::RangeError::New(env, "unknown resource");
  int method = info[1].As<Napi::Number>().Int32Value();
  // Methods without a handler are left to libcoap, which answers them with 4.05.
  coap_register_request_handler(found->second, (coap_request_t)method, OnRequest);
  if (method == COAP_REQUEST_GET) statics_.erase(found->first);
  return env.Undefined();
}

Napi::Value Context::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  Session* wrapper = Session::Unwrap(info[0].As<Napi::Object>());
  coap_session_t* session = wrapper->Get();
  if (session == nullptr) throw Napi::Error::New(env, "session has been released");
  auto type = (coap_pdu_type_t)info[1].As<Napi::Number>().Int32Value();
  auto code = (coap_pdu_code_t)info[2].As<Napi::Number>().Int32Value();
  uint8_t token[8];
  WriteToken(token, info[3]);
  coap_pdu_t* pdu = coap_new_pdu(type, code, session);
  if (pdu == nullptr) throw Napi::Error::New(env, "coap_new_pdu() failed");
  if (!coap_add_token(pdu, sizeof token, token)) {
    coap_delete_pdu(pdu);
    throw Napi::RangeError::New(env, "token too long");
  }
  if (info[4].IsBuffer()) {
    auto opts = info[4].As<Napi::Buffer<uint8_t>>();
    if (!AddFlatOptions(pdu, opts.Data(), opts.Length())) {
      coap_delete_pdu(pdu);
      throw Napi::Error::New(env, "options do not fit the PDU");
    }
  }
  if (info[5].IsBuffer()) {
    auto body = info[5].As<Napi::Buffer<uint8_t>>();
    if (body.Length() > 0) {
      // libcoap calls the release function whether or not the call succeeds.
      HeldBuffer* held = HoldBuffer(env, body);
      if (held == nullptr || !coap_add_data_large_request(session, pdu, body.Length(), body.Data(),
                                                          ReleaseHeldBuffer, held)) {
        coap_delete_pdu(pdu);
        throw Napi::Error::New(env, "payload could not be added to the request");
      }
    }
  }
  coap_mid_t mid;
  {
    InLibcoap guard(*core_);
    mid = coap_send(session, pdu);  // takes the PDU, whatever happens
  }
  core_->DrainDeferred();
  if (closeRequested_) Shutdown();
  if (mid == COAP_INVALID_MID) throw Napi::Error::New(env, "coap_send() failed");
  return Napi::Number::New(env, mid);
}

Napi::Value Context::SetActive(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) {
    if (info[0].ToBoolean().Value()) {
      uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    } else {
      uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    }
  }
  return info.Env().Undefined();
}

Napi::Value Context::Close(const Napi::CallbackInfo& info) {
  if (core_->depth > 0) {
    closeRequested_ = true;  // never free the context under libcoap's feet
  } else {
    Shutdown();
  }
  return info.Env().Undefined();
}

}  // namespace coapnode
