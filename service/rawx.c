/*
 * rawx.c - one raw TCP or UDP exchange on the loop (see rawx.h).
 *
 * TCP: a non-blocking connect, then the socket is watched for reading and
 * (while data is left to send) writing at once, so that a peer that talks
 * first, or talks and closes without reading, loses nothing. The deadline
 * timer bounds the whole exchange; the idle timer is re-armed by each read.
 * UDP: the socket is connected, so the kernel drops datagrams from anyone
 * but the peer and reports an ICMP port unreachable as ECONNREFUSED; each
 * answer is read with MSG_TRUNC to learn its full size while keeping at
 * most max_bytes of it.
 *
 * A failure found inside rawx_start (connect refused at once, say) is
 * reported from a 0 ms timer, so the callback never runs inside the call.
 */
#include "rawx.h"
#include "loop.h"
#include "netaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The largest UDP payload; datagrams are kept up to max_bytes of it. */
#define UDP_PAYLOAD_MAX 65535u
/* First size of the TCP read buffer (it grows to max_bytes). */
#define READ_BUF_FIRST 4096u

enum state { ST_CONNECTING, ST_EXCHANGING, ST_DONE };

struct rawx {
	struct loop *loop;
	rawx_cb cb;
	void *ud;
	struct rawx_opts o;
	int fd;
	enum state state;
	struct loop_watch *watch;
	struct loop_timer *deadline;
	struct loop_timer *idle;
	unsigned char *out;       /* what to send (copy) */
	size_t sent;
	int wr_closed;            /* shutdown(SHUT_WR) done */
	unsigned char *buf;       /* what came back */
	size_t len, cap;
	int truncated;
	struct rawx_dgram *dgrams;
	size_t ndgrams, capdgrams;
	uint64_t start_us, connect_us, first_us;
	/* A failure met inside rawx_start, delivered by the deadline timer. */
	int early_status;         /* NP_OK: none */
	const char *early_detail;
};

const char *rawx_end_text(enum rawx_end e)
{
	switch (e) {
	case RAWX_END_CLOSE: return "close";
	case RAWX_END_MAX_BYTES: return "max_bytes";
	case RAWX_END_IDLE: return "idle";
	case RAWX_END_TIMEOUT: return "timeout";
	case RAWX_END_RESET: return "reset";
	case RAWX_END_COUNT: return "count";
	case RAWX_END_ERROR: return "error";
	}
	return "error";
}

static void rawx_free(struct rawx *x)
{
	loop_watch_free(x->watch);
	loop_timer_free(x->deadline);
	loop_timer_free(x->idle);
	if (x->fd >= 0)
		close(x->fd);
	free(x->out);
	free(x->buf);
	free(x->dgrams);
	free(x);
}

void rawx_cancel(struct rawx *x)
{
	if (x != NULL)
		rawx_free(x);
}

/* Hands the outcome to the caller and frees the exchange. */
static void finish(struct rawx *x, enum np_status st, const char *detail, enum rawx_end end)
{
	struct rawx_result r;

	memset(&r, 0, sizeof(r));
	x->state = ST_DONE;
	r.status = st;
	r.detail = detail;
	r.end = end;
	r.sent = x->sent;
	r.buf = x->buf;
	r.len = x->len;
	r.truncated = x->truncated;
	r.dgrams = x->dgrams;
	r.ndgrams = x->ndgrams;
	r.start_us = x->start_us;
	r.connect_us = x->connect_us;
	r.first_us = x->first_us;
	r.end_us = np_now_us();
	x->cb(&r, x->ud);
	rawx_free(x);
}

static void fail_errno(struct rawx *x, int e)
{
	const char *detail;
	enum np_status st = np_connect_status(e, &detail);

	finish(x, st, detail, RAWX_END_ERROR);
}

/* The events to watch now: reading once connected, writing while there
 * is data left to send (or the connect to finish). */
static unsigned wanted(const struct rawx *x)
{
	if (x->state == ST_CONNECTING)
		return LOOP_WRITE;
	if (!x->o.udp && x->sent < x->o.len)
		return LOOP_READ | LOOP_WRITE;
	return LOOP_READ;
}

/* ---- TCP ---- */

static void arm_idle(struct rawx *x)
{
	if (x->o.idle_ms > 0 && x->sent == x->o.len)
		loop_timer_arm(x->idle, x->o.idle_ms);
}

/* Sends what is left; 0 to go on, -1 when the exchange has ended. */
static int tcp_send(struct rawx *x)
{
	while (x->sent < x->o.len) {
		ssize_t n = send(x->fd, x->out + x->sent, x->o.len - x->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			x->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && (errno == ECONNRESET || errno == EPIPE)) {
			finish(x, NP_ESYS, "the peer reset the connection", RAWX_END_RESET);
			return -1;
		}
		fail_errno(x, n < 0 ? errno : EIO);
		return -1;
	}
	if (x->o.half_close && !x->wr_closed) {
		x->wr_closed = 1;
		(void)shutdown(x->fd, SHUT_WR);
	}
	arm_idle(x);
	return 0;
}

/* Reads what is there; 0 to go on, -1 when the exchange has ended. */
static int tcp_read(struct rawx *x)
{
	for (;;) {
		ssize_t n;

		if (x->len == x->o.max_bytes) {
			unsigned char one;

			/* Exactly max_bytes and then the end: not cut short. */
			if (recv(x->fd, &one, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
				finish(x, NP_OK, NULL, RAWX_END_CLOSE);
				return -1;
			}
			x->truncated = 1;
			finish(x, NP_OK, NULL, RAWX_END_MAX_BYTES);
			return -1;
		}
		if (x->len == x->cap) {
			unsigned char *b = np_grow(x->buf, &x->cap, x->len + 1, 1, READ_BUF_FIRST,
						   x->o.max_bytes);

			if (b == NULL) {
				finish(x, NP_ENOMEM, "out of memory", RAWX_END_ERROR);
				return -1;
			}
			x->buf = b;
		}
		n = recv(x->fd, x->buf + x->len, x->cap - x->len, MSG_DONTWAIT);
		if (n > 0) {
			if (x->first_us == 0)
				x->first_us = np_now_us();
			x->len += (size_t)n;
			arm_idle(x);
			continue;
		}
		if (n == 0) {
			finish(x, NP_OK, NULL, RAWX_END_CLOSE);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == ECONNRESET) {
			finish(x, NP_ESYS, "the peer reset the connection", RAWX_END_RESET);
			return -1;
		}
		fail_errno(x, errno);
		return -1;
	}
}

/* ---- UDP ---- */

/* Reads the answers there are; 0 to go on, -1 when the exchange has ended. */
static int udp_read(struct rawx *x)
{
	size_t keep = x->o.max_bytes < UDP_PAYLOAD_MAX ? x->o.max_bytes : UDP_PAYLOAD_MAX;

	while (x->ndgrams < x->o.max_datagrams) {
		struct rawx_dgram *d;
		ssize_t n;

		if (x->cap - x->len < keep) {
			unsigned char *b = np_grow(x->buf, &x->cap, x->len + keep, 1, keep, 0);

			if (b == NULL) {
				finish(x, NP_ENOMEM, "out of memory", RAWX_END_ERROR);
				return -1;
			}
			x->buf = b;
		}
		d = np_grow(x->dgrams, &x->capdgrams, x->ndgrams + 1, sizeof(*d), 4, 0);
		if (d == NULL) {
			finish(x, NP_ENOMEM, "out of memory", RAWX_END_ERROR);
			return -1;
		}
		x->dgrams = d;
		/* MSG_TRUNC: the datagram's real size, whatever fits. */
		n = recv(x->fd, x->buf + x->len, keep, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			fail_errno(x, errno);
			return -1;
		}
		d = &x->dgrams[x->ndgrams++];
		d->off = x->len;
		d->full_len = (size_t)n;
		d->len = (size_t)n < keep ? (size_t)n : keep;
		d->at_us = np_now_us();
		if (x->first_us == 0)
			x->first_us = d->at_us;
		x->len += d->len;
	}
	finish(x, NP_OK, NULL, RAWX_END_COUNT);
	return -1;
}

/* ---- the loop side ---- */

static void on_connected(struct rawx *x)
{
	x->connect_us = np_now_us();
	x->state = ST_EXCHANGING;
	if (tcp_send(x) != 0)
		return;
	loop_watch_set(x->watch, wanted(x));
}

static void on_io(int fd, unsigned events, void *ud)
{
	struct rawx *x = ud;

	(void)fd;
	if (x->state == ST_CONNECTING) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		if (err != 0) {
			fail_errno(x, err);
			return;
		}
		if (!(events & (LOOP_WRITE | LOOP_ERROR)))
			return;
		on_connected(x);
		return;
	}
	if (x->o.udp) {
		(void)udp_read(x);
		return;
	}
	/* Read first: what the peer said before an error is kept. */
	if ((events & (LOOP_READ | LOOP_ERROR | LOOP_PEER_CLOSED)) && tcp_read(x) != 0)
		return;
	if ((events & (LOOP_WRITE | LOOP_ERROR)) && x->sent < x->o.len) {
		if (tcp_send(x) != 0)
			return;
	}
	loop_watch_set(x->watch, wanted(x));
}

static void on_deadline(void *ud)
{
	struct rawx *x = ud;

	if (x->early_status != NP_OK) {
		finish(x, (enum np_status)x->early_status, x->early_detail, RAWX_END_ERROR);
		return;
	}
	if (x->state == ST_CONNECTING) {
		finish(x, NP_ETIMEOUT, "the connection was not set up before the timeout",
		       RAWX_END_ERROR);
		return;
	}
	if (x->o.udp && x->ndgrams == 0) {
		finish(x, NP_ETIMEOUT, "no answer before the timeout", RAWX_END_TIMEOUT);
		return;
	}
	finish(x, NP_OK, NULL, RAWX_END_TIMEOUT);
}

static void on_idle(void *ud)
{
	finish(ud, NP_OK, NULL, RAWX_END_IDLE);
}

/* A failure inside rawx_start: kept, and reported from a 0 ms timer. */
static void fail_early(struct rawx *x, int e)
{
	enum np_status st = np_connect_status(e, &x->early_detail);

	x->early_status = (int)st;
	loop_watch_free(x->watch);
	x->watch = NULL;
	loop_timer_arm(x->deadline, 0);
}

int rawx_start(struct loop *l, const struct sockaddr *sa, socklen_t salen,
	       const struct rawx_opts *o, rawx_cb cb, void *ud, struct rawx **out)
{
	struct rawx *x;
	uint64_t now = np_now_us();
	int type;

	*out = NULL;
	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || o->max_bytes == 0 ||
	    (o->udp && o->max_datagrams == 0) || (o->len > 0 && o->data == NULL))
		return NP_EINVAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NP_ENOMEM;
	x->loop = l;
	x->cb = cb;
	x->ud = ud;
	x->o = *o;
	x->o.data = NULL;
	x->fd = -1;
	x->start_us = now;
	if ((o->len > 0 && (x->out = malloc(o->len)) == NULL) ||
	    loop_timer_new(l, on_deadline, x, &x->deadline) != NP_OK ||
	    loop_timer_new(l, on_idle, x, &x->idle) != NP_OK) {
		rawx_free(x);
		return NP_ENOMEM;
	}
	if (o->len > 0)
		memcpy(x->out, o->data, o->len);
	type = o->udp ? SOCK_DGRAM : SOCK_STREAM;
	x->fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		int e = errno;

		rawx_free(x);
		return e == ENOMEM || e == ENOBUFS || e == EMFILE || e == ENFILE ? NP_ENOMEM
										  : NP_EINVAL;
	}
	if (!o->udp) {
		int one = 1;

		/* Requests are written whole: no reason to hold them back. */
		(void)setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (loop_watch_new(l, x->fd, LOOP_WRITE, on_io, x, &x->watch) != NP_OK) {
		rawx_free(x);
		return NP_ENOMEM;
	}
	loop_timer_arm_us(x->deadline, o->deadline_us > now ? o->deadline_us - now : 0);
	*out = x;
	if (connect(x->fd, sa, salen) != 0 && errno != EINPROGRESS) {
		fail_early(x, errno);
		return NP_OK;
	}
	if (!o->udp) {
		x->state = ST_CONNECTING;
		return NP_OK;
	}
	/* UDP: connected at once; one datagram out, then wait for answers. */
	x->state = ST_EXCHANGING;
	if (send(x->fd, x->out, x->o.len, MSG_DONTWAIT) != (ssize_t)x->o.len) {
		fail_early(x, errno);
		return NP_OK;
	}
	x->sent = x->o.len;
	loop_watch_set(x->watch, LOOP_READ);
	return NP_OK;
}
