/*
 * listeners.c - the demo TCP and UDP listeners (the seed's two servers),
 * running on a worker's loop.
 *
 * Each worker binds its own TCP and UDP sockets on the same port with
 * SO_REUSEPORT, so the kernel spreads clients over the workers. Everything
 * is non-blocking and driven by loop watchers:
 *
 *   - the TCP listen socket's watcher accepts connections until EAGAIN;
 *   - each TCP connection has a watcher and an idle timer, re-armed
 *     whenever bytes move. In greeting mode it reads once (up to 1024
 *     bytes, as the seed's recv(1024)), writes the greeting and closes; in
 *     echo mode it sends back what arrives through a buffer capped at
 *     64 KiB: when that is full, reading stops until the client drains it;
 *   - the UDP socket's watcher answers each datagram with the greeting or
 *     with its own bytes.
 *
 * A connection is freed at the very end of its own callback (the watcher
 * and timer frees are deferred by the loop, and nothing touches the
 * connection after that point), or by listeners_free().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, GNU strerror_r */
#endif

#include "listeners.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "netaddr.h"
#include "np.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128
#define GREETING_READ_MAX 1024u	   /* one read before answering, as the seed does */
#define ECHO_BUF_MIN (4u * 1024u)  /* first size of an echo buffer */
#define ECHO_BUF_CAP (64u * 1024u) /* hard cap: past it, stop reading */
#define ECHO_ROUNDS_MAX 16	   /* read/write rounds per wake-up */
#define DRAIN_MAX (64u * 1024u)	   /* unread input discarded before close */
#define UDP_DGRAM_MAX 65535u
#define UDP_BATCH_MAX 256		    /* datagrams per wake-up */
#define ACCEPT_BATCH_MAX 256		    /* accepts per wake-up */
#define ACCEPT_RETRY_MS 100u		    /* pause after EMFILE and the like */

enum conn_state {
	CONN_READING,  /* greeting mode: waiting for the client's words */
	CONN_GREETING, /* greeting mode: writing the greeting */
	CONN_ECHO,     /* echo mode */
};

struct tcp_conn {
	struct listeners *ls;
	struct tcp_conn *prev, *next;
	int fd;
	enum conn_state state;
	int closing; /* set by handlers; the callback then frees */
	struct loop_watch *watch;
	struct loop_timer *idle;
	size_t sent;	    /* greeting bytes written */
	unsigned char *buf; /* echo: bytes received, not yet sent back */
	size_t buf_cap;	    /* allocated size, at most ECHO_BUF_CAP */
	size_t off, len;    /* pending bytes are buf[off..len) */
	int eof;	    /* echo: the client has finished sending */
	char peer[NP_ADDR_TEXT_MAX];
};

struct listeners {
	struct loop *loop;
	const struct config *cfg; /* borrowed, outlives us */
	struct metrics *metrics;  /* borrowed */
	const char *greeting;	  /* cfg's string */
	size_t greeting_len;
	int tcp_fd;
	int udp_fd;
	struct loop_watch *tcp_watch;
	struct loop_watch *udp_watch;
	struct loop_timer *accept_retry; /* re-enables accepting after a pause */
	struct tcp_conn *conns;		 /* open connections, doubly linked */
	unsigned nconns;
	unsigned char *udp_buf; /* UDP_DGRAM_MAX bytes, shared by all datagrams */
};

/* ---- small helpers ---- */

static int would_block(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Thread-safe strerror (GNU strerror_r may or may not use buf). */
static const char *err_text(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

/* ---- TCP connections ---- */

static void conn_free(struct tcp_conn *c)
{
	struct listeners *ls = c->ls;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ls->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ls->nconns--;
	loop_watch_free(c->watch);
	loop_timer_free(c->idle);
	close(c->fd);
	metrics_listener_active(ls->metrics, -1);
	LOG(LOG_DEBUG, "listener tcp: %s closed", c->peer);
	free(c->buf);
	free(c);
}

static void conn_fail(struct tcp_conn *c, const char *what, int e)
{
	char ebuf[128];

	LOG(LOG_DEBUG, "listener tcp: %s: %s: %s", c->peer, what, err_text(e, ebuf, sizeof(ebuf)));
	c->closing = 1;
}

static void conn_touch(struct tcp_conn *c)
{
	loop_timer_arm(c->idle, c->ls->cfg->listener_idle_ms);
}

static void conn_set_events(struct tcp_conn *c, unsigned events)
{
	if (loop_watch_set(c->watch, events) != NP_OK)
		conn_fail(c, "epoll_ctl", errno);
}

/*
 * The answer is out: half-close so the client sees EOF after it, then
 * discard input already queued, so that close() sends a FIN rather than a
 * reset that could destroy the answer in flight. Marks c closing.
 */
static void conn_finish(struct tcp_conn *c)
{
	unsigned char sink[1024];
	size_t drained = 0;

	shutdown(c->fd, SHUT_WR);
	while (drained < DRAIN_MAX) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

		if (n <= 0)
			break;
		drained += (size_t)n;
		metrics_listener_bytes(c->ls->metrics, METRICS_TCP, (unsigned long long)n, 0);
	}
	c->closing = 1;
}

/* Greeting mode: writes what is left of the greeting, then finishes. */
static void greeting_write(struct tcp_conn *c)
{
	const struct listeners *ls = c->ls;

	while (c->sent < ls->greeting_len) {
		ssize_t n =
		    send(c->fd, ls->greeting + c->sent, ls->greeting_len - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (would_block(errno)) {
				/* Partial write: wait for room, reading nothing more. */
				conn_set_events(c, LOOP_WRITE);
				return;
			}
			conn_fail(c, "send", errno);
			return;
		}
		c->sent += (size_t)n;
		metrics_listener_bytes(ls->metrics, METRICS_TCP, 0, (unsigned long long)n);
		conn_touch(c);
	}
	conn_finish(c);
}

/* Greeting mode: one read of what the client says (EOF counts), then answer. */
static void greeting_read(struct tcp_conn *c)
{
	unsigned char buf[GREETING_READ_MAX];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n < 0) {
		if (!would_block(errno))
			conn_fail(c, "recv", errno);
		return;
	}
	metrics_listener_bytes(c->ls->metrics, METRICS_TCP, (unsigned long long)n, 0);
	conn_touch(c);
	c->state = CONN_GREETING;
	greeting_write(c);
}

/*
 * Echo mode: makes room at the end of the buffer for one read. The pending
 * bytes stay below ECHO_BUF_CAP (the caller checks), so compacting or
 * growing up to the cap always leaves room. -1 when out of memory.
 */
static int echo_make_room(struct tcp_conn *c)
{
	if (c->len < c->buf_cap)
		return 0;
	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
		return 0;
	}
	{
		size_t cap = c->buf_cap == 0 ? ECHO_BUF_MIN : c->buf_cap * 2;
		unsigned char *b;

		if (cap > ECHO_BUF_CAP)
			cap = ECHO_BUF_CAP;
		b = realloc(c->buf, cap);
		if (b == NULL)
			return -1;
		c->buf = b;
		c->buf_cap = cap;
	}
	return 0;
}

/*
 * Echo mode: moves bytes from the client into the buffer and back out
 * until neither direction makes progress. The round budget keeps one busy
 * client from starving the others; the level-triggered watcher calls again.
 * Backpressure: with ECHO_BUF_CAP bytes pending, reading stops until the
 * client reads some of its echo.
 */
static void echo_pump(struct tcp_conn *c)
{
	struct metrics *m = c->ls->metrics;
	int moved = 0;
	unsigned events;

	for (int round = 0; round < ECHO_ROUNDS_MAX; round++) {
		int progress = 0;

		if (!c->eof && c->len - c->off < ECHO_BUF_CAP) {
			ssize_t n;

			if (echo_make_room(c) != 0) {
				conn_fail(c, "echo buffer", ENOMEM);
				return;
			}
			n = recv(c->fd, c->buf + c->len, c->buf_cap - c->len, 0);
			if (n > 0) {
				c->len += (size_t)n;
				metrics_listener_bytes(m, METRICS_TCP, (unsigned long long)n, 0);
				progress = 1;
			} else if (n == 0) {
				c->eof = 1;
				progress = 1;
			} else if (!would_block(errno)) {
				conn_fail(c, "recv", errno);
				return;
			}
		}
		if (c->len > c->off) {
			ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);

			if (n > 0) {
				c->off += (size_t)n;
				if (c->off == c->len) {
					c->off = 0;
					c->len = 0;
				}
				metrics_listener_bytes(m, METRICS_TCP, 0, (unsigned long long)n);
				progress = 1;
			} else if (n < 0 && !would_block(errno)) {
				conn_fail(c, "send", errno);
				return;
			}
		}
		if (!progress)
			break;
		moved = 1;
	}
	if (moved)
		conn_touch(c);
	if (c->eof && c->len == c->off) {
		/* RFC 862: the echo ends when the client's stream does. */
		conn_finish(c);
		return;
	}
	/* Never 0: a full buffer is never empty, and EOF with bytes left
	 * waits for writability. */
	events = 0;
	if (!c->eof && c->len - c->off < ECHO_BUF_CAP)
		events |= LOOP_READ;
	if (c->len > c->off)
		events |= LOOP_WRITE;
	conn_set_events(c, events);
}

static void on_conn_io(int fd, unsigned events, void *ud)
{
	struct tcp_conn *c = ud;

	(void)fd;
	switch (c->state) {
	case CONN_READING:
		greeting_read(c);
		break;
	case CONN_GREETING:
		greeting_write(c);
		break;
	case CONN_ECHO:
		echo_pump(c);
		break;
	}
	/* EPOLLERR / EPOLLHUP stay reported whatever the mask: if the handler
	 * above did not already notice the failure, give up now rather than
	 * being woken again and again. */
	if (!c->closing && (events & LOOP_ERROR)) {
		LOG(LOG_DEBUG, "listener tcp: %s: hung up", c->peer);
		c->closing = 1;
	}
	if (c->closing)
		conn_free(c); /* last use of c */
}

static void on_conn_idle(void *ud)
{
	struct tcp_conn *c = ud;

	LOG(LOG_DEBUG, "listener tcp: %s: idle for %u ms, closing", c->peer,
	    c->ls->cfg->listener_idle_ms);
	conn_free(c); /* last use of c */
}

/* Takes over fd: on success it belongs to the new connection. */
static int conn_new(struct listeners *ls, int fd, const char *peer)
{
	struct tcp_conn *c;
	int rc = NP_ENOMEM;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto done;
	c->ls = ls;
	c->fd = fd;
	c->state = ls->cfg->listener_mode == LISTENER_ECHO ? CONN_ECHO : CONN_READING;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	rc = loop_timer_new(ls->loop, on_conn_idle, c, &c->idle);
	if (rc != NP_OK)
		goto done;
	rc = loop_watch_new(ls->loop, fd, LOOP_READ, on_conn_io, c, &c->watch);
	if (rc != NP_OK)
		goto done;
	conn_touch(c);
	c->next = ls->conns;
	if (ls->conns != NULL)
		ls->conns->prev = c;
	ls->conns = c;
	ls->nconns++;
	metrics_listener_active(ls->metrics, +1);
	LOG(LOG_DEBUG, "listener tcp: %s connected", c->peer);
done:
	if (rc != NP_OK && c != NULL) {
		loop_timer_free(c->idle);
		free(c);
	}
	return rc;
}

/* ---- accepting ---- */

static void on_accept_retry(void *ud)
{
	struct listeners *ls = ud;

	if (loop_watch_set(ls->tcp_watch, LOOP_READ) != NP_OK) {
		LOG(LOG_WARN, "listener tcp: cannot resume accepting; retrying");
		loop_timer_arm(ls->accept_retry, ACCEPT_RETRY_MS);
	}
}

/* Out of descriptors or memory: the listen socket would stay readable and
 * spin the loop, so stop watching it for a moment. */
static void accept_pause(struct listeners *ls, int e)
{
	char ebuf[128];

	LOG(LOG_WARN, "listener tcp: accept: %s; pausing %u ms", err_text(e, ebuf, sizeof(ebuf)),
	    ACCEPT_RETRY_MS);
	if (loop_watch_set(ls->tcp_watch, 0) == NP_OK)
		loop_timer_arm(ls->accept_retry, ACCEPT_RETRY_MS);
}

static void on_accept(int fd, unsigned events, void *ud)
{
	struct listeners *ls = ud;

	(void)events;
	for (int i = 0; i < ACCEPT_BATCH_MAX; i++) {
		union np_sockaddr peer;
		socklen_t plen = sizeof(peer);
		char name[NP_ADDR_TEXT_MAX];
		int cfd, rc;

		cfd = accept4(fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			int e = errno;

			if (e == EAGAIN || e == EWOULDBLOCK)
				break;
			if (np_accept_error_is_transient(e))
				continue;
			accept_pause(ls, e);
			break;
		}
		metrics_listener_conn(ls->metrics, METRICS_TCP);
		np_addr_format(&peer, name, sizeof(name), NULL, 0);
		if (ls->nconns >= ls->cfg->listener_max_conns) {
			LOG(LOG_DEBUG,
			    "listener tcp: %s refused: %u connections open (--listener-max-conns)",
			    name, ls->nconns);
			close(cfd);
			continue;
		}
		rc = conn_new(ls, cfd, name);
		if (rc != NP_OK) {
			LOG(LOG_WARN, "listener tcp: %s dropped: %s", name, np_strerror(rc));
			close(cfd);
		}
	}
}

/* ---- UDP ---- */

static void on_udp(int fd, unsigned events, void *ud)
{
	struct listeners *ls = ud;
	int echo = ls->cfg->listener_mode == LISTENER_ECHO;

	(void)events;
	for (int i = 0; i < UDP_BATCH_MAX; i++) {
		union np_sockaddr peer;
		socklen_t plen = sizeof(peer);
		const void *reply;
		size_t reply_len;
		ssize_t n, w;
		int send_errno;
		char name[NP_ADDR_TEXT_MAX];
		char ebuf[128];

		n = recvfrom(fd, ls->udp_buf, UDP_DGRAM_MAX, 0, &peer.sa, &plen);
		if (n < 0) {
			if (!would_block(errno))
				LOG(LOG_DEBUG, "listener udp: recvfrom: %s",
				    err_text(errno, ebuf, sizeof(ebuf)));
			break;
		}
		metrics_listener_conn(ls->metrics, METRICS_UDP);
		metrics_listener_bytes(ls->metrics, METRICS_UDP, (unsigned long long)n, 0);
		reply = echo ? (const void *)ls->udp_buf : (const void *)ls->greeting;
		reply_len = echo ? (size_t)n : ls->greeting_len;
		/* UDP is lossy anyway: a reply that does not fit now is dropped
		 * rather than queued. */
		w = sendto(fd, reply, reply_len, MSG_NOSIGNAL, &peer.sa, plen);
		send_errno = errno;
		if (w >= 0)
			metrics_listener_bytes(ls->metrics, METRICS_UDP, 0, (unsigned long long)w);
		if (LOG_DEBUG <= log_current_level) {
			np_addr_format(&peer, name, sizeof(name), NULL, 0);
			if (w >= 0)
				LOG(LOG_DEBUG, "listener udp: %s: %zd bytes in, %zd out", name, n,
				    w);
			else
				LOG(LOG_DEBUG, "listener udp: %s: %zd bytes in, reply lost: %s",
				    name, n, err_text(send_errno, ebuf, sizeof(ebuf)));
		}
	}
}

/* ---- the API ---- */

/*
 * c and m are borrowed and must outlive the listeners; the greeting is
 * c->greeting itself, not a copy. With c->listeners off, nothing is bound
 * and an empty object is returned, so callers need no special case.
 */

int listeners_new(struct loop *l, const struct config *c, struct metrics *m, struct listeners **out,
		  char *err, size_t errlen)
{
	struct listeners *ls = NULL;
	const char *host = c->listener_bind != NULL ? c->listener_bind : c->bind;
	const char *host_flag = c->listener_bind != NULL ? "--listener-bind" : "--bind";
	union np_sockaddr a;
	socklen_t alen;
	int rc = NP_ENOMEM;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	ls = calloc(1, sizeof(*ls));
	if (ls == NULL) {
		np_set_err(err, errlen, "listeners: out of memory");
		goto done;
	}
	ls->loop = l;
	ls->cfg = c;
	ls->metrics = m;
	ls->tcp_fd = -1;
	ls->udp_fd = -1;
	ls->greeting = c->greeting != NULL ? c->greeting : "";
	ls->greeting_len = strlen(ls->greeting);
	if (!c->listeners) {
		rc = NP_OK;
		goto done;
	}
	rc = NP_EINVAL;
	if (c->listener_tcp_port > 65535 || c->listener_udp_port > 65535) {
		np_set_err(err, errlen, "%s: port out of range",
			c->listener_tcp_port > 65535 ? "--listener-tcp-port"
						     : "--listener-udp-port");
		goto done;
	}
	if (host == NULL || np_addr_make(host, c->listener_tcp_port, &a, &alen) != 0) {
		np_set_err(err, errlen, "%s: '%s' is not an IPv4 or IPv6 address", host_flag,
			host != NULL ? host : "");
		goto done;
	}
	rc = np_listen_socket(SOCK_STREAM, &a, alen, LISTEN_BACKLOG, "--listener-tcp-port", &ls->tcp_fd, err, errlen);
	if (rc != NP_OK)
		goto done;
	np_addr_make(host, c->listener_udp_port, &a, &alen);
	rc = np_listen_socket(SOCK_DGRAM, &a, alen, LISTEN_BACKLOG, "--listener-udp-port", &ls->udp_fd, err, errlen);
	if (rc != NP_OK)
		goto done;

	rc = NP_ENOMEM;
	ls->udp_buf = malloc(UDP_DGRAM_MAX);
	if (ls->udp_buf == NULL) {
		np_set_err(err, errlen, "listeners: out of memory");
		goto done;
	}
	rc = loop_timer_new(l, on_accept_retry, ls, &ls->accept_retry);
	if (rc == NP_OK)
		rc = loop_watch_new(l, ls->tcp_fd, LOOP_READ, on_accept, ls, &ls->tcp_watch);
	if (rc == NP_OK)
		rc = loop_watch_new(l, ls->udp_fd, LOOP_READ, on_udp, ls, &ls->udp_watch);
	if (rc != NP_OK) {
		np_set_err(err, errlen, "listeners: cannot watch the sockets: %s", np_strerror(rc));
		goto done;
	}
	LOG(LOG_DEBUG, "listener: tcp and udp on %s ports %u/%u, %s mode", host,
	    c->listener_tcp_port, c->listener_udp_port,
	    c->listener_mode == LISTENER_ECHO ? "echo" : "greeting");
done:
	if (rc != NP_OK) {
		listeners_free(ls);
		return rc;
	}
	*out = ls;
	return NP_OK;
}

void listeners_free(struct listeners *ls)
{
	if (ls == NULL)
		return;
	while (ls->conns != NULL)
		conn_free(ls->conns);
	loop_watch_free(ls->tcp_watch);
	loop_watch_free(ls->udp_watch);
	loop_timer_free(ls->accept_retry);
	if (ls->tcp_fd >= 0)
		close(ls->tcp_fd);
	if (ls->udp_fd >= 0)
		close(ls->udp_fd);
	free(ls->udp_buf);
	free(ls);
}
