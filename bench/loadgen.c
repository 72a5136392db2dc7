/*
 * coap-loadgen: a CoAP-over-UDP (RFC 7252) load generator, and a trivial responder that
 * measures the generator's own ceiling.
 *
 * Load mode keeps a fixed number of requests outstanding, spread over many client sockets
 * (a server keys its sessions on the client's address and port, so many sockets look like
 * many clients). Each answer completes an exchange and immediately starts the next one on
 * the same slot, so the offered load adapts to the server: this is a closed-loop test that
 * measures throughput at a given concurrency, plus the latency of each exchange.
 *
 * The wire format is written by hand; the tool does not link libcoap, so it measures the
 * server under test and not a shared library on both sides.
 *
 * Output: one JSON object on stdout (see print_report). Diagnostics go to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
  RECV_BATCH = 64,      /* datagrams per recvmmsg */
  RECV_BUF = 512,       /* only the header and token matter; longer answers are truncated */
  EPOLL_BATCH = 64,     /* events per epoll_wait */
  TOKEN_LEN = 4,        /* 2 bytes slot index + 2 bytes generation */
  REQ_HDR = 4 + TOKEN_LEN,
  MAX_PAYLOAD = 1024,   /* keeps every request one datagram without Block1 */
  MAX_PATH = 1024,
};

/* RFC 7252 message types and codes used here. */
enum { T_CON = 0, T_NON = 1, T_ACK = 2, T_RST = 3 };
enum { C_EMPTY = 0x00, C_GET = 0x01, C_POST = 0x02, C_PUT = 0x03, C_DELETE = 0x04 };
#define CODE(cls, detail) ((uint8_t)(((cls) << 5) | (detail)))
#define OPT_URI_PATH 11
#define PAYLOAD_MARKER 0xFF

static volatile sig_atomic_t g_stop; /* set by SIGINT/SIGTERM: stop sending, drain, report */

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "coap-loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* ------------------------------------------------------------------------------------------
 * Latency histogram, log-linear in nanoseconds: values below 32 get a bucket each, then every
 * power of two is split into 32 equal buckets. The relative error stays under 1.6 % at every
 * scale with a fixed 15 KiB table, so it is cheap to keep one per thread and add them up.
 */
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct histogram {
  uint64_t count[HIST_BUCKETS];
  uint64_t total;
  uint64_t max;
};

static unsigned hist_index(uint64_t v) {
  if (v < HIST_SUB) return (unsigned)v;
  unsigned msb = 63u - (unsigned)__builtin_clzll(v);
  unsigned row = msb - HIST_SUB_BITS + 1;
  unsigned sub = (unsigned)(v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1);
  return row * HIST_SUB + sub;
}

/* Representative value of a bucket: its midpoint. */
static uint64_t hist_value(unsigned idx) {
  unsigned row = idx / HIST_SUB, sub = idx % HIST_SUB;
  if (row == 0) return sub;
  unsigned shift = row - 1;
  uint64_t lower = (uint64_t)(HIST_SUB + sub) << shift;
  return lower + (((uint64_t)1 << shift) >> 1);
}

static void hist_record(struct histogram *h, uint64_t v) {
  h->count[hist_index(v)]++;
  h->total++;
  if (v > h->max) h->max = v;
}

static void hist_merge(struct histogram *into, const struct histogram *from) {
  for (unsigned i = 0; i < HIST_BUCKETS; i++) into->count[i] += from->count[i];
  into->total += from->total;
  if (from->max > into->max) into->max = from->max;
}

static uint64_t hist_quantile(const struct histogram *h, double q) {
  if (h->total == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    seen += h->count[i];
    if (seen >= rank) {
      uint64_t v = hist_value(i);
      return v > h->max ? h->max : v; /* a midpoint may overshoot the largest sample */
    }
  }
  return h->max;
}

/* ------------------------------------------------------------------------------------------
 * Configuration and command line.
 */
struct config {
  struct sockaddr_storage target;
  socklen_t target_len;
  struct sockaddr_storage bind_addr;
  socklen_t bind_len;
  int have_bind;
  const char *target_str;
  const char *path;
  const char *method_name;
  uint8_t method;
  unsigned payload_size;
  int non;
  unsigned sockets;
  unsigned concurrency;
  unsigned threads;
  double duration;
  double warmup;
  uint64_t requests; /* measured requests to send, 0 = no limit */
  unsigned timeout_ms;
  int responder_port; /* > 0: run the responder instead */
  unsigned responder_batch; /* datagrams per recvmmsg/sendmmsg in the responder */
};

static void usage(FILE *out) {
  fputs(
      "usage: coap-loadgen --target HOST:PORT [options]     load a CoAP/UDP server\n"
      "       coap-loadgen --responder PORT [--bind ADDR]   answer every request (ceiling test)\n"
      "\n"
      "load options:\n"
      "  --target HOST:PORT   server address; IPv6 as [::1]:5683\n"
      "  --path A/B           Uri-Path of every request (default: none, i.e. /)\n"
      "  --method M           GET (default), PUT, POST or DELETE\n"
      "  --payload-size N     bytes of payload per request (0..1024, default 0)\n"
      "  --non                send NON requests instead of CON\n"
      "  --sockets S          client sockets (default 64)\n"
      "  --concurrency C      requests outstanding in total (default 256)\n"
      "  --threads N          threads, each owning a share of the sockets (default 1)\n"
      "  --duration SEC       measured time (default 5; 0 = until --requests)\n"
      "  --warmup SEC         unmeasured time before it (default 1)\n"
      "  --requests N         stop after N measured requests (default: no limit)\n"
      "  --timeout-ms MS      a request unanswered this long is lost and replaced (default 2000)\n"
      "  --bind ADDR          local address (default 127.0.0.1 / ::1 for a loopback target)\n"
      "\n"
      "responder options:\n"
      "  --responder PORT     listen on PORT; piggybacked ACK 2.05 \"hello\" to every CON GET\n"
      "  --bind ADDR          listen address (default 127.0.0.1)\n"
      "  --threads N          N sockets on the same port (SO_REUSEPORT), one thread each\n"
      "  --batch N            datagrams per recvmmsg/sendmmsg, 1..64 (default 64); 1 answers\n"
      "                       one datagram per syscall, like libcoap\n",
      out);
}

static unsigned long parse_uint(const char *opt, const char *s, unsigned long min,
                                unsigned long max) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "coap-loadgen: %s wants an integer in %lu..%lu, not '%s'\n", opt, min, max, s);
    exit(2);
  }
  return v;
}

static double parse_seconds(const char *opt, const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= 0) || v > 86400) {
    fprintf(stderr, "coap-loadgen: %s wants seconds (0..86400), not '%s'\n", opt, s);
    exit(2);
  }
  return v;
}

/* Resolves "host:port" or "[v6]:port" (a name such as localhost works too). */
static void parse_target(const char *s, struct sockaddr_storage *ss, socklen_t *len) {
  char host[256];
  const char *port;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) goto bad;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = '\0';
    port = close + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || memchr(s, ':', (size_t)(colon - s)) || (size_t)(colon - s) >= sizeof host)
      goto bad; /* a bare IPv6 literal needs brackets */
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *res;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "coap-loadgen: cannot resolve '%s': %s\n", s, gai_strerror(rc));
    exit(2);
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return;
bad:
  fprintf(stderr, "coap-loadgen: --target wants HOST:PORT or [IPv6]:PORT, not '%s'\n", s);
  exit(2);
}

static void parse_addr(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
  } else if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
  } else {
    fprintf(stderr, "coap-loadgen: --bind wants a numeric IPv4 or IPv6 address, not '%s'\n", s);
    exit(2);
  }
}

static int is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(a) ||
         (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void parse_args(int argc, char **argv, struct config *cfg) {
  enum { O_TARGET = 256, O_PATH, O_METHOD, O_PAYLOAD, O_NON, O_SOCKETS, O_CONC, O_THREADS,
         O_DURATION, O_WARMUP, O_REQUESTS, O_TIMEOUT, O_BIND, O_RESPONDER, O_BATCH, O_HELP };
  static const struct option opts[] = {
      {"target", required_argument, 0, O_TARGET},     {"path", required_argument, 0, O_PATH},
      {"method", required_argument, 0, O_METHOD},     {"payload-size", required_argument, 0, O_PAYLOAD},
      {"non", no_argument, 0, O_NON},                 {"sockets", required_argument, 0, O_SOCKETS},
      {"concurrency", required_argument, 0, O_CONC},  {"threads", required_argument, 0, O_THREADS},
      {"duration", required_argument, 0, O_DURATION}, {"warmup", required_argument, 0, O_WARMUP},
      {"requests", required_argument, 0, O_REQUESTS}, {"timeout-ms", required_argument, 0, O_TIMEOUT},
      {"bind", required_argument, 0, O_BIND},         {"responder", required_argument, 0, O_RESPONDER},
      {"batch", required_argument, 0, O_BATCH},       {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  const char *bind_str = NULL;
  *cfg = (struct config){.path = "", .method_name = "GET", .method = C_GET, .sockets = 64,
                         .concurrency = 256, .threads = 1, .duration = 5, .warmup = 1,
                         .timeout_ms = 2000, .responder_batch = RECV_BATCH};
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_TARGET: cfg->target_str = optarg; break;
    case O_PATH: cfg->path = optarg; break;
    case O_METHOD:
      if (!strcasecmp(optarg, "GET")) cfg->method = C_GET, cfg->method_name = "GET";
      else if (!strcasecmp(optarg, "PUT")) cfg->method = C_PUT, cfg->method_name = "PUT";
      else if (!strcasecmp(optarg, "POST")) cfg->method = C_POST, cfg->method_name = "POST";
      else if (!strcasecmp(optarg, "DELETE")) cfg->method = C_DELETE, cfg->method_name = "DELETE";
      else {
        fprintf(stderr, "coap-loadgen: --method wants GET, PUT, POST or DELETE, not '%s'\n", optarg);
        exit(2);
      }
      break;
    case O_PAYLOAD: cfg->payload_size = (unsigned)parse_uint("--payload-size", optarg, 0, MAX_PAYLOAD); break;
    case O_NON: cfg->non = 1; break;
    case O_SOCKETS: cfg->sockets = (unsigned)parse_uint("--sockets", optarg, 1, 60000); break;
    case O_CONC: cfg->concurrency = (unsigned)parse_uint("--concurrency", optarg, 1, 1000000); break;
    case O_THREADS: cfg->threads = (unsigned)parse_uint("--threads", optarg, 1, 256); break;
    case O_DURATION: cfg->duration = parse_seconds("--duration", optarg); break;
    case O_WARMUP: cfg->warmup = parse_seconds("--warmup", optarg); break;
    case O_REQUESTS: cfg->requests = parse_uint("--requests", optarg, 1, ~0ul); break;
    case O_TIMEOUT: cfg->timeout_ms = (unsigned)parse_uint("--timeout-ms", optarg, 1, 3600000); break;
    case O_BIND: bind_str = optarg; break;
    case O_RESPONDER: cfg->responder_port = (int)parse_uint("--responder", optarg, 1, 65535); break;
    case O_BATCH: cfg->responder_batch = (unsigned)parse_uint("--batch", optarg, 1, RECV_BATCH); break;
    case O_HELP: case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) {
    fprintf(stderr, "coap-loadgen: unexpected argument '%s'\n", argv[optind]);
    exit(2);
  }
  if (cfg->responder_port) {
    parse_addr(bind_str ? bind_str : "127.0.0.1", cfg->responder_port, &cfg->bind_addr, &cfg->bind_len);
    return;
  }
  if (!cfg->target_str) {
    usage(stderr);
    exit(2);
  }
  parse_target(cfg->target_str, &cfg->target, &cfg->target_len);
  if (bind_str) {
    parse_addr(bind_str, 0, &cfg->bind_addr, &cfg->bind_len);
    cfg->have_bind = 1;
  } else if (is_loopback(&cfg->target)) {
    /* Stay on the loopback of the target's family, as a local client would. */
    parse_addr(cfg->target.ss_family == AF_INET6 ? "::1" : "127.0.0.1", 0, &cfg->bind_addr,
               &cfg->bind_len);
    cfg->have_bind = 1;
  }
  if (cfg->duration == 0 && cfg->requests == 0) {
    fprintf(stderr, "coap-loadgen: --duration 0 needs --requests\n");
    exit(2);
  }
  if (strlen(cfg->path) > MAX_PATH) {
    fprintf(stderr, "coap-loadgen: --path longer than %d bytes\n", MAX_PATH);
    exit(2);
  }
  for (const char *seg = cfg->path; *seg;) {
    size_t len = strcspn(seg, "/");
    if (len > 255) { /* RFC 7252 §5.10: a Uri-Path option holds at most 255 bytes */
      fprintf(stderr, "coap-loadgen: --path segment longer than 255 bytes\n");
      exit(2);
    }
    seg += len + (seg[len] == '/');
  }
  /* Every socket needs at least one request in flight, and every thread one socket. */
  if (cfg->concurrency < cfg->sockets) {
    fprintf(stderr, "coap-loadgen: %u sockets for concurrency %u; using %u sockets\n", cfg->sockets,
            cfg->concurrency, cfg->concurrency);
    cfg->sockets = cfg->concurrency;
  }
  if (cfg->threads > cfg->sockets) {
    fprintf(stderr, "coap-loadgen: %u threads for %u sockets; using %u threads\n", cfg->threads,
            cfg->sockets, cfg->sockets);
    cfg->threads = cfg->sockets;
  }
}

/* ------------------------------------------------------------------------------------------
 * Request encoding. Everything after the token (Uri-Path options, payload) is the same for
 * every request, so it is encoded once and sent from a shared buffer as the second iovec;
 * per request only the 8 bytes of header and token are written.
 */

/* Writes an option header (RFC 7252 §3.1: 4-bit delta and length nibbles, extended by one
 * byte for 13..268 and two bytes for 269..65804). Returns the bytes written. */
static size_t put_option_header(uint8_t *p, unsigned delta, size_t len) {
  uint8_t *start = p++;
  unsigned nib[2];
  size_t vals[2] = {delta, len};
  for (int i = 0; i < 2; i++) {
    if (vals[i] < 13) {
      nib[i] = (unsigned)vals[i];
    } else if (vals[i] < 269) {
      nib[i] = 13;
      *p++ = (uint8_t)(vals[i] - 13);
    } else {
      nib[i] = 14;
      *p++ = (uint8_t)((vals[i] - 269) >> 8);
      *p++ = (uint8_t)(vals[i] - 269);
    }
  }
  *start = (uint8_t)(nib[0] << 4 | nib[1]);
  return (size_t)(p - start);
}

/* Encodes Uri-Path options (one per non-empty segment) and the payload into out. */
static size_t encode_tail(const struct config *cfg, uint8_t *out) {
  uint8_t *p = out;
  unsigned last_option = 0;
  const char *seg = cfg->path;
  while (*seg) {
    const char *end = strchr(seg, '/');
    size_t len = end ? (size_t)(end - seg) : strlen(seg);
    if (len > 0) {
      p += put_option_header(p, OPT_URI_PATH - last_option, len);
      memcpy(p, seg, len);
      p += len;
      last_option = OPT_URI_PATH;
    }
    seg += len + (end ? 1 : 0);
  }
  if (cfg->payload_size > 0) {
    *p++ = PAYLOAD_MARKER;
    memset(p, 'x', cfg->payload_size);
    p += cfg->payload_size;
  }
  return (size_t)(p - out);
}

/* ------------------------------------------------------------------------------------------
 * Load generator state. A slot is one request position: it is always either idle or has one
 * request in flight. Its token carries the slot index (so an answer finds its slot without
 * a search) and a generation (so a late answer to a request already counted as lost does not
 * complete the slot's current request).
 */
enum { SLOT_IDLE, SLOT_WAIT, SLOT_ACKED /* empty ACK seen, separate response pending */ };

struct slot {
  uint64_t sent_ns;
  uint16_t mid;
  uint16_t gen;
  uint8_t state;
  uint8_t measured; /* sent after warmup: counts towards the results */
  uint8_t hdr[REQ_HDR]; /* header + token; stays valid until sendmmsg has copied it */
};

struct conn {
  int fd;
  uint16_t next_mid;
  unsigned nslots;
  struct slot *slots;
  /* Pending datagrams for the next sendmmsg: requests (slot index) and empty ACKs (-1). */
  unsigned nsend, send_cap;
  struct mmsghdr *smsg;
  struct iovec *siov; /* two per message */
  int *sslot;
  uint8_t (*ackbuf)[4]; /* one per send position, used by empty ACKs */
};

struct worker {
  const struct config *cfg;
  pthread_t thread;
  int epfd;
  struct conn *conns;
  unsigned nconns;
  const uint8_t *tail;
  size_t tail_len;
  uint64_t quota; /* measured requests this thread may still send; UINT64_MAX = unlimited */

  uint64_t t_window, t_send_end, t_stop, t_last_resp;
  int sending;
  unsigned outstanding;

  /* Results. */
  uint64_t requests, responses, lost, rst, stale, send_errors;
  uint64_t codes[256];
  struct histogram hist;

  struct mmsghdr rmsg[RECV_BATCH];
  struct iovec riov[RECV_BATCH];
  uint8_t rbuf[RECV_BATCH][RECV_BUF];
};

static pthread_barrier_t g_start_barrier;

static void stop_sending(struct worker *w, uint64_t now) {
  if (w->sending) {
    w->sending = 0;
    w->t_stop = now;
  }
}

/* Whether a new request may start now; flips the worker into draining once it may not. */
static int may_send(struct worker *w, uint64_t now) {
  if (!w->sending) return 0;
  if (g_stop || now >= w->t_send_end || (now >= w->t_window && w->quota == 0)) {
    stop_sending(w, now);
    return 0;
  }
  return 1;
}

static void flush(struct worker *w, struct conn *c) {
  if (c->nsend == 0) return;
  /* Stamp just before the syscall so the latency is wire-to-wire as far as user space sees. */
  uint64_t now = now_ns();
  for (unsigned i = 0; i < c->nsend; i++)
    if (c->sslot[i] >= 0) c->slots[c->sslot[i]].sent_ns = now;
  unsigned done = 0;
  int retries = 0;
  while (done < c->nsend) {
    int r = sendmmsg(c->fd, c->smsg + done, c->nsend - done, 0);
    if (r > 0) {
      done += (unsigned)r;
    } else if (r < 0 && (errno == EINTR || (errno == ECONNREFUSED && retries++ < 2))) {
      /* ECONNREFUSED reports an earlier ICMP error (no server yet); the error is consumed. */
      continue;
    } else {
      /* Unsent requests stay outstanding and will be counted lost at their timeout. */
      w->send_errors += c->nsend - done;
      break;
    }
  }
  c->nsend = 0;
}

/* Queues slot i's request: its header and token, then the shared options and payload. */
static void queue_request(struct worker *w, struct conn *c, unsigned i) {
  if (c->nsend == c->send_cap) flush(w, c);
  unsigned k = c->nsend++;
  struct iovec *iov = &c->siov[2 * k];
  iov[0] = (struct iovec){.iov_base = c->slots[i].hdr, .iov_len = REQ_HDR};
  iov[1] = (struct iovec){.iov_base = (void *)w->tail, .iov_len = w->tail_len};
  c->smsg[k].msg_hdr = (struct msghdr){.msg_iov = iov, .msg_iovlen = w->tail_len ? 2 : 1};
  c->sslot[k] = (int)i;
}

/* Queues an empty ACK for a CON message with this MID (big-endian bytes). */
static void queue_ack(struct worker *w, struct conn *c, const uint8_t mid[2]) {
  if (c->nsend == c->send_cap) flush(w, c);
  unsigned k = c->nsend++;
  uint8_t *ack = c->ackbuf[k];
  ack[0] = (uint8_t)(1u << 6 | T_ACK << 4);
  ack[1] = C_EMPTY;
  ack[2] = mid[0];
  ack[3] = mid[1];
  c->siov[2 * k] = (struct iovec){.iov_base = ack, .iov_len = 4};
  c->smsg[k].msg_hdr = (struct msghdr){.msg_iov = &c->siov[2 * k], .msg_iovlen = 1};
  c->sslot[k] = -1;
}

/* Starts a new request on slot i (the caller has checked may_send). */
static void arm(struct worker *w, struct conn *c, unsigned i, uint64_t now) {
  struct slot *s = &c->slots[i];
  s->gen++;
  s->mid = c->next_mid++;
  s->state = SLOT_WAIT;
  s->measured = now >= w->t_window;
  if (s->measured) {
    w->requests++;
    if (w->quota != UINT64_MAX) w->quota--;
  }
  w->outstanding++;
  s->hdr[0] = (uint8_t)(1u << 6 | (w->cfg->non ? T_NON : T_CON) << 4 | TOKEN_LEN);
  s->hdr[1] = w->cfg->method;
  s->hdr[2] = (uint8_t)(s->mid >> 8);
  s->hdr[3] = (uint8_t)s->mid;
  s->hdr[4] = (uint8_t)(i >> 8);
  s->hdr[5] = (uint8_t)i;
  s->hdr[6] = (uint8_t)(s->gen >> 8);
  s->hdr[7] = (uint8_t)s->gen;
  queue_request(w, c, i);
}

/* Ends slot i's exchange (answered, reset or lost) and starts the next one if allowed. */
static void finish(struct worker *w, struct conn *c, unsigned i, uint64_t now) {
  c->slots[i].state = SLOT_IDLE;
  w->outstanding--;
  if (may_send(w, now)) arm(w, c, i, now);
}

static void complete(struct worker *w, struct conn *c, unsigned i, uint8_t code, int is_rst,
                     uint64_t now) {
  struct slot *s = &c->slots[i];
  if (s->measured) {
    w->responses++;
    hist_record(&w->hist, now > s->sent_ns ? now - s->sent_ns : 0);
    if (is_rst) w->rst++;
    else w->codes[code]++;
    w->t_last_resp = now;
  }
  finish(w, c, i, now);
}

/* Finds the slot waiting for an ACK or RST with this message ID (these carry no token). */
static int slot_by_mid(struct conn *c, uint16_t mid) {
  for (unsigned i = 0; i < c->nslots; i++)
    if (c->slots[i].state != SLOT_IDLE && c->slots[i].mid == mid) return (int)i;
  return -1;
}

/* Finds the slot whose current request carries this token. */
static int slot_by_token(struct conn *c, const uint8_t *tok, unsigned tkl) {
  if (tkl != TOKEN_LEN) return -1;
  unsigned i = (unsigned)tok[0] << 8 | tok[1];
  uint16_t gen = (uint16_t)(tok[2] << 8 | tok[3]);
  if (i >= c->nslots || c->slots[i].state == SLOT_IDLE || c->slots[i].gen != gen) return -1;
  return (int)i;
}

static void handle_datagram(struct worker *w, struct conn *c, const uint8_t *m, size_t len,
                            uint64_t now) {
  if (len < 4 || (m[0] >> 6) != 1) {
    w->stale++;
    return;
  }
  unsigned type = (m[0] >> 4) & 3, tkl = m[0] & 15;
  uint8_t code = m[1];
  uint16_t mid = (uint16_t)(m[2] << 8 | m[3]);
  if (tkl > 8 || len < 4 + tkl) {
    w->stale++;
    return;
  }
  int i;
  switch (type) {
  case T_ACK:
    if (code == C_EMPTY) {
      /* The server accepted the CON request and will answer separately. */
      i = slot_by_mid(c, mid);
      if (i >= 0 && c->slots[i].state == SLOT_WAIT) c->slots[i].state = SLOT_ACKED;
      else w->stale++;
      return;
    }
    i = slot_by_token(c, m + 4, tkl);
    if (i >= 0 && c->slots[i].mid == mid) complete(w, c, (unsigned)i, code, 0, now);
    else w->stale++;
    return;
  case T_RST:
    i = slot_by_mid(c, mid);
    if (i >= 0) complete(w, c, (unsigned)i, 0, 1, now);
    else w->stale++;
    return;
  default: /* CON or NON: a separate response, or the answer to a NON request */
    if (code < CODE(2, 0)) {
      w->stale++; /* a request or empty message from the server: not ours to answer */
      return;
    }
    if (type == T_CON) {
      /* Acknowledge it even if stale, so the server stops retransmitting. */
      queue_ack(w, c, m + 2);
    }
    i = slot_by_token(c, m + 4, tkl);
    if (i >= 0) complete(w, c, (unsigned)i, code, 0, now);
    else w->stale++;
    return;
  }
}

/* Reads everything queued on one socket, answering each completion with a new request. */
static void service(struct worker *w, struct conn *c) {
  for (;;) {
    int n = recvmmsg(c->fd, w->rmsg, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break; /* EAGAIN, or a pending ICMP error (ECONNREFUSED), now consumed */
    uint64_t now = now_ns();
    for (int k = 0; k < n; k++) handle_datagram(w, c, w->rbuf[k], w->rmsg[k].msg_len, now);
    flush(w, c);
    if (n < RECV_BATCH) break;
  }
}

/* Counts requests unanswered for longer than the timeout as lost and replaces them. */
static void expire(struct worker *w, uint64_t now) {
  uint64_t limit = (uint64_t)w->cfg->timeout_ms * 1000000u;
  for (unsigned j = 0; j < w->nconns; j++) {
    struct conn *c = &w->conns[j];
    for (unsigned i = 0; i < c->nslots; i++) {
      struct slot *s = &c->slots[i];
      if (s->state != SLOT_IDLE && now - s->sent_ns >= limit) {
        if (s->measured) w->lost++;
        finish(w, c, i, now);
      }
    }
    flush(w, c);
  }
}

static int open_client_socket(const struct config *cfg) {
  int fd = socket(cfg->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (cfg->have_bind && bind(fd, (const struct sockaddr *)&cfg->bind_addr, cfg->bind_len) < 0)
    die("bind");
  /* Connected: plain sendmmsg without addresses, and the kernel drops datagrams from anyone
   * but the target. */
  if (connect(fd, (const struct sockaddr *)&cfg->target, cfg->target_len) < 0) die("connect");
  return fd;
}

/* Sets up this thread's share of sockets: sockets [first, first + n) of the global list,
 * socket k carrying concurrency/sockets requests plus one of the remainder if k is low. */
static void worker_init(struct worker *w, unsigned first, unsigned n) {
  const struct config *cfg = w->cfg;
  w->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (w->epfd < 0) die("epoll_create1");
  w->nconns = n;
  w->conns = calloc(n, sizeof *w->conns);
  if (!w->conns) die("calloc");
  for (unsigned j = 0; j < n; j++) {
    struct conn *c = &w->conns[j];
    unsigned k = first + j;
    c->nslots = cfg->concurrency / cfg->sockets + (k < cfg->concurrency % cfg->sockets);
    if (c->nslots > 65536) {
      fprintf(stderr, "coap-loadgen: more than 65536 requests per socket; add --sockets\n");
      exit(2);
    }
    c->fd = open_client_socket(cfg);
    /* Start each socket's MIDs somewhere different, as independent clients would. */
    c->next_mid = (uint16_t)(k * 7919u + (unsigned)getpid());
    c->slots = calloc(c->nslots, sizeof *c->slots);
    c->send_cap = c->nslots + RECV_BATCH;
    c->smsg = calloc(c->send_cap, sizeof *c->smsg);
    c->siov = calloc(2 * c->send_cap, sizeof *c->siov);
    c->sslot = calloc(c->send_cap, sizeof *c->sslot);
    c->ackbuf = calloc(c->send_cap, sizeof *c->ackbuf);
    if (!c->slots || !c->smsg || !c->siov || !c->sslot || !c->ackbuf) die("calloc");
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = j};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
  }
  for (unsigned k = 0; k < RECV_BATCH; k++) {
    w->riov[k] = (struct iovec){.iov_base = w->rbuf[k], .iov_len = RECV_BUF};
    w->rmsg[k].msg_hdr = (struct msghdr){.msg_iov = &w->riov[k], .msg_iovlen = 1};
  }
}

static void *worker_run(void *arg) {
  struct worker *w = arg;
  const struct config *cfg = w->cfg;
  pthread_barrier_wait(&g_start_barrier);

  uint64_t now = now_ns();
  w->t_window = now + (uint64_t)(cfg->warmup * 1e9);
  w->t_send_end = cfg->duration > 0 ? w->t_window + (uint64_t)(cfg->duration * 1e9) : UINT64_MAX;
  w->sending = 1;

  /* The timeout scan runs a few times per timeout period; it is a walk over this thread's
   * slots, cheap next to the traffic. */
  uint64_t scan_every = (uint64_t)cfg->timeout_ms * 1000000u / 4;
  if (scan_every > 100000000u) scan_every = 100000000u;
  if (scan_every < 1000000u) scan_every = 1000000u;
  uint64_t next_scan = now + scan_every;

  for (unsigned j = 0; j < w->nconns; j++) {
    struct conn *c = &w->conns[j];
    for (unsigned i = 0; i < c->nslots && may_send(w, now); i++) arm(w, c, i, now);
    flush(w, c);
  }

  struct epoll_event ev[EPOLL_BATCH];
  for (;;) {
    now = now_ns();
    may_send(w, now); /* notices the end of the run even when no answers arrive */
    if (!w->sending &&
        (w->outstanding == 0 || now >= w->t_stop + (uint64_t)cfg->timeout_ms * 1000000u))
      break;
    /* Wake up for the next timeout scan at the latest (1 ms granularity). */
    uint64_t wake = next_scan;
    if (w->sending && w->t_send_end < wake) wake = w->t_send_end;
    int tmo = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
    int n = epoll_wait(w->epfd, ev, EPOLL_BATCH, tmo);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int k = 0; k < n; k++) service(w, &w->conns[ev[k].data.u32]);
    now = now_ns();
    if (now >= next_scan) {
      expire(w, now);
      next_scan = now + scan_every;
    }
  }
  /* Whatever is still outstanding after the drain timeout is lost as well. */
  for (unsigned j = 0; j < w->nconns; j++)
    for (unsigned i = 0; i < w->conns[j].nslots; i++)
      if (w->conns[j].slots[i].state != SLOT_IDLE && w->conns[j].slots[i].measured) w->lost++;
  return NULL;
}

static void print_code_key(char *buf, size_t n, unsigned code) {
  snprintf(buf, n, "%u.%02u", code >> 5, code & 31);
}

static void print_report(const struct config *cfg, struct worker *ws) {
  struct histogram *h = calloc(1, sizeof *h);
  if (!h) die("calloc");
  uint64_t requests = 0, responses = 0, lost = 0, rst = 0, stale = 0, send_errors = 0;
  uint64_t codes[256] = {0};
  double seconds = 0;
  for (unsigned t = 0; t < cfg->threads; t++) {
    struct worker *w = &ws[t];
    requests += w->requests;
    responses += w->responses;
    lost += w->lost;
    rst += w->rst;
    stale += w->stale;
    send_errors += w->send_errors;
    for (unsigned k = 0; k < 256; k++) codes[k] += w->codes[k];
    hist_merge(h, &w->hist);
    /* Measured time: from the end of warmup until sending stopped, or until the last
     * counted answer if the drain ran later (lost requests do not extend it). */
    uint64_t end = w->t_stop > w->t_last_resp ? w->t_stop : w->t_last_resp;
    double s = end > w->t_window ? (double)(end - w->t_window) / 1e9 : 0;
    if (s > seconds) seconds = s;
  }
  printf("{\"requests\":%" PRIu64 ",\"responses\":%" PRIu64 ",\"lost\":%" PRIu64
         ",\"seconds\":%.3f,\"rps\":%.0f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f"
         ",\"max_us\":%.1f,\"codes\":{",
         requests, responses, lost, seconds, seconds > 0 ? (double)responses / seconds : 0.0,
         (double)hist_quantile(h, 0.50) / 1e3, (double)hist_quantile(h, 0.90) / 1e3,
         (double)hist_quantile(h, 0.99) / 1e3, (double)h->max / 1e3);
  const char *sep = "";
  for (unsigned k = 0; k < 256; k++) {
    if (!codes[k]) continue;
    char key[8];
    print_code_key(key, sizeof key, k);
    printf("%s\"%s\":%" PRIu64, sep, key, codes[k]);
    sep = ",";
  }
  printf("},\"rst\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"send_errors\":%" PRIu64
         ",\"sockets\":%u,\"concurrency\":%u,\"threads\":%u,\"type\":\"%s\",\"method\":\"%s\""
         ",\"target\":\"%s\"}\n",
         rst, stale, send_errors, cfg->sockets, cfg->concurrency, cfg->threads,
         cfg->non ? "NON" : "CON", cfg->method_name, cfg->target_str);
  free(h);
}

static int run_load(const struct config *cfg) {
  uint8_t *tail = malloc(MAX_PATH * 2 + MAX_PAYLOAD + 16);
  if (!tail) die("malloc");
  size_t tail_len = encode_tail(cfg, tail);

  struct worker *ws = calloc(cfg->threads, sizeof *ws);
  if (!ws) die("calloc");
  pthread_barrier_init(&g_start_barrier, NULL, cfg->threads);
  unsigned first = 0;
  for (unsigned t = 0; t < cfg->threads; t++) {
    struct worker *w = &ws[t];
    unsigned n = cfg->sockets / cfg->threads + (t < cfg->sockets % cfg->threads);
    *w = (struct worker){.cfg = cfg, .tail = tail, .tail_len = tail_len};
    w->quota = cfg->requests ? cfg->requests / cfg->threads + (t < cfg->requests % cfg->threads)
                             : UINT64_MAX;
    worker_init(w, first, n);
    first += n;
  }
  for (unsigned t = 1; t < cfg->threads; t++)
    if (pthread_create(&ws[t].thread, NULL, worker_run, &ws[t]) != 0) die("pthread_create");
  worker_run(&ws[0]); /* the main thread is worker 0 */
  for (unsigned t = 1; t < cfg->threads; t++) pthread_join(ws[t].thread, NULL);
  print_report(cfg, ws);
  return 0;
}

/* ------------------------------------------------------------------------------------------
 * Responder: the cheapest possible CoAP server, used to find the load generator's own limit.
 * Blocking recvmmsg with MSG_WAITFORONE returns as soon as one datagram is there but takes
 * everything else already queued, so batches grow with load without adding latency.
 */
static const char RESPONDER_PAYLOAD[] = "hello";
static atomic_uint_fast64_t g_answered;

enum { OUT_MAX = 4 + 8 + 1 + sizeof RESPONDER_PAYLOAD - 1 };

struct responder {
  const struct config *cfg;
  int fd;
  struct mmsghdr in[RECV_BATCH], out[RECV_BATCH];
  struct iovec iin[RECV_BATCH], iout[RECV_BATCH];
  struct sockaddr_storage peers[RECV_BATCH];
  uint8_t bin[RECV_BATCH][RECV_BUF], bout[RECV_BATCH][OUT_MAX];
};

/* Builds the answer to one request in out; returns its length or 0 for no answer. */
static size_t respond(const uint8_t *m, size_t len, uint8_t *out, uint16_t *next_mid) {
  if (len < 4 || (m[0] >> 6) != 1) return 0;
  unsigned type = (m[0] >> 4) & 3, tkl = m[0] & 15;
  uint8_t code = m[1];
  if (tkl > 8 || len < 4 + tkl || type == T_ACK || type == T_RST) return 0;
  if (code == C_EMPTY) {
    if (type != T_CON) return 0;
    /* CoAP ping: answered with RST (RFC 7252 §4.3). */
    out[0] = (uint8_t)(1u << 6 | T_RST << 4);
    out[1] = C_EMPTY;
    out[2] = m[2];
    out[3] = m[3];
    return 4;
  }
  if (code >= CODE(1, 0)) return 0; /* not a request */
  uint8_t rcode;
  switch (code) {
  case C_GET: rcode = CODE(2, 5); break;
  case C_POST: rcode = CODE(2, 1); break;
  case C_PUT: rcode = CODE(2, 4); break;
  case C_DELETE: rcode = CODE(2, 2); break;
  default: rcode = CODE(4, 5); break;
  }
  /* CON gets a piggybacked ACK with the request's MID; NON gets a NON with a fresh one. */
  uint16_t mid = type == T_CON ? (uint16_t)(m[2] << 8 | m[3]) : (*next_mid)++;
  out[0] = (uint8_t)(1u << 6 | (type == T_CON ? T_ACK : T_NON) << 4 | tkl);
  out[1] = rcode;
  out[2] = (uint8_t)(mid >> 8);
  out[3] = (uint8_t)mid;
  memcpy(out + 4, m + 4, tkl);
  size_t n = 4 + tkl;
  if (rcode == CODE(2, 5)) {
    out[n++] = PAYLOAD_MARKER;
    memcpy(out + n, RESPONDER_PAYLOAD, sizeof RESPONDER_PAYLOAD - 1);
    n += sizeof RESPONDER_PAYLOAD - 1;
  }
  return n;
}

static void *responder_run(void *arg) {
  struct responder *r = arg;
  uint16_t next_mid = (uint16_t)getpid();
  for (unsigned k = 0; k < RECV_BATCH; k++) {
    r->iin[k] = (struct iovec){.iov_base = r->bin[k], .iov_len = RECV_BUF};
    r->in[k].msg_hdr = (struct msghdr){.msg_name = &r->peers[k], .msg_namelen = sizeof r->peers[k],
                                       .msg_iov = &r->iin[k], .msg_iovlen = 1};
  }
  for (;;) {
    int n = recvmmsg(r->fd, r->in, r->cfg->responder_batch, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvmmsg");
    }
    unsigned m = 0;
    for (int k = 0; k < n; k++) {
      size_t len = respond(r->bin[k], r->in[k].msg_len, r->bout[m], &next_mid);
      if (!len) continue;
      r->iout[m] = (struct iovec){.iov_base = r->bout[m], .iov_len = len};
      r->out[m].msg_hdr = (struct msghdr){.msg_name = &r->peers[k],
                                          .msg_namelen = r->in[k].msg_hdr.msg_namelen,
                                          .msg_iov = &r->iout[m], .msg_iovlen = 1};
      m++;
    }
    for (unsigned done = 0; done < m;) {
      int s = sendmmsg(r->fd, r->out + done, m - done, 0);
      if (s > 0) done += (unsigned)s;
      else if (s < 0 && errno == EINTR) continue;
      else break; /* e.g. the client went away (ICMP); drop the rest of this batch */
    }
    /* recvmmsg overwrote the address lengths it used. */
    for (int k = 0; k < n; k++) r->in[k].msg_hdr.msg_namelen = sizeof r->peers[k];
    atomic_fetch_add_explicit(&g_answered, m, memory_order_relaxed);
  }
  return NULL;
}

static int run_responder(const struct config *cfg) {
  /* Signals are taken by sigwait in the main thread; the workers never see them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  struct responder *rs = calloc(cfg->threads, sizeof *rs);
  if (!rs) die("calloc");
  for (unsigned t = 0; t < cfg->threads; t++) {
    int fd = socket(cfg->bind_addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    int one = 1;
    /* Several threads share the port only when asked; otherwise a second responder on the
     * same port fails loudly instead of silently splitting the traffic. */
    if (cfg->threads > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
      die("SO_REUSEPORT");
    /* Room for every outstanding request of a large run; FORCE works as root, the plain
     * option (capped by rmem_max) otherwise. */
    int bytes = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (bind(fd, (const struct sockaddr *)&cfg->bind_addr, cfg->bind_len) < 0) die("bind");
    rs[t].cfg = cfg;
    rs[t].fd = fd;
  }
  for (unsigned t = 0; t < cfg->threads; t++) {
    pthread_t th;
    if (pthread_create(&th, NULL, responder_run, &rs[t]) != 0) die("pthread_create");
    pthread_detach(th);
  }
  printf("ready %d\n", cfg->responder_port);
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  fprintf(stderr, "coap-loadgen: responder answered %" PRIu64 " requests\n",
          (uint64_t)atomic_load(&g_answered));
  /* The workers are blocked in recvmmsg; exiting the process ends them. */
  return 0;
}

int main(int argc, char **argv) {
  struct config cfg;
  parse_args(argc, argv, &cfg);
  if (cfg.responder_port) return run_responder(&cfg);

  /* No SA_RESTART: a signal also cuts epoll_wait short so the run ends promptly. */
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  return run_load(&cfg);
}
