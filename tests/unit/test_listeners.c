/*
 * test_listeners.c - the demo TCP and UDP listeners against real clients
 * on 127.0.0.1.
 *
 * The loop runs on a second thread; the test thread plays the client with
 * blocking calls guarded by poll() timeouts, so every wait is bounded. The
 * loop is stopped through a loop_async, then the listeners are freed on the
 * test thread once the loop thread has been joined. Ports are picked free
 * by a bind-to-0 probe; the tests connect only to ports they opened.
 * Each allocation of listeners_new() fails in turn, on a loop of its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "listeners.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "np.h"
#include "support/alloc_fail.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000
#define IDLE_WAIT_MS 2000
#define LONG_WAIT_MS 10000

struct fixture {
	struct config cfg;
	struct metrics *m;
	struct loop *loop;
	struct loop_async *stop;
	struct listeners *ls;
	pthread_t thread;
	int running;
	int run_rc;    /* loop_run's result */
	unsigned port; /* TCP and UDP */
};

/* ---- the loop thread ---- */

static void on_stop(void *ud)
{
	loop_stop(ud);
}

/* No cmocka asserts here: they must run on the test thread. */
static void *loop_thread(void *arg)
{
	struct fixture *f = arg;

	f->run_rc = loop_run(f->loop);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	config_defaults(&f->cfg);
	f->cfg.listener_bind = strdup("127.0.0.1");
	assert_non_null(f->cfg.listener_bind);
	assert_int_equal(metrics_new(0, &f->m), NP_OK);
	assert_int_equal(loop_new(&f->loop), NP_OK);
	assert_int_equal(loop_async_new(f->loop, on_stop, f->loop, &f->stop), NP_OK);
	*state = f;
	return 0;
}

/* Stops the loop thread and frees the listeners (closing their sockets). */
static void fixture_stop(struct fixture *f)
{
	if (f->running) {
		loop_async_send(f->stop);
		assert_int_equal(pthread_join(f->thread, NULL), 0);
		f->running = 0;
		assert_int_equal(f->run_rc, NP_OK);
	}
	listeners_free(f->ls);
	f->ls = NULL;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fixture_stop(f);
	loop_async_free(f->stop);
	loop_free(f->loop);
	metrics_free(f->m);
	config_free(&f->cfg);
	free(f);
	return 0;
}

static void set_greeting(struct fixture *f, const char *g)
{
	free(f->cfg.greeting);
	f->cfg.greeting = strdup(g);
	assert_non_null(f->cfg.greeting);
}

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* Binds a fresh socket of type to 127.0.0.1:port (0: any); returns its fd. */
static int bound_socket(int type, unsigned port, unsigned *port_out)
{
	struct sockaddr_in a = loopback(port);
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	if (port_out != NULL)
		*port_out = ntohs(a.sin_port);
	return fd;
}

/* A port free for both TCP and UDP on 127.0.0.1 right now. */
static unsigned free_port(void)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		unsigned port = 0;
		int t = bound_socket(SOCK_STREAM, 0, &port);
		int u = bound_socket(SOCK_DGRAM, port, NULL);

		assert_true(t >= 0);
		close(t);
		if (u >= 0) {
			close(u);
			return port;
		}
	}
	fail_msg("no free port pair");
	return 0;
}

static void loop_thread_start(struct fixture *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	f->running = 1;
}

/* Picks free ports, creates the listeners and starts the loop thread. */
static void fixture_start(struct fixture *f)
{
	char err[256];
	int rc = NP_ESYS;

	/* Someone may take the probed port between probe and bind: retry. */
	for (int attempt = 0; attempt < 5 && rc != NP_OK; attempt++) {
		f->port = free_port();
		f->cfg.listener_tcp_port = f->port;
		f->cfg.listener_udp_port = f->port;
		rc = listeners_new(f->loop, &f->cfg, f->m, &f->ls, err, sizeof(err));
	}
	if (rc != NP_OK)
		fail_msg("listeners_new: %s", err);
	loop_thread_start(f);
}

/* ---- client helpers, all time-bounded ---- */

static int tcp_connect_opts(unsigned port, int small_buffers)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (small_buffers) {
		int sz = 4096;

		/* Small windows, so that the kernel holds little on our side. */
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), 0);
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
	}
	/* Loopback connects complete (or fail) at once. */
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int tcp_connect(unsigned port)
{
	return tcp_connect_opts(port, 0);
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* 1 if fd has something to read (data or EOF) within timeout_ms. */
static int wait_for(int fd, short what, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = what};
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	assert_true(n >= 0);
	return n > 0;
}

static int remaining_ms(uint64_t deadline_us)
{
	uint64_t now = np_now_us();

	return now >= deadline_us ? 0 : (int)((deadline_us - now + 999u) / 1000u);
}

/*
 * Reads until EOF within timeout_ms; returns the byte count, or -1 on a
 * timeout, an error (a reset included) or more than cap bytes.
 */
static ssize_t recv_until_eof(int fd, void *buf, size_t cap, int timeout_ms)
{
	uint64_t deadline = np_now_us() + (uint64_t)timeout_ms * 1000u;
	size_t got = 0;

	for (;;) {
		ssize_t n;

		if (!wait_for(fd, POLLIN, remaining_ms(deadline)))
			return -1;
		n = recv(fd, (char *)buf + got, cap - got, MSG_DONTWAIT);
		if (n == 0)
			return (ssize_t)got;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
		if (got == cap) {
			char extra;

			/* Full: only an EOF may follow. */
			if (!wait_for(fd, POLLIN, remaining_ms(deadline)))
				return -1;
			return recv(fd, &extra, 1, MSG_DONTWAIT) == 0 ? (ssize_t)got : -1;
		}
	}
}

static void send_all(int fd, const void *p, size_t len)
{
	uint64_t deadline = np_now_us() + (uint64_t)WAIT_MS * 1000u;
	size_t done = 0;

	while (done < len) {
		ssize_t n;

		assert_true(wait_for(fd, POLLOUT, remaining_ms(deadline)));
		n = send(fd, (const char *)p + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		assert_true(n > 0);
		done += (size_t)n;
	}
}

/* Sends msg, reads to EOF and checks the answer is exactly expect. */
static void expect_answer(unsigned port, const char *msg, const char *expect)
{
	char buf[8192];
	int fd = tcp_connect(port);
	ssize_t n;

	if (msg != NULL)
		send_all(fd, msg, strlen(msg));
	else
		assert_int_equal(shutdown(fd, SHUT_WR), 0); /* says nothing, just EOF */
	n = recv_until_eof(fd, buf, sizeof(buf), WAIT_MS);
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(expect));
	assert_memory_equal(buf, expect, strlen(expect));
}

/* A byte pattern that does not repeat at any power-of-two period we use. */
static unsigned char pattern(size_t i)
{
	return (unsigned char)((i * 131u) ^ (i >> 9) ^ (i >> 17));
}

static int udp_client(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

/* Sends one datagram to the listener, returns the reply's length. */
static ssize_t udp_ask(int fd, unsigned port, const void *msg, size_t len, void *reply, size_t cap)
{
	struct sockaddr_in to = loopback(port);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ssize_t n;

	assert_int_equal(sendto(fd, msg, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
	assert_true(wait_for(fd, POLLIN, WAIT_MS));
	n = recvfrom(fd, reply, cap, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &flen);
	assert_true(n >= 0);
	assert_int_equal(ntohs(from.sin_port), port);
	return n;
}

/* Checks that the /metrics text holds line exactly. The loop must be stopped
 * (or idle), so that the counters are settled. */
static void assert_metric(struct fixture *f, const char *line)
{
	struct metrics *all[1] = {f->m};
	char *text = metrics_render(all, 1, NULL);
	char want[256];

	assert_non_null(text);
	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("metric line missing: %s", line);
	free(text);
}

/* ---- TCP greeting ---- */

static void test_tcp_greeting_default(void **state)
{
	struct fixture *f = *state;

	fixture_start(f);
	expect_answer(f->port, "Hello from client", "Hello from server");
}

static void test_metrics(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int fd;

	fixture_start(f);
	expect_answer(f->port, "Hello from client", "Hello from server");
	fd = udp_client();
	assert_int_equal(udp_ask(fd, f->port, "ping", 4, buf, sizeof(buf)), 17);
	close(fd);
	fd = tcp_connect(f->port); /* still open when the listeners go */
	expect_answer(f->port, "hi", "Hello from server");
	loop_async_send(f->stop);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	f->running = 0;
	assert_metric(f, "netprobe_listener_connections_total{proto=\"tcp\"} 3");
	assert_metric(f, "netprobe_listener_connections_total{proto=\"udp\"} 1");
	assert_metric(f, "netprobe_listener_received_bytes_total{proto=\"tcp\"} 19");
	assert_metric(f, "netprobe_listener_received_bytes_total{proto=\"udp\"} 4");
	assert_metric(f, "netprobe_listener_sent_bytes_total{proto=\"tcp\"} 34");
	assert_metric(f, "netprobe_listener_sent_bytes_total{proto=\"udp\"} 17");
	assert_metric(f, "netprobe_listener_open_connections 1");
	fixture_stop(f);
	assert_metric(f, "netprobe_listener_open_connections 0");
	close(fd);
}

static void test_tcp_greeting_custom(void **state)
{
	struct fixture *f = *state;

	set_greeting(f, "Welcome to netprobe\r\n");
	fixture_start(f);
	expect_answer(f->port, "hi", "Welcome to netprobe\r\n");
	/* A client that only half-closes gets the greeting too. */
	expect_answer(f->port, NULL, "Welcome to netprobe\r\n");
}

/* More than the one 1024-byte read: the answer still arrives, ended by a
 * clean EOF (the unread rest must not turn the close into a reset). */
static void test_tcp_greeting_long_request(void **state)
{
	struct fixture *f = *state;
	char req[3000];

	char buf[64];
	int fd, soerr = 0;
	socklen_t len = sizeof(soerr);

	memset(req, 'x', sizeof(req));
	fixture_start(f);
	fd = tcp_connect(f->port);
	send_all(fd, req, sizeof(req));
	assert_int_equal(recv_until_eof(fd, buf, sizeof(buf), WAIT_MS), 17);
	assert_memory_equal(buf, "Hello from server", 17);
	/* A reset would arrive right after the FIN and leave an error. */
	usleep(50 * 1000);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len), 0);
	assert_int_equal(soerr, 0);
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
	close(fd);
}

static void test_tcp_greeting_max_size(void **state)
{
	struct fixture *f = *state;
	char g[4097];

	for (size_t i = 0; i < sizeof(g) - 1; i++)
		g[i] = (char)('a' + i % 26);
	g[sizeof(g) - 1] = '\0';
	set_greeting(f, g);
	fixture_start(f);
	expect_answer(f->port, "hello", g);
}

/* ---- TCP echo ---- */

/*
 * Writes out while reading the echo, then half-closes and reads to EOF.
 * Returns the bytes received into in (at most in_cap).
 */
static size_t echo_exchange(int fd, const unsigned char *out, size_t out_len, unsigned char *in,
			    size_t in_cap)
{
	uint64_t deadline = np_now_us() + (uint64_t)LONG_WAIT_MS * 1000u;
	size_t sent = 0, got = 0;
	int shut = 0;

	set_nonblock(fd);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (sent == out_len && !shut) {
			assert_int_equal(shutdown(fd, SHUT_WR), 0);
			shut = 1;
		}
		if (!shut)
			p.events |= POLLOUT;
		n = poll(&p, 1, remaining_ms(deadline));
		assert_true(n > 0); /* else: timed out */
		if (p.revents & POLLOUT) {
			n = send(fd, out + sent, out_len - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else
				assert_true(errno == EAGAIN);
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			assert_true(got < in_cap);
			n = recv(fd, in + got, in_cap - got, 0);
			if (n == 0)
				break;
			if (n < 0) {
				assert_true(errno == EAGAIN);
				continue;
			}
			got += (size_t)n;
		}
	}
	assert_int_equal(sent, out_len);
	return got;
}

static void test_tcp_echo_100k(void **state)
{
	struct fixture *f = *state;
	size_t len = 100 * 1000;
	unsigned char *out = malloc(len);
	unsigned char *in = malloc(len + 1);
	int fd;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < len; i++)
		out[i] = pattern(i);
	f->cfg.listener_mode = LISTENER_ECHO;
	fixture_start(f);
	fd = tcp_connect(f->port);
	assert_int_equal(echo_exchange(fd, out, len, in, len + 1), len);
	assert_memory_equal(in, out, len);
	close(fd);
	free(out);
	free(in);
}

/*
 * A client that sends without reading: the server's echo buffer fills to
 * its cap and the server stops reading, so the client's writes stall long
 * before 64 MB (kernel buffers here are a few MB at most). Another client
 * is served meanwhile. Then everything sent comes back, exactly.
 */
static void test_tcp_echo_backpressure(void **state)
{
	struct fixture *f = *state;
	const size_t limit = 64u * 1024u * 1024u;
	unsigned char chunk[16384];
	unsigned char in[16384];
	size_t sent = 0, got = 0;
	uint64_t deadline;
	int fd, other;
	char pong[8];

	f->cfg.listener_mode = LISTENER_ECHO;
	fixture_start(f);
	fd = tcp_connect_opts(f->port, 1);
	set_nonblock(fd);
	while (sent < limit) {
		ssize_t n;
		size_t want = sizeof(chunk);

		if (!wait_for(fd, POLLOUT, 500))
			break; /* stalled: the backpressure we want */
		for (size_t i = 0; i < want; i++)
			chunk[i] = pattern(sent + i);
		n = send(fd, chunk, want, MSG_NOSIGNAL);
		if (n < 0) {
			assert_true(errno == EAGAIN);
			continue;
		}
		sent += (size_t)n;
	}
	assert_true(sent < limit);
	assert_true(sent > 0);

	/* The stalled client blocks no one. */
	other = tcp_connect(f->port);
	send_all(other, "ping", 4);
	assert_int_equal(shutdown(other, SHUT_WR), 0);
	assert_int_equal(recv_until_eof(other, pong, sizeof(pong), WAIT_MS), 4);
	assert_memory_equal(pong, "ping", 4);
	close(other);

	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	deadline = np_now_us() + (uint64_t)LONG_WAIT_MS * 1000u;
	for (;;) {
		ssize_t n;

		assert_true(wait_for(fd, POLLIN, remaining_ms(deadline)));
		n = recv(fd, in, sizeof(in), 0);
		if (n == 0)
			break;
		if (n < 0) {
			assert_true(errno == EAGAIN);
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] != pattern(got + (size_t)i))
				fail_msg("echo differs at byte %zu", got + (size_t)i);
		}
		got += (size_t)n;
		assert_true(got <= sent);
	}
	assert_int_equal(got, sent);
	close(fd);
}

/* ---- slow, idle and too many clients ---- */

static void test_silent_client_does_not_block(void **state)
{
	struct fixture *f = *state;
	int silent;

	fixture_start(f);
	silent = tcp_connect(f->port);
	usleep(50 * 1000); /* let the server accept it */
	expect_answer(f->port, "Hello from client", "Hello from server");
	/* The silent one is still open, with nothing said to it. */
	assert_false(wait_for(silent, POLLIN, 0));
	close(silent);
}

static void test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	uint64_t start;
	char c;
	int fd;

	f->cfg.listener_idle_ms = 200;
	fixture_start(f);
	start = np_now_us();
	fd = tcp_connect(f->port);
	assert_true(wait_for(fd, POLLIN, IDLE_WAIT_MS));
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0); /* EOF, no greeting */
	assert_true(np_now_us() - start >= 150u * 1000u);
	close(fd);
}

/* Activity re-arms the idle timer: a slow talker outlives several timeouts. */
static void test_idle_rearmed_by_activity(void **state)
{
	struct fixture *f = *state;
	char c;
	int fd;

	/* 8 x 100 ms outlives 500 ms, with room for a loaded machine. */
	f->cfg.listener_idle_ms = 500;
	f->cfg.listener_mode = LISTENER_ECHO;
	fixture_start(f);
	fd = tcp_connect(f->port);
	for (int i = 0; i < 8; i++) {
		char b = (char)('a' + i);

		usleep(100 * 1000);
		send_all(fd, &b, 1);
		assert_true(wait_for(fd, POLLIN, WAIT_MS));
		assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 1);
		assert_int_equal(c, b);
	}
	/* Then silence: closed by the timeout. */
	assert_true(wait_for(fd, POLLIN, WAIT_MS));
	assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0);
	close(fd);
}

static void test_connection_cap(void **state)
{
	struct fixture *f = *state;
	int a, b, c;
	char buf[64];

	f->cfg.listener_max_conns = 2;
	fixture_start(f);
	a = tcp_connect(f->port);
	b = tcp_connect(f->port);
	c = tcp_connect(f->port);
	/* The kernel queues them in order, so c is the one over the cap. */
	assert_int_equal(recv_until_eof(c, buf, sizeof(buf), WAIT_MS), 0);
	close(c);
	/* a and b were admitted: b gets its greeting. */
	send_all(b, "hi", 2);
	assert_int_equal(recv_until_eof(b, buf, sizeof(buf), WAIT_MS), 17);
	assert_memory_equal(buf, "Hello from server", 17);
	close(b);
	/* b's slot is free again. */
	expect_answer(f->port, "hi", "Hello from server");
	assert_false(wait_for(a, POLLIN, 0));
	fixture_stop(f);
	/* The refused one counts as a connection, never as open. */
	assert_metric(f, "netprobe_listener_connections_total{proto=\"tcp\"} 4");
	assert_metric(f, "netprobe_listener_open_connections 0");
	close(a);
}

static void test_free_closes_connections(void **state)
{
	struct fixture *f = *state;
	char buf[64];
	int fd;

	fixture_start(f);
	fd = tcp_connect(f->port);
	/* Served after fd, so fd has been accepted by then. */
	expect_answer(f->port, "hi", "Hello from server");
	fixture_stop(f);
	assert_int_equal(recv_until_eof(fd, buf, sizeof(buf), WAIT_MS), 0);
	close(fd);
}

/* Workers bind the same port with SO_REUSEPORT. */
static void test_two_workers_share_port(void **state)
{
	struct fixture *f = *state;
	struct listeners *second = NULL;
	char err[256];

	f->port = free_port();
	f->cfg.listener_tcp_port = f->port;
	f->cfg.listener_udp_port = f->port;
	/* One loop for both, for simplicity. */
	assert_int_equal(listeners_new(f->loop, &f->cfg, f->m, &f->ls, err, sizeof(err)), NP_OK);
	assert_int_equal(listeners_new(f->loop, &f->cfg, f->m, &second, err, sizeof(err)), NP_OK);
	loop_thread_start(f);
	for (int i = 0; i < 8; i++)
		expect_answer(f->port, "hi", "Hello from server");
	fixture_stop(f);
	listeners_free(second);
}

static void test_ipv6(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in6 a;
	char buf[64];
	int fd;

	free(f->cfg.listener_bind);
	f->cfg.listener_bind = strdup("::1");
	assert_non_null(f->cfg.listener_bind);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		if (fd >= 0)
			close(fd);
		skip(); /* no IPv6 loopback here */
	}
	close(fd);
	fixture_start(f);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	a.sin6_port = htons((uint16_t)f->port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	send_all(fd, "hi", 2);
	assert_int_equal(recv_until_eof(fd, buf, sizeof(buf), WAIT_MS), 17);
	assert_memory_equal(buf, "Hello from server", 17);
	close(fd);
}

/* ---- UDP ---- */

static void test_udp_greeting(void **state)
{
	struct fixture *f = *state;
	char buf[256];
	int fd;

	fixture_start(f);
	fd = udp_client();
	assert_int_equal(udp_ask(fd, f->port, "Hello from client", 17, buf, sizeof(buf)), 17);
	assert_memory_equal(buf, "Hello from server", 17);
	/* An empty datagram is greeted too. */
	assert_int_equal(udp_ask(fd, f->port, "", 0, buf, sizeof(buf)), 17);
	close(fd);
}

static void test_udp_echo(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = {1, 1000, 60000, 0};
	unsigned char *out = malloc(65536);
	unsigned char *in = malloc(65536);
	int fd;

	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < 65536; i++)
		out[i] = pattern(i);
	f->cfg.listener_mode = LISTENER_ECHO;
	fixture_start(f);
	fd = udp_client();
	for (size_t k = 0; k < NP_ARRAY_LEN(sizes); k++) {
		assert_int_equal(udp_ask(fd, f->port, out, sizes[k], in, 65536), (ssize_t)sizes[k]);
		assert_memory_equal(in, out, sizes[k]);
	}
	close(fd);
	free(out);
	free(in);
}

/* ---- errors ---- */

static void test_bind_conflict_tcp(void **state)
{
	struct fixture *f = *state;
	char err[256], want[256];
	unsigned port = 0;
	int holder = bound_socket(SOCK_STREAM, 0, &port); /* no SO_REUSEPORT */
	char dummy;
	struct listeners *ls = (struct listeners *)(void *)&dummy; /* must be reset */

	assert_true(holder >= 0);
	assert_int_equal(listen(holder, 1), 0);
	f->cfg.listener_tcp_port = port;
	f->cfg.listener_udp_port = free_port();
	assert_int_equal(listeners_new(f->loop, &f->cfg, f->m, &ls, err, sizeof(err)), NP_ESYS);
	assert_null(ls);
	snprintf(want, sizeof(want),
		 "--listener-tcp-port: cannot bind 127.0.0.1:%u: Address already in use", port);
	assert_string_equal(err, want);
	close(holder);
}

static void test_bind_conflict_udp(void **state)
{
	struct fixture *f = *state;
	char err[256], want[256];
	unsigned port = 0;
	int holder = bound_socket(SOCK_DGRAM, 0, &port);

	assert_true(holder >= 0);
	f->cfg.listener_tcp_port = free_port();
	f->cfg.listener_udp_port = port;
	assert_int_equal(listeners_new(f->loop, &f->cfg, f->m, &f->ls, err, sizeof(err)), NP_ESYS);
	assert_null(f->ls);
	snprintf(want, sizeof(want),
		 "--listener-udp-port: cannot bind 127.0.0.1:%u: Address already in use", port);
	assert_string_equal(err, want);
	close(holder);
}

static void test_bad_bind_address(void **state)
{
	struct fixture *f = *state;
	char err[256];

	free(f->cfg.listener_bind);
	f->cfg.listener_bind = strdup("localhost");
	assert_non_null(f->cfg.listener_bind);
	assert_int_equal(listeners_new(f->loop, &f->cfg, f->m, &f->ls, err, sizeof(err)),
			 NP_EINVAL);
	assert_null(f->ls);
	assert_string_equal(err, "--listener-bind: 'localhost' is not an IPv4 or IPv6 address");
}

/* --listeners=false: nothing is bound, and the caller needs no special case. */
static void test_disabled(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a;
	int fd;

	f->cfg.listeners = 0;
	fixture_start(f);
	assert_non_null(f->ls);
	a = loopback(f->port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
}

/* ---- allocation failure ---- */

/* A loop, the listeners on ports the kernel picks, then both freed (a
 * loop of its own, since a loop keeps freed timers until it runs). */
static int listeners_life(void *ud)
{
	struct fixture *f = ud;
	struct loop *l = NULL;
	struct listeners *ls = (struct listeners *)(uintptr_t)1;
	char err[256];
	int rc;

	rc = loop_new(&l);
	if (rc != NP_OK)
		return rc;
	rc = listeners_new(l, &f->cfg, f->m, &ls, err, sizeof(err));
	if (rc != NP_OK) {
		assert_null(ls);
		if (rc == NP_ENOMEM)
			assert_non_null(strstr(err, "out of memory"));
	}
	listeners_free(ls);
	loop_free(l);
	return rc;
}

static void test_new_out_of_memory(void **state)
{
	struct fixture *f = *state;
	long points;

	f->cfg.listener_tcp_port = 0;
	f->cfg.listener_udp_port = 0;
	points = alloc_fail_sweep(listeners_life, f, NP_OK, NP_ENOMEM);
	print_message("listeners_new: %ld allocations\n", points);
	/* loop, listeners, UDP buffer, timer heap and timer, two watchers */
	assert_int_equal(points, 7);
	/* Disabled: the object alone. */
	f->cfg.listeners = 0;
	assert_int_equal(alloc_fail_sweep(listeners_life, f, NP_OK, NP_ENOMEM), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tcp_greeting_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_greeting_custom, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_greeting_long_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_greeting_max_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_echo_100k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_echo_backpressure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_silent_client_does_not_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_rearmed_by_activity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_closes_connections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_workers_share_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_greeting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_udp_echo, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_conflict_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_conflict_udp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_bind_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_out_of_memory, setup, teardown),
	};

	/* Debug level runs the per-connection log lines too. */
	log_setup(getenv("NP_TEST_QUIET") != NULL ? LOG_ERROR : LOG_DEBUG, LOG_FORMAT_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
