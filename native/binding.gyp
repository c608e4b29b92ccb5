{
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "include", "src", "<!@(node detect.mjs includes)"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "<!@(node detect.mjs defines)"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "<!@(node build-flags.mjs)"],
    "ldflags": ["<!@(node build-flags.mjs ldflags)"]
  },
  "targets": [
    {
      "target_name": "peft_kern_avx512",
      "type": "static_library",
      "sources": ["<!@(node sources.mjs avx512)"],
      "cflags": ["-fPIC"],
      "cflags_cc": ["<!@(node build-flags.mjs avx512)"]
    },
    {
      "target_name": "peft_kern_avx512bf16",
      "type": "static_library",
      "sources": ["<!@(node sources.mjs avx512bf16)"],
      "cflags": ["-fPIC"],
      "cflags_cc": ["<!@(node build-flags.mjs avx512bf16)"]
    },
    {
      "target_name": "peft_kern_avx512vnni",
      "type": "static_library",
      "sources": ["<!@(node sources.mjs avx512vnni)"],
      "cflags": ["-fPIC"],
      "cflags_cc": ["<!@(node build-flags.mjs avx512vnni)"]
    },
    {
      "target_name": "peft_kern_avx2",
      "type": "static_library",
      "sources": ["<!@(node sources.mjs avx2)"],
      "cflags": ["-fPIC"],
      "cflags_cc": ["<!@(node build-flags.mjs avx2)"]
    },
    {
      "target_name": "peft_kern_scalar",
      "type": "static_library",
      "sources": ["<!@(node sources.mjs scalar)"],
      "cflags": ["-fPIC"],
      "cflags_cc": ["<!@(node build-flags.mjs scalar)"]
    },
    {
      "target_name": "peft_engine_lib",
      "type": "static_library",
      "sources": ["<!@(node sources.mjs lib)"],
      "cflags": ["-fPIC"],
      "dependencies": ["peft_kern_avx512", "peft_kern_avx512bf16", "peft_kern_avx512vnni", "peft_kern_avx2", "peft_kern_scalar"]
    },
    {
      "target_name": "peft_engine",
      "sources": ["<!@(node sources.mjs addon)"],
      "defines": ["<!(node engine-version.mjs define)"],
      "dependencies": ["peft_engine_lib"],
      "libraries": ["<!@(node detect.mjs libs)", "-lpthread", "-ldl"]
    },
    {
      "target_name": "peft_fs",
      "sources": ["<!@(node sources.mjs fs)"],
      "ldflags": ["-Wl,-z,now"]
    },
    {
      "target_name": "peft_text",
      "sources": ["<!@(node sources.mjs text)"],
      "ldflags": ["-Wl,-z,now"]
    },
    {
      "target_name": "peft_engine_test",
      "sources": ["<!@(node sources.mjs test)"],
      "dependencies": ["peft_engine_lib"],
      "libraries": ["<!@(node detect.mjs libs)", "-lpthread", "-ldl"]
    }
  ]
}
