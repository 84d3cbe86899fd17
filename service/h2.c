/*
 * h2.c - DNS over HTTPS over HTTP/2 (RFC 8484 section 5.2, RFC 9113) on a
 * worker's loop: GnuTLS for TLS, nghttp2 for the framing, and the DoH
 * exchange of handlers/doh_core.c for the answers. It exists because DoH
 * clients such as kdig speak only HTTP/2, which libmicrohttpd lacks.
 *
 * Accepting works as in listeners.c: each worker binds its own socket on
 * --doh-port with SO_REUSEPORT and accepts until EAGAIN, refusing past its
 * share of --max-connections.
 *
 * A connection has one watcher, an idle timer and a "kick" timer (deferred
 * work), and goes through two states:
 *   - handshake: gnutls_handshake() runs whenever the socket is ready in
 *     the direction gnutls_record_get_direction() named on EAGAIN. ALPN
 *     offers "h2" alone (RFC 9113 section 3.2; a client offering only
 *     other protocols gets the no_application_protocol alert). It must end
 *     within --connection-timeout.
 *   - h2: an nghttp2 server session fed from memory. Records read with
 *     gnutls_record_recv() go into nghttp2_session_mem_recv(); what
 *     nghttp2_session_mem_send() produces is copied into the output buffer
 *     and written with gnutls_record_send(). A write that would block is
 *     repeated with (NULL, 0), as GnuTLS asks, once the socket is writable.
 *
 * Backpressure: the output buffer is capped (OUT_CAP). Frames are pulled
 * from nghttp2 only while OUT_ROOM bytes are free (more than one chunk of
 * mem_send output), and reading stops while the buffer is that full, so a
 * client that does not read its answers cannot make us queue more.
 *
 * Streams: GET /dns-query?dns= and POST /dns-query (body at most 65535
 * bytes, else 413) start a DoH exchange when the request ends; the stream
 * stays open until the answer comes back on the loop, which submits the
 * response and flushes. A stream reset by the client, or a connection that
 * closes, cancels its exchange. A DoH request costs a token of the
 * client's --rate-limit bucket, the same bucket as on the HTTP/1.1 port
 * (429 with retry-after when it is empty). GET /healthz answers at once;
 * other paths get 404, other methods 405 with Allow. Each stream is one
 * request in /metrics and in the access log (499 when the client left
 * first).
 *
 * Lifetime: a connection is freed only at the end of its own watcher or
 * timer callback, never inside a GnuTLS or nghttp2 call. A DNS answer that
 * finds the connection broken marks it closing and arms its kick timer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, GNU strerror_r */
#endif

#include "h2.h"
#include "problem.h"
#include "config.h"
#include "doh_core.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "netaddr.h"
#include "np.h"
#include "ratelimit.h"
#include "routes.h"
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define ACCEPT_BATCH_MAX 256		    /* accepts per wake-up */
#define ACCEPT_RETRY_MS 100u		    /* pause after EMFILE and the like */
#define MAX_STREAMS 100u		    /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define OUT_MIN (16u * 1024u)		    /* first size of an output buffer */
#define OUT_CAP (256u * 1024u)		    /* hard cap of an output buffer */
#define OUT_ROOM (32u * 1024u)		    /* > one mem_send chunk (16 KiB frame + header) */
#define OUT_HIGH (OUT_CAP - OUT_ROOM)	    /* pull and read only below this */
#define READ_BUF (16u * 1024u + 256u)	    /* one TLS record of plaintext */
#define READ_BATCH 32			    /* records per wake-up */
#define PATH_MAX_LEN (16u * 1024u)	    /* :path with its query; longer is 414 */
#define METHOD_MAX 16
#define CTYPE_MAX 128
#define GOAWAY_LINGER_MS 1000u /* an idle client's time to read our GOAWAY */
#define REQ_ID_MAX 40
#define DISCARD_MAX (1024u * 1024u) /* body bytes dropped after an early answer */

/* TLS 1.2 or 1.3 with AEAD ciphers and ephemeral key exchange only: what
 * RFC 9113 section 9.2 asks of HTTP/2. The server's order wins. */
#define TLS_PRIORITY                                                                               \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

static const char HEALTH_BODY[] = "{\"status\":\"ok\"}";

enum stream_kind { KIND_NONE, KIND_DOH, KIND_HEALTH };

struct h2_stream {
	struct h2_conn *conn;
	struct h2_stream *prev, *next;
	int32_t id;
	char method[METHOD_MAX];
	int method_too_long;
	char *path;	   /* the :path up to '?', NUL-terminated (one allocation with query) */
	char *query;	   /* after '?', or NULL */
	int path_too_long; /* over PATH_MAX_LEN: 414 */
	char ctype[CTYPE_MAX];
	int have_ctype;
	int have_length;
	unsigned long long length;
	enum stream_kind kind;
	int route; /* routes_table index, -1 for what is not served */
	unsigned char *body;
	size_t body_len, body_cap;
	int request_done;  /* the client's END_STREAM arrived */
	int answered;	   /* a response was submitted */
	int response_done; /* our END_STREAM went out */
	int reset_sent;
	unsigned long long discarded; /* body bytes dropped */
	struct doh_exchange *x;
	char retry_after[12]; /* a retry-after header to send, or "" */
	unsigned status;
	unsigned char *resp;
	size_t resp_len, resp_off;
	char req_id[REQ_ID_MAX];
	uint64_t start_us;
};

enum conn_state { CONN_HANDSHAKE, CONN_H2 };

struct h2_conn {
	struct h2_server *srv;
	struct h2_conn *prev, *next;
	int fd;
	enum conn_state state;
	gnutls_session_t tls;
	nghttp2_session *h2;
	struct loop_watch *watch;
	struct loop_timer *idle;
	struct loop_timer *kick;
	unsigned events;
	int closing;	      /* free at the next safe point */
	int idle_goaway;      /* the idle GOAWAY is out: the next idle tick closes */
	int tls_wpending;     /* a gnutls_record_send is to be repeated with (NULL, 0) */
	int read_wants_write; /* gnutls_record_recv stopped on a write */
	unsigned char *out;
	size_t out_cap, out_off, out_len;
	struct h2_stream *streams;
	unsigned long long served;
	char peer[NP_ADDR_TEXT_MAX];
	char peer_ip[INET6_ADDRSTRLEN];
	union np_sockaddr peer_addr; /* for the rate limiter */
};

struct h2_server {
	struct worker *worker;
	struct loop *loop;
	const struct config *cfg;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
	int have_cred, have_prio;
	nghttp2_session_callbacks *callbacks;
	int fd;
	struct loop_watch *accept_watch;
	struct loop_timer *accept_retry;
	struct h2_conn *conns;
	unsigned nconns, max_conns;
	unsigned nstreams;
	int quiesced;
	uint32_t id_prefix;
	uint64_t id_counter;
};

/* ---- small helpers ---- */

static const char *err_text(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

static size_t out_pending(const struct h2_conn *c)
{
	return c->out_len - c->out_off;
}

static struct metrics *srv_metrics(const struct h2_server *s)
{
	return worker_metrics(s->worker);
}

static void conn_touch(struct h2_conn *c)
{
	if (!c->idle_goaway)
		loop_timer_arm(c->idle, (uint64_t)c->srv->cfg->conn_timeout_s * 1000u);
}

/* Marks c for freeing from its kick timer (for callers that may not free). */
static void conn_close_soon(struct h2_conn *c)
{
	c->closing = 1;
	loop_timer_arm(c->kick, 0);
}

/* ---- streams ---- */

static void make_id(struct h2_server *s, struct h2_stream *st)
{
	np_request_id(st->req_id, s->id_prefix, worker_id(s->worker), ++s->id_counter);
}

/*
 * The end of a stream: cancels its exchange, counts and logs it, frees it.
 * A stream whose answer went out whole counts with its status, even if the
 * client then reset it or closed the connection (clients stop uploading
 * after an early 413); otherwise the client left first: 499, as server.c
 * counts it.
 */
static void stream_close(struct h2_stream *st)
{
	struct h2_conn *c = st->conn;
	struct h2_server *s = c->srv;
	double dur_ms = (double)(np_now_us() - st->start_us) / 1000.0;
	unsigned status = st->response_done ? st->status : 499;

	doh_exchange_cancel(st->x);
	st->x = NULL;
	metrics_request_done(srv_metrics(s), st->route, status, dur_ms / 1000.0);
	if (s->cfg->access_log && LOG_INFO <= log_current_level)
		log_access(st->req_id, st->method[0] != '\0' ? st->method : "-",
			   st->path != NULL ? st->path : "-", status,
			   status == 499 ? 0 : (unsigned long long)st->resp_len, dur_ms,
			   c->peer_ip);
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	s->nstreams--;
	c->served++;
	free(st->path);
	free(st->body);
	free(st->resp);
	free(st);
}

static ssize_t on_data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
			    size_t length, uint32_t *data_flags, nghttp2_data_source *source,
			    void *ud)
{
	struct h2_stream *st = source->ptr;
	size_t n = st->resp_len - st->resp_off;

	(void)session;
	(void)stream_id;
	(void)ud;
	if (n > length)
		n = length;
	if (n > 0)
		memcpy(buf, st->resp + st->resp_off, n);
	st->resp_off += n;
	if (st->resp_off == st->resp_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void nv_set(nghttp2_nv *nv, const char *name, const char *value)
{
	/* nghttp2 copies both (no NGHTTP2_NV_FLAG_NO_COPY_*). */
	nv->name = (uint8_t *)(uintptr_t)name;
	nv->namelen = strlen(name);
	nv->value = (uint8_t *)(uintptr_t)value;
	nv->valuelen = strlen(value);
	nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/*
 * Submits the response (the body is copied). The request may still be
 * open (an early 413 or 404): see stream_limit_discard.
 */
static void stream_respond(struct h2_stream *st, unsigned status, const char *ctype,
			   const char *cache_control, const char *allow, const void *body,
			   size_t len)
{
	nghttp2_session *h2 = st->conn->h2;
	nghttp2_data_provider prd;
	nghttp2_nv nva[7];
	size_t n = 0;
	char code[8], clen[24];
	int rv;

	if (st->answered)
		return;
	st->answered = 1;
	st->status = status;
	st->resp = malloc(len > 0 ? len : 1);
	if (st->resp == NULL) {
		LOG(LOG_WARN, "%s: h2: out of memory for the response", st->req_id);
		st->status = 500;
		st->response_done = 1; /* the reset is the answer */
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
		return;
	}
	if (len > 0)
		memcpy(st->resp, body, len);
	st->resp_len = len;
	snprintf(code, sizeof(code), "%u", status);
	snprintf(clen, sizeof(clen), "%zu", len);
	nv_set(&nva[n++], ":status", code);
	nv_set(&nva[n++], "content-type", ctype);
	nv_set(&nva[n++], "content-length", clen);
	nv_set(&nva[n++], "x-request-id", st->req_id);
	if (cache_control != NULL)
		nv_set(&nva[n++], "cache-control", cache_control);
	if (allow != NULL)
		nv_set(&nva[n++], "allow", allow);
	if (st->retry_after[0] != '\0')
		nv_set(&nva[n++], "retry-after", st->retry_after);
	prd.source.ptr = st;
	prd.read_callback = on_data_read;
	rv = nghttp2_submit_response(h2, st->id, nva, n, len > 0 ? &prd : NULL);
	if (rv != 0) {
		LOG(LOG_WARN, "%s: h2: cannot submit the response: %s", st->req_id,
		    nghttp2_strerror(rv));
		st->status = 500;
		st->response_done = 1; /* the reset is the answer */
		nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
	}
}

/* An RFC 9457 problem answer, as server.c makes them. */
static void stream_problem(struct h2_stream *st, unsigned status, const char *param,
			   const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void stream_problem(struct h2_stream *st, unsigned status, const char *param,
			   const char *allow, const char *fmt, ...)
{
	char detail[512];
	char *text = NULL;
	json_t *doc;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	doc = problem_new(status, st->path, param, st->req_id, detail);
	if (doc != NULL) {
		text = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(doc);
	}
	if (text == NULL) {
		stream_respond(st, 500, "text/plain", NULL, NULL, "", 0);
		return;
	}
	stream_respond(st, status, "application/problem+json", NULL, allow, text, strlen(text));
	free(text);
}

static void on_doh_reply(const struct doh_reply *rep, void *ud);

/* Flushes what the DNS answer queued; the caller is not a callback of c. */
static int conn_pump(struct h2_conn *c, int do_read);

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Finds the query parameter key in q ("a=1&dns=..."), percent-decoded into
 * out (cap bytes, NUL-terminated). NULL when absent; "" for a bare key.
 */
static const char *query_param(const char *q, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);

	while (q != NULL && *q != '\0') {
		const char *end = strchr(q, '&');
		size_t len = end != NULL ? (size_t)(end - q) : strlen(q);

		if (len >= klen && strncmp(q, key, klen) == 0 && (len == klen || q[klen] == '=')) {
			const char *v = len == klen ? q + len : q + klen + 1;
			const char *vend = q + len;
			size_t n = 0;

			while (v < vend && n + 1 < cap) {
				int hi = vend - v >= 3 ? hex_value(v[1]) : -1;
				int lo = hi >= 0 ? hex_value(v[2]) : -1;

				if (*v == '%' && lo >= 0) {
					out[n++] = (char)(hi << 4 | lo);
					v += 3;
				} else {
					out[n++] = *v == '+' ? ' ' : *v;
					v++;
				}
			}
			out[n] = '\0';
			return out;
		}
		q = end != NULL ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * The client's token bucket (--rate-limit), shared with the HTTP/1.1 port
 * and every worker. Returns 1 if the request may go on; otherwise it has
 * answered 429 with retry-after.
 */
static int stream_within_rate_limit(struct h2_stream *st)
{
	struct h2_server *s = st->conn->srv;
	char why[192];
	unsigned wait_s;

	if (ratelimit_admit(worker_ratelimit(s->worker), &st->conn->peer_addr.sa, &wait_s, why,
			    sizeof(why)))
		return 1;
	metrics_rate_limited(srv_metrics(s));
	snprintf(st->retry_after, sizeof(st->retry_after), "%u", wait_s);
	stream_problem(st, 429, NULL, NULL, "%s", why);
	return 0;
}

/* The request has ended: answer it, now or through a DoH exchange. */
static void stream_dispatch(struct h2_stream *st)
{
	struct h2_server *s = st->conn->srv;
	char dns[PATH_MAX_LEN + 1];
	unsigned char buf[PATH_MAX_LEN];
	const unsigned char *q;
	size_t qlen;
	struct doh_error e;
	int post;

	if (st->answered)
		return;
	if (st->kind == KIND_HEALTH) {
		stream_respond(st, 200, "application/json", NULL, NULL, HEALTH_BODY,
			       sizeof(HEALTH_BODY) - 1);
		return;
	}
	if (st->kind != KIND_DOH || !stream_within_rate_limit(st))
		return;
	/* A GET's dns value comes from a :path of at most PATH_MAX_LEN bytes,
	 * so its decoded message always fits buf. */
	post = strcmp(st->method, "POST") == 0;
	if (doh_request_check(post, post ? NULL : query_param(st->query, "dns", dns, sizeof(dns)),
			      st->have_ctype ? st->ctype : NULL,
			      st->body != NULL ? st->body : (const unsigned char *)"", st->body_len,
			      buf, sizeof(buf), &q, &qlen, &e) != NP_OK ||
	    doh_exchange_start(worker_dns(s->worker), srv_metrics(s), s->cfg->default_timeout_ms, q,
			       qlen, on_doh_reply, st, &st->x, &e) != NP_OK) {
		stream_problem(st, e.status, e.param, NULL, "%s", e.detail);
		return;
	}
}

static void on_doh_reply(const struct doh_reply *rep, void *ud)
{
	struct h2_stream *st = ud;
	struct h2_conn *c = st->conn;

	st->x = NULL; /* the core frees it after we return */
	if (c->closing)
		return; /* the stream goes with the connection, as a 499 */
	stream_respond(st, rep->status, rep->content_type, rep->cache_control, NULL, rep->body,
		       rep->len);
	/* st may be freed from here on (its last frame sent, its stream closed). */
	if (conn_pump(c, 0) != 0)
		conn_close_soon(c);
}

/* All request headers are in: route the request, answering at once what
 * needs no body. */
static void stream_headers_done(struct h2_stream *st)
{
	struct h2_server *s = st->conn->srv;
	const char *allow = NULL;

	if (st->path_too_long) {
		stream_problem(st, 414, NULL, NULL,
			       "the request target is longer than %u bytes; use POST",
			       PATH_MAX_LEN);
		return;
	}
	if (st->path != NULL && strcmp(st->path, "/dns-query") == 0) {
		st->kind = KIND_DOH;
		allow = "GET, POST";
	} else if (st->path != NULL && strcmp(st->path, "/healthz") == 0) {
		st->kind = KIND_HEALTH;
		allow = "GET";
	} else {
		stream_problem(st, 404, NULL, NULL, "no such endpoint on the DoH port: %s",
			       st->path != NULL ? st->path : "");
		return;
	}
	if (!st->method_too_long && (strcmp(st->method, "GET") == 0 ||
				     (st->kind == KIND_DOH && strcmp(st->method, "POST") == 0)))
		st->route = routes_match(st->method, st->path, s->cfg->debug_endpoints, NULL, 0);
	if (st->route < 0) {
		st->route = -1;
		stream_problem(st, 405, NULL, allow, "%s is not allowed on %s; allowed: %s",
			       st->method_too_long ? "this method" : st->method, st->path, allow);
		return;
	}
	if (st->kind == KIND_DOH && st->have_length && st->length > DOH_MSG_MAX &&
	    strcmp(st->method, "POST") == 0)
		stream_problem(st, 413, "body", NULL, "the request body is larger than %u bytes",
			       DOH_MSG_MAX);
}

/* ---- nghttp2 callbacks (user data: the connection) ---- */

static struct h2_stream *stream_of(nghttp2_session *session, int32_t id)
{
	return nghttp2_session_get_stream_user_data(session, id);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
	struct h2_conn *c = ud;
	struct h2_server *s = c->srv;
	struct h2_stream *st;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	st->conn = c;
	st->id = frame->hd.stream_id;
	st->route = -1;
	st->start_us = np_now_us();
	make_id(s, st);
	if (nghttp2_session_set_stream_user_data(session, st->id, st) != 0) {
		free(st);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	st->next = c->streams;
	if (c->streams != NULL)
		c->streams->prev = st;
	c->streams = st;
	s->nstreams++;
	metrics_request_start(srv_metrics(s));
	return 0;
}

static int header_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct h2_stream *st;

	(void)flags;
	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers are ignored */
	st = stream_of(session, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	if (header_is(name, namelen, ":method")) {
		if (valuelen >= sizeof(st->method)) {
			st->method_too_long = 1;
			return 0;
		}
		memcpy(st->method, value, valuelen);
		st->method[valuelen] = '\0';
	} else if (header_is(name, namelen, ":path")) {
		const uint8_t *qmark = memchr(value, '?', valuelen);
		char *q;

		if (st->path != NULL)
			return 0; /* nghttp2 refuses a second :path; be safe */
		if (valuelen > PATH_MAX_LEN) {
			/* Keep the path for the problem's instance; 414 anyway. */
			st->path_too_long = 1;
			if (qmark == NULL || (size_t)(qmark - value) > PATH_MAX_LEN)
				return 0;
			valuelen = (size_t)(qmark - value);
		}
		st->path = malloc(valuelen + 1);
		if (st->path == NULL)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		memcpy(st->path, value, valuelen);
		st->path[valuelen] = '\0';
		q = strchr(st->path, '?');
		if (q != NULL) {
			*q = '\0';
			st->query = q + 1;
		}
	} else if (header_is(name, namelen, "content-type")) {
		size_t n = valuelen < sizeof(st->ctype) - 1 ? valuelen : sizeof(st->ctype) - 1;

		memcpy(st->ctype, value, n);
		st->ctype[n] = '\0';
		st->have_ctype = 1;
	} else if (header_is(name, namelen, "content-length")) {
		unsigned long long v = 0;

		/* nghttp2 has checked it is digits that match the DATA. */
		for (size_t i = 0; i < valuelen && v <= UINT32_MAX; i++)
			v = v * 10u + (unsigned)(value[i] - '0');
		st->length = v;
		st->have_length = 1;
	}
	return 0;
}

/*
 * Answered before the request ended (an early 413, 404...): the rest of the
 * body is read and dropped, as clients expect to finish their upload (curl
 * 7.88 fails the transfer on an early RST_STREAM). Past DISCARD_MAX the
 * client is asked to stop with RST_STREAM NO_ERROR (RFC 9113 section 8.1).
 */
static void stream_limit_discard(nghttp2_session *session, struct h2_stream *st)
{
	if (st->response_done && !st->request_done && !st->reset_sent &&
	    st->discarded > DISCARD_MAX) {
		st->reset_sent = 1;
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
	}
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *ud)
{
	struct h2_stream *st = stream_of(session, stream_id);

	(void)flags;
	(void)ud;
	if (st == NULL)
		return 0;
	if (st->answered || st->kind != KIND_DOH || strcmp(st->method, "POST") != 0) {
		/* Dropped (nghttp2 still opens the flow-control window). */
		st->discarded += len;
		stream_limit_discard(session, st);
		return 0;
	}
	if (len > DOH_MSG_MAX - st->body_len) {
		stream_problem(st, 413, "body", NULL, "the request body is larger than %u bytes",
			       DOH_MSG_MAX);
		return 0;
	}
	if (st->body_len + len > st->body_cap) {
		size_t cap = st->body_cap != 0 ? st->body_cap : 1024;
		unsigned char *b;

		while (cap < st->body_len + len)
			cap *= 2;
		if (cap > DOH_MSG_MAX)
			cap = DOH_MSG_MAX;
		b = realloc(st->body, cap);
		if (b == NULL) {
			stream_problem(st, 503, NULL, NULL, "out of memory");
			return 0;
		}
		st->body = b;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
	struct h2_stream *st;

	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	st = stream_of(session, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		stream_headers_done(st);
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		st->request_done = 1;
		stream_dispatch(st);
	}
	return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud)
{
	struct h2_stream *st;

	(void)ud;
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = stream_of(session, frame->hd.stream_id);
	if (st == NULL)
		return 0;
	st->response_done = 1;
	stream_limit_discard(session, st);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			   void *ud)
{
	struct h2_stream *st = stream_of(session, stream_id);

	(void)ud;
	if (st == NULL)
		return 0;
	(void)error_code;
	stream_close(st);
	return 0;
}

static int on_error(nghttp2_session *session, int code, const char *msg, size_t len, void *ud)
{
	struct h2_conn *c = ud;

	(void)session;
	LOG(LOG_DEBUG, "h2: %s: HTTP/2 error %d: %.*s", c->peer, code, (int)len, msg);
	return 0;
}

/* ---- connection I/O ---- */

static int conn_watch(struct h2_conn *c, unsigned events)
{
	if (events == c->events)
		return 0;
	if (loop_watch_set(c->watch, events) != NP_OK) {
		LOG(LOG_WARN, "h2: %s: cannot watch the socket", c->peer);
		return -1;
	}
	c->events = events;
	return 0;
}

/* Appends one chunk of nghttp2 output; -1 past OUT_CAP or out of memory. */
static int out_append(struct h2_conn *c, const uint8_t *data, size_t n)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_cap - c->out_len < n && c->out_off > 0) {
		/* GnuTLS keeps its own copy of a record it could not write, so
		 * moving what we hold is safe even then. */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_cap - c->out_len < n) {
		size_t cap = c->out_cap != 0 ? c->out_cap : OUT_MIN;
		unsigned char *b;

		while (cap - c->out_len < n && cap < OUT_CAP)
			cap *= 2;
		if (cap > OUT_CAP)
			cap = OUT_CAP;
		if (cap - c->out_len < n)
			return -1;
		b = realloc(c->out, cap);
		if (b == NULL)
			return -1;
		c->out = b;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	return 0;
}

/*
 * Moves frames from nghttp2 into the output buffer (while OUT_ROOM is free)
 * and from there to GnuTLS, until both are empty or the socket is full.
 * -1: the connection is broken.
 */
static int conn_flush(struct h2_conn *c)
{
	for (;;) {
		ssize_t n;

		while (out_pending(c) < OUT_HIGH) {
			const uint8_t *data;

			n = nghttp2_session_mem_send(c->h2, &data);
			if (n < 0) {
				LOG(LOG_DEBUG, "h2: %s: %s", c->peer, nghttp2_strerror((int)n));
				return -1;
			}
			if (n == 0)
				break;
			if (out_append(c, data, (size_t)n) != 0) {
				LOG(LOG_WARN,
				    "h2: %s: output buffer: out of memory or over %u bytes",
				    c->peer, OUT_CAP);
				return -1;
			}
		}
		if (!c->tls_wpending && out_pending(c) == 0)
			break;
		if (c->tls_wpending)
			n = gnutls_record_send(c->tls, NULL, 0);
		else
			n = gnutls_record_send(c->tls, c->out + c->out_off, out_pending(c));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			c->tls_wpending = 1;
			return 0;
		}
		if (n < 0) {
			LOG(LOG_DEBUG, "h2: %s: TLS send: %s", c->peer, gnutls_strerror((int)n));
			return -1;
		}
		c->tls_wpending = 0;
		if (n == 0)
			return 0;
		c->out_off += (size_t)n;
		conn_touch(c);
	}
	/* Empty: give a buffer that grew back. */
	c->out_off = c->out_len = 0;
	if (c->out_cap > OUT_MIN) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

/* Reads records into nghttp2 while the output has room. -1: close. */
static int conn_read(struct h2_conn *c)
{
	unsigned char buf[READ_BUF];

	c->read_wants_write = 0;
	for (int i = 0; i < READ_BATCH; i++) {
		ssize_t n, used;

		if (!nghttp2_session_want_read(c->h2) || out_pending(c) >= OUT_HIGH)
			return 0;
		n = gnutls_record_recv(c->tls, buf, sizeof(buf));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			c->read_wants_write = gnutls_record_get_direction(c->tls) == 1;
			return 0;
		}
		if (n == 0) {
			LOG(LOG_DEBUG, "h2: %s: closed by the client", c->peer);
			return -1;
		}
		if (n < 0) {
			if (!gnutls_error_is_fatal((int)n))
				continue;
			LOG(LOG_DEBUG, "h2: %s: TLS receive: %s", c->peer, gnutls_strerror((int)n));
			return -1;
		}
		conn_touch(c);
		used = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (used < 0) {
			LOG(LOG_DEBUG, "h2: %s: not HTTP/2: %s", c->peer,
			    nghttp2_strerror((int)used));
			return -1;
		}
		/* Answers go out as requests come in, so that the output
		 * buffer, checked above, says whether to read on. */
		if (conn_flush(c) != 0)
			return -1;
	}
	/* Out of budget: bytes GnuTLS already holds wake no watcher. */
	if (gnutls_record_check_pending(c->tls) > 0)
		loop_timer_arm(c->kick, 0);
	return 0;
}

static int conn_start_h2(struct h2_conn *c)
{
	const nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, PATH_MAX_LEN + 8192u},
	};
	gnutls_datum_t proto;
	int rv;

	if (gnutls_alpn_get_selected_protocol(c->tls, &proto) != 0)
		LOG(LOG_DEBUG, "h2: %s: no ALPN; trying HTTP/2 with prior knowledge", c->peer);
	rv = nghttp2_session_server_new(&c->h2, c->srv->callbacks, c);
	if (rv != 0) {
		LOG(LOG_WARN, "h2: %s: %s", c->peer, nghttp2_strerror(rv));
		return -1;
	}
	rv = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, NP_ARRAY_LEN(iv));
	if (rv != 0) {
		LOG(LOG_WARN, "h2: %s: %s", c->peer, nghttp2_strerror(rv));
		return -1;
	}
	c->state = CONN_H2;
	conn_touch(c);
	return 0;
}

/* Drives the handshake; once done, the HTTP/2 session. -1: close. */
static int conn_handshake(struct h2_conn *c)
{
	for (;;) {
		int rv = gnutls_handshake(c->tls);

		if (rv == GNUTLS_E_SUCCESS)
			break;
		if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED)
			return conn_watch(c, gnutls_record_get_direction(c->tls) ? LOOP_WRITE
										 : LOOP_READ);
		if (gnutls_error_is_fatal(rv)) {
			LOG(LOG_DEBUG, "h2: %s: TLS handshake failed: %s", c->peer,
			    gnutls_strerror(rv));
			return -1;
		}
	}
	return conn_start_h2(c);
}

static int conn_pump(struct h2_conn *c, int do_read)
{
	unsigned events = 0;

	if (c->state == CONN_HANDSHAKE) {
		if (!do_read)
			return 0;
		if (conn_handshake(c) != 0)
			return -1;
		if (c->state == CONN_HANDSHAKE)
			return 0;
	}
	if (conn_flush(c) != 0)
		return -1;
	if (do_read && conn_read(c) != 0)
		return -1;
	if (conn_flush(c) != 0)
		return -1;
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
	    out_pending(c) == 0 && !c->tls_wpending) {
		LOG(LOG_DEBUG, "h2: %s: session over", c->peer);
		return -1;
	}
	/* Reading waits while the output is nearly full (backpressure). */
	if (nghttp2_session_want_read(c->h2) && out_pending(c) < OUT_HIGH)
		events |= LOOP_READ;
	if (out_pending(c) > 0 || c->tls_wpending || c->read_wants_write)
		events |= LOOP_WRITE;
	return conn_watch(c, events);
}

static void conn_free(struct h2_conn *c)
{
	struct h2_server *s = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	while (c->streams != NULL)
		stream_close(c->streams);
	/* No nghttp2 callback runs from here on. */
	nghttp2_session_del(c->h2);
	if (c->state == CONN_H2 && !c->tls_wpending)
		gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* best effort: the socket is non-blocking */
	gnutls_deinit(c->tls);
	loop_watch_free(c->watch);
	loop_timer_free(c->idle);
	loop_timer_free(c->kick);
	close(c->fd);
	LOG(LOG_DEBUG, "h2: %s closed after %llu stream(s)", c->peer, c->served);
	free(c->out);
	free(c);
}

static void on_conn_io(int fd, unsigned events, void *ud)
{
	struct h2_conn *c = ud;

	(void)fd;
	if (!c->closing && conn_pump(c, 1) != 0)
		c->closing = 1;
	/* EPOLLERR / EPOLLHUP: whatever could be read has been. */
	if (!c->closing && (events & LOOP_ERROR)) {
		LOG(LOG_DEBUG, "h2: %s: hung up", c->peer);
		c->closing = 1;
	}
	if (c->closing)
		conn_free(c); /* last use of c */
}

static void on_conn_kick(void *ud)
{
	struct h2_conn *c = ud;

	if (!c->closing && conn_pump(c, 1) != 0)
		c->closing = 1;
	if (c->closing)
		conn_free(c); /* last use of c */
}

static int conn_busy(const struct h2_conn *c)
{
	for (const struct h2_stream *st = c->streams; st != NULL; st = st->next) {
		if (st->x != NULL)
			return 1;
	}
	return 0;
}

static void on_conn_idle(void *ud)
{
	struct h2_conn *c = ud;

	if (c->closing || c->state == CONN_HANDSHAKE || c->idle_goaway) {
		if (!c->closing)
			LOG(LOG_DEBUG, "h2: %s: %s, closing", c->peer,
			    c->state == CONN_HANDSHAKE ? "no TLS handshake in time"
						       : "GOAWAY not read in time");
		conn_free(c); /* last use of c */
		return;
	}
	/* A stream waiting on the resolver is not idle: the exchange has its
	 * own timeout. Streams waiting on the client are. */
	if (conn_busy(c)) {
		conn_touch(c);
		return;
	}
	LOG(LOG_DEBUG, "h2: %s: idle for %u s, closing", c->peer, c->srv->cfg->conn_timeout_s);
	c->idle_goaway = 1;
	nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
	if (conn_pump(c, 0) != 0) {
		conn_free(c); /* last use of c */
		return;
	}
	loop_timer_arm(c->idle, GOAWAY_LINGER_MS);
}

/* Takes over fd: on success it belongs to the new connection. */
static int conn_new(struct h2_server *s, int fd, const union np_sockaddr *peer)
{
	gnutls_datum_t alpn;
	struct h2_conn *c;
	int one = 1;
	int rc = NP_ENOMEM;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NP_ENOMEM;
	c->srv = s;
	c->fd = fd;
	c->state = CONN_HANDSHAKE;
	alpn.data = (unsigned char *)(uintptr_t) "h2";
	alpn.size = 2;
	np_addr_format(peer, c->peer, sizeof(c->peer), c->peer_ip, sizeof(c->peer_ip));
	c->peer_addr = *peer;
	/* Small frames: do not let Nagle hold them back. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
		c->tls = NULL;
		goto done;
	}
	rc = NP_ETLS;
	if (gnutls_priority_set(c->tls, s->prio) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, s->cred) < 0 ||
	    gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY) < 0)
		goto done;
	gnutls_transport_set_int(c->tls, fd);
	rc = loop_timer_new(s->loop, on_conn_idle, c, &c->idle);
	if (rc == NP_OK)
		rc = loop_timer_new(s->loop, on_conn_kick, c, &c->kick);
	if (rc == NP_OK)
		rc = loop_watch_new(s->loop, fd, LOOP_READ, on_conn_io, c, &c->watch);
	if (rc != NP_OK)
		goto done;
	c->events = LOOP_READ;
	conn_touch(c);
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	LOG(LOG_DEBUG, "h2: %s connected", c->peer);
done:
	if (rc != NP_OK) {
		loop_timer_free(c->idle);
		loop_timer_free(c->kick);
		if (c->tls != NULL)
			gnutls_deinit(c->tls);
		free(c);
	}
	return rc;
}

/* ---- accepting ---- */

static void on_accept_retry(void *ud)
{
	struct h2_server *s = ud;

	if (s->accept_watch != NULL && loop_watch_set(s->accept_watch, LOOP_READ) != NP_OK) {
		LOG(LOG_WARN, "h2: cannot resume accepting; retrying");
		loop_timer_arm(s->accept_retry, ACCEPT_RETRY_MS);
	}
}

static void on_accept(int fd, unsigned events, void *ud)
{
	struct h2_server *s = ud;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH_MAX; i++) {
		union np_sockaddr peer;
		socklen_t plen = sizeof(peer);
		char name[NP_ADDR_TEXT_MAX];
		char ebuf[128];
		int cfd, rc;

		cfd = accept4(fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			int e = errno;

			if (e == EAGAIN || e == EWOULDBLOCK)
				break;
			if (np_accept_error_is_transient(e))
				continue;
			/* Out of descriptors or memory: the socket would stay
			 * readable and spin the loop, so pause. */
			LOG(LOG_WARN, "h2: accept: %s; pausing %u ms",
			    err_text(e, ebuf, sizeof(ebuf)), ACCEPT_RETRY_MS);
			if (loop_watch_set(s->accept_watch, 0) == NP_OK)
				loop_timer_arm(s->accept_retry, ACCEPT_RETRY_MS);
			break;
		}
		if (s->nconns >= s->max_conns) {
			np_addr_format(&peer, name, sizeof(name), NULL, 0);
			LOG(LOG_DEBUG,
			    "h2: %s refused: %u connections open on this worker "
			    "(--max-connections)",
			    name, s->nconns);
			close(cfd);
			continue;
		}
		rc = conn_new(s, cfd, &peer);
		if (rc != NP_OK) {
			np_addr_format(&peer, name, sizeof(name), NULL, 0);
			LOG(LOG_WARN, "h2: %s dropped: %s", name, np_strerror((enum np_status)rc));
			close(cfd);
		}
	}
}

/* ---- the API ---- */

static int listen_open(struct h2_server *s, char *err, size_t errlen)
{
	union np_sockaddr a;
	socklen_t alen;

	if (np_addr_make(s->cfg->bind, s->cfg->doh_port, &a, &alen) != 0) {
		np_set_err(err, errlen, "--bind: '%s' is not an IPv4 or IPv6 address", s->cfg->bind);
		return NP_EINVAL;
	}
	return np_listen_socket(SOCK_STREAM, &a, alen, LISTEN_BACKLOG, "--doh-port", &s->fd, err,
				errlen);
}

static int tls_setup(struct h2_server *s, const char *cert_pem, const char *key_pem, char *err,
		     size_t errlen)
{
	gnutls_datum_t cert, key;
	const char *where = NULL;
	int rv;

	rv = gnutls_certificate_allocate_credentials(&s->cred);
	if (rv < 0) {
		np_set_err(err, errlen, "--doh-port: TLS credentials: %s", gnutls_strerror(rv));
		return NP_ETLS;
	}
	s->have_cred = 1;
	cert.data = (unsigned char *)(uintptr_t)cert_pem;
	cert.size = (unsigned)strlen(cert_pem);
	key.data = (unsigned char *)(uintptr_t)key_pem;
	key.size = (unsigned)strlen(key_pem);
	rv = gnutls_certificate_set_x509_key_mem(s->cred, &cert, &key, GNUTLS_X509_FMT_PEM);
	if (rv < 0) {
		np_set_err(err, errlen,
			"--tls-cert: cannot use the certificate and key for --doh-port: %s",
			gnutls_strerror(rv));
		return NP_ETLS;
	}
	rv = gnutls_priority_init(&s->prio, TLS_PRIORITY, &where);
	if (rv < 0) {
		np_set_err(err, errlen, "--doh-port: TLS priorities at '%s': %s", where ? where : "?",
			gnutls_strerror(rv));
		return NP_ETLS;
	}
	s->have_prio = 1;
	return NP_OK;
}

static int callbacks_setup(struct h2_server *s, char *err, size_t errlen)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0) {
		np_set_err(err, errlen, "--doh-port: out of memory");
		return NP_ENOMEM;
	}
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	nghttp2_session_callbacks_set_error_callback2(cb, on_error);
	s->callbacks = cb;
	return NP_OK;
}

int h2_new(struct worker *w, struct loop *l, const struct config *c, const char *cert_pem,
	   const char *key_pem, struct h2_server **out, char *err, size_t errlen)
{
	struct h2_server *s;
	int rc = NP_ENOMEM;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		np_set_err(err, errlen, "--doh-port: out of memory");
		return NP_ENOMEM;
	}
	s->worker = w;
	s->loop = l;
	s->cfg = c;
	s->fd = -1;
	s->max_conns = c->max_connections / (c->workers ? c->workers : 1);
	if (s->max_conns == 0)
		s->max_conns = 1;
	if (getrandom(&s->id_prefix, sizeof(s->id_prefix), 0) != sizeof(s->id_prefix))
		s->id_prefix = (uint32_t)np_now_us();
	if (cert_pem == NULL || key_pem == NULL) {
		np_set_err(err, errlen, "--doh-port: needs --tls-cert and --tls-key");
		rc = NP_EINVAL;
		goto done;
	}
	rc = tls_setup(s, cert_pem, key_pem, err, errlen);
	if (rc == NP_OK)
		rc = callbacks_setup(s, err, errlen);
	if (rc == NP_OK)
		rc = listen_open(s, err, errlen);
	if (rc != NP_OK)
		goto done;
	rc = loop_timer_new(l, on_accept_retry, s, &s->accept_retry);
	if (rc == NP_OK)
		rc = loop_watch_new(l, s->fd, LOOP_READ, on_accept, s, &s->accept_watch);
	if (rc != NP_OK) {
		np_set_err(err, errlen, "--doh-port: cannot watch the socket: %s",
			np_strerror((enum np_status)rc));
		goto done;
	}
	LOG(LOG_DEBUG, "h2: worker %u serves DoH over HTTP/2 on %s port %u", worker_id(w), c->bind,
	    c->doh_port);
done:
	if (rc != NP_OK) {
		h2_free(s);
		return rc;
	}
	*out = s;
	return NP_OK;
}

void h2_quiesce(struct h2_server *s)
{
	if (s == NULL || s->quiesced)
		return;
	s->quiesced = 1;
	loop_watch_free(s->accept_watch);
	s->accept_watch = NULL;
	loop_timer_disarm(s->accept_retry);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	for (struct h2_conn *c = s->conns; c != NULL; c = c->next) {
		if (c->closing)
			continue;
		if (c->state == CONN_HANDSHAKE) {
			conn_close_soon(c);
			continue;
		}
		/* RFC 9113 section 6.8: streams up to the last one we processed
		 * are still answered; the connection closes after them. */
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->h2),
				      NGHTTP2_NO_ERROR, NULL, 0);
		if (conn_pump(c, 0) != 0)
			conn_close_soon(c);
	}
}

unsigned h2_inflight(const struct h2_server *s)
{
	return s != NULL ? s->nstreams : 0;
}

void h2_free(struct h2_server *s)
{
	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_free(s->conns);
	loop_watch_free(s->accept_watch);
	loop_timer_free(s->accept_retry);
	if (s->fd >= 0)
		close(s->fd);
	if (s->callbacks != NULL)
		nghttp2_session_callbacks_del(s->callbacks);
	if (s->have_prio)
		gnutls_priority_deinit(s->prio);
	if (s->have_cred)
		gnutls_certificate_free_credentials(s->cred);
	free(s);
}
