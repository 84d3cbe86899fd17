/*
 * fetch.c - HTTP/HTTPS requests through a libcurl multi handle driven by
 * the worker's loop (see fetch.h).
 *
 * libcurl tells us which sockets to watch (on_socket) and when to call it
 * back (on_timer_set); we call curl_multi_socket_action from the loop's
 * callbacks and collect finished transfers with curl_multi_info_read.
 * TLS version and cipher are read from the OpenSSL session while the
 * transfer runs (the first response header), since the session pointer is
 * only valid then; the certificate comes from CURLINFO_CERTINFO at the end.
 */
#include "fetch.h"
#include "loop.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HEADERS_MAX 200
#define USER_AGENT "netprobe/" NETPROBE_VERSION

struct sock_ctx {
	struct fetcher *f;
	curl_socket_t fd;
	struct loop_watch *watch;
};

struct fetcher {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer;
	struct fetch *first;      /* requests in flight */
};

struct fetch {
	struct fetcher *f;
	struct fetch *prev, *next;
	CURL *easy;
	fetch_cb cb;
	void *ud;
	struct curl_slist *resolve, *hdrs;
	unsigned char *req_body;
	size_t req_len;
	union np_sockaddr addr;
	int denied;               /* libcurl tried another address: refused */
	size_t max_body;
	unsigned char *body;
	size_t body_len, body_cap;
	int truncated;
	struct fetch_header *headers;
	size_t nheaders, capheaders;
	int https;
	int tls_read;
	char tls_version[32], tls_cipher[96];
	char errbuf[CURL_ERROR_SIZE];
	char http_version[8];
};

/* ---- the multi handle on the loop ---- */

static void check_done(struct fetcher *f);

static void on_io(int fd, unsigned events, void *ud)
{
	struct sock_ctx *c = ud;
	struct fetcher *f = c->f;
	int running, flags = 0;

	if (events & LOOP_READ)
		flags |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		flags |= CURL_CSELECT_OUT;
	if (events & LOOP_ERROR)
		flags |= CURL_CSELECT_ERR;
	/* c may be freed inside (CURL_POLL_REMOVE): not used after this */
	curl_multi_socket_action(f->multi, fd, flags, &running);
	check_done(f);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct fetcher *f = userp;
	struct sock_ctx *c = socketp;
	unsigned ev;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (c != NULL) {
			loop_watch_free(c->watch);
			free(c);
			curl_multi_assign(f->multi, s, NULL);
		}
		return 0;
	}
	ev = ((what & CURL_POLL_IN) ? LOOP_READ : 0u) | ((what & CURL_POLL_OUT) ? LOOP_WRITE : 0u);
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return -1;
		c->f = f;
		c->fd = s;
		if (loop_watch_new(f->loop, s, ev, on_io, c, &c->watch) != NP_OK) {
			free(c);
			return -1;
		}
		curl_multi_assign(f->multi, s, c);
		return 0;
	}
	return loop_watch_set(c->watch, ev) == NP_OK ? 0 : -1;
}

static void on_timer(void *ud)
{
	struct fetcher *f = ud;
	int running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(f);
}

/* libcurl's "call me back in timeout_ms" (-1: never). Never act from here. */
static int on_timer_set(CURLM *m, long timeout_ms, void *userp)
{
	struct fetcher *f = userp;

	(void)m;
	if (timeout_ms < 0)
		loop_timer_disarm(f->timer);
	else
		loop_timer_arm(f->timer, (uint64_t)timeout_ms);
	return 0;
}

int fetcher_new(struct loop *l, struct fetcher **out)
{
	struct fetcher *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (f == NULL)
		return NP_ENOMEM;
	f->loop = l;
	f->multi = curl_multi_init();
	if (f->multi == NULL || loop_timer_new(l, on_timer, f, &f->timer) != NP_OK) {
		fetcher_free(f);
		return NP_ENOMEM;
	}
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	*out = f;
	return NP_OK;
}

static void fetch_free(struct fetch *x);

void fetcher_free(struct fetcher *f)
{
	if (f == NULL)
		return;
	while (f->first != NULL)
		fetch_free(f->first);
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi); /* closes sockets: on_socket frees their ctx */
	loop_timer_free(f->timer);
	free(f);
}

/* ---- one request ---- */

static void fetch_free(struct fetch *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else if (x->f->first == x)
		x->f->first = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	if (x->easy != NULL) {
		curl_multi_remove_handle(x->f->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->resolve);
	curl_slist_free_all(x->hdrs);
	for (size_t i = 0; i < x->nheaders; i++) {
		free(x->headers[i].name);
		free(x->headers[i].value);
	}
	free(x->headers);
	free(x->req_body);
	free(x->body);
	free(x);
}

void fetch_cancel(struct fetch *x)
{
	if (x != NULL)
		fetch_free(x);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct fetch *x = ud;
	size_t len = size * n, room = x->max_body - x->body_len, take = len < room ? len : room;

	if (take > 0) {
		if (x->body_len + take > x->body_cap) {
			size_t cap = x->body_cap ? x->body_cap : 16384;
			unsigned char *b;

			while (cap < x->body_len + take)
				cap *= 2;
			if (cap > x->max_body)
				cap = x->max_body;
			b = realloc(x->body, cap);
			if (b == NULL)
				return 0; /* CURLE_WRITE_ERROR, not truncated: out of memory */
			x->body = b;
			x->body_cap = cap;
		}
		memcpy(x->body + x->body_len, p, take);
		x->body_len += take;
	}
	if (take < len) {
		x->truncated = 1;
		return 0; /* stop the transfer: the cap is reached */
	}
	return len;
}

/* TLS version and cipher, from the session while it is there. */
static void read_tls(struct fetch *x)
{
	struct curl_tlssessioninfo *ti = NULL;

	x->tls_read = 1;
	if (curl_easy_getinfo(x->easy, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK || ti == NULL ||
	    ti->backend != CURLSSLBACKEND_OPENSSL || ti->internals == NULL)
		return;
	snprintf(x->tls_version, sizeof(x->tls_version), "%s", SSL_get_version(ti->internals));
	snprintf(x->tls_cipher, sizeof(x->tls_cipher), "%s",
		 SSL_CIPHER_get_name(SSL_get_current_cipher(ti->internals)));
}

static char *trimmed_dup(const char *p, size_t n)
{
	char *s;

	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	s = malloc(n + 1);
	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct fetch *x = ud;
	size_t len = size * n;
	const char *colon;
	struct fetch_header *h;

	if (x->https && !x->tls_read)
		read_tls(x);
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a 1xx): its headers only */
		for (size_t i = 0; i < x->nheaders; i++) {
			free(x->headers[i].name);
			free(x->headers[i].value);
		}
		x->nheaders = 0;
		return len;
	}
	colon = memchr(p, ':', len);
	if (colon == NULL || colon == p || x->nheaders == HEADERS_MAX)
		return len; /* the blank line, or more headers than anyone needs */
	h = np_grow(x->headers, &x->capheaders, x->nheaders + 1, sizeof(*h), 16, HEADERS_MAX);
	if (h == NULL)
		return 0;
	x->headers = h;
	h = &x->headers[x->nheaders];
	h->name = trimmed_dup(p, (size_t)(colon - p));
	h->value = trimmed_dup(colon + 1, len - (size_t)(colon - p) - 1);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return 0;
	}
	for (char *c = h->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	x->nheaders++;
	return len;
}

/* Same IP as the address the caller checked? */
static int same_ip(const struct fetch *x, const struct sockaddr *sa)
{
	if (sa->sa_family != x->addr.sa.sa_family)
		return 0;
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == x->addr.in4.sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &x->addr.in6.sin6_addr,
		      sizeof(x->addr.in6.sin6_addr)) == 0;
}

static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct fetch *x = ud;

	if (purpose != CURLSOCKTYPE_IPCXN || !same_ip(x, &a->addr)) {
		x->denied = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* A libcurl outcome as a status. */
static enum np_status map_curl(struct fetch *x, CURLcode rc)
{
	long os = 0;

	switch (rc) {
	case CURLE_OK:
		return NP_OK;
	case CURLE_WRITE_ERROR:
		return x->truncated ? NP_OK : NP_ENOMEM;
	case CURLE_COULDNT_CONNECT: {
		const char *words;
		enum np_status st;

		if (x->denied)
			return NP_EDENIED;
		curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os);
		/* (the words come from libcurl's errbuf) */
		st = np_connect_status((int)os, &words);
		return st == NP_EUNREACH || st == NP_ETIMEOUT ? st : NP_EREFUSED;
	}
	case CURLE_OPERATION_TIMEDOUT:
		return NP_ETIMEOUT;
	case CURLE_OUT_OF_MEMORY:
		return NP_ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
		return NP_ENOTFOUND;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return NP_ETLS;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_PARTIAL_FILE:
		return NP_EPROTO;
	default:
		return NP_ESYS;
	}
}

/* The server certificate's fields from CURLINFO_CERTINFO ("Subject:..."). */
static const char *cert_field(struct curl_certinfo *ci, const char *key)
{
	size_t klen = strlen(key);

	if (ci == NULL || ci->num_of_certs < 1)
		return NULL;
	for (struct curl_slist *s = ci->certinfo[0]; s != NULL; s = s->next) {
		if (strncmp(s->data, key, klen) == 0 && s->data[klen] == ':')
			return s->data + klen + 1;
	}
	return NULL;
}

static int64_t phase(CURL *e, CURLINFO what)
{
	curl_off_t v = 0;

	return curl_easy_getinfo(e, what, &v) == CURLE_OK ? (int64_t)v : 0;
}

static void finish(struct fetch *x, CURLcode rc)
{
	struct fetch_result r;
	struct curl_certinfo *ci = NULL;
	long code = 0, ver = 0, verify = 0;
	char *loc = NULL;

	memset(&r, 0, sizeof(r));
	r.status = map_curl(x, rc);
	r.detail = r.status == NP_EDENIED ? "the address is not the one checked against the policy"
					  : (x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &ver);
	curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc);
	r.status_code = code;
	snprintf(x->http_version, sizeof(x->http_version), "%s",
		 ver == CURL_HTTP_VERSION_2_0 ? "2" : ver == CURL_HTTP_VERSION_1_0 ? "1.0" : "1.1");
	r.http_version = x->http_version;
	r.headers = x->headers;
	r.nheaders = x->nheaders;
	r.location = code >= 300 && code < 400 ? loc : NULL;
	r.body = x->body;
	r.body_len = x->body_len;
	r.body_truncated = x->truncated;
	if (x->https) {
		r.tls_version = x->tls_version[0] ? x->tls_version : NULL;
		r.tls_cipher = x->tls_cipher[0] ? x->tls_cipher : NULL;
		curl_easy_getinfo(x->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
		r.verified = r.tls_version != NULL && verify == X509_V_OK;
		r.verify_error = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : NULL;
		if (curl_easy_getinfo(x->easy, CURLINFO_CERTINFO, &ci) == CURLE_OK) {
			r.cert_subject = cert_field(ci, "Subject");
			r.cert_issuer = cert_field(ci, "Issuer");
			r.cert_not_before = cert_field(ci, "Start date");
			r.cert_not_after = cert_field(ci, "Expire date");
			r.cert_san = cert_field(ci, "X509v3 Subject Alternative Name");
		}
		r.tls_us = phase(x->easy, CURLINFO_APPCONNECT_TIME_T);
	}
	r.connect_us = phase(x->easy, CURLINFO_CONNECT_TIME_T);
	r.ttfb_us = phase(x->easy, CURLINFO_STARTTRANSFER_TIME_T);
	r.total_us = phase(x->easy, CURLINFO_TOTAL_TIME_T);
	x->cb(&r, x->ud);
	fetch_free(x);
}

static void check_done(struct fetcher *f)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
		struct fetch *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x != NULL)
			finish(x, m->data.result);
	}
}

/* "host:port:address" for CURLOPT_RESOLVE (IPv6 in brackets). */
static struct curl_slist *resolve_entry(const struct fetch_opts *o, const struct fetch *x)
{
	char ip[INET6_ADDRSTRLEN], line[512];

	if (x->addr.sa.sa_family == AF_INET)
		inet_ntop(AF_INET, &x->addr.in4.sin_addr, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, &x->addr.in6.sin6_addr, ip, sizeof(ip));
	snprintf(line, sizeof(line), "%s:%u:%s%s%s", o->host, o->port,
		 x->addr.sa.sa_family == AF_INET6 ? "[" : "", ip,
		 x->addr.sa.sa_family == AF_INET6 ? "]" : "");
	return curl_slist_append(NULL, line);
}

int fetch_start(struct fetcher *f, const struct fetch_opts *o, fetch_cb cb, void *ud,
		struct fetch **out)
{
	struct fetch *x;
	uint64_t now = np_now_us();
	long left_ms = o->deadline_us > now ? (long)((o->deadline_us - now) / 1000u) : 1;
	int fail = 0;

	*out = NULL;
	if (o->addrlen > sizeof(x->addr) || (o->body_len > 0 && o->body == NULL))
		return NP_EINVAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NP_ENOMEM;
	x->f = f;
	x->cb = cb;
	x->ud = ud;
	x->max_body = o->max_body;
	memcpy(&x->addr, o->addr, o->addrlen);
	x->https = strncasecmp(o->url, "https:", 6) == 0;
	x->easy = curl_easy_init();
	if (x->easy == NULL)
		goto oom;
	/* A name is pinned to the checked address; an address needs no
	 * resolving (and CURLOPT_RESOLVE takes no "[::1]" host). */
	if (o->host != NULL) {
		x->resolve = resolve_entry(o, x);
		if (x->resolve == NULL)
			goto oom;
	}
	for (const char *const *h = o->headers; h != NULL && *h != NULL; h++) {
		struct curl_slist *n = curl_slist_append(x->hdrs, *h);

		if (n == NULL)
			goto oom;
		x->hdrs = n;
	}
	{
		/* No "Expect: 100-continue" wait unless the caller asked for it. */
		struct curl_slist *n = curl_slist_append(x->hdrs, "Expect:");

		if (n == NULL)
			goto oom;
		x->hdrs = n;
	}
	if (o->body_len > 0) {
		x->req_body = malloc(o->body_len);
		if (x->req_body == NULL)
			goto oom;
		memcpy(x->req_body, o->body, o->body_len);
		x->req_len = o->body_len;
	}
	if (left_ms < 1)
		left_ms = 1;
	fail |= curl_easy_setopt(x->easy, CURLOPT_URL, o->url) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_PROXY, "") != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	/* A probe measures a whole exchange: its own connection, every time. */
	fail |= curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK;
	if (x->resolve != NULL)
		fail |= curl_easy_setopt(x->easy, CURLOPT_RESOLVE, x->resolve) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_OPENSOCKETDATA, x) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_USERAGENT, USER_AGENT) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, left_ms) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, left_ms) != CURLE_OK;
	fail |= curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION,
				 o->http2 ? (long)CURL_HTTP_VERSION_2TLS
					  : (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
	if (strcmp(o->method, "HEAD") == 0) {
		fail |= curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L) != CURLE_OK;
	} else if (strcmp(o->method, "GET") != 0 || x->req_len > 0) {
		fail |= curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, o->method) != CURLE_OK;
		if (x->req_len > 0 || strcmp(o->method, "POST") == 0) {
			fail |= curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
						 (curl_off_t)x->req_len) != CURLE_OK;
			fail |= curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS,
						 x->req_body ? (char *)x->req_body : "") != CURLE_OK;
		}
	}
	if (x->https) {
		fail |= curl_easy_setopt(x->easy, CURLOPT_CERTINFO, 1L) != CURLE_OK;
		fail |= curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L) !=
			CURLE_OK;
		fail |= curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L) !=
			CURLE_OK;
		if (o->ca_file != NULL) {
			/* the extra CAs, and the system's directory beside them */
			fail |= curl_easy_setopt(x->easy, CURLOPT_CAINFO, o->ca_file) != CURLE_OK;
			fail |= curl_easy_setopt(x->easy, CURLOPT_CAPATH, "/etc/ssl/certs") != CURLE_OK;
		}
	}
	if (fail)
		goto oom;
	if (curl_multi_add_handle(f->multi, x->easy) != CURLM_OK)
		goto oom;
	x->next = f->first;
	if (f->first != NULL)
		f->first->prev = x;
	f->first = x;
	*out = x;
	return NP_OK;
oom:
	fetch_free(x);
	return NP_ENOMEM;
}
