{
  "targets": [
    {
      "target_name": "srtp",
      "sources": ["src/srtp.c"],
      # OpenSSL's headers are the ones Node ships (node-gyp puts <nodedir>/include/node, which
      # holds openssl/, first on the include path); its symbols come from the node binary
      # itself (Node links OpenSSL statically and exports it), so nothing is linked here.
      "cflags": ["-O2", "-Wall", "-Wno-deprecated-declarations"],
      "defines": ["NAPI_VERSION=8"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-O2", "-Wno-deprecated-declarations"],
        "OTHER_LDFLAGS": ["-undefined", "dynamic_lookup"]
      }
    }
  ]
}
