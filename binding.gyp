{
  "variables": {
    "libcoap_build": "<!(node deps/libcoap-static.js)",
    "libcoap_source": "<(module_root_dir)/deps/.work/libcoap-4.3.5",
    "libcoap_dtls": "<!(node -p \"process.env.LIBCOAP_DTLS || 'openssl'\")"
  },
  "targets": [
    {
      "target_name": "libcoap",
      "product_name": "libcoap",
      "product_prefix": "",
      "sources": [
        "native/address.cc",
        "native/context.cc",
        "native/log.cc",
        "native/module.cc",
        "native/options.cc",
        "native/random.cc",
        "native/requests.cc",
        "native/security.cc",
        "native/session.cc",
        "native/static.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<(libcoap_build)",
        "<(libcoap_build)/include",
        "<(libcoap_source)/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "COAP_NODE_DTLS=\"<(libcoap_dtls)\""],
      "cflags": ["-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": ["<(libcoap_build)/libcoap-3.a", "-Wl,--exclude-libs,ALL"],
      "conditions": [
        ["libcoap_dtls=='gnutls'", { "libraries": ["-lgnutls"] }]
      ]
    }
  ]
}
