{
  "targets": [
    {
      "target_name": "tls_shm_cache",
      "sources": ["native/binding.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/cache.cc",
            "native/lock.cc",
            "native/outbox.cc",
            "native/segment.cc",
            "native/siphash.cc",
            "native/slots.cc"
          ],
          "libraries": ["-lrt", "-lpthread"]
        }]
      ]
    }
  ]
}
