/*
 * SRTP protection for webrtc-oneway's lean send path, one N-API call per packet:
 *   AES_CM_128_HMAC_SHA1_80 (RFC 3711): AES-128-CTR into the output buffer, then the 80-bit
 *     HMAC-SHA1 tag over [header, ciphertext, ROC] written after the payload;
 *   AEAD_AES_128_GCM (RFC 7714): AES-128-GCM with the header as AAD, the 16-byte tag after.
 * The crypto is OpenSSL's, the copy inside the node binary (Node links OpenSSL statically and
 * exports its symbols; the headers are the ones Node ships under include/node/openssl), so
 * AES-NI and SHA-NI are used as node:crypto uses them. Nothing is implemented by hand.
 *
 * Per protector (one per viewer and key): one EVP_CIPHER_CTX keyed once (each packet sets
 * only a new IV), and the HMAC key absorbed once (the SHA-1 states after key^ipad and
 * key^opad), so a packet allocates nothing.
 *
 * JS interface (see index.d.ts):
 *   create(profile, head, key, salt, authKey | null, hmacMode) -> handle (an external)
 *   protect(handle, out, headerLength, plain, ssrc, index) -> SRTP length from `head`
 *   close(handle)
 *   protectInto(handle, out, offset, header, plain, ssrc, index) -> SRTP length at out[offset]
 *   sendto(fd, buf, offset, length, ipv4, port) -> bytes sent, or -errno
 *   sendSegments(fd, buf, offset, length, segmentSize, ipv4, port) -> bytes sent, or -errno
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#define PROFILE_CM 0x0001
#define PROFILE_GCM 0x0007

/* How the HMAC is computed (all OpenSSL; kept selectable to measure them, see bench/srtp-micro.mjs). */
enum {
  HMAC_SHA_CTX = 0, /* SHA_CTX states after key^ipad / key^opad, copied by value per packet */
  HMAC_LEGACY = 1,  /* HMAC_CTX keyed once, HMAC_Init_ex(NULL key) per packet */
  HMAC_EVP_MD = 2,  /* EVP_MD_CTX states after key^ipad / key^opad, EVP_MD_CTX_copy_ex per packet */
  HMAC_EVP_MAC = 3, /* EVP_MAC "HMAC" keyed once, EVP_MAC_init(NULL key) per packet */
};

typedef struct {
  int profile;
  int hmac_mode;
  uint32_t head;
  EVP_CIPHER_CTX *cipher;
  unsigned char salt[14];
  SHA_CTX inner, outer;
  HMAC_CTX *hmac;
  EVP_MD_CTX *md_in, *md_out, *md_work;
  EVP_MAC *mac_alg;
  EVP_MAC_CTX *mac;
} srtp_state;

static void state_free_crypto(srtp_state *s) {
  if (s->cipher) EVP_CIPHER_CTX_free(s->cipher);
  if (s->hmac) HMAC_CTX_free(s->hmac);
  if (s->md_in) EVP_MD_CTX_free(s->md_in);
  if (s->md_out) EVP_MD_CTX_free(s->md_out);
  if (s->md_work) EVP_MD_CTX_free(s->md_work);
  if (s->mac) EVP_MAC_CTX_free(s->mac);
  if (s->mac_alg) EVP_MAC_free(s->mac_alg);
  OPENSSL_cleanse(&s->inner, sizeof s->inner);
  OPENSSL_cleanse(&s->outer, sizeof s->outer);
  OPENSSL_cleanse(s->salt, sizeof s->salt);
  s->cipher = NULL;
  s->hmac = NULL;
  s->md_in = s->md_out = s->md_work = NULL;
  s->mac = NULL;
  s->mac_alg = NULL;
  s->profile = 0;
}

static void state_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  srtp_state *s = data;
  state_free_crypto(s);
  free(s);
}

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

#define CHECK(call)                                              \
  do {                                                           \
    if ((call) != napi_ok) return throw_error(env, "webrtc-oneway-srtp: bad arguments"); \
  } while (0)

static int buffer_arg(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  void *p;
  if (napi_get_buffer_info(env, v, &p, len) != napi_ok) return 0;
  *data = p;
  return 1;
}

/* create(profile, head, key, salt, authKey | null, hmacMode) */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_error(env, "webrtc-oneway-srtp: create(profile, head, key, salt, authKey[, hmacMode])");
  uint32_t profile, head, hmac_mode = HMAC_SHA_CTX;
  CHECK(napi_get_value_uint32(env, argv[0], &profile));
  CHECK(napi_get_value_uint32(env, argv[1], &head));
  if (argc > 5) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[5], &t));
    if (t == napi_number) CHECK(napi_get_value_uint32(env, argv[5], &hmac_mode));
  }
  unsigned char *key, *salt, *auth = NULL;
  size_t key_len, salt_len, auth_len = 0;
  if (!buffer_arg(env, argv[2], &key, &key_len) || key_len != 16) return throw_error(env, "webrtc-oneway-srtp: the key must be 16 bytes");
  if (!buffer_arg(env, argv[3], &salt, &salt_len)) return throw_error(env, "webrtc-oneway-srtp: the salt must be a Buffer");
  if (profile == PROFILE_CM) {
    if (salt_len < 14) return throw_error(env, "webrtc-oneway-srtp: AES-CM needs a 14-byte salt");
    if (!buffer_arg(env, argv[4], &auth, &auth_len) || auth_len == 0 || auth_len > 64)
      return throw_error(env, "webrtc-oneway-srtp: AES-CM needs an authentication key");
    if (hmac_mode > HMAC_EVP_MAC) return throw_error(env, "webrtc-oneway-srtp: unknown HMAC mode");
  } else if (profile == PROFILE_GCM) {
    if (salt_len < 12) return throw_error(env, "webrtc-oneway-srtp: AES-GCM needs a 12-byte salt");
  } else {
    return throw_error(env, "webrtc-oneway-srtp: unsupported SRTP profile");
  }

  srtp_state *s = calloc(1, sizeof *s);
  if (!s) return throw_error(env, "webrtc-oneway-srtp: out of memory");
  s->profile = (int)profile;
  s->hmac_mode = (int)hmac_mode;
  s->head = head;
  memcpy(s->salt, salt, profile == PROFILE_CM ? 14 : 12);
  int ok = (s->cipher = EVP_CIPHER_CTX_new()) != NULL;
  if (ok && profile == PROFILE_CM) {
    ok = EVP_EncryptInit_ex(s->cipher, EVP_aes_128_ctr(), NULL, key, NULL) == 1;
    unsigned char k[64], pad[64];
    memset(k, 0, sizeof k);
    memcpy(k, auth, auth_len);
    if (ok && hmac_mode == HMAC_SHA_CTX) {
      for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
      ok = SHA1_Init(&s->inner) && SHA1_Update(&s->inner, pad, 64);
      for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
      ok = ok && SHA1_Init(&s->outer) && SHA1_Update(&s->outer, pad, 64);
    } else if (ok && hmac_mode == HMAC_LEGACY) {
      ok = (s->hmac = HMAC_CTX_new()) != NULL && HMAC_Init_ex(s->hmac, auth, (int)auth_len, EVP_sha1(), NULL) == 1;
    } else if (ok && hmac_mode == HMAC_EVP_MD) {
      ok = (s->md_in = EVP_MD_CTX_new()) && (s->md_out = EVP_MD_CTX_new()) && (s->md_work = EVP_MD_CTX_new());
      for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
      ok = ok && EVP_DigestInit_ex(s->md_in, EVP_sha1(), NULL) && EVP_DigestUpdate(s->md_in, pad, 64);
      for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
      ok = ok && EVP_DigestInit_ex(s->md_out, EVP_sha1(), NULL) && EVP_DigestUpdate(s->md_out, pad, 64);
    } else if (ok && hmac_mode == HMAC_EVP_MAC) {
      OSSL_PARAM params[2];
      params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA1", 0);
      params[1] = OSSL_PARAM_construct_end();
      ok = (s->mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL)) && (s->mac = EVP_MAC_CTX_new(s->mac_alg)) &&
           EVP_MAC_init(s->mac, auth, auth_len, params) == 1;
    }
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
  } else if (ok) {
    ok = EVP_EncryptInit_ex(s->cipher, EVP_aes_128_gcm(), NULL, key, NULL) == 1;
  }
  if (!ok) {
    state_free_crypto(s);
    free(s);
    return throw_error(env, "webrtc-oneway-srtp: OpenSSL refused the keys");
  }
  napi_value handle;
  if (napi_create_external(env, s, state_finalize, NULL, &handle) != napi_ok) {
    state_free_crypto(s);
    free(s);
    return throw_error(env, "webrtc-oneway-srtp: napi_create_external failed");
  }
  return handle;
}

static int cm_tag(srtp_state *s, const unsigned char *packet, size_t len, const unsigned char roc[4], unsigned char *tag) {
  unsigned char inner[EVP_MAX_MD_SIZE], full[EVP_MAX_MD_SIZE];
  switch (s->hmac_mode) {
    case HMAC_SHA_CTX: {
      SHA_CTX c = s->inner;
      SHA1_Update(&c, packet, len);
      SHA1_Update(&c, roc, 4);
      SHA1_Final(inner, &c);
      c = s->outer;
      SHA1_Update(&c, inner, 20);
      SHA1_Final(full, &c);
      break;
    }
    case HMAC_LEGACY: {
      unsigned int n;
      if (!HMAC_Init_ex(s->hmac, NULL, 0, NULL, NULL) || !HMAC_Update(s->hmac, packet, len) || !HMAC_Update(s->hmac, roc, 4) ||
          !HMAC_Final(s->hmac, full, &n))
        return 0;
      break;
    }
    case HMAC_EVP_MD: {
      unsigned int n;
      if (!EVP_MD_CTX_copy_ex(s->md_work, s->md_in) || !EVP_DigestUpdate(s->md_work, packet, len) ||
          !EVP_DigestUpdate(s->md_work, roc, 4) || !EVP_DigestFinal_ex(s->md_work, inner, &n) ||
          !EVP_MD_CTX_copy_ex(s->md_work, s->md_out) || !EVP_DigestUpdate(s->md_work, inner, 20) ||
          !EVP_DigestFinal_ex(s->md_work, full, &n))
        return 0;
      break;
    }
    default: {
      size_t n;
      if (!EVP_MAC_init(s->mac, NULL, 0, NULL) || !EVP_MAC_update(s->mac, packet, len) || !EVP_MAC_update(s->mac, roc, 4) ||
          !EVP_MAC_final(s->mac, full, &n, sizeof full))
        return 0;
      break;
    }
  }
  memcpy(tag, full, 10);
  return 1;
}

/*
 * Encrypts in place: the RTP header is at packet[0 .. header_len), `plain` is encrypted to
 * packet + header_len (it may be exactly there already), and the tag goes after it.
 * Returns 1, or 0 when OpenSSL failed.
 */
static int protect_packet(srtp_state *s, unsigned char *packet, size_t header_len, const unsigned char *plain, size_t plain_len,
                          uint32_t ssrc, uint64_t index) {
  uint32_t roc = (uint32_t)(index >> 16);
  unsigned int seq = (unsigned int)(index & 0xffff);
  unsigned char *payload = packet + header_len;
  int outl = 0;
  if (s->profile == PROFILE_CM) {
    /* IV = (salt << 16) ^ (SSRC << 64) ^ (index << 16), RFC 3711 4.1.1. */
    unsigned char iv[16] = {0};
    memcpy(iv, s->salt, 14);
    iv[4] ^= ssrc >> 24, iv[5] ^= ssrc >> 16, iv[6] ^= ssrc >> 8, iv[7] ^= ssrc;
    iv[8] ^= roc >> 24, iv[9] ^= roc >> 16, iv[10] ^= roc >> 8, iv[11] ^= roc;
    iv[12] ^= seq >> 8, iv[13] ^= seq;
    unsigned char r[4] = {roc >> 24, roc >> 16, roc >> 8, roc};
    return EVP_EncryptInit_ex(s->cipher, NULL, NULL, NULL, iv) == 1 &&
           (plain_len == 0 || EVP_EncryptUpdate(s->cipher, payload, &outl, plain, (int)plain_len) == 1) &&
           cm_tag(s, packet, header_len + plain_len, r, payload + plain_len);
  }
  /* IV = salt ^ (0x0000 || SSRC || ROC || SEQ), RFC 7714 8.1. */
  unsigned char iv[12];
  memcpy(iv, s->salt, 12);
  iv[2] ^= ssrc >> 24, iv[3] ^= ssrc >> 16, iv[4] ^= ssrc >> 8, iv[5] ^= ssrc;
  iv[6] ^= roc >> 24, iv[7] ^= roc >> 16, iv[8] ^= roc >> 8, iv[9] ^= roc;
  iv[10] ^= seq >> 8, iv[11] ^= seq;
  int fin = 0;
  return EVP_EncryptInit_ex(s->cipher, NULL, NULL, NULL, iv) == 1 &&
         EVP_EncryptUpdate(s->cipher, NULL, &outl, packet, (int)header_len) == 1 &&
         (plain_len == 0 || EVP_EncryptUpdate(s->cipher, payload, &outl, plain, (int)plain_len) == 1) &&
         EVP_EncryptFinal_ex(s->cipher, payload + plain_len, &fin) == 1 &&
         EVP_CIPHER_CTX_ctrl(s->cipher, EVP_CTRL_GCM_GET_TAG, 16, payload + plain_len) == 1;
}

static int index_arg(napi_env env, napi_value v, uint64_t *index) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d < 281474976710656.0)) return 0;
  *index = (uint64_t)d;
  return 1;
}

/* The protector handle in `v`, or NULL after throwing (not an external, or closed). */
static srtp_state *state_arg(napi_env env, napi_value v) {
  void *p;
  if (napi_get_value_external(env, v, &p) != napi_ok) {
    throw_error(env, "webrtc-oneway-srtp: bad arguments");
    return NULL;
  }
  if (((srtp_state *)p)->profile == 0) {
    throw_error(env, "webrtc-oneway-srtp: the protector is closed");
    return NULL;
  }
  return p;
}

/* The plaintext may not overlap the packet being built, except exactly in place. */
static int overlaps(const unsigned char *plain, const unsigned char *payload, size_t len) {
  return plain != payload && plain < payload + len && payload < plain + len;
}

/* protect(handle, out, headerLength, plain, ssrc, index): the header is at out[head]; returns the SRTP length. */
static napi_value js_protect(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_error(env, "webrtc-oneway-srtp: protect(handle, out, headerLength, plain, ssrc, index)");
  srtp_state *s = state_arg(env, argv[0]);
  if (!s) return NULL;
  unsigned char *out, *plain;
  size_t out_len, plain_len;
  uint32_t header_len, ssrc;
  uint64_t index;
  if (!buffer_arg(env, argv[1], &out, &out_len) || !buffer_arg(env, argv[3], &plain, &plain_len))
    return throw_error(env, "webrtc-oneway-srtp: out and plain must be Buffers");
  CHECK(napi_get_value_uint32(env, argv[2], &header_len));
  CHECK(napi_get_value_uint32(env, argv[4], &ssrc));
  if (!index_arg(env, argv[5], &index)) return throw_error(env, "webrtc-oneway-srtp: index out of range");
  size_t tag_len = s->profile == PROFILE_CM ? 10 : 16;
  size_t start = s->head;
  if (start + header_len + plain_len + tag_len > out_len || start + header_len < start)
    return throw_error(env, "webrtc-oneway-srtp: the output buffer is too small");
  unsigned char *packet = out + start;
  if (overlaps(plain, packet + header_len, plain_len)) return throw_error(env, "webrtc-oneway-srtp: plain overlaps the output");
  if (!protect_packet(s, packet, header_len, plain, plain_len, ssrc, index)) return throw_error(env, "webrtc-oneway-srtp: OpenSSL failed");
  napi_value result;
  CHECK(napi_create_uint32(env, (uint32_t)(header_len + plain_len + tag_len), &result));
  return result;
}

/*
 * protectInto(handle, out, offset, header, plain, ssrc, index): builds one SRTP packet at
 * out[offset]: `header` copied there, `plain` encrypted after it, the tag after that. Returns
 * its length. The lean path builds a viewer's packets of a frame one after the other in one
 * buffer this way, then sends them with one sendSegments.
 */
static napi_value js_protect_into(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return throw_error(env, "webrtc-oneway-srtp: protectInto(handle, out, offset, header, plain, ssrc, index)");
  srtp_state *s = state_arg(env, argv[0]);
  if (!s) return NULL;
  unsigned char *out, *header, *plain;
  size_t out_len, header_len, plain_len;
  uint32_t offset, ssrc;
  uint64_t index;
  if (!buffer_arg(env, argv[1], &out, &out_len) || !buffer_arg(env, argv[3], &header, &header_len) ||
      !buffer_arg(env, argv[4], &plain, &plain_len))
    return throw_error(env, "webrtc-oneway-srtp: out, header and plain must be Buffers");
  CHECK(napi_get_value_uint32(env, argv[2], &offset));
  CHECK(napi_get_value_uint32(env, argv[5], &ssrc));
  if (!index_arg(env, argv[6], &index)) return throw_error(env, "webrtc-oneway-srtp: index out of range");
  size_t tag_len = s->profile == PROFILE_CM ? 10 : 16;
  size_t length = header_len + plain_len + tag_len;
  if ((uint64_t)offset + length > out_len) return throw_error(env, "webrtc-oneway-srtp: the output buffer is too small");
  unsigned char *packet = out + offset;
  if (overlaps(plain, packet, length) || overlaps(header, packet, length))
    return throw_error(env, "webrtc-oneway-srtp: header or plain overlaps the output");
  memcpy(packet, header, header_len);
  if (!protect_packet(s, packet, header_len, plain, plain_len, ssrc, index)) return throw_error(env, "webrtc-oneway-srtp: OpenSSL failed");
  napi_value result;
  CHECK(napi_create_uint32(env, (uint32_t)length, &result));
  return result;
}

/* close(handle): frees the OpenSSL contexts now (the finalizer frees the rest). Idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok) return throw_error(env, "webrtc-oneway-srtp: close(handle)");
  state_free_crypto(p);
  return NULL;
}

static void ipv4_address(struct sockaddr_in *sa, uint32_t addr, uint32_t port) {
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  sa->sin_addr.s_addr = htonl(addr);
}

/*
 * sendto(fd, buf, offset, length, ipv4, port): one datagram on a UDP socket's descriptor (the
 * lean path's send, see src/media/fanout/udp-send.ts), to an IPv4 address given as a 32-bit
 * number. Node's own send (UDPWrap::Send, then libuv's try-send) does the same syscall after
 * unpacking a list of buffers and parsing the address string on every call; here the caller
 * parses it once. Never blocks (the descriptor is libuv's, non-blocking); returns -errno on
 * failure, -EAGAIN when the socket buffer is full (the caller then queues it through libuv).
 */
static napi_value js_sendto(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_error(env, "webrtc-oneway-srtp: sendto(fd, buf, offset, length, ipv4, port)");
  int32_t fd;
  uint32_t offset, length, addr, port;
  unsigned char *buf;
  size_t buf_len;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!buffer_arg(env, argv[1], &buf, &buf_len)) return throw_error(env, "webrtc-oneway-srtp: buf must be a Buffer");
  CHECK(napi_get_value_uint32(env, argv[2], &offset));
  CHECK(napi_get_value_uint32(env, argv[3], &length));
  CHECK(napi_get_value_uint32(env, argv[4], &addr));
  CHECK(napi_get_value_uint32(env, argv[5], &port));
  if (fd < 0 || port > 0xffff || (uint64_t)offset + length > buf_len) return throw_error(env, "webrtc-oneway-srtp: sendto arguments out of range");
  struct sockaddr_in sa;
  ipv4_address(&sa, addr, port);
  ssize_t n;
  do n = sendto(fd, buf + offset, length, 0, (struct sockaddr *)&sa, sizeof sa);
  while (n < 0 && errno == EINTR);
  napi_value result;
  CHECK(napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &result));
  return result;
}

#ifdef __linux__
#include <netinet/udp.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#endif

/* The kernel's limits for one UDP_SEGMENT send (UDP_MAX_SEGMENTS, and the IP datagram's size). */
#define MAX_SEGMENTS 64
#define MAX_SEGMENTED_BYTES 65000

/*
 * sendSegments(fd, buf, offset, length, segmentSize, ipv4, port): buf[offset .. offset +
 * length) as datagrams of segmentSize bytes each (the last one may be shorter), in one
 * sendmsg with UDP_SEGMENT (Linux UDP GSO, 4.18+): the kernel routes and builds one large
 * packet and cuts it into datagrams at the device (or the NIC does), where one sendto per
 * datagram did all of that each time. On the wire they are ordinary datagrams. Returns the
 * bytes sent or -errno: -EAGAIN when the socket buffer is full; -EINVAL, -ENOPROTOOPT or -EIO
 * where the kernel or the device cannot segment (the caller then sends them one by one);
 * -ENOSYS off Linux.
 */
static napi_value js_send_segments(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) return throw_error(env, "webrtc-oneway-srtp: sendSegments(fd, buf, offset, length, segmentSize, ipv4, port)");
  int32_t fd;
  uint32_t offset, length, segment, addr, port;
  unsigned char *buf;
  size_t buf_len;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (!buffer_arg(env, argv[1], &buf, &buf_len)) return throw_error(env, "webrtc-oneway-srtp: buf must be a Buffer");
  CHECK(napi_get_value_uint32(env, argv[2], &offset));
  CHECK(napi_get_value_uint32(env, argv[3], &length));
  CHECK(napi_get_value_uint32(env, argv[4], &segment));
  CHECK(napi_get_value_uint32(env, argv[5], &addr));
  CHECK(napi_get_value_uint32(env, argv[6], &port));
  if (fd < 0 || port > 0xffff || (uint64_t)offset + length > buf_len || segment == 0 || segment > 0xffff || length == 0 ||
      length > MAX_SEGMENTED_BYTES || (length + segment - 1) / segment > MAX_SEGMENTS)
    return throw_error(env, "webrtc-oneway-srtp: sendSegments arguments out of range");
  int32_t r;
#ifdef __linux__
  struct sockaddr_in sa;
  ipv4_address(&sa, addr, port);
  struct iovec iov = {buf + offset, length};
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &sa;
  msg.msg_namelen = sizeof sa;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (length > segment) {
    /* One segment needs no cmsg (and some kernels refuse gso_size >= length). */
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t size = (uint16_t)segment;
    memcpy(CMSG_DATA(cm), &size, sizeof size);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, 0);
  while (n < 0 && errno == EINTR);
  r = n < 0 ? -errno : (int32_t)n;
#else
  (void)addr;
  r = -ENOSYS;
#endif
  napi_value result;
  CHECK(napi_create_int32(env, r, &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_default, NULL},
      {"protect", NULL, js_protect, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"sendto", NULL, js_sendto, NULL, NULL, NULL, napi_default, NULL},
      {"protectInto", NULL, js_protect_into, NULL, NULL, NULL, napi_default, NULL},
      {"sendSegments", NULL, js_send_segments, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value v;
  if (napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, exports, "openssl", v);
  return exports;
}
