/*
 * The native receive path of bench/fanout-viewers.mjs's light viewers: reads their ICE UDP
 * sockets (taken from the viewer process with pidfd_getfd(2)) with epoll + recvmmsg, counts
 * RTP from the clear header exactly as the viewer's #onRtp and FrameCounter do, and hands
 * every other datagram (STUN, DTLS, SRTCP) back to the viewer process for werift. Node's
 * dgram costs about 14 us per datagram; this is what lets one core receive for 1,000 viewers.
 *
 *   rtp-counter <viewer pid> [pause us, 2000]   (started by fanout-viewers.mjs, not by hand)
 *
 * After each turn it sleeps `pause` microseconds, so that the next epoll_wait finds a whole
 * burst of the fan-out (one packet on every socket) ready instead of waking per packet: at
 * 400 sockets that halved its CPU (most of what is left is the kernel's UDP receive, about
 * 2.4 us per datagram here). STUN, DTLS and SRTCP reach werift up to that much later.
 *
 * stdin, text lines from the viewer process:
 *   A <k> <fd>   take its fd <fd> as socket k and read it from now on
 *   D <k>        drop socket k (closes our duplicate: the viewer has closed or is closing it)
 *   S <id>       counters of every socket
 * stdout, frames: u8 type, 3 bytes 0, u32 k (or id), u32 payload length, payload (little endian)
 *   'a' k        socket k taken                  'F' k  first RTP on k: u16 seq, u32 ssrc, u32 length
 *   'P' k        a non-RTP datagram: u32 IPv4 address (network order), u16 port (network order), data
 *   'S' id       u32 count, u32 open sockets, f64 user us, f64 system us, f64 errors,
 *                then per socket: f64 k, packets, highest seq, bytes, complete frames, ssrc
 *   'E' k        an error (text); k = 0xffffffff when not about one socket (taking a fd that
 *                fails is an 'E' with that k and no 'a')
 * Exits when stdin closes or the viewer process dies; exits 1 (after an 'E') when epoll fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* As in fanout-viewers.mjs's FrameCounter. */
#define FRAME_LAG 256
#define RING 1024
#define BATCH 64
#define MAX_DGRAM 2048
#define NO_K 0xffffffffu
/* epoll data of the two non-socket fds (socket k is k). */
#define EV_STDIN (1ull << 40)
#define EV_PIDFD (1ull << 41)

struct sock {
  uint32_t k;
  int fd;
  /* The viewer's #onRtp. */
  double packets, bytes;
  int64_t highest_seq; /* -1: none yet */
  uint32_t ssrc;
  int read_errors;
  /* FrameCounter. */
  double complete;
  int64_t seen[RING];
  uint8_t marker[RING];
  int64_t fc_highest, fc_next;
  int fc_ok;
};

static struct sock **socks; /* by k */
static uint32_t nsocks_cap;
static uint32_t open_count;
static double errors;
static int epfd;

/* Output, flushed once per loop turn (and when full). */
static unsigned char *out;
static size_t out_len, out_cap;

static void flush_out(void) {
  size_t off = 0;
  while (off < out_len) {
    ssize_t w = write(1, out + off, out_len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      exit(0); /* the viewer process is gone */
    }
    off += (size_t)w;
  }
  out_len = 0;
}

static unsigned char *frame(char type, uint32_t k, uint32_t len) {
  if (out_len + 12 + len > out_cap) {
    flush_out();
    if (12 + len > out_cap) {
      out_cap = 12 + len + (1 << 16);
      out = realloc(out, out_cap);
      if (!out) exit(1);
    }
  }
  unsigned char *h = out + out_len;
  memset(h, 0, 12);
  h[0] = (unsigned char)type;
  memcpy(h + 4, &k, 4);
  memcpy(h + 8, &len, 4);
  out_len += 12 + len;
  return h + 12;
}

static void report(uint32_t k, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n >= (int)sizeof msg) n = sizeof msg - 1;
  memcpy(frame('E', k, (uint32_t)n), msg, (size_t)n);
  errors++;
}

/* FrameCounter.add, line for line (extended sequence numbers are never negative once stored). */
static void frames_add(struct sock *s, int seq, int marker) {
  int64_t ext;
  if (s->fc_highest < 0) {
    ext = seq;
    s->fc_highest = ext;
    s->fc_next = ext;
    s->fc_ok = 0; /* the first frame may have started before we joined */
  } else {
    int64_t diff = ((seq - (s->fc_highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    ext = s->fc_highest + diff;
    if (ext > s->fc_highest) s->fc_highest = ext;
  }
  if (ext < s->fc_next) return; /* too late to count */
  s->seen[ext % RING] = ext;
  s->marker[ext % RING] = marker ? 1 : 0;
  while (s->fc_next <= s->fc_highest - FRAME_LAG) {
    int64_t i = s->fc_next % RING;
    if (s->seen[i] != s->fc_next) s->fc_ok = 0;
    else if (s->marker[i]) {
      if (s->fc_ok) s->complete++;
      s->fc_ok = 1;
    }
    s->fc_next++;
  }
}

/* The viewer's #onRtp (and mediaSsrc ||= ...). */
static void on_rtp(struct sock *s, const unsigned char *b, size_t len) {
  int seq = (b[2] << 8) | b[3];
  int marker = (b[1] & 0x80) != 0;
  if (!s->ssrc) s->ssrc = ((uint32_t)b[8] << 24) | ((uint32_t)b[9] << 16) | ((uint32_t)b[10] << 8) | b[11];
  s->packets++;
  s->bytes += (double)(len - 12);
  frames_add(s, seq, marker);
  if (s->highest_seq < 0) {
    s->highest_seq = seq;
    unsigned char *p = frame('F', s->k, 10);
    uint16_t q = (uint16_t)seq;
    uint32_t l = (uint32_t)len;
    memcpy(p, &q, 2);
    memcpy(p + 2, &s->ssrc, 4);
    memcpy(p + 6, &l, 4);
  } else {
    int64_t diff = ((seq - (s->highest_seq & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    if (diff > 0) s->highest_seq += diff;
  }
}

static void drop(uint32_t k) {
  if (k >= nsocks_cap || !socks[k]) return;
  struct sock *s = socks[k];
  epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  free(s);
  socks[k] = NULL;
  open_count--;
}

static void take(int pidfd, uint32_t k, int target_fd) {
  if (k == NO_K || (k < nsocks_cap && socks[k])) {
    report(k, "socket id %u is reserved or already open", k);
    return;
  }
  int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
  if (fd < 0) {
    report(k, "pidfd_getfd(fd %d): %s", target_fd, strerror(errno));
    return;
  }
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM) {
    close(fd);
    report(k, "fd %d is not a UDP socket", target_fd);
    return;
  }
  if (k >= nsocks_cap) {
    uint32_t cap = nsocks_cap ? nsocks_cap : 1024;
    while (cap <= k) cap *= 2;
    struct sock **n = realloc(socks, cap * sizeof *socks);
    if (!n) {
      close(fd);
      report(k, "out of memory");
      return;
    }
    memset(n + nsocks_cap, 0, (cap - nsocks_cap) * sizeof *socks);
    socks = n;
    nsocks_cap = cap;
  }
  struct sock *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    report(k, "out of memory");
    return;
  }
  s->k = k;
  s->fd = fd;
  s->highest_seq = -1;
  s->fc_highest = -1;
  s->fc_next = -1;
  for (int i = 0; i < RING; i++) s->seen[i] = -1;
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = k };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    report(k, "epoll_ctl(ADD, fd %d): %s", target_fd, strerror(errno));
    close(fd);
    free(s);
    return;
  }
  socks[k] = s;
  open_count++;
  frame('a', k, 0);
}

static void stats(uint32_t id) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  unsigned char *p = frame('S', id, 8 + 24 + open_count * 48);
  uint32_t count = open_count;
  double user = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec;
  double sys = ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
  memcpy(p, &count, 4);
  memcpy(p + 4, &open_count, 4);
  memcpy(p + 8, &user, 8);
  memcpy(p + 16, &sys, 8);
  memcpy(p + 24, &errors, 8);
  p += 32;
  for (uint32_t k = 0; k < nsocks_cap; k++) {
    struct sock *s = socks[k];
    if (!s) continue;
    double v[6] = { s->k, s->packets, (double)s->highest_seq, s->bytes, s->complete, s->ssrc };
    memcpy(p, v, sizeof v);
    p += sizeof v;
  }
}

static unsigned char bufs[BATCH][MAX_DGRAM];
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static struct sockaddr_storage addrs[BATCH];

static void read_socket(struct sock *s) {
  /* Bounded per turn so that one socket cannot starve the others or the commands. */
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < BATCH; i++) {
      iovs[i].iov_base = bufs[i];
      iovs[i].iov_len = MAX_DGRAM;
      msgs[i].msg_hdr = (struct msghdr){ .msg_name = &addrs[i], .msg_namelen = sizeof addrs[i], .msg_iov = &iovs[i], .msg_iovlen = 1 };
    }
    int n = recvmmsg(s->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      report(s->k, "recvmmsg: %s", strerror(errno));
      /* Not in a loop forever: its counts stop, which the errors already say. */
      if (++s->read_errors == 100) {
        report(s->k, "100 read errors: no longer read");
        epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
      }
      return;
    }
    for (int i = 0; i < n; i++) {
      const unsigned char *b = bufs[i];
      size_t len = msgs[i].msg_len;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        report(s->k, "datagram longer than %d bytes, truncated", MAX_DGRAM);
        continue;
      }
      /* RTP: version 2 (first byte 128-191), not RTCP (payload types 192-223 with the marker bit). */
      if (len >= 12 && b[0] >= 128 && b[0] <= 191 && !(b[1] >= 192 && b[1] <= 223)) {
        on_rtp(s, b, len);
        continue;
      }
      const struct sockaddr_in *sin = (const struct sockaddr_in *)&addrs[i];
      if (sin->sin_family != AF_INET) {
        report(s->k, "datagram from address family %d (IPv4 only)", sin->sin_family);
        continue;
      }
      unsigned char *p = frame('P', s->k, (uint32_t)(6 + len));
      memcpy(p, &sin->sin_addr.s_addr, 4);
      memcpy(p + 4, &sin->sin_port, 2);
      memcpy(p + 6, b, len);
    }
    if (n < BATCH) return;
  }
}

static char in[1 << 16];
static size_t in_len;

/* Returns 0 when stdin has closed. */
static int read_commands(int pidfd) {
  ssize_t r = read(0, in + in_len, sizeof in - in_len);
  if (r == 0) return 0;
  if (r < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  in_len += (size_t)r;
  size_t start = 0;
  for (size_t i = 0; i < in_len; i++) {
    if (in[i] != '\n') continue;
    in[i] = 0;
    char *line = in + start;
    unsigned k, fd;
    if (line[0] == 'A' && sscanf(line + 1, "%u %u", &k, &fd) == 2) take(pidfd, k, (int)fd);
    else if (line[0] == 'D' && sscanf(line + 1, "%u", &k) == 1) drop(k);
    else if (line[0] == 'S' && sscanf(line + 1, "%u", &k) == 1) stats(k);
    else report(NO_K, "unknown command: %.80s", line);
    start = i + 1;
  }
  memmove(in, in + start, in_len - start);
  in_len -= start;
  if (in_len == sizeof in) {
    report(NO_K, "command line too long");
    in_len = 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: rtp-counter <viewer pid> [pause us] (started by bench/fanout-viewers.mjs)\n");
    return 2;
  }
  long pause_us = argc > 2 ? atol(argv[2]) : 2000;
  struct timespec pause = { .tv_sec = pause_us / 1000000, .tv_nsec = (pause_us % 1000000) * 1000 };
  pid_t pid = (pid_t)atoi(argv[1]);
  /* Gone with the viewer process, whatever happens to it. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  out_cap = 1 << 20;
  out = malloc(out_cap);
  if (!out) return 1;
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (pidfd < 0 || epfd < 0) {
    report(NO_K, "%s: %s", pidfd < 0 ? "pidfd_open" : "epoll_create1", strerror(errno));
    flush_out();
    return 1;
  }
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_STDIN };
  struct epoll_event pev = { .events = EPOLLIN, .data.u64 = EV_PIDFD };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, pidfd, &pev) < 0) {
    report(NO_K, "epoll_ctl(stdin/pidfd): %s", strerror(errno));
    flush_out();
    return 1;
  }
  static struct epoll_event events[4096];
  for (;;) {
    int n = epoll_wait(epfd, events, 4096, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      report(NO_K, "epoll_wait: %s", strerror(errno));
      flush_out();
      return 1;
    }
    for (int i = 0; i < n; i++) {
      uint64_t d = events[i].data.u64;
      if (d == EV_PIDFD) return 0;
      if (d == EV_STDIN) {
        if (!read_commands(pidfd)) {
          flush_out();
          return 0;
        }
        continue;
      }
      /* A socket dropped earlier in this turn has no entry any more. */
      if (d < nsocks_cap && socks[d]) {
        if (events[i].events & (EPOLLERR | EPOLLIN)) read_socket(socks[d]);
      }
    }
    flush_out();
    if (pause_us > 0) nanosleep(&pause, NULL);
  }
}
