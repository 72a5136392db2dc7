// The native fast path: a resource's GET answered from a representation JS stored in advance
// (body, code, options), with no call into JS per request.
#include <cstring>

#include "context.h"
#include "options.h"
#include "util.h"

namespace coapnode {

using namespace detail;

Napi::Value Context::SetStatic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (core_->Closed()) throw Napi::Error::New(env, "context is closed");
  int32_t id = info[0].As<Napi::Number>().Int32Value();
  auto found = resources_.find(id);
  if (found == resources_.end()) throw Napi::RangeError::New(env, "unknown resource");
  StaticRepresentation& rep = statics_[id];
  rep.code = info[1].As<Napi::Number>().Int32Value();
  rep.contentFormat = info[2].As<Napi::Number>().Int32Value();
  rep.options.clear();
  rep.etag.clear();
  if (info[3].IsBuffer()) {
    auto opts = info[3].As<Napi::Buffer<char>>();
    rep.options.assign(opts.Data(), opts.Length());
  }
  rep.payload = std::make_shared<const std::string>(
      info[4].IsBuffer() ? std::string(info[4].As<Napi::Buffer<char>>().Data(), info[4].As<Napi::Buffer<char>>().Length())
                         : std::string());
  // The ETag among the flat options ([number u16][length u16][value]...), for 2.03 answers.
  for (size_t at = 0; at + 4 <= rep.options.size();) {
    auto byte = [&](size_t i) { return (size_t)(uint8_t)rep.options[i]; };
    size_t number = byte(at) << 8 | byte(at + 1);
    size_t length = byte(at + 2) << 8 | byte(at + 3);
    if (number == COAP_OPTION_ETAG && at + 4 + length <= rep.options.size()) {
      rep.etag.assign(rep.options, at + 4, length);
      break;
    }
    at += 4 + length;
  }
  coap_register_request_handler(found->second, COAP_REQUEST_GET, OnStatic);
  return env.Undefined();
}

void Context::OnStatic(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                       const coap_string_t* query, coap_pdu_t* response) {
  Context* self = FromCoap(coap_session_get_context(session));
  if (self == nullptr) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE);
    return;
  }
  int32_t id = (int32_t)(intptr_t)coap_resource_get_userdata(resource);
  auto found = self->statics_.find(id);
  if (found == self->statics_.end()) {
    coap_pdu_set_code(response, COAP_RESPONSE_CODE_INTERNAL_ERROR);
    return;
  }
  if (self->addedObserver_ != nullptr && self->addedObserverSession_ == session) self->ReportAddedObserver(session, id);
  const StaticRepresentation& rep = found->second;
  if (!rep.etag.empty()) {
    // RFC 7252 5.10.6.2: the client holds this representation already.
    coap_opt_iterator_t it;
    coap_opt_filter_t filter;
    coap_option_filter_clear(&filter);
    coap_option_filter_set(&filter, COAP_OPTION_ETAG);
    coap_option_iterator_init(request, &it, &filter);
    for (coap_opt_t* opt; (opt = coap_option_next(&it)) != nullptr;) {
      if (coap_opt_length(opt) == rep.etag.size() &&
          std::memcmp(coap_opt_value(opt), rep.etag.data(), rep.etag.size()) == 0) {
        coap_pdu_set_code(response, COAP_RESPONSE_CODE_VALID);
        coap_add_option(response, COAP_OPTION_ETAG, rep.etag.size(), reinterpret_cast<const uint8_t*>(rep.etag.data()));
        return;
      }
    }
  }
  self->FillResponse(resource, session, request, query, response, rep.code, rep.contentFormat,
                     reinterpret_cast<const uint8_t*>(rep.options.data()), rep.options.size(), JsBytes(),
                     &rep.payload);
}

}  // namespace coapnode
