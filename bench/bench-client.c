/*
 * coap-bench-client: a libcoap 4.3.5 client that keeps a fixed number of GET requests in
 * flight against one server (a closed loop) over UDP, DTLS (PSK), TCP or TLS (PSK), and
 * prints one JSON line. It measures what a libcoap-based client can drive, and gives the
 * servers under test a secure/reliable-transport load that coap-loadgen (UDP only) cannot.
 *
 * Each session owns a fixed array of "slots", one per request it keeps in flight. A token is
 * (per-session sequence number << 16 | slot index): unique within the session, and the slot
 * is found from the token without a lookup table. A slot remembers its token, so a late
 * answer to a request that was already given up on is recognised as stale.
 *
 * Handlers never send. An answered or failed slot goes on its session's pending stack, and
 * the next request goes out right after the libcoap batch that delivered the answer. Sending
 * from the response handler would livelock TCP/TLS: libcoap's stream read repeats while its
 * 1472-byte buffer comes back full, and a server answering the requests we keep sending
 * keeps it full, so coap_io_do_epoll would not return until the run was over. In the NACK
 * handler it is unsafe besides (libcoap is walking the queues a send would append to).
 *
 * usage: see usage() below or bench/TOOLS.md.
 */
#define _GNU_SOURCE
#include <coap3/coap.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

enum { PHASE_PRIME, PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN };
enum { SLOT_IDLE, SLOT_INFLIGHT, SLOT_PENDING };
enum {
  EPOLL_BATCH = 64,
  REPEAT = 16,            /* max offers of a readable socket per coap_io_do_epoll call */
  HIST_SUB = 64,          /* linear sub-buckets per power of two: <= 1.6 % error */
  HIST_BUCKETS = 59 * 64, /* enough for any uint64_t nanosecond value */
  MAX_SLOTS = 65535,      /* slot index has 16 bits in the token; NSTART is a uint16_t */
};
static const uint64_t NS = 1000000000ull;
static const uint64_t PRIME_LIMIT_NS = 10000000000ull; /* handshake / CSM / first answer */
static const uint64_t DRAIN_LIMIT_NS = 2000000000ull;  /* wait for answers after the run */

typedef struct {
  uint64_t token, sent_ns;
  uint8_t state, measured; /* measured: sent inside the measured window */
} slot_t;

typedef struct {
  coap_session_t *cs;
  slot_t *slots;
  unsigned *pending; /* stack of slot indices in SLOT_PENDING: to (re)send after the batch */
  unsigned nslots, npending, index;
  uint64_t seq;
  int dead, primed;
} bsess_t;

static struct {
  int phase, closing, reps;
  uint64_t requests, responses, failed, stale, send_errors, outstanding;
  unsigned dead;
  coap_optlist_t *optlist;
  uint64_t hist[HIST_BUCKETS];
} g;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Log-linear histogram: exact below 64 ns, then 64 linear steps per power of two. */
static void hist_add(uint64_t ns) {
  unsigned i = (unsigned)ns;
  if (ns >= HIST_SUB) {
    unsigned msb = 63 - (unsigned)__builtin_clzll(ns);
    i = (msb - 5) * HIST_SUB + (unsigned)((ns >> (msb - 6)) & (HIST_SUB - 1));
  }
  g.hist[i]++;
}

static double hist_percentile_us(double p) {
  uint64_t n = 0, seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) n += g.hist[i];
  if (n == 0) return 0;
  uint64_t rank = (uint64_t)ceil(p * (double)n);
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    if ((seen += g.hist[i]) < rank || g.hist[i] == 0) continue;
    if (i < HIST_SUB) return i / 1000.0;
    unsigned msb = i / HIST_SUB + 5, step = msb - 6;
    uint64_t lo = (uint64_t)(HIST_SUB + i % HIST_SUB) << step;
    return (lo + ((1ull << step) >> 1)) / 1000.0; /* middle of the bucket */
  }
  return 0;
}

/* A request stops being in flight: count it if it was sent in the measured window. */
static void settle(slot_t *sl, int ok, uint64_t now) {
  if (sl->measured) {
    g.outstanding--;
    if (ok) {
      g.responses++;
      hist_add(now - sl->sent_ns);
    } else {
      g.failed++;
    }
  }
  sl->state = SLOT_IDLE;
}

static void defer_send(bsess_t *bs, slot_t *sl) {
  sl->state = SLOT_PENDING;
  bs->pending[bs->npending++] = (unsigned)(sl - bs->slots);
}

static void send_slot(bsess_t *bs, slot_t *sl) {
  uint64_t v = (++bs->seq << 16) | (uint64_t)(sl - bs->slots);
  uint8_t tok[8];
  for (int i = 0; i < 8; i++) tok[i] = (uint8_t)(v >> (56 - 8 * i));
  coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, bs->cs);
  if (!pdu || !coap_add_token(pdu, sizeof tok, tok) ||
      (g.optlist && !coap_add_optlist_pdu(pdu, &g.optlist))) {
    coap_delete_pdu(pdu);
    g.send_errors++;
    defer_send(bs, sl);
    return;
  }
  sl->token = v;
  sl->state = SLOT_INFLIGHT;
  sl->measured = g.phase == PHASE_MEASURE;
  if (sl->measured) {
    g.requests++;
    g.outstanding++;
  }
  sl->sent_ns = now_ns();
  /* coap_send can fail a session synchronously; then the handlers may have settled the slot
   * already, hence the check that it still holds this request. */
  if (coap_send(bs->cs, pdu) == COAP_INVALID_MID && sl->state == SLOT_INFLIGHT &&
      sl->token == v) {
    g.send_errors++;
    settle(sl, 0, 0);
    defer_send(bs, sl);
  }
}

/* The slot whose current request carries this token, or NULL (stale or foreign). */
static slot_t *find_slot(bsess_t *bs, coap_bin_const_t tok) {
  if (tok.length != 8) return NULL;
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | tok.s[i];
  unsigned idx = (unsigned)(v & 0xffff);
  if (idx >= bs->nslots) return NULL;
  slot_t *sl = &bs->slots[idx];
  return sl->state == SLOT_INFLIGHT && sl->token == v ? sl : NULL;
}

static coap_response_t on_response(coap_session_t *cs, const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd, const coap_mid_t mid) {
  (void)sent;
  (void)mid;
  bsess_t *bs = coap_session_get_app_data(cs);
  if (!bs || g.closing) return COAP_RESPONSE_OK;
  slot_t *sl = find_slot(bs, coap_pdu_get_token(rcvd));
  if (!sl) {
    g.stale++;
    return COAP_RESPONSE_OK;
  }
  settle(sl, COAP_RESPONSE_CLASS(coap_pdu_get_code(rcvd)) == 2, now_ns());
  if (g.phase == PHASE_PRIME)
    bs->primed = 1;
  else if (g.phase != PHASE_DRAIN)
    defer_send(bs, sl);
  return COAP_RESPONSE_OK;
}

/* Failed (timeout, RST, ...): counted, and replaced after the batch. On a disconnect libcoap
 * pops the delay queue in a loop around this call, so a request queued from here would be
 * failed again at once. */
static void on_nack(coap_session_t *cs, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid) {
  (void)reason;
  (void)mid;
  bsess_t *bs = coap_session_get_app_data(cs);
  if (!bs || !sent || g.closing) return;
  slot_t *sl = find_slot(bs, coap_pdu_get_token(sent));
  if (!sl) return;
  settle(sl, 0, 0);
  defer_send(bs, sl);
}

/* libcoap reports a dropped connection with one NACK at most, not one per request, so a
 * closed or failed session settles all its requests here and is not used again. */
static int on_event(coap_session_t *cs, const coap_event_t ev) {
  bsess_t *bs = coap_session_get_app_data(cs);
  if (!bs || g.closing || bs->dead) return 0;
  switch (ev) {
  case COAP_EVENT_DTLS_CLOSED:
  case COAP_EVENT_DTLS_ERROR:
  case COAP_EVENT_TCP_CLOSED:
  case COAP_EVENT_TCP_FAILED:
  case COAP_EVENT_SESSION_CLOSED:
  case COAP_EVENT_SESSION_FAILED:
  case COAP_EVENT_KEEPALIVE_FAILURE:
    fprintf(stderr, "coap-bench-client: session %u closed or failed (event 0x%04x)\n",
            bs->index, (unsigned)ev);
    bs->dead = 1;
    g.dead++;
    for (unsigned i = 0; i < bs->nslots; i++)
      if (bs->slots[i].state == SLOT_INFLIGHT) settle(&bs->slots[i], 0, 0);
      else bs->slots[i].state = SLOT_IDLE;
    bs->npending = 0;
    break;
  default: break;
  }
  return 0;
}

/* Runs after every libcoap batch. A send that fails at once re-queues its slot, so each
 * pass takes only what was pending when it started: a failing send is retried once per loop
 * round, not in a tight loop. */
static void send_pending(bsess_t *ss, unsigned k) {
  for (unsigned s = 0; s < k; s++) {
    bsess_t *bs = &ss[s];
    unsigned n = bs->npending;
    bs->npending = 0;
    /* A failing send_slot pushes its slot again, at most one push per entry taken so far:
     * the pushes land only on entries this loop has already read. */
    for (unsigned i = 0; i < n; i++) {
      slot_t *sl = &bs->slots[bs->pending[i]];
      sl->state = SLOT_IDLE;
      if (g.phase != PHASE_DRAIN && !bs->dead) send_slot(bs, sl);
    }
  }
}

/* One wait + dispatch round, at most timeout_ms long. use_epoll: block on libcoap's epoll fd
 * ourselves and offer each readable socket g.reps times, so one libcoap session walk drains
 * several answers (as in minimal-server.c); else coap_io_process (one read per socket per
 * round). g.reps is at most a session's share of C: more answers than requests in flight
 * cannot be waiting, and surplus offers only cost a recv() that fails with EAGAIN. */
static int run_once(coap_context_t *ctx, int use_epoll, int epfd, int timeout_ms) {
  if (!use_epoll) /* 0 would mean "wait forever" to coap_io_process */
    return coap_io_process(ctx, (uint32_t)(timeout_ms > 0 ? timeout_ms : 1)) < 0 ? -1 : 0;
  struct epoll_event ready[EPOLL_BATCH], batch[EPOLL_BATCH * REPEAT];
  int n = epoll_wait(epfd, ready, EPOLL_BATCH, timeout_ms);
  if (n < 0 && errno != EINTR) perror("coap-bench-client: epoll_wait");
  if (n < 0) return errno == EINTR ? 0 : -1;
  size_t m = 0;
  for (int i = 0; i < n; i++) {
    /* NULL data = libcoap's timerfd, passed once; only plain EPOLLIN is repeated. */
    int reps = (ready[i].data.ptr != NULL && ready[i].events == EPOLLIN) ? g.reps : 1;
    for (int r = 0; r < reps; r++) batch[m++] = ready[i];
  }
  coap_io_do_epoll(ctx, batch, m); /* with m == 0 it just re-arms libcoap's timer */
  return 0;
}

static int wait_ms(uint64_t now, uint64_t until) {
  uint64_t ms = until > now ? (until - now + 999999) / 1000000 : 0;
  return ms > 100 ? 100 : (int)ms; /* short waits: signals and phase changes seen quickly */
}

static void usage(FILE *out) {
  fputs("usage: coap-bench-client --uri URI [options]\n"
        "  --uri URI             coap://, coaps://, coap+tcp:// or coaps+tcp://HOST:PORT/PATH\n"
        "  --concurrency C       requests in flight in total (default 64)\n"
        "  --sessions K          client sessions, C spread over them (default 1)\n"
        "  --duration SEC        measured time (default 5)\n"
        "  --warmup SEC          unmeasured time before it (default 1)\n"
        "  --psk-identity ID     (D)TLS PSK identity (default bench)\n"
        "  --psk-key KEY         (D)TLS PSK key (default bench-key)\n"
        "  --nstart N            NSTART per session (default: that session's share of C)\n"
        "  --loop epoll|process  event loop (default epoll)\n",
        out);
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  if (*s && !*end && !errno && *out >= lo && *out <= hi) return 1;
  fprintf(stderr, "coap-bench-client: %s wants a number in %g..%g, not '%s'\n", opt, lo, hi, s);
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"uri", required_argument, 0, 'u'},          {"concurrency", required_argument, 0, 'c'},
      {"sessions", required_argument, 0, 's'},     {"duration", required_argument, 0, 'd'},
      {"warmup", required_argument, 0, 'w'},       {"psk-identity", required_argument, 0, 'i'},
      {"psk-key", required_argument, 0, 'k'},      {"nstart", required_argument, 0, 'n'},
      {"loop", required_argument, 0, 'l'},         {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *uri_str = NULL, *identity = "bench", *key = "bench-key";
  double conc = 64, nsess = 1, duration = 5, warmup = 1, nstart = 0;
  int use_epoll = 1, c, ok = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'u': uri_str = optarg; break;
    case 'c': ok = parse_num("--concurrency", optarg, 1, 1e6, &conc); break;
    case 's': ok = parse_num("--sessions", optarg, 1, 1e5, &nsess); break;
    case 'd': ok = parse_num("--duration", optarg, 0.001, 1e6, &duration); break;
    case 'w': ok = parse_num("--warmup", optarg, 0, 1e6, &warmup); break;
    case 'i': identity = optarg; break;
    case 'k': key = optarg; break;
    case 'n': ok = parse_num("--nstart", optarg, 1, MAX_SLOTS, &nstart); break;
    case 'l':
      use_epoll = !strcmp(optarg, "epoll");
      ok = use_epoll || !strcmp(optarg, "process");
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
    if (!ok) return 2;
  }
  unsigned k = (unsigned)nsess, total = (unsigned)conc;
  if (!uri_str || optind < argc) {
    usage(stderr);
    return 2;
  }
  if (total < k || (total + k - 1) / k > MAX_SLOTS) {
    fprintf(stderr, "coap-bench-client: need sessions <= concurrency <= %u per session\n",
            (unsigned)MAX_SLOTS);
    return 2;
  }

  coap_startup();
  coap_set_log_level(COAP_LOG_WARN);
  coap_dtls_set_log_level(COAP_LOG_WARN);
  int rc = 1;
  coap_context_t *ctx = NULL;
  coap_addr_info_t *ai = NULL;
  bsess_t *ss = calloc(k, sizeof *ss);
  coap_uri_t uri;
  static const char *const names[] = {"udp", "dtls", "tcp", "tls"};
  static const coap_proto_t protos[] = {COAP_PROTO_UDP, COAP_PROTO_DTLS, COAP_PROTO_TCP,
                                        COAP_PROTO_TLS};
  if (!ss) goto out;
  if (coap_split_uri((const uint8_t *)uri_str, strlen(uri_str), &uri) < 0 ||
      uri.scheme > COAP_URI_SCHEME_COAPS_TCP) {
    fprintf(stderr, "coap-bench-client: cannot use URI '%s'\n", uri_str);
    goto out;
  }
  coap_proto_t proto = protos[uri.scheme];
  g.reps = (total + k - 1) / k < REPEAT ? (int)((total + k - 1) / k) : REPEAT;
  int secure = proto == COAP_PROTO_DTLS || proto == COAP_PROTO_TLS;
  ai = coap_resolve_address_info(&uri.host, uri.port, uri.port, uri.port, uri.port, 0,
                                 1 << uri.scheme, COAP_RESOLVE_TYPE_REMOTE);
  if (!ai) {
    fprintf(stderr, "coap-bench-client: cannot resolve '%.*s'\n", (int)uri.host.length,
            (const char *)uri.host.s);
    goto out;
  }
  /* Uri-Path / Uri-Query only: no Uri-Host/Uri-Port, the server is addressed directly. */
  if (!coap_uri_into_optlist(&uri, NULL, &g.optlist, 0)) goto out;

  ctx = coap_new_context(NULL);
  if (!ctx) goto out;
  coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(ctx, on_response);
  coap_register_nack_handler(ctx, on_nack);
  coap_register_event_handler(ctx, on_event);
  int epfd = coap_context_get_coap_fd(ctx);
  if (use_epoll && epfd < 0) {
    fprintf(stderr, "coap-bench-client: libcoap was built without epoll; use --loop process\n");
    goto out;
  }

  coap_dtls_cpsk_t psk = {.version = COAP_DTLS_CPSK_SETUP_VERSION,
                          .psk_info = {{strlen(identity), (const uint8_t *)identity},
                                       {strlen(key), (const uint8_t *)key}}};
  for (unsigned s = 0; s < k; s++) {
    bsess_t *bs = &ss[s];
    bs->index = s;
    bs->nslots = total / k + (s < total % k);
    bs->slots = calloc(bs->nslots, sizeof *bs->slots);
    bs->pending = calloc(bs->nslots, sizeof *bs->pending);
    bs->cs = secure ? coap_new_client_session_psk2(ctx, NULL, &ai->addr, proto, &psk)
                    : coap_new_client_session(ctx, NULL, &ai->addr, proto);
    if (!bs->slots || !bs->pending || !bs->cs) {
      fprintf(stderr, "coap-bench-client: cannot create session %u\n", s);
      goto out;
    }
    coap_session_set_app_data(bs->cs, bs);
    /* libcoap's NSTART defaults to 1: every further CON would wait in the delay queue. */
    coap_session_set_nstart(bs->cs, (uint16_t)(nstart > 0 ? nstart : bs->nslots));
  }

  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  /* Prime: one request per session, queued by libcoap until the handshake / CSM is done;
   * the clock starts only when every session has answered. */
  uint64_t now = now_ns(), limit = now + PRIME_LIMIT_NS;
  unsigned primed = 0;
  g.phase = PHASE_PRIME;
  for (unsigned s = 0; s < k; s++) send_slot(&ss[s], &ss[s].slots[0]);
  if (use_epoll) { /* arm libcoap's timerfd (handshake retransmissions) before waiting */
    coap_tick_t t;
    coap_ticks(&t);
    coap_io_prepare_epoll(ctx, t);
  }
  while (primed < k && !g_stop && !g.dead && now < limit) {
    if (run_once(ctx, use_epoll, epfd, wait_ms(now, limit)) < 0) goto out;
    send_pending(ss, k);
    primed = 0;
    for (unsigned s = 0; s < k; s++) primed += (unsigned)ss[s].primed;
    now = now_ns();
  }
  if (primed < k) {
    fprintf(stderr, "coap-bench-client: %u of %u sessions never answered (handshake/CSM)%s\n",
            k - primed, k, g_stop ? ", interrupted" : now >= limit ? " within 10 s" : "");
    goto out;
  }

  /* Warmup, then the measured window, then a bounded drain of the measured requests. With
   * --warmup 0 the first C requests (sent before the window opens) go uncounted. */
  g.phase = PHASE_WARMUP;
  uint64_t t_start = now_ns(), t_stop = 0, deadline = t_start + (uint64_t)(warmup * 1e9);
  for (unsigned s = 0; s < k; s++)
    for (unsigned i = 0; i < ss[s].nslots; i++) send_slot(&ss[s], &ss[s].slots[i]);
  while (g.dead < k) {
    now = now_ns();
    if (now >= deadline || (g_stop && g.phase != PHASE_DRAIN)) {
      if (g.phase == PHASE_WARMUP && !g_stop) {
        g.phase = PHASE_MEASURE;
        t_start = now;
        deadline = now + (uint64_t)(duration * 1e9);
      } else if (g.phase == PHASE_MEASURE) {
        g.phase = PHASE_DRAIN;
        t_stop = now;
        deadline = now + DRAIN_LIMIT_NS;
      } else {
        break;
      }
    }
    if (g.phase == PHASE_DRAIN && g.outstanding == 0) break;
    if (run_once(ctx, use_epoll, epfd, wait_ms(now, deadline)) < 0) goto out;
    send_pending(ss, k);
  }
  if (g.phase == PHASE_MEASURE) t_stop = now_ns(); /* every session died */
  g.failed += g.outstanding; /* never answered: counted as failed */

  /* rps = answers to the requests sent in the window / window: in a closed loop as many
   * answers arrive in the window as requests leave in it. Not stretched to the last answer:
   * libcoap sets no TCP_NODELAY, and when the load stops the last TCP/TLS answers wait ~40 ms
   * for a delayed ACK. */
  double secs = t_stop ? (double)(t_stop - t_start) / 1e9 : 0;
  printf("{\"requests\":%llu,\"responses\":%llu,\"failed\":%llu,\"seconds\":%.3f,\"rps\":%.0f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"sessions\":%u,\"concurrency\":%u,\"proto\":\"%s\","
         "\"loop\":\"%s\"}\n",
         (unsigned long long)g.requests, (unsigned long long)g.responses,
         (unsigned long long)g.failed, secs, secs > 0 ? (double)g.responses / secs : 0.0,
         hist_percentile_us(0.50), hist_percentile_us(0.99), k, total, names[uri.scheme],
         use_epoll ? "epoll" : "process");
  if (g.stale || g.send_errors || g.dead)
    fprintf(stderr, "coap-bench-client: %llu stale answers, %llu send errors, %u dead sessions\n",
            (unsigned long long)g.stale, (unsigned long long)g.send_errors, g.dead);
  rc = g.dead == k ? 1 : 0;

out:
  /* Handlers may still fire while libcoap tears sessions down: make them no-ops first. Slot
   * arrays are freed only after the context, which may still hold queued requests. */
  g.closing = 1;
  for (unsigned s = 0; ss && s < k; s++)
    if (ss[s].cs) coap_session_release(ss[s].cs);
  if (ctx) coap_free_context(ctx);
  for (unsigned s = 0; ss && s < k; s++) {
    free(ss[s].slots);
    free(ss[s].pending);
  }
  free(ss);
  coap_delete_optlist(g.optlist);
  coap_free_address_info(ai);
  coap_cleanup();
  return rc;
}
