/*
 * dns_sock.c - the sockets of a resolver's c-ares channels, with UDP system
 * calls batched (and, where the kernel can, UDP segmentation offload).
 *
 * c-ares sends each UDP query with its own send() and reads each answer
 * with its own recvfrom(); with a batch of queries in flight those calls
 * are most of a worker's CPU. Through ares_set_socket_functions() every
 * channel of the resolver opens, reads, writes and closes its sockets here
 * instead:
 *
 * - Sending (sock_sendv): a UDP datagram is copied into its socket's queue
 *   and reported to c-ares as sent. The queue leaves in one sendmmsg() when
 *   it holds FLUSH_AT datagrams, so that the server starts answering while
 *   the rest of a batch is being built, and from the loop's before-sleep
 *   hook, so nothing stays queued while the loop waits. c-ares starts a
 *   query's timeout when it hands the datagram over; the datagram leaves in
 *   the same loop iteration.
 * - UDP GSO (Linux 4.18+): a run of queued datagrams of one length, such
 *   as a batch of names of one length, leaves as one message carrying a
 *   UDP_SEGMENT size, and the kernel cuts it back into those datagrams
 *   below the socket layer, so the per-datagram path (routing, netfilter,
 *   and on loopback the receiver's IP and UDP input) runs once per run.
 *   The server sees ordinary datagrams. If the kernel or the route refuses
 *   it (EIO without checksum offload, EINVAL, ENOPROTOOPT), GSO is off for
 *   this resolver from then on and the run is sent one datagram a message.
 * - Receiving (sock_recvfrom): a UDP read is served from the socket's
 *   batch, filled by one recvmmsg() of up to RECV_BATCH datagrams when it
 *   is empty; an empty batch and an empty socket give EAGAIN, as recvfrom
 *   would. c-ares 1.18 reads until EAGAIN, so the batch is empty again when
 *   ares_process_fd() returns (dns.c checks with dns_sock_buffered, since
 *   epoll would never report datagrams that sit here).
 * - Errors: EAGAIN / ENOBUFS while sending keep the datagrams queued and
 *   shorten the loop's next wait to RETRY_MS. A queue that is full and
 *   cannot be sent makes sock_sendv fail with EAGAIN, which c-ares 1.18
 *   counts as a failed try. Any other send error (ECONNREFUSED after an
 *   ICMP port unreachable, most often) drops the socket's queue and is kept
 *   for the socket: the next read returns it, and a 0 ms timer asks dns.c
 *   (dns_sock_error_cb) to have c-ares read now. c-ares then closes the
 *   socket and re-sends every query it had sent on it, or ends them, just
 *   as when recvfrom() reports the error itself.
 * - TCP sockets are not batched: sendmsg() and recvfrom() directly.
 *
 * c-ares 1.18 leaves user-managed sockets unconfigured (configure_socket()
 * returns early, and TCP_NODELAY is skipped), so sock_open sets what it set
 * (non-blocking, close-on-exec, no Nagle) and the 4 MB UDP receive buffer.
 * (c-ares 1.18 would still call a socket configure callback; dns.c sets
 * none, so the buffer is set here only.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sendmmsg, recvmmsg */
#endif
#include "dns_sock.h"
#include "loop.h"
#include "np.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Queued datagrams that make a socket's queue leave at once, so that the
 * server answers the first ones while the handler still builds the rest of
 * its batch. On bench/dns/run.sh 16, 32, 64 and flushing only before sleep
 * were within the (2-CPU, shared) machine's noise of each other; 32 costs 4
 * sendmmsg() per 100-name batch. */
#define FLUSH_AT 32
/* Hard caps of one socket's send queue: datagrams and bytes. */
#define SENDQ_MAX 1024
#define SENDQ_BYTES_MAX (256u << 10)
/* Datagrams per sendmmsg() call. */
#define SEND_CHUNK 64
/* One UDP GSO message: at most this many datagrams (the kernel's
 * UDP_MAX_SEGMENTS was 64 before Linux 6.5) and bytes. */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 60000u
/* Datagrams per recvmmsg() call. */
#define RECV_BATCH 32
/* Room for one datagram of a batch: c-ares 1.18 reads UDP answers into a
 * buffer of MAXENDSSZ + 1 = 4097 bytes, so a datagram it can take whole
 * fits here whole. A read with a larger buffer bypasses the batch. */
#define RECV_SLOT 4097
/* Wait cap while a queue cannot be sent (EAGAIN / ENOBUFS). */
#define RETRY_MS 1
/* Error callbacks per timer run; more wait for the next iteration. */
#define NOTIFY_MAX 64
/* UDP receive buffer: with a thousand queries in flight the default
 * buffer overflows and answers are lost until c-ares retries. */
#define UDP_RCVBUF (4 << 20)
/* Largest UDP payload: 65535 minus the IP and UDP headers. */
#define UDP4_MAX_PAYLOAD 65507u
#define UDP6_MAX_PAYLOAD 65527u

struct sendq_ent {
	uint32_t off; /* in udp_sock.buf */
	uint32_t len;
};

struct recv_batch {
	struct mmsghdr msgs[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	struct sockaddr_storage from[RECV_BATCH];
	unsigned char data[RECV_BATCH][RECV_SLOT];
};

/* One UDP socket opened by c-ares. */
struct udp_sock {
	int fd;
	int family;
	uint64_t id;              /* unique per socket: fds are reused */
	int err;                  /* send error kept for c-ares' next read; 0: none */
	int err_notify;           /* err is set and on_error has not run for it */
	int blocked;              /* the last send got EAGAIN: leave retries to the hook */
	/* The connected peer (sock_connect): a connected UDP socket receives
	 * from it only, so reads need not ask the kernel for each source. */
	struct sockaddr_storage peer;
	socklen_t peerlen;        /* 0: not connected */
	/* The send queue: n datagrams, their bytes in buf[0..used). */
	struct sendq_ent *ents;
	size_t n, cap_ents;
	unsigned char *buf;
	size_t used, cap;
	/* The receive batch: datagrams rhead..rn not yet handed to c-ares. */
	struct recv_batch *rb;    /* allocated at the first read */
	size_t rhead, rn;
};

struct dns_sock {
	struct loop *loop;
	dns_sock_error_cb on_error;
	void *ud;
	struct udp_sock **socks;
	size_t nsocks, capsocks;
	uint64_t next_id;
	struct loop_timer *notify;  /* 0 ms: hands kept send errors to on_error */
	int hooked;
	int gso_off;                /* a UDP_SEGMENT send failed: no GSO */
	/* Scratch for sendmmsg(). */
	struct mmsghdr smsgs[SEND_CHUNK];
	struct iovec siov[SEND_CHUNK];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		size_t align; /* struct cmsghdr's alignment */
	} sctl[SEND_CHUNK];
};

static struct udp_sock *find_sock(const struct dns_sock *s, int fd)
{
	for (size_t i = 0; i < s->nsocks; i++) {
		if (s->socks[i]->fd == fd)
			return s->socks[i];
	}
	return NULL;
}

static void udp_sock_free(struct udp_sock *u)
{
	free(u->ents);
	free(u->buf);
	free(u->rb);
	free(u);
}

static int is_transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS;
}

static void keep_error(struct dns_sock *s, struct udp_sock *u, int e)
{
	u->err = e;
	u->err_notify = 1;
	loop_timer_arm(s->notify, 0);
}

/* Drops the first k datagrams of u's queue (sent, or given up). */
static void sendq_consume(struct udp_sock *u, size_t k)
{
	size_t off;

	if (k >= u->n) {
		u->n = 0;
		u->used = 0;
		return;
	}
	off = u->ents[k].off;
	memmove(u->ents, u->ents + k, (u->n - k) * sizeof(*u->ents));
	u->n -= k;
	memmove(u->buf, u->buf + off, u->used - off);
	u->used -= off;
	for (size_t i = 0; i < u->n; i++)
		u->ents[i].off -= (uint32_t)off;
}

/*
 * Fills s->smsgs with up to SEND_CHUNK messages for u's queue from
 * datagram `from` on; returns the message count and sets segs[i] to the
 * datagrams message i carries. With UDP GSO on, a run of queued datagrams
 * of one length (their bytes are contiguous in u->buf) goes as one message
 * with a UDP_SEGMENT control message: the kernel cuts it back into those
 * datagrams, and the receiver sees them one by one as if sent apart.
 */
static unsigned build_msgs(struct dns_sock *s, const struct udp_sock *u, size_t from,
			   unsigned segs[SEND_CHUNK])
{
	unsigned k = 0;
	size_t i = from;

	while (k < SEND_CHUNK && i < u->n) {
		const struct sendq_ent *e = &u->ents[i];
		struct msghdr *mh = &s->smsgs[k].msg_hdr;
		unsigned run = 1;

		if (!s->gso_off) {
			while (i + run < u->n && run < GSO_MAX_SEGS &&
			       u->ents[i + run].len == e->len &&
			       (size_t)(run + 1) * e->len <= GSO_MAX_BYTES)
				run++;
		}
		s->siov[k].iov_base = u->buf + e->off;
		s->siov[k].iov_len = (size_t)run * e->len;
		memset(&s->smsgs[k], 0, sizeof(s->smsgs[k]));
		mh->msg_iov = &s->siov[k];
		mh->msg_iovlen = 1;
		if (run > 1) {
			struct cmsghdr *cm;
			uint16_t size = (uint16_t)e->len;

			mh->msg_control = s->sctl[k].buf;
			mh->msg_controllen = sizeof(s->sctl[k].buf);
			cm = CMSG_FIRSTHDR(mh);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(size));
			memcpy(CMSG_DATA(cm), &size, sizeof(size));
		}
		segs[k++] = run;
		i += run;
	}
	return k;
}

/* The errors a kernel or path without UDP GSO gives a UDP_SEGMENT send. */
static int is_gso_unsupported(int e)
{
	return e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP;
}

/*
 * Sends u's queue with sendmmsg(). Stops at EAGAIN / ENOBUFS with the rest
 * still queued (u->blocked); on any other error drops the queue and keeps
 * the error for c-ares. A socket whose error c-ares has not read yet sends
 * nothing: c-ares is about to close it and re-send its queries.
 */
static void flush_sock(struct dns_sock *s, struct udp_sock *u)
{
	size_t done = 0;
	unsigned segs[SEND_CHUNK];

	if (u->err != 0)
		return;
	while (done < u->n) {
		unsigned k = build_msgs(s, u, done, segs);
		int r = sendmmsg(u->fd, s->smsgs, k, MSG_DONTWAIT);

		if (r > 0) {
			/* Short count: the next call starts at the first message
			 * not sent, and reports its error if it fails again. */
			for (int i = 0; i < r; i++)
				done += segs[i];
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && is_transient(errno)) {
			u->blocked = 1;
			break;
		}
		if (r < 0 && segs[0] > 1 && is_gso_unsupported(errno)) {
			/* No GSO here: send one datagram per message from now on. */
			s->gso_off = 1;
			continue;
		}
		keep_error(s, u, r < 0 ? errno : EIO);
		done = u->n;
	}
	sendq_consume(u, done);
	if (u->n == 0)
		u->blocked = 0;
}

static int sendq_has_room(const struct udp_sock *u, size_t len)
{
	return u->n < SENDQ_MAX && u->used + len <= SENDQ_BYTES_MAX;
}

/* Grows the queue's arrays to take one more datagram of len bytes. */
static int sendq_reserve(struct udp_sock *u, size_t len)
{
	/* Within the caps: sendq_has_room() said so. */
	struct sendq_ent *e = np_grow(u->ents, &u->cap_ents, u->n + 1, sizeof(*e), 64, SENDQ_MAX);
	unsigned char *b;

	if (e == NULL)
		return NP_ENOMEM;
	u->ents = e;
	b = np_grow(u->buf, &u->cap, u->used + len, 1, 8192, SENDQ_BYTES_MAX);
	if (b == NULL)
		return NP_ENOMEM;
	u->buf = b;
	return NP_OK;
}

/* ---- the c-ares socket functions ---- */

static ares_socket_t sock_open(int domain, int type, int protocol, void *ud)
{
	struct dns_sock *s = ud;
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct udp_sock *u = NULL;
	int fd;

	fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		return ARES_SOCKET_BAD;
	if (base == SOCK_STREAM) {
		int one = 1;

		/* As c-ares does for its own sockets: a query should leave at
		 * once. A failure only costs latency. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		return fd;
	}
	if (base != SOCK_DGRAM)
		return fd;
	{
		int size = UDP_RCVBUF;

		/* SO_RCVBUFFORCE passes net.core.rmem_max when we may
		 * (CAP_NET_ADMIN); otherwise the kernel caps SO_RCVBUF there. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	{
		struct udp_sock **p = np_grow(s->socks, &s->capsocks, s->nsocks + 1, sizeof(*p),
					      8, 0);

		if (p == NULL)
			goto oom;
		s->socks = p;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		goto oom;
	u->fd = fd;
	u->family = domain;
	u->id = ++s->next_id;
	s->socks[s->nsocks++] = u;
	return fd;
oom:
	close(fd);
	errno = ENOMEM;
	return ARES_SOCKET_BAD;
}

static int sock_close(ares_socket_t fd, void *ud)
{
	struct dns_sock *s = ud;

	for (size_t i = 0; i < s->nsocks; i++) {
		if (s->socks[i]->fd == fd) {
			/* Queued sends and unread answers go with the socket. */
			udp_sock_free(s->socks[i]);
			s->socks[i] = s->socks[--s->nsocks];
			break;
		}
	}
	return close(fd);
}

static int sock_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *ud)
{
	struct udp_sock *u = find_sock(ud, fd);
	int r = connect(fd, sa, len);

	if (u != NULL) {
		u->peerlen = 0;
		if (r == 0 && len <= sizeof(u->peer)) {
			memcpy(&u->peer, sa, len);
			u->peerlen = len;
		}
	}
	return r;
}

/* Fills u's empty receive batch. 0, or -1 with errno (EAGAIN: nothing). */
static int recv_fill(struct udp_sock *u)
{
	struct recv_batch *rb = u->rb;
	int r;

	if (rb == NULL) {
		rb = malloc(sizeof(*rb));
		if (rb == NULL) {
			errno = ENOMEM;
			return -1;
		}
		for (size_t i = 0; i < RECV_BATCH; i++) {
			rb->iov[i].iov_base = rb->data[i];
			rb->iov[i].iov_len = RECV_SLOT;
			memset(&rb->msgs[i], 0, sizeof(rb->msgs[i]));
			rb->msgs[i].msg_hdr.msg_iov = &rb->iov[i];
			rb->msgs[i].msg_hdr.msg_iovlen = 1;
		}
		u->rb = rb;
	}
	for (size_t i = 0; i < RECV_BATCH; i++) {
		/* Connected: the source is u->peer, no need to copy it out. */
		rb->msgs[i].msg_hdr.msg_name = u->peerlen > 0 ? NULL : &rb->from[i];
		rb->msgs[i].msg_hdr.msg_namelen = u->peerlen > 0 ? 0 : sizeof(rb->from[i]);
	}
	do {
		r = recvmmsg(u->fd, rb->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = EAGAIN;
		return -1;
	}
	/* An error met after the first datagram stays with the socket for
	 * the next call (the kernel keeps it). */
	u->rhead = 0;
	u->rn = (size_t)r;
	return 0;
}

static ares_ssize_t sock_recvfrom(ares_socket_t fd, void *buf, size_t len, int flags,
				  struct sockaddr *from, ares_socklen_t *fromlen, void *ud)
{
	struct dns_sock *s = ud;
	struct udp_sock *u = find_sock(s, fd);
	const struct mmsghdr *m;
	size_t n;

	if (u == NULL)
		return recvfrom(fd, buf, len, flags, from, fromlen);
	if (u->rhead == u->rn) {
		/* A caller with room for more than a slot, or with flags (c-ares
		 * 1.18 passes none), reads as if we were not here. */
		if (u->err == 0 && (len > RECV_SLOT || flags != 0))
			return recvfrom(fd, buf, len, flags, from, fromlen);
		/* With a kept send error, answers already received still come
		 * first: c-ares closes the socket when it sees the error. */
		if (recv_fill(u) != 0) {
			int e = errno;

			if (u->err != 0 && (e == EAGAIN || e == EWOULDBLOCK))
				e = u->err;
			/* One error is reported once, as the kernel reports one. */
			u->err = 0;
			u->err_notify = 0;
			errno = e;
			return -1;
		}
	}
	m = &u->rb->msgs[u->rhead];
	/* What recvfrom does with a small buffer: copy what fits, return it. */
	n = m->msg_len < len ? m->msg_len : len;
	memcpy(buf, u->rb->data[u->rhead], n);
	if (from != NULL && fromlen != NULL) {
		const void *src = u->peerlen > 0 ? (const void *)&u->peer : &u->rb->from[u->rhead];
		socklen_t have = u->peerlen > 0 ? u->peerlen : m->msg_hdr.msg_namelen;

		memcpy(from, src, have < *fromlen ? have : *fromlen);
		*fromlen = have;
	}
	u->rhead++;
	return (ares_ssize_t)n;
}

/* TCP (and anything not UDP): one sendmsg, without SIGPIPE. */
static ares_ssize_t send_stream(int fd, const struct iovec *iov, int iovcnt)
{
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = (size_t)iovcnt;
	return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

static ares_ssize_t sock_sendv(ares_socket_t fd, const struct iovec *iov, int iovcnt, void *ud)
{
	struct dns_sock *s = ud;
	struct udp_sock *u = find_sock(s, fd);
	size_t len = 0;
	unsigned char *p;

	if (u == NULL)
		return send_stream(fd, iov, iovcnt);
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	/* Refused now, as send() would: a datagram that can never leave must
	 * not fail the others queued with it. */
	if (len > (u->family == AF_INET6 ? UDP6_MAX_PAYLOAD : UDP4_MAX_PAYLOAD)) {
		errno = EMSGSIZE;
		return -1;
	}
	if (!sendq_has_room(u, len)) {
		flush_sock(s, u);
		if (!sendq_has_room(u, len)) {
			errno = EAGAIN;
			return -1;
		}
	}
	if (sendq_reserve(u, len) != NP_OK) {
		errno = ENOMEM;
		return -1;
	}
	p = u->buf + u->used;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	u->ents[u->n].off = (uint32_t)u->used;
	u->ents[u->n].len = (uint32_t)len;
	u->n++;
	u->used += len;
	if (u->n >= FLUSH_AT && !u->blocked)
		flush_sock(s, u);
	return (ares_ssize_t)len;
}

static const struct ares_socket_functions sock_funcs = {
	sock_open, sock_close, sock_connect, sock_recvfrom, sock_sendv,
};

/* ---- the loop side ---- */

/* Before the loop waits: nothing may stay queued. */
static void on_before_sleep(struct loop *l, void *ud)
{
	struct dns_sock *s = ud;
	int backlog = 0;

	for (size_t i = 0; i < s->nsocks; i++) {
		struct udp_sock *u = s->socks[i];

		if (u->n == 0 || u->err != 0)
			continue;
		u->blocked = 0;
		flush_sock(s, u);
		if (u->n > 0 && u->err == 0)
			backlog = 1;
	}
	if (backlog)
		loop_cap_wait(l, RETRY_MS);
}

static void on_notify(void *ud)
{
	struct dns_sock *s = ud;

	for (int k = 0; k < NOTIFY_MAX; k++) {
		struct udp_sock *u = NULL;
		uint64_t id;
		int fd;

		for (size_t i = 0; i < s->nsocks && u == NULL; i++) {
			if (s->socks[i]->err_notify)
				u = s->socks[i];
		}
		if (u == NULL)
			return;
		u->err_notify = 0;
		fd = u->fd;
		id = u->id;
		/* c-ares reads the error, closes fd (u is freed) and re-sends. */
		if (s->on_error != NULL)
			s->on_error(fd, s->ud);
		u = find_sock(s, fd);
		if (u != NULL && u->id == id && u->err != 0) {
			/* Nobody read it: forget it rather than hold the socket's
			 * sends back for good. */
			u->err = 0;
		}
	}
	loop_timer_arm(s->notify, 0);
}

int dns_sock_new(struct loop *l, dns_sock_error_cb on_error, void *ud, struct dns_sock **out)
{
	struct dns_sock *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NP_ENOMEM;
	s->loop = l;
	s->on_error = on_error;
	s->ud = ud;
	rc = loop_timer_new(l, on_notify, s, &s->notify);
	if (rc != NP_OK)
		goto fail;
	rc = loop_add_before_sleep(l, on_before_sleep, s);
	if (rc != NP_OK)
		goto fail;
	s->hooked = 1;
	*out = s;
	return NP_OK;
fail:
	dns_sock_free(s);
	return rc;
}

void dns_sock_free(struct dns_sock *s)
{
	if (s == NULL)
		return;
	if (s->hooked)
		loop_remove_before_sleep(s->loop, on_before_sleep, s);
	loop_timer_free(s->notify);
	/* Sockets are c-ares' to close; only our state is left. */
	for (size_t i = 0; i < s->nsocks; i++)
		udp_sock_free(s->socks[i]);
	free(s->socks);
	free(s);
}

void dns_sock_install(struct dns_sock *s, ares_channel ch)
{
	ares_set_socket_functions(ch, &sock_funcs, s);
}

size_t dns_sock_buffered(const struct dns_sock *s, int fd)
{
	const struct udp_sock *u = find_sock(s, fd);

	return u != NULL ? u->rn - u->rhead : 0;
}
