// Shared state of one libcoap context, owned jointly by the Context wrapper and every Session
// wrapper made from it, so a session never outlives the knowledge of whether its context is gone.
#pragma once
#include <coap3/coap.h>
#include <memory>
#include <vector>

namespace coapnode {

struct ContextCore {
  coap_context_t* ctx = nullptr;
  // > 0 while libcoap is on the stack: freeing anything then is deferred until it returns.
  int depth = 0;
  std::vector<coap_session_t*> deferredReleases;

  bool Closed() const { return ctx == nullptr; }

  void ReleaseSession(coap_session_t* session) {
    if (ctx == nullptr) return;  // coap_free_context already freed every session
    if (depth > 0) {
      deferredReleases.push_back(session);
      return;
    }
    coap_session_release(session);
  }

  void DrainDeferred() {
    if (depth > 0 || ctx == nullptr) return;
    std::vector<coap_session_t*> pending;
    pending.swap(deferredReleases);
    for (coap_session_t* s : pending) coap_session_release(s);
  }
};

// RAII marker for "libcoap is on the stack".
struct InLibcoap {
  ContextCore& core;
  explicit InLibcoap(ContextCore& c) : core(c) { core.depth++; }
  ~InLibcoap() { core.depth--; }
};

}  // namespace coapnode
