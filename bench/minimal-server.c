/*
 * coap-minimal-server: the smallest libcoap UDP server that runs the event loop the addon
 * uses (DESIGN.md §5), as the C baseline for the server benchmarks. One resource: GET /x
 * answers 2.05 "hello".
 *
 * The loop waits on libcoap's own epoll fd and hands the ready events to coap_io_do_epoll
 * instead of calling coap_io_process. coap_io_process reads at most one datagram per socket
 * and walks every session twice per call; offering each readable socket R times in one
 * coap_io_do_epoll call drains a busy socket per session walk (surplus offers just hit
 * EAGAIN). libcoap's timers (retransmissions, session expiry) live on a timerfd inside the
 * same epoll set and arrive as events with a NULL data pointer, so blocking in epoll_wait
 * cannot starve them. (coap_io_process additionally expires coap_cache entries after the
 * batch; this server keeps none. Async and observe work runs in the prepare step that
 * coap_io_do_epoll ends with.)
 *
 * usage: coap-minimal-server [--host ADDR] [--port PORT]
 * Prints "ready <port>" once listening; exits cleanly on SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <coap3/coap.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

enum {
  EPOLL_BATCH = 64, /* events per epoll_wait */
  REPEAT = 8,       /* offers of each readable socket per coap_io_do_epoll call */
};

static const char PAYLOAD[] = "hello";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void hnd_get_x(coap_resource_t *resource, coap_session_t *session,
                      const coap_pdu_t *request, const coap_string_t *query,
                      coap_pdu_t *response) {
  (void)resource;
  (void)session;
  (void)request;
  (void)query;
  coap_pdu_set_code(response, COAP_RESPONSE_CODE_CONTENT);
  coap_add_data(response, sizeof PAYLOAD - 1, (const uint8_t *)PAYLOAD);
}

static int parse_listen_address(const char *host, unsigned port, coap_address_t *addr) {
  coap_address_init(addr);
  if (inet_pton(AF_INET, host, &addr->addr.sin.sin_addr) == 1) {
    addr->addr.sin.sin_family = AF_INET;
    addr->addr.sin.sin_port = htons((uint16_t)port);
    addr->size = sizeof addr->addr.sin;
    return 1;
  }
  if (inet_pton(AF_INET6, host, &addr->addr.sin6.sin6_addr) == 1) {
    addr->addr.sin6.sin6_family = AF_INET6;
    addr->addr.sin6.sin6_port = htons((uint16_t)port);
    addr->size = sizeof addr->addr.sin6;
    return 1;
  }
  return 0;
}

/* The bound port, for --port 0. libcoap has no public getter for an endpoint's address, but
 * coap_endpoint_str prints it as "ADDR:PORT UDP" (ADDR bracketed for IPv6). */
static unsigned bound_port(const coap_endpoint_t *ep, unsigned fallback) {
  const char *s = coap_endpoint_str(ep);
  const char *space = strchr(s, ' ');
  const char *colon = NULL;
  for (const char *p = s; *p && p != space; p++)
    if (*p == ':') colon = p;
  return colon ? (unsigned)strtoul(colon + 1, NULL, 10) : fallback;
}

static void usage(FILE *out) {
  fputs("usage: coap-minimal-server [--host ADDR] [--port PORT]\n"
        "  --host ADDR   numeric IPv4/IPv6 address to listen on (default 127.0.0.1)\n"
        "  --port PORT   UDP port (default 5683; 0 picks one, printed in \"ready <port>\")\n",
        out);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"host", required_argument, 0, 'H'},
                                       {"port", required_argument, 0, 'p'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *host = "127.0.0.1";
  unsigned long port = 5683;
  int c;
  while ((c = getopt_long(argc, argv, "H:p:h", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'H': host = optarg; break;
    case 'p':
      port = strtoul(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || port > 65535) {
        fprintf(stderr, "coap-minimal-server: --port wants 0..65535, not '%s'\n", optarg);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  coap_address_t addr;
  if (!parse_listen_address(host, (unsigned)port, &addr)) {
    fprintf(stderr, "coap-minimal-server: --host wants a numeric IPv4 or IPv6 address, not '%s'\n",
            host);
    return 2;
  }

  coap_startup();
  coap_set_log_level(COAP_LOG_WARN);
  coap_context_t *ctx = coap_new_context(NULL);
  if (!ctx) {
    fprintf(stderr, "coap-minimal-server: cannot create a libcoap context\n");
    return 1;
  }
  coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_endpoint_t *ep = coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP);
  if (!ep) {
    fprintf(stderr, "coap-minimal-server: cannot listen on %s port %lu (in use?)\n", host, port);
    coap_free_context(ctx);
    return 1;
  }
  coap_resource_t *res = coap_resource_init(coap_make_str_const("x"), 0);
  coap_register_request_handler(res, COAP_REQUEST_GET, hnd_get_x);
  coap_add_resource(ctx, res);

  int epfd = coap_context_get_coap_fd(ctx);
  if (epfd < 0) {
    fprintf(stderr, "coap-minimal-server: libcoap was built without epoll support\n");
    coap_free_context(ctx);
    return 1;
  }

  /* SIGINT/SIGTERM stay blocked except inside epoll_pwait, which unblocks them atomically:
   * a signal can then only land while we wait, so a blocking wait never misses a stop. */
  sigset_t stop_signals, wait_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
  sigdelset(&wait_mask, SIGINT);
  sigdelset(&wait_mask, SIGTERM);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  printf("ready %u\n", bound_port(ep, (unsigned)port));
  fflush(stdout);

  /* Arm libcoap's timerfd for anything already due before the first wait. */
  coap_tick_t now;
  coap_ticks(&now);
  coap_io_prepare_epoll(ctx, now);

  struct epoll_event ready[EPOLL_BATCH];
  struct epoll_event batch[EPOLL_BATCH * REPEAT];
  while (!g_stop) {
    int n = epoll_pwait(epfd, ready, EPOLL_BATCH, -1, &wait_mask);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("coap-minimal-server: epoll_wait");
      break;
    }
    /* Socket events carry their coap_socket_t; the timerfd's event carries NULL and is
     * passed once (coap_io_do_epoll reads the timerfd for it). Only plain EPOLLIN is
     * repeated: error or write events are handled once, as libcoap expects. */
    size_t m = 0;
    for (int i = 0; i < n; i++) {
      int reps = (ready[i].data.ptr != NULL && ready[i].events == EPOLLIN) ? REPEAT : 1;
      for (int r = 0; r < reps; r++) batch[m++] = ready[i];
    }
    /* Runs the handlers, sends the responses, then re-arms the timerfd for the next timer. */
    coap_io_do_epoll(ctx, batch, m);
  }

  coap_free_context(ctx);
  coap_cleanup();
  return 0;
}
