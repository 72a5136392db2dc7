// Per-environment state (one per main thread or worker), kept in Node-API instance data.
#pragma once
#include <napi.h>

#include <unordered_set>

namespace coapnode {

class Context;

struct AddonData {
  Napi::FunctionReference sessionCtor;
  std::unordered_set<Context*> contexts;  // live contexts, closed by the environment cleanup hook
  uint32_t nextSessionId = 1;
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace coapnode
