/*
 * fetch.h - one HTTP or HTTPS request through libcurl, on the loop: the
 * seed's raw HTTP and HTTPS requests as a proper client, with timing
 * phases and TLS details.
 *
 * One libcurl multi handle per worker (struct fetcher), its sockets and
 * timeout on the worker's loop (CURLMOPT_SOCKETFUNCTION and
 * TIMERFUNCTION). A request goes to one address the caller chose and
 * checked (CURLOPT_RESOLVE pins it, so libcurl never resolves; an
 * open-socket callback refuses any other address), follows no redirect
 * itself (the caller does, re-resolving and re-checking each hop), uses no
 * proxy, and speaks only http and https. This module knows nothing of
 * names, policy or HTTP servers. Loop thread only.
 */
#ifndef NP_FETCH_H
#define NP_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "np.h"

struct loop;
struct fetcher;
struct fetch;

struct fetch_header {
	char *name;    /* lower-cased */
	char *value;
};

struct fetch_opts {
	const char *url;            /* http:// or https:// */
	const char *method;         /* GET, HEAD, POST, ... */
	const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
	const unsigned char *body;  /* request body (copied); NULL with body_len 0 */
	size_t body_len;
	const char *host;           /* the URL's host name, pinned to addr; NULL
				     * when the URL names an address */
	unsigned port;              /* the URL's port */
	const struct sockaddr *addr; /* where to connect (port ignored) */
	socklen_t addrlen;
	uint64_t deadline_us;       /* np_now_us() by which the request ends */
	size_t max_body;            /* response body bytes kept (more: truncated) */
	int http2;                  /* ask for HTTP/2 (ALPN) */
	int insecure;               /* do not verify the peer's certificate */
	const char *ca_file;        /* extra trusted CAs (PEM), or NULL */
};

struct fetch_result {
	enum np_status status;      /* NP_OK: a response came (any status code) */
	const char *detail;         /* libcurl's words for a failure */
	long status_code;           /* 0: no response */
	const char *http_version;   /* "1.0", "1.1", "2" */
	const struct fetch_header *headers; /* of the last response, in order */
	size_t nheaders;
	const char *location;       /* redirect target (absolute), or NULL */
	const unsigned char *body;
	size_t body_len;
	int body_truncated;
	/* TLS (https only; tls_version NULL otherwise) */
	const char *tls_version, *tls_cipher;
	int verified;               /* the certificate chain verified */
	const char *verify_error;   /* why not, when !verified */
	const char *cert_subject, *cert_issuer, *cert_not_before, *cert_not_after;
	const char *cert_san;       /* "DNS:a, IP Address:b", or NULL */
	/* phases, microseconds from the start of this request */
	int64_t connect_us, tls_us, ttfb_us, total_us;
};

/* Called once, from a loop callback (never inside fetch_start); the
 * request is freed when it returns, with everything res points to. */
typedef void (*fetch_cb)(const struct fetch_result *res, void *ud);

int fetcher_new(struct loop *l, struct fetcher **out);
/* Ends every request without calling its callback. NULL-safe. */
void fetcher_free(struct fetcher *f);

/* NP_OK (cb will run), NP_ENOMEM or NP_EINVAL. */
int fetch_start(struct fetcher *f, const struct fetch_opts *o, fetch_cb cb, void *ud,
		struct fetch **out);
/* Stops the request without calling cb, and frees it. NULL-safe. */
void fetch_cancel(struct fetch *x);

#endif
