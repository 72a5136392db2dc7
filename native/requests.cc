// The server side of a Context: libcoap's request handler, responses (piggybacked, held back,
// or separate through coap_async) and their completion from JS.
#include <cstring>

#include "context.h"
#include "log.h"
#include "options.h"
#include "session.h"
#include "util.h"

namespace coapnode {

using namespace detail;

namespace {
std::string HeldKey(const coap_session_t* session, coap_bin_const_t token) {
  std::string key(reinterpret_cast<const char*>(&session), sizeof session);
  key.append(reinterpret_cast<const char*>(token.s), token.length);
  return key;
}
// The Observe option libcoap put in a response before calling the handler, or -1.
int64_t ObserveValue(const coap_pdu_t* response) {
  coap_opt_iterator_t it;
  coap_opt_t* opt = coap_check_option(response, COAP_OPTION_OBSERVE, &it);
  return opt == nullptr ? -1 : (int64_t)coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

}  // namespace

void Context::OnRequest(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                        const coap_string_t* query, coap_pdu_t* response) {
  Context* self = FromCoap(coap_session_get_context(session));
  if (self == nullptr || !self->canCallJs_) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
    return;
  }
  coap_bin_const_t token = coap_pdu_get_token(request);
  coap_async_t* async = coap_find_async(session, token);
  if (async != nullptr) {
    // libcoap calls again once a separate response was triggered: answer with the stored result.
    auto found = self->pendingAsync_.find((int32_t)(intptr_t)coap_async_get_app_data(async));
    if (found == self->pendingAsync_.end() || !found->second.ready) {
      coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
      return;
    }
    self->FinishAsync(resource, session, request, query, response, found->second);
    self->pendingAsync_.erase(found);
    return;
  }
  if (!self->heldKeys_.empty() && self->IsHeldDuplicate(session, token)) {
    coap_pdu_set_code(response, kDropResponse);  // retransmission of a request still being handled
    return;
  }

  Napi::Env env = self->Env();
  QuietHandleScope scope(env);
  coap_opt_filter_t skip;
  coap_option_filter_clear(&skip);
  int32_t resourceId = (int32_t)(intptr_t)coap_resource_get_userdata(resource);
  // Known from the resource, except for the unknown resource, which serves many paths.
  if (resourceId != self->unknownId_) coap_option_filter_set(&skip, COAP_OPTION_URI_PATH);
  int32_t* shared = self->sharedData_;
  shared[0] = COAP_RESPONSE_CODE_INTERNAL_ERROR;
  shared[1] = -1;
  shared[2] = 0;
  napi_value sessionObject = self->ServerSessionObject(session);
  if (sessionObject == nullptr) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
    return;
  }
  if (self->addedObserver_ != nullptr && self->addedObserverSession_ == session) {
    self->ReportAddedObserver(session, resourceId);
  }
  napi_value body, flatOptions;
  ReadMessage(env, request, &skip, self->inbox_, self->inboxSize_, &body, &flatOptions);
  napi_value raw = self->Invoke(
      self->onRequest_,
      {Number(env, resourceId), Number(env, coap_pdu_get_code(request)),
       Number(env, coap_pdu_get_type(request)), sessionObject, body, flatOptions});
  if (raw == nullptr) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
    return;
  }

  if (shared[0] == 0) {
    int32_t id = shared[3];
    // libcoap calls the GET handler of an observable resource for each notification too, with
    // the registration as the request and a CON/NON response (never an ACK to a CON request).
    bool con = coap_pdu_get_type(request) == COAP_MESSAGE_CON;
    bool notification = con && coap_pdu_get_type(response) != COAP_MESSAGE_ACK;
    if ((shared[2] == 2 && con) || notification) {
      // Hold the ACK: JS answers in time (piggybacked) or calls Separate() when the delay expires.
      // A notification has no ACK to hold: it is sent as its own message when JS answers.
      coap_pdu_t* copy = coap_pdu_duplicate(request, session, token.length, token.s, nullptr);
      if (copy != nullptr) {
        PendingAsync pending{session};
        pending.held.reset(copy);
        pending.heldMid = coap_pdu_get_mid(request);
        pending.notifyType = notification ? (int)coap_pdu_get_type(response) : -1;
        pending.observe = ObserveValue(response);
        self->pendingAsync_[id] = std::move(pending);
        if (!notification) self->heldKeys_[HeldKey(session, token)] = id;
        coap_pdu_set_code(response, kDropResponse);
        return;
      }
      if (notification) {
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
        return;
      }
    }
    // The handler's result is not ready: libcoap sends the empty ACK now and calls this handler
    // again when CompleteAsync() triggers it.
    async = coap_register_async(session, request, 0);
    if (async == nullptr) {
      coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
      return;
    }
    coap_async_set_app_data(async, (void*)(intptr_t)id);
    PendingAsync pending{session};
    pending.async = async;
    self->pendingAsync_[id] = std::move(pending);
    return;
  }

  // [payload, options] when the handler gave options, else the payload alone.
  napi_value payload = raw;
  napi_value options = nullptr;
  bool isArray = false;
  if (shared[2] != 0 && napi_is_array(env, raw, &isArray) == napi_ok && isArray &&
      (napi_get_element(env, raw, 0, &payload) != napi_ok || napi_get_element(env, raw, 1, &options) != napi_ok)) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
    return;
  }
  JsBytes opts = BufferBytes(env, options);
  self->FillResponse(resource, session, request, query, response, shared[0], shared[1], opts.data, opts.length,
                     ResultBytes(env, payload, self->scratch_, sizeof self->scratch_));
}

// libcoap reported a new observer (persistence hook) just before calling the handler of its
// registration: now the resource is known.
void Context::ReportAddedObserver(coap_session_t* session, int32_t resourceId) {
  observers_[addedObserver_] = resourceId;
  addedObserver_ = nullptr;
  if (!canCallJs_) return;
  napi_value sessionObject = ServerSessionObject(session);
  if (sessionObject == nullptr) return;
  Napi::Env env = Env();
  QuietHandleScope scope(env);
  Invoke(onObserver_, {Number(env, resourceId), Number(env, 1), sessionObject});
}

void Context::FinishAsync(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                          const coap_string_t* query, coap_pdu_t* response, PendingAsync& result) {
  FillResponse(resource, session, request, query, response, result.code, result.contentFormat,
               reinterpret_cast<const uint8_t*>(result.options.data()), result.options.size(),
               HeldBytes(result.payload.get()));
}

void Context::FillResponse(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                           const coap_string_t* query, coap_pdu_t* response, int code, int contentFormat,
                           const uint8_t* options, size_t optionsLength, JsBytes body,
                           const std::shared_ptr<const std::string>* native) {
  const uint8_t* payload = body.data;
  size_t payloadLength = body.length;
  if (native != nullptr) {
    payload = reinterpret_cast<const uint8_t*>((*native)->data());
    payloadLength = (*native)->size();
  }
  coap_pdu_set_code(response, (coap_pdu_code_t)code);
  if (optionsLength > 0 && !AddFlatOptions(response, options, optionsLength)) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
    return;
  }
  uint8_t buf[4];
  if (payloadLength == 0) {
    if (contentFormat >= 0) {
      coap_add_option(response, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof buf, contentFormat), buf);
    }
    return;
  }
  // A body that surely fits one message, to a request that asked for no particular block, is
  // copied into the PDU; libcoap's large-data call (block-wise) is for the rest.
  coap_opt_iterator_t it;
  size_t room = coap_session_max_pdu_size(session);
  size_t worst = 4 + 8 + optionsLength + 4 + 1 + payloadLength;  // header, token, options, CF, marker
  if (worst + 16 <= room && coap_check_option(request, COAP_OPTION_BLOCK2, &it) == nullptr) {
    bool ok = contentFormat < 0 ||
              coap_add_option(response, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof buf, contentFormat), buf);
    if (ok && coap_add_data(response, payloadLength, payload)) return;
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
    return;
  }
  coap_release_large_data_t release;
  void* hold;
  std::shared_ptr<const std::string> copy;
  if (native == nullptr && body.value == nullptr) {
    // Bytes from a string: libcoap keeps what it sends block-wise, so keep a copy.
    copy = std::make_shared<const std::string>(reinterpret_cast<const char*>(payload), payloadLength);
    native = &copy;
  }
  if (native != nullptr) {
    // The stored representation may be replaced while libcoap still sends this one.
    hold = new std::shared_ptr<const std::string>(*native);
    release = [](coap_session_t*, void* p) { delete static_cast<std::shared_ptr<const std::string>*>(p); };
  } else {
    hold = HoldBuffer(Env(), body.value);
    release = ReleaseHeldBuffer;
  }
  if (hold == nullptr ||
      !coap_add_data_large_response(resource, session, request, response, query,
                                    (uint16_t)(contentFormat < 0 ? COAP_MEDIATYPE_APPLICATION_OCTET_STREAM
                                                                 : contentFormat),
                                    -1, 0, payloadLength, payload, release, hold)) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
  }
}

Napi::Value Context::CompleteAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t id = info[0].As<Napi::Number>().Int32Value();
  auto found = pendingAsync_.find(id);
  if (found == pendingAsync_.end() || core_->Closed()) return Napi::Boolean::New(env, false);  // peer gone
  PendingAsync& p = found->second;
  p.code = info[1].As<Napi::Number>().Int32Value();
  p.contentFormat = info[2].As<Napi::Number>().Int32Value();
  if (info[3].IsBuffer()) {
    p.payload.reset(HoldBuffer(env, info[3]));
    if (p.payload == nullptr) return Napi::Boolean::New(env, false);
  }
  if (info[4].IsBuffer()) {
    auto b = info[4].As<Napi::Buffer<char>>();
    p.options.assign(b.Data(), b.Length());
  }
  p.ready = true;
  if (p.held) {
    if (SendPiggybacked(p)) {
      pendingAsync_.erase(found);
      return Napi::Boolean::New(env, true);
    }
    if (p.notifyType >= 0 || !StartSeparate(p, id)) {
      pendingAsync_.erase(found);
      return Napi::Boolean::New(env, false);
    }
  }
  coap_async_trigger(p.async);  // libcoap re-runs the handler from its timer, on the poll fd
  return Napi::Boolean::New(env, true);
}

Napi::Value Context::Separate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t id = info[0].As<Napi::Number>().Int32Value();
  auto found = pendingAsync_.find(id);
  if (found == pendingAsync_.end() || core_->Closed() || !found->second.held) return Napi::Boolean::New(env, false);
  if (found->second.notifyType >= 0) return Napi::Boolean::New(env, true);  // no ACK to send: it waits
  bool ok = StartSeparate(found->second, id);
  if (!ok) pendingAsync_.erase(found);
  return Napi::Boolean::New(env, ok);
}

bool Context::IsHeldDuplicate(coap_session_t* session, coap_bin_const_t token) {
  auto key = heldKeys_.find(HeldKey(session, token));
  if (key == heldKeys_.end()) return false;
  auto found = pendingAsync_.find(key->second);
  if (found != pendingAsync_.end() && found->second.session == session && found->second.held) return true;
  heldKeys_.erase(key);  // left behind when its entry went
  return false;
}

bool Context::StartSeparate(PendingAsync& p, int32_t id) {
  coap_pdu_t* ack = coap_pdu_init(COAP_MESSAGE_ACK, COAP_EMPTY_CODE, p.heldMid, 4);
  if (ack == nullptr) return false;
  {
    InLibcoap guard(*core_);
    coap_send(p.session, ack);
    p.async = coap_register_async(p.session, p.held.get(), 0);
  }
  heldKeys_.erase(HeldKey(p.session, coap_pdu_get_token(p.held.get())));
  p.held.reset();
  core_->DrainDeferred();
  if (p.async == nullptr) return false;
  coap_async_set_app_data(p.async, (void*)(intptr_t)id);
  return true;
}

bool Context::SendPiggybacked(PendingAsync& p) {
  coap_pdu_t* request = p.held.get();
  coap_bin_const_t token = coap_pdu_get_token(request);
  bool notification = p.notifyType >= 0;
  coap_pdu_t* pdu = coap_pdu_init(notification ? (coap_pdu_type_t)p.notifyType : COAP_MESSAGE_ACK,
                                  (coap_pdu_code_t)p.code,
                                  notification ? coap_new_message_id(p.session) : p.heldMid,
                                  coap_session_max_pdu_size(p.session));
  if (pdu == nullptr) return false;
  uint8_t obs[4];
  // The Observe value libcoap gave the registration's answer or the notification (2.xx only).
  bool observe = p.observe >= 0 && COAP_RESPONSE_CLASS(p.code) == 2;
  bool ok = coap_add_token(pdu, token.length, token.s) &&
            (!observe || coap_add_option(pdu, COAP_OPTION_OBSERVE,
                                         coap_encode_var_safe(obs, sizeof obs, (unsigned int)p.observe), obs)) &&
            (p.options.empty() ||
             AddFlatOptions(pdu, reinterpret_cast<const uint8_t*>(p.options.data()), p.options.size()));
  if (ok && p.contentFormat >= 0) {
    uint8_t buf[4];
    ok = coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(buf, sizeof buf, p.contentFormat), buf);
  }
  // Bodies too large for one PDU take the separate path, where libcoap does block-wise.
  JsBytes body = HeldBytes(p.payload.get());
  ok = ok && (body.length == 0 || coap_add_data(pdu, body.length, body.data));
  if (!ok) {
    coap_delete_pdu(pdu);
    return false;
  }
  {
    InLibcoap guard(*core_);
    coap_send(p.session, pdu);
  }
  core_->DrainDeferred();
  heldKeys_.erase(HeldKey(p.session, token));
  return true;
}

}  // namespace coapnode
