/*
 * test_fetch.c - service/fetch.c on a real loop against a tiny HTTP server
 * the test runs in a thread on 127.0.0.1: the answer's status, headers
 * (lower-cased, in order) and body; max_body cutting the transfer; a
 * redirect's absolute location; the address pinning (a request whose
 * checked address is not the one its URL leads to is refused before any
 * byte leaves: NP_EDENIED, and the server sees no connection); a refused
 * port; the callback never running inside fetch_start; cancel.
 *
 * Traffic goes only to 127.0.0.1, to sockets this test opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch.h"
#include "loop.h"
#include "np.h"

/* ---- a one-answer-per-connection HTTP server ---- */

struct server {
	int lfd;
	uint16_t port;
	const char *answer;     /* sent whole to every connection */
	int connections;        /* accepted so far */
	int stop;
	pthread_t thread;
	char request[2048];     /* the last request's head */
};

static void *serve(void *ud)
{
	struct server *s = ud;

	for (;;) {
		int c = accept(s->lfd, NULL, NULL);
		ssize_t n;

		if (c < 0 || __atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
			if (c >= 0)
				close(c);
			return NULL;
		}
		__atomic_add_fetch(&s->connections, 1, __ATOMIC_SEQ_CST);
		n = recv(c, s->request, sizeof(s->request) - 1, 0);
		s->request[n > 0 ? n : 0] = '\0';
		(void)send(c, s->answer, strlen(s->answer), MSG_NOSIGNAL);
		close(c);
	}
}

static void server_start(struct server *s, const char *answer)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	struct sockaddr_in sa;
	int c;

	__atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
	/* wake the accept() */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(s->port);
	c = socket(AF_INET, SOCK_STREAM, 0);
	(void)connect(c, (struct sockaddr *)&sa, sizeof(sa));
	close(c);
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

/* ---- the client side ---- */

struct outcome {
	struct loop *loop;
	int calls;
	int inside_start;
	int called_inside_start;
	enum np_status status;
	long code;
	char headers[512];       /* "name=value;" */
	char body[256];
	size_t body_len;
	int truncated;
	char location[256];
};

static void on_done(const struct fetch_result *r, void *ud)
{
	struct outcome *o = ud;
	size_t used = 0;

	o->calls++;
	o->called_inside_start |= o->inside_start;
	o->status = r->status;
	o->code = r->status_code;
	for (size_t i = 0; i < r->nheaders && used < sizeof(o->headers); i++)
		used += (size_t)snprintf(o->headers + used, sizeof(o->headers) - used, "%s=%s;",
					 r->headers[i].name, r->headers[i].value);
	o->body_len = r->body_len < sizeof(o->body) - 1 ? r->body_len : sizeof(o->body) - 1;
	if (o->body_len > 0)
		memcpy(o->body, r->body, o->body_len);
	o->body[o->body_len] = '\0';
	o->truncated = r->body_truncated;
	snprintf(o->location, sizeof(o->location), "%s", r->location ? r->location : "");
	loop_stop(o->loop);
}

/* Fetches url, connecting to ip (the address "checked" for it). */
static void fetch(struct outcome *o, struct fetcher *f, const char *url, unsigned port,
		  const char *ip, size_t max_body)
{
	struct sockaddr_in sa;
	struct fetch_opts op;
	struct fetch *x;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	memset(&op, 0, sizeof(op));
	op.url = url;
	op.method = "GET";
	op.host = NULL; /* the URL names an address */
	op.port = port;
	op.addr = (struct sockaddr *)&sa;
	op.addrlen = sizeof(sa);
	op.deadline_us = np_now_us() + 5000000u;
	op.max_body = max_body;
	o->inside_start = 1;
	assert_int_equal(fetch_start(f, &op, on_done, o, &x), NP_OK);
	o->inside_start = 0;
	assert_int_equal(loop_run(o->loop), NP_OK);
	assert_int_equal(o->calls, 1);
	assert_false(o->called_inside_start);
}

static const char page[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Two: a\r\nX-Two: b\r\n"
	"Content-Length: 11\r\nConnection: close\r\n\r\nhello world";

static void test_page(void **state)
{
	struct outcome o = {0};
	struct server s;
	struct fetcher *f;
	char url[64];

	(void)state;
	server_start(&s, page);
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(fetcher_new(o.loop, &f), NP_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/x?y=1", s.port);
	fetch(&o, f, url, s.port, "127.0.0.1", 1024);
	assert_int_equal(o.status, NP_OK);
	assert_int_equal(o.code, 200);
	assert_string_equal(o.headers, "content-type=text/plain;x-two=a;x-two=b;"
				       "content-length=11;connection=close;");
	assert_string_equal(o.body, "hello world");
	assert_false(o.truncated);
	assert_non_null(strstr(s.request, "GET /x?y=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.request, "User-Agent: netprobe/"));

	/* max_body cuts the transfer, and says so */
	memset(&o.calls, 0, sizeof(o) - offsetof(struct outcome, calls));
	fetch(&o, f, url, s.port, "127.0.0.1", 5);
	assert_int_equal(o.status, NP_OK);
	assert_string_equal(o.body, "hello");
	assert_true(o.truncated);
	fetcher_free(f);
	loop_free(o.loop);
	server_stop(&s);
}

static void test_redirect_location_is_absolute(void **state)
{
	struct outcome o = {0};
	struct server s;
	struct fetcher *f;
	char url[64], want[96];

	(void)state;
	server_start(&s, "HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(fetcher_new(o.loop, &f), NP_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/first", s.port);
	fetch(&o, f, url, s.port, "127.0.0.1", 1024);
	assert_int_equal(o.code, 302);
	snprintf(want, sizeof(want), "http://127.0.0.1:%u/next", s.port);
	assert_string_equal(o.location, want);
	fetcher_free(f);
	loop_free(o.loop);
	server_stop(&s);
}

/* The URL leads to 127.0.0.1, but 127.0.0.2 is what was checked: libcurl
 * must not connect anywhere. */
static void test_only_the_checked_address(void **state)
{
	struct outcome o = {0};
	struct server s;
	struct fetcher *f;
	char url[64];

	(void)state;
	server_start(&s, page);
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(fetcher_new(o.loop, &f), NP_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	fetch(&o, f, url, s.port, "127.0.0.2", 1024);
	assert_int_equal(o.status, NP_EDENIED);
	assert_int_equal(o.code, 0);
	fetcher_free(f);
	loop_free(o.loop);
	server_stop(&s);
	assert_int_equal(s.connections, 0);
}

static void test_refused_and_cancel(void **state)
{
	struct outcome o = {0};
	struct fetcher *f;
	struct fetch *x;
	struct fetch_opts op;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int held = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];

	(void)state;
	/* a port held bound, not listening: refused */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(held, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(held, (struct sockaddr *)&sa, &len), 0);
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(fetcher_new(o.loop, &f), NP_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
	fetch(&o, f, url, ntohs(sa.sin_port), "127.0.0.1", 1024);
	assert_int_equal(o.status, NP_EREFUSED);

	/* cancel: no callback; a fetcher freed with requests in flight ends them */
	memset(&op, 0, sizeof(op));
	op.url = url;
	op.method = "GET";
	op.host = NULL; /* the URL names an address */
	op.port = ntohs(sa.sin_port);
	op.addr = (struct sockaddr *)&sa;
	op.addrlen = sizeof(sa);
	op.deadline_us = np_now_us() + 5000000u;
	op.max_body = 16;
	o.calls = 0;
	assert_int_equal(fetch_start(f, &op, on_done, &o, &x), NP_OK);
	fetch_cancel(x);
	fetch_cancel(NULL);
	assert_int_equal(fetch_start(f, &op, on_done, &o, &x), NP_OK);
	fetcher_free(f);
	fetcher_free(NULL);
	assert_int_equal(o.calls, 0);
	loop_free(o.loop);
	close(held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_redirect_location_is_absolute),
		cmocka_unit_test(test_only_the_checked_address),
		cmocka_unit_test(test_refused_and_cancel),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
