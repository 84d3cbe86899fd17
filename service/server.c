/*
 * server.c - the HTTP layer of one worker, on libmicrohttpd.
 *
 * The daemon runs in external epoll mode: its epoll fd is one watcher on
 * the worker loop, MHD's own timeout becomes one loop timer, and MHD_run()
 * is called when either fires (or when a resumed request needs serving).
 *
 * A request goes through the access handler in three steps, as MHD calls it:
 *   1. first call: allocate struct http_req, take the request id, match the
 *      route, check auth and Content-Length. Nothing is queued yet: a
 *      response queued on the first call makes MHD close the connection.
 *   2. upload calls: append body bytes, refusing past --max-body (413).
 *   3. final call: check the client's rate limit (429; not on ops routes)
 *      and the worker's load (503), then run the handler. If it answered,
 *      queue the answer now; otherwise suspend the connection and arm the
 *      request's deadline. A request still suspended after
 *      HANGUP_WATCH_AFTER_MS gets a watch on its client's socket, so that
 *      a client that leaves cancels the work (one sweep timer per server
 *      adds them; most requests are answered before and cost no epoll_ctl).
 *      The handler's later answer resumes the connection, MHD calls us
 *      again and we queue the answer then.
 * The completed-notification callback logs, counts and frees the request.
 */
#include "server.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "np.h"
#include "netaddr.h"
#include "problem.h"
#include "ratelimit.h"
#include "routes.h"
#include "worker.h"
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

/* Margin past --max-timeout-ms before the server gives up on a handler. */
#define DEADLINE_MARGIN_MS 5000u
#define REQ_ID_MAX 128
#define MAX_REPLY_HEADERS 8

enum req_state {
	REQ_NEW,        /* receiving the body */
	REQ_RUNNING,    /* handler called, no answer yet (suspended) */
	REQ_ANSWERED,   /* answer ready, to be queued */
	REQ_QUEUED,     /* answer handed to MHD */
};

struct reply_header {
	char *name;
	char *value;
};

struct http_req {
	struct server *srv;
	struct MHD_Connection *conn;
	enum req_state state;
	int suspended;
	int route;              /* index in routes_table, -1 unmatched */
	unsigned early_status;  /* 404/405/401/413 decided on the first call */
	char allow[64];         /* for 405 */
	const char *method;     /* MHD-owned, valid for the request */
	const char *path;
	char id[REQ_ID_MAX + 1];
	const char *peer;       /* the connection's, see on_connection */
	const struct sockaddr *peer_addr; /* the same, or NULL if unknown */
	uint64_t start_us;

	unsigned char *body;
	size_t body_len, body_cap;
	int body_too_large;

	struct loop_timer *deadline;
	uint64_t deadline_us;
	struct loop_watch *hangup;  /* the client's socket, while suspended */
	int conn_fd;                /* that socket, -1 unknown */
	uint64_t suspended_us;      /* when the request was suspended */
	int client_gone;
	http_cancel_cb cancel_cb;
	void *cancel_ud;

	/* the answer */
	unsigned status;
	const char *content_type;   /* static string (see http.h) */
	void *data;
	size_t data_len;
	int data_static;
	struct reply_header headers[MAX_REPLY_HEADERS];
	unsigned nheaders;
	unsigned long long bytes_sent;
};

struct server {
	struct worker *worker;
	struct loop *loop;
	const struct config *cfg;
	struct MHD_Daemon *mhd;
	struct loop_watch *mhd_watch;
	struct loop_timer *mhd_timer;
	struct loop_timer *hangup_sweep; /* adds hang-up watches, see on_hangup_sweep */
	unsigned port;
	unsigned inflight;
	int need_run;           /* a request was resumed: run MHD before sleeping */
	int quiesced;
	uint64_t id_counter;
	uint32_t id_prefix;
	/* Requests waiting on a handler, for cancellation on shutdown. */
	struct http_req **pending;
	size_t npending, pending_cap;
};

/* ---- small helpers ---- */

static void run_mhd(struct server *s)
{
	s->need_run = 0;
	MHD_run(s->mhd);
}

static void on_mhd_fd(int fd, unsigned events, void *ud)
{
	(void)fd;
	(void)events;
	run_mhd(ud);
}

static void on_mhd_timer(void *ud)
{
	run_mhd(ud);
}

/* Before each wait: serve resumed requests, and arm MHD's own timeout. */
static void before_sleep(struct loop *l, void *ud)
{
	struct server *s = ud;
	MHD_UNSIGNED_LONG_LONG timeout;

	(void)l;
	if (s->need_run)
		run_mhd(s);
	log_flush();
	if (MHD_get_timeout(s->mhd, &timeout) == MHD_YES)
		loop_timer_arm(s->mhd_timer, timeout);
	else
		loop_timer_disarm(s->mhd_timer);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	LOG(LOG_DEBUG, "libmicrohttpd: %s", msg);
}

static int pending_add(struct server *s, struct http_req *r)
{
	struct http_req **p = np_grow(s->pending, &s->pending_cap, s->npending + 1, sizeof(*p),
				      64, 0);

	if (p == NULL)
		return NP_ENOMEM;
	s->pending = p;
	s->pending[s->npending++] = r;
	return NP_OK;
}

static void pending_remove(struct server *s, struct http_req *r)
{
	for (size_t i = 0; i < s->npending; i++) {
		if (s->pending[i] == r) {
			s->pending[i] = s->pending[--s->npending];
			return;
		}
	}
}

static void make_request_id(struct server *s, struct http_req *r)
{
	const char *given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Request-Id");

	if (given != NULL) {
		size_t n = strlen(given);
		int ok = n > 0 && n <= REQ_ID_MAX;

		for (size_t i = 0; ok && i < n; i++) {
			unsigned char ch = (unsigned char)given[i];

			ok = isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == ':';
		}
		if (ok) {
			memcpy(r->id, given, n + 1);
			return;
		}
	}
	np_request_id(r->id, s->id_prefix, worker_id(s->worker), ++s->id_counter);
}

/*
 * The peer address is the connection's, not the request's: it is formatted
 * once when the connection opens (a keep-alive client sends many requests)
 * and kept as MHD's socket context until the connection closes, with the
 * address itself for the rate limiter.
 */
struct conn_info {
	char peer[INET6_ADDRSTRLEN];
	union np_sockaddr addr;
	int have_addr;
};

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_info *c;

	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*socket_context);
		*socket_context = NULL;
		return;
	}
	c = malloc(sizeof(*c));
	if (c == NULL)
		return; /* the peer is then logged as "-" */
	strcpy(c->peer, "-");
	c->have_addr = 0;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL) {
		if (ci->client_addr->sa_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)ci->client_addr;

			inet_ntop(AF_INET, &in->sin_addr, c->peer, sizeof(c->peer));
			c->addr.in4 = *in;
			c->have_addr = 1;
		} else if (ci->client_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)ci->client_addr;

			inet_ntop(AF_INET6, &in6->sin6_addr, c->peer, sizeof(c->peer));
			c->addr.in6 = *in6;
			c->have_addr = 1;
		}
	}
	*socket_context = c;
}

/* The connection's peer as text ("-" if unknown) and as an address (NULL). */
static void peer_of(struct MHD_Connection *conn, const char **text,
		    const struct sockaddr **addr)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	const struct conn_info *c = ci != NULL ? ci->socket_context : NULL;

	*text = c != NULL ? c->peer : "-";
	*addr = c != NULL && c->have_addr ? &c->addr.sa : NULL;
}

/* Constant-time comparison of a presented token against one allowed token. */
static int token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = (unsigned char)(alen != blen);
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static int authorized(const struct server *s, struct http_req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	const char *list = s->cfg->auth_tokens;
	const char *tok;
	size_t toklen;
	int ok = 0;

	if (list == NULL)
		return 1;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	tok = h + 7;
	toklen = strlen(tok);
	while (*list != '\0') {
		const char *comma = strchr(list, ',');
		size_t n = comma ? (size_t)(comma - list) : strlen(list);

		ok |= token_equal(tok, toklen, list, n);
		list += n;
		if (*list == ',')
			list++;
	}
	return ok;
}

/* Is this Origin allowed by --cors-origin? Returns the value to echo, or NULL. */
static const char *cors_allow(const struct server *s, const char *origin)
{
	const char *list = s->cfg->cors_origin;

	if (list == NULL || origin == NULL)
		return NULL;
	if (strcmp(list, "*") == 0)
		return "*";
	while (*list != '\0') {
		const char *comma = strchr(list, ',');
		size_t n = comma ? (size_t)(comma - list) : strlen(list);

		if (n == strlen(origin) && strncasecmp(list, origin, n) == 0)
			return origin;
		list += n;
		if (*list == ',')
			list++;
	}
	return NULL;
}

/* ---- building answers ---- */

static void reply_reset(struct http_req *r)
{
	if (!r->data_static)
		free(r->data);
	r->data = NULL;
	r->data_len = 0;
	r->data_static = 0;
	r->content_type = NULL;
}

/* Common end of every http_reply_*: mark answered and wake the connection. */
static void answered(struct http_req *r)
{
	if (r->deadline != NULL)
		loop_timer_disarm(r->deadline);
	loop_watch_free(r->hangup);
	r->hangup = NULL;
	if (r->state == REQ_RUNNING)
		pending_remove(r->srv, r);
	r->state = REQ_ANSWERED;
	r->cancel_cb = NULL;
	if (r->suspended) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
		r->srv->need_run = 1;
	}
}

static int can_answer(const struct http_req *r)
{
	/* Answering twice is a programmer error; keep the first answer. */
	if (r->state == REQ_ANSWERED || r->state == REQ_QUEUED) {
		LOG(LOG_ERROR, "%s: second answer for %s ignored", r->id, r->path);
		return 0;
	}
	return 1;
}

void http_reply_header(struct http_req *r, const char *name, const char *value)
{
	struct reply_header *h;

	if (r->nheaders == MAX_REPLY_HEADERS) {
		LOG(LOG_ERROR, "%s: too many reply headers; %s dropped", r->id, name);
		return;
	}
	h = &r->headers[r->nheaders];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return;
	}
	r->nheaders++;
}

static void set_reply(struct http_req *r, unsigned status, const char *ctype, void *data,
		      size_t len, int is_static)
{
	reply_reset(r);
	r->status = status;
	r->content_type = ctype;
	r->data = data;
	r->data_len = len;
	r->data_static = is_static;
	answered(r);
}

void http_reply_bytes(struct http_req *r, unsigned status, const char *content_type,
		      const void *data, size_t len)
{
	void *copy;

	if (!can_answer(r))
		return;
	copy = malloc(len ? len : 1);
	if (copy == NULL) {
		set_reply(r, 500, "text/plain", NULL, 0, 1);
		return;
	}
	if (len)
		memcpy(copy, data, len);
	set_reply(r, status, content_type, copy, len, 0);
}

void http_reply_take(struct http_req *r, unsigned status, const char *content_type, void *data,
		     size_t len)
{
	if (!can_answer(r)) {
		free(data);
		return;
	}
	set_reply(r, status, content_type, data, len, 0);
}

void http_reply_static(struct http_req *r, unsigned status, const char *content_type,
		       const void *data, size_t len)
{
	if (!can_answer(r))
		return;
	set_reply(r, status, content_type, (void *)(uintptr_t)data, len, 1);
}

static void reply_json_ctype(struct http_req *r, unsigned status, json_t *body,
			     const char *ctype)
{
	char *text;

	if (!can_answer(r)) {
		json_decref(body);
		return;
	}
	text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10))
		    : NULL;
	json_decref(body);
	if (text == NULL) {
		set_reply(r, 500, "text/plain", NULL, 0, 1);
		return;
	}
	set_reply(r, status, ctype, text, strlen(text), 0);
}

void http_reply_json_as(struct http_req *r, unsigned status, const char *content_type,
			json_t *body)
{
	reply_json_ctype(r, status, body, content_type);
}

void http_reply_json(struct http_req *r, unsigned status, json_t *body)
{
	reply_json_ctype(r, status, body, "application/json");
}

static void vproblem(struct http_req *r, unsigned status, const char *param, const char *fmt,
		     va_list ap) __attribute__((format(printf, 4, 0)));

static void vproblem(struct http_req *r, unsigned status, const char *param, const char *fmt,
		     va_list ap)
{
	char detail[1024];
	json_t *doc;

	vsnprintf(detail, sizeof(detail), fmt, ap);
	doc = problem_new(status, r->path, param, r->id, detail);
	reply_json_ctype(r, status, doc, "application/problem+json");
}

void http_reply_problem(struct http_req *r, unsigned status, const char *param, const char *fmt,
			...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(r, status, param, fmt, ap);
	va_end(ap);
}

/* ---- what handlers read ---- */

const char *http_req_method(const struct http_req *r)
{
	return r->method;
}

const char *http_req_path(const struct http_req *r)
{
	return r->path;
}

const char *http_req_query(const struct http_req *r, const char *key)
{
	const char *v = NULL;

	if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v,
					  NULL) != MHD_YES)
		return NULL;
	return v != NULL ? v : "";
}

const char *http_req_header(const struct http_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const unsigned char *http_req_body(const struct http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body != NULL ? r->body : (const unsigned char *)"";
}

const char *http_req_id(const struct http_req *r)
{
	return r->id;
}

const char *http_req_peer(const struct http_req *r)
{
	return r->peer;
}

struct worker *http_req_worker(const struct http_req *r)
{
	return r->srv->worker;
}

unsigned http_req_remaining_ms(const struct http_req *r)
{
	uint64_t now = np_now_us();

	if (r->deadline_us <= now)
		return 0;
	return (unsigned)((r->deadline_us - now) / 1000u);
}

void http_req_on_cancel(struct http_req *r, http_cancel_cb cb, void *ud)
{
	r->cancel_cb = cb;
	r->cancel_ud = ud;
}

json_t *http_req_json_body(struct http_req *r)
{
	json_error_t jerr;
	json_t *doc;

	if (r->body_len == 0) {
		http_reply_problem(r, 400, "body", "a JSON object body is required");
		return NULL;
	}
	doc = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		http_reply_problem(r, 400, "body", "invalid JSON at line %d column %d: %s",
				   jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		http_reply_problem(r, 400, "body", "the body must be a JSON object");
		return NULL;
	}
	return doc;
}

int http_query_uint(struct http_req *r, const char *key, unsigned long def, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	const char *v = http_req_query(r, key);
	char *end = NULL;
	unsigned long long n;

	if (v == NULL) {
		*out = def;
		return 0;
	}
	errno = 0;
	if (!isdigit((unsigned char)v[0])) {
		http_reply_problem(r, 400, key, "'%s' is not a non-negative integer", v);
		return -1;
	}
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0') {
		http_reply_problem(r, 400, key, "'%s' is not a non-negative integer", v);
		return -1;
	}
	if (n < min || n > max) {
		http_reply_problem(r, 400, key, "%llu is out of range [%lu, %lu]", n, min, max);
		return -1;
	}
	*out = (unsigned long)n;
	return 0;
}

int http_query_bool(struct http_req *r, const char *key, int def, int *out)
{
	const char *v = http_req_query(r, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (v[0] == '\0') { /* a bare key: ?confirm */
		*out = 1;
		return 0;
	}
	if (np_parse_bool(v, out) == 0)
		return 0;
	http_reply_problem(r, 400, key, "'%s' is not a boolean (true/false/1/0)", v);
	return -1;
}

/* ---- request lifecycle ---- */

/* A request suspended this long gets a watch on its client's socket. Most
 * suspended requests (a DNS query to a near resolver) are answered well
 * before, and a watch added and removed per request costs two epoll_ctl
 * calls; a client that leaves is noticed at most about this much later. */
#define HANGUP_WATCH_AFTER_MS 20

/*
 * A suspended connection is invisible to MHD, which would notice a client
 * that left only when it writes the answer. We watch the socket for the
 * peer's close, cancel the work at once and let MHD close the connection.
 */
static void on_hangup(int fd, unsigned events, void *ud)
{
	struct http_req *r = ud;
	http_cancel_cb cb = r->cancel_cb;
	void *cud = r->cancel_ud;

	(void)fd;
	if (!(events & (LOOP_PEER_CLOSED | LOOP_ERROR)) || r->state != REQ_RUNNING)
		return;
	r->client_gone = 1;
	r->cancel_cb = NULL;
	if (cb != NULL)
		cb(cud);
	http_reply_header(r, "Connection", "close");
	http_reply_problem(r, 400, NULL, "the client closed the connection");
}

/*
 * Runs while requests are suspended: gives each one suspended for
 * HANGUP_WATCH_AFTER_MS its hang-up watch (level-triggered, so a client
 * that left before still shows), and comes back for the younger ones.
 */
static void on_hangup_sweep(void *ud)
{
	struct server *s = ud;
	uint64_t now = np_now_us(), due = 0;
	const uint64_t after_us = HANGUP_WATCH_AFTER_MS * 1000u;

	for (size_t i = 0; i < s->npending; i++) {
		struct http_req *r = s->pending[i];

		if (r->hangup != NULL || r->conn_fd < 0 || !r->suspended)
			continue;
		if (now - r->suspended_us >= after_us) {
			/* Without the watch a gone client is found at the deadline. */
			loop_watch_new(s->loop, r->conn_fd, LOOP_PEER_CLOSED, on_hangup, r,
				       &r->hangup);
			continue;
		}
		if (due == 0 || r->suspended_us + after_us - now < due)
			due = r->suspended_us + after_us - now;
	}
	if (due > 0)
		loop_timer_arm_us(s->hangup_sweep, due);
}

static void on_deadline(void *ud)
{
	struct http_req *r = ud;
	http_cancel_cb cb = r->cancel_cb;
	void *cud = r->cancel_ud;

	if (r->state != REQ_RUNNING)
		return;
	r->cancel_cb = NULL;
	if (cb != NULL)
		cb(cud);
	http_reply_problem(r, 504, NULL, "the request did not finish within its deadline");
}

static enum MHD_Result queue_answer(struct http_req *r)
{
	struct MHD_Response *resp;
	const struct server *s = r->srv;
	const char *origin;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->data_len, r->data,
					       r->data_static ? MHD_RESPMEM_PERSISTENT
							      : MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		return MHD_NO;
	if (!r->data_static)
		r->data = NULL; /* MHD frees it now */
	if (r->content_type != NULL && r->status != 204)
		MHD_add_response_header(resp, "Content-Type", r->content_type);
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	/* Untrusted bytes from the network end up in bodies: never sniffed. */
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	origin = cors_allow(s, http_req_header(r, "Origin"));
	if (origin != NULL) {
		MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
		MHD_add_response_header(resp, "Access-Control-Expose-Headers",
					"X-Request-Id, Retry-After, Cache-Control");
	}
	/* The answer depends on Origin whenever origins are filtered, allowed
	 * or not: caches must key on it. */
	if (s->cfg->cors_origin != NULL && strcmp(s->cfg->cors_origin, "*") != 0)
		MHD_add_response_header(resp, "Vary", "Origin");
	for (unsigned i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	/* HEAD answers carry the headers of GET, not the body. */
	r->bytes_sent = strcmp(r->method, "HEAD") == 0 ? 0 : r->data_len;
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	r->state = REQ_QUEUED;
	return ret;
}

static void answer_preflight(struct http_req *r)
{
	char allow[64];
	int idx = routes_match("GET", r->path, r->srv->cfg->debug_endpoints, allow, sizeof(allow));
	const char *origin = cors_allow(r->srv, http_req_header(r, "Origin"));

	if (idx == -2) {
		http_reply_problem(r, 404, NULL, "no such endpoint: %s", r->path);
		return;
	}
	if (idx >= 0)
		snprintf(allow, sizeof(allow), "GET, HEAD%s",
			 routes_match("POST", r->path, r->srv->cfg->debug_endpoints, NULL, 0) >= 0
				 ? ", POST"
				 : "");
	http_reply_header(r, "Allow", allow);
	if (origin != NULL) {
		http_reply_header(r, "Access-Control-Allow-Methods", allow);
		http_reply_header(r, "Access-Control-Allow-Headers",
				  "Content-Type, Authorization, X-Request-Id, Accept");
		http_reply_header(r, "Access-Control-Max-Age", "600");
	}
	http_reply_bytes(r, 204, "text/plain", "", 0);
}

/*
 * The client's token bucket (--rate-limit), shared by all workers since the
 * client's connections land on any of them. Returns 1 if the request may
 * go on; otherwise it has answered 429 with Retry-After.
 */
static int within_rate_limit(struct http_req *r)
{
	struct worker *w = r->srv->worker;
	char secs[16], why[192];
	unsigned wait_s;

	if (ratelimit_admit(worker_ratelimit(w), r->peer_addr, &wait_s, why, sizeof(why)))
		return 1;
	metrics_rate_limited(worker_metrics(w));
	snprintf(secs, sizeof(secs), "%u", wait_s);
	http_reply_header(r, "Retry-After", secs);
	http_reply_problem(r, 429, NULL, "%s", why);
	return 0;
}

static void dispatch(struct http_req *r)
{
	r->state = REQ_RUNNING;
	if (r->body_too_large) {
		http_reply_header(r, "Connection", "close");
		http_reply_problem(r, 413, "body", "the request body is larger than %zu bytes",
				   r->srv->cfg->max_body);
		return;
	}
	if (strcmp(r->method, "OPTIONS") == 0) {
		answer_preflight(r);
		return;
	}
	switch (r->early_status) {
	case 404:
		http_reply_problem(r, 404, NULL, "no such endpoint: %s", r->path);
		return;
	case 405:
		http_reply_header(r, "Allow", r->allow);
		http_reply_problem(r, 405, NULL, "%s is not allowed on %s; allowed: %s", r->method,
				   r->path, r->allow);
		return;
	case 401:
		http_reply_header(r, "WWW-Authenticate", "Bearer realm=\"netprobe\"");
		http_reply_problem(r, 401, "Authorization",
				   "a valid bearer token is required for %s", r->path);
		return;
	default:
		break;
	}
	/* One client's pace: every route but the ops ones costs a token (a
	 * POST /dns batch is one request). CORS preflights were answered
	 * above and cost nothing. */
	if (!(routes_table[r->route].flags & ROUTE_OPS) && !within_rate_limit(r))
		return;
	/* Overload: every request waiting on the network holds memory and
	 * sockets. Ops endpoints stay available so health checks still work. */
	if (!(routes_table[r->route].flags & ROUTE_OPS) &&
	    r->srv->npending >= r->srv->cfg->max_inflight) {
		http_reply_header(r, "Retry-After", "1");
		http_reply_problem(r, 503, NULL,
				   "too many requests in progress (%u on this worker; --max-inflight)",
				   r->srv->cfg->max_inflight);
		return;
	}
	routes_table[r->route].handler(r);
}

static struct http_req *req_new(struct server *s, struct MHD_Connection *conn, const char *url,
				const char *method)
{
	struct http_req *r = calloc(1, sizeof(*r));
	const char *cl;
	const char *m;

	if (r == NULL)
		return NULL;
	r->srv = s;
	r->conn = conn;
	r->method = method;
	r->path = url;
	r->route = -1;
	r->conn_fd = -1;
	r->start_us = np_now_us();
	r->deadline_us = r->start_us +
			 ((uint64_t)s->cfg->max_timeout_ms + DEADLINE_MARGIN_MS) * 1000u;
	make_request_id(s, r);
	peer_of(conn, &r->peer, &r->peer_addr);
	s->inflight++;
	metrics_request_start(worker_metrics(s->worker));

	m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	if (strcmp(method, "OPTIONS") != 0) {
		r->route = routes_match(m, url, s->cfg->debug_endpoints, r->allow, sizeof(r->allow));
		if (r->route == -2)
			r->early_status = 404;
		else if (r->route == -1)
			r->early_status = 405;
		else if (!(routes_table[r->route].flags & ROUTE_PUBLIC) && !authorized(s, r))
			r->early_status = 401;
		if (r->route < 0)
			r->route = -1;
	}
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	if (cl != NULL && strtoull(cl, NULL, 10) > s->cfg->max_body)
		r->body_too_large = 1;
	return r;
}

static void req_free(struct http_req *r)
{
	reply_reset(r);
	for (unsigned i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	loop_timer_free(r->deadline);
	loop_watch_free(r->hangup);
	free(r->body);
	free(r);
}

static int body_append(struct http_req *r, const char *data, size_t len)
{
	size_t need = r->body_len + len + 1;

	if (r->body_too_large || need - 1 > r->srv->cfg->max_body) {
		r->body_too_large = 1;
		return 0;
	}
	if (need > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		unsigned char *b;

		while (cap < need)
			cap *= 2;
		if (cap > r->srv->cfg->max_body + 1)
			cap = r->srv->cfg->max_body + 1;
		b = realloc(r->body, cap);
		if (b == NULL)
			return -1;
		r->body = b;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	struct server *s = cls;
	struct http_req *r = *req_cls;

	(void)version;
	if (r == NULL) {
		r = req_new(s, conn, url, method);
		if (r == NULL)
			return MHD_NO;
		*req_cls = r;
		if (r->body_too_large) {
			/* Content-Length is over the cap: answer before any body is
			 * read (no "100 Continue"); MHD then closes the connection. */
			dispatch(r);
			return queue_answer(r);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* A chunked body that grows past the cap is read and dropped
		 * (MHD cannot answer mid-upload); the 413 comes at its end. */
		if (body_append(r, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	switch (r->state) {
	case REQ_NEW:
		dispatch(r);
		if (r->state == REQ_ANSWERED)
			return queue_answer(r);
		/* The handler went async: wait suspended, under a deadline. */
		if (r->deadline == NULL &&
		    loop_timer_new(s->loop, on_deadline, r, &r->deadline) != NP_OK) {
			r->state = REQ_ANSWERED; /* fall back to an error answer */
			goto oom;
		}
		if (pending_add(s, r) != NP_OK)
			goto oom;
		r->suspended_us = np_now_us();
		loop_timer_arm_us(r->deadline, r->deadline_us - r->suspended_us);
		{
			const union MHD_ConnectionInfo *ci =
				MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

			/* The hang-up watch comes from on_hangup_sweep, if the
			 * request lasts. */
			r->conn_fd = ci != NULL ? ci->connect_fd : -1;
			if (r->conn_fd >= 0 && !loop_timer_armed(s->hangup_sweep))
				loop_timer_arm(s->hangup_sweep, HANGUP_WATCH_AFTER_MS);
		}
		r->suspended = 1;
		MHD_suspend_connection(conn);
		return MHD_YES;
	case REQ_ANSWERED:
		return queue_answer(r);
	case REQ_RUNNING:
	case REQ_QUEUED:
		break;
	}
	return MHD_YES;
oom:
	if (r->cancel_cb != NULL)
		r->cancel_cb(r->cancel_ud);
	r->cancel_cb = NULL;
	r->state = REQ_RUNNING;
	http_reply_problem(r, 503, NULL, "out of memory");
	return queue_answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *s = cls;
	struct http_req *r = *req_cls;
	double dur_ms;
	unsigned status;

	(void)conn;
	if (r == NULL)
		return;
	*req_cls = NULL;
	if (r->state == REQ_RUNNING) {
		/* Cannot normally happen (suspended requests are not completed),
		 * but never leave a handler holding a freed request. */
		pending_remove(s, r);
		if (r->cancel_cb != NULL)
			r->cancel_cb(r->cancel_ud);
	}
	dur_ms = (double)(np_now_us() - r->start_us) / 1000.0;
	/* A request that never got an answer queued is logged as 499 (client
	 * closed the connection), as nginx does. */
	status = r->state == REQ_QUEUED && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK &&
				 !r->client_gone
			 ? r->status
			 : 499;
	if (status == 499)
		r->bytes_sent = 0;
	metrics_request_done(worker_metrics(s->worker), r->route, status, dur_ms / 1000.0);
	if (s->cfg->access_log && LOG_INFO <= log_current_level)
		log_access(r->id, r->method, r->path, status, r->bytes_sent, dur_ms, r->peer);
	s->inflight--;
	req_free(r);
}

/* ---- daemon ---- */

static int fill_addr(const char *ip, unsigned port, struct sockaddr_storage *ss, int *v6)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*v6 = 0;
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*v6 = 1;
		return 0;
	}
	return -1;
}

int server_new(struct worker *w, struct loop *l, const struct config *c, unsigned port,
	       const char *tls_cert, const char *tls_key, struct server **out, char *err,
	       size_t errlen)
{
	struct server *s;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned limit;
	int v6 = 0;
	int rc = NP_ESYS;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NP_ENOMEM;
	}
	s->worker = w;
	s->loop = l;
	s->cfg = c;
	if (getrandom(&s->id_prefix, sizeof(s->id_prefix), 0) != sizeof(s->id_prefix))
		s->id_prefix = (uint32_t)np_now_us();
	if (fill_addr(c->bind, port, &ss, &v6) != 0) {
		snprintf(err, errlen, "--bind: '%s' is not an IP address", c->bind);
		rc = NP_EINVAL;
		goto fail;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	if (tls_cert != NULL)
		flags |= MHD_USE_TLS;
	limit = c->max_connections / (c->workers ? c->workers : 1);
	if (limit == 0)
		limit = 1;
	s->mhd = MHD_start_daemon(
		flags, (uint16_t)port, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_CONNECTION_LIMIT, limit,
		MHD_OPTION_CONNECTION_TIMEOUT, c->conn_timeout_s,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
		MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1,
		tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls_cert,
		MHD_OPTION_HTTPS_MEM_KEY, tls_key,
		MHD_OPTION_END);
	if (s->mhd == NULL) {
		snprintf(err, errlen, "--port: cannot serve on %s port %u%s (%s)", c->bind, port,
			 tls_cert ? " with TLS" : "", errno ? strerror(errno) : "libmicrohttpd refused");
		goto fail;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : port;
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL ||
	    loop_watch_new(l, info->epoll_fd, LOOP_READ, on_mhd_fd, s, &s->mhd_watch) != NP_OK ||
	    loop_timer_new(l, on_mhd_timer, s, &s->mhd_timer) != NP_OK ||
	    loop_timer_new(l, on_hangup_sweep, s, &s->hangup_sweep) != NP_OK) {
		snprintf(err, errlen, "cannot attach the HTTP daemon to the event loop");
		goto fail;
	}
	loop_set_before_sleep(l, before_sleep, s);
	*out = s;
	return NP_OK;
fail:
	server_free(s);
	return rc;
}

unsigned server_port(const struct server *s)
{
	return s->port;
}

unsigned server_inflight(const struct server *s)
{
	return s->inflight;
}

void server_quiesce(struct server *s)
{
	MHD_socket fd;

	if (s->quiesced)
		return;
	s->quiesced = 1;
	fd = MHD_quiesce_daemon(s->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	s->need_run = 1;
}

void server_cancel_pending(struct server *s)
{
	while (s->npending > 0) {
		struct http_req *r = s->pending[s->npending - 1];
		http_cancel_cb cb = r->cancel_cb;

		r->cancel_cb = NULL;
		if (cb != NULL)
			cb(r->cancel_ud);
		/* The cancel callback must not answer, but be safe if it did. */
		if (r->state == REQ_RUNNING) {
			http_reply_header(r, "Retry-After", "1");
			http_reply_problem(r, 503, NULL, "the service is shutting down");
		} else {
			pending_remove(s, r);
		}
	}
	if (s->mhd != NULL)
		s->need_run = 1;
}

void server_free(struct server *s)
{
	if (s == NULL)
		return;
	if (s->mhd != NULL) {
		server_cancel_pending(s);
		/* Let MHD take the resumed connections back before stopping. */
		MHD_run(s->mhd);
		MHD_stop_daemon(s->mhd);
	}
	loop_watch_free(s->mhd_watch);
	loop_timer_free(s->mhd_timer);
	loop_timer_free(s->hangup_sweep);
	free(s->pending);
	free(s);
}
