/*
 * test_dns_sock.c - the batched c-ares socket functions (service/dns_sock.c)
 * against real loopback sockets: what sock_open sets on a socket, queued
 * UDP sends leaving in order (on the before-sleep hook, at FLUSH_AT, from a
 * running loop), the iovec flattened, receive batches handed out in order
 * with the sender's address, truncation as recvfrom does it, close dropping
 * a socket's state, EAGAIN keeping the queue and the loop retrying soon,
 * the queue's caps, a hard send error kept for c-ares' next read and handed
 * to the error callback, runs of equal-length datagrams leaving as one UDP
 * GSO message (and the fallback when the kernel refuses it), TCP passing
 * straight through, and every
 * allocation of a socket's life failing in turn.
 *
 * Each UDP test pairs a socket opened through sock_open ("ours", as c-ares
 * would open it) with a plain "peer" socket, both bound on 127.0.0.1 port 0
 * and connected to each other. dns_sock.c is included so that its statics
 * can be called, and so that its sendmmsg() goes through a wrapper that can
 * fail on demand.
 */
#define _GNU_SOURCE /* sendmmsg, as dns_sock.c has it */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- sendmmsg wrapper ---- */

static int fail_errno;          /* nonzero: every call fails with it */
static int fail_once_errno;     /* nonzero: the next call fails with it */
static int fail_gso_errno;      /* nonzero: a call with a GSO message fails with it */
static int sendmmsg_calls;
static int sendmmsg_msgs;       /* datagrams the real sendmmsg sent */
static unsigned sendmmsg_last_vlen;   /* messages in the last call */
static unsigned sendmmsg_last_dgrams; /* datagrams in the last call's messages */
static int gso_msgs;            /* messages sent with a UDP_SEGMENT size */

/* The UDP_SEGMENT size of a message; 0 without one. */
static unsigned msg_gso_size(const struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c != NULL;
	     c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) {
			uint16_t size;

			memcpy(&size, CMSG_DATA(c), sizeof(size));
			return size;
		}
	}
	return 0;
}

/* The datagrams one message becomes on the wire. */
static unsigned msg_datagrams(const struct msghdr *mh)
{
	size_t len = 0;
	unsigned gso = msg_gso_size(mh);

	for (size_t i = 0; i < mh->msg_iovlen; i++)
		len += mh->msg_iov[i].iov_len;
	if (gso == 0 || len == 0)
		return 1;
	return (unsigned)((len + gso - 1) / gso);
}

static int wrap_sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	int r;
	int has_gso = 0;

	sendmmsg_calls++;
	sendmmsg_last_vlen = n;
	sendmmsg_last_dgrams = 0;
	for (unsigned i = 0; i < n; i++) {
		sendmmsg_last_dgrams += msg_datagrams(&v[i].msg_hdr);
		has_gso |= msg_gso_size(&v[i].msg_hdr) != 0;
	}
	if (has_gso && fail_gso_errno != 0) {
		errno = fail_gso_errno;
		return -1;
	}
	if (fail_once_errno != 0) {
		errno = fail_once_errno;
		fail_once_errno = 0;
		return -1;
	}
	if (fail_errno != 0) {
		errno = fail_errno;
		return -1;
	}
	r = sendmmsg(fd, v, n, flags);
	for (int i = 0; i < r; i++) {
		sendmmsg_msgs += (int)msg_datagrams(&v[i].msg_hdr);
		gso_msgs += msg_gso_size(&v[i].msg_hdr) != 0;
	}
	return r;
}

#define sendmmsg wrap_sendmmsg
#include "../../service/dns_sock.c"
#undef sendmmsg

#include "support/alloc_fail.h"

/* ---- helpers ---- */

struct pair {
	struct loop *loop;
	struct dns_sock *s;
	int ours;                  /* opened by sock_open: batched */
	int peer;                  /* plain UDP socket */
	struct sockaddr_in peer_addr;
	int errors_seen;           /* on_error calls */
	int error_fd;
	int error_read;            /* the errno sock_recvfrom gave inside on_error */
	int read_in_callback;      /* on_error reads the kept error, as c-ares would */
	int close_in_callback;     /* and then closes the socket, as c-ares does */
};

static void reset_wrapper(void)
{
	fail_errno = 0;
	fail_once_errno = 0;
	fail_gso_errno = 0;
	sendmmsg_calls = 0;
	sendmmsg_msgs = 0;
	sendmmsg_last_vlen = 0;
	sendmmsg_last_dgrams = 0;
	gso_msgs = 0;
}

static void on_error(int fd, void *ud)
{
	struct pair *p = ud;
	char buf[64];

	p->errors_seen++;
	p->error_fd = fd;
	if (p->read_in_callback) {
		errno = 0;
		assert_int_equal(sock_recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL, p->s), -1);
		p->error_read = errno;
	}
	if (p->close_in_callback) {
		assert_int_equal(sock_close(fd, p->s), 0);
		p->ours = -1;
	}
}

static void bind_loopback(int fd, struct sockaddr_in *out)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (out != NULL)
		*out = sa;
}

static void pair_open(struct pair *p)
{
	struct sockaddr_in ours_addr;

	memset(p, 0, sizeof(*p));
	reset_wrapper();
	assert_int_equal(loop_new(&p->loop), NP_OK);
	assert_int_equal(dns_sock_new(p->loop, on_error, p, &p->s), NP_OK);
	p->ours = sock_open(AF_INET, SOCK_DGRAM, 0, p->s);
	assert_true(p->ours >= 0);
	p->peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(p->peer >= 0);
	bind_loopback(p->ours, &ours_addr);
	bind_loopback(p->peer, &p->peer_addr);
	assert_int_equal(sock_connect(p->ours, (struct sockaddr *)&p->peer_addr,
				      sizeof(p->peer_addr), p->s), 0);
	assert_int_equal(connect(p->peer, (struct sockaddr *)&ours_addr, sizeof(ours_addr)), 0);
}

static void pair_close(struct pair *p)
{
	if (p->ours >= 0)
		assert_int_equal(sock_close(p->ours, p->s), 0);
	close(p->peer);
	dns_sock_free(p->s);
	loop_free(p->loop);
	reset_wrapper();
}

static struct udp_sock *ours_state(const struct pair *p)
{
	return find_sock(p->s, p->ours);
}

/* Queues one datagram "<tag>-<i>" through sock_sendv; returns its length. */
static size_t send_tagged(struct pair *p, const char *tag, int i)
{
	char msg[64];
	struct iovec iov;
	int n = snprintf(msg, sizeof(msg), "%s-%d", tag, i);

	iov.iov_base = msg;
	iov.iov_len = (size_t)n;
	assert_int_equal(sock_sendv(p->ours, &iov, 1, p->s), n);
	return (size_t)n;
}

/* Reads what the peer has, without waiting; -1 with EAGAIN when empty. */
static ssize_t peer_read(struct pair *p, char *buf, size_t len)
{
	return recv(p->peer, buf, len, MSG_DONTWAIT);
}

static void peer_expect(struct pair *p, const char *tag, int from, int to)
{
	char buf[128], want[64];

	for (int i = from; i < to; i++) {
		ssize_t n = peer_read(p, buf, sizeof(buf) - 1);

		assert_true(n > 0);
		buf[n] = '\0';
		snprintf(want, sizeof(want), "%s-%d", tag, i);
		assert_string_equal(buf, want);
	}
}

static void peer_expect_nothing(struct pair *p)
{
	char buf[16];

	errno = 0;
	assert_int_equal(peer_read(p, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
}

static void peer_send(struct pair *p, const void *data, size_t len)
{
	assert_int_equal(send(p->peer, data, len, 0), (ssize_t)len);
}

static void hook(struct pair *p)
{
	on_before_sleep(p->loop, p->s);
}

static void stop_cb(void *ud)
{
	loop_stop(ud);
}

/* Runs the loop for one iteration (a 0 ms timer stops it). */
static void run_once(struct loop *l)
{
	struct loop_timer *t;

	assert_int_equal(loop_timer_new(l, stop_cb, l, &t), NP_OK);
	loop_timer_arm(t, 0);
	assert_int_equal(loop_run(l), NP_OK);
	loop_timer_free(t);
}

/* ---- sock_open ---- */

static void test_open_udp_configures_and_tracks(void **state)
{
	struct loop *l;
	struct dns_sock *s;
	int fd, plain, rcv = 0, plain_rcv = 0;
	socklen_t len = sizeof(rcv);

	(void)state;
	assert_int_equal(loop_new(&l), NP_OK);
	assert_int_equal(dns_sock_new(l, NULL, NULL, &s), NP_OK);
	fd = sock_open(AF_INET, SOCK_DGRAM, 0, s);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_non_null(find_sock(s, fd));
	assert_int_equal(s->nsocks, 1);

	/* A bigger receive buffer than a fresh socket gets (4 MB when
	 * SO_RCVBUFFORCE is allowed, else as much as rmem_max lets). */
	plain = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len), 0);
	len = sizeof(plain_rcv);
	assert_int_equal(getsockopt(plain, SOL_SOCKET, SO_RCVBUF, &plain_rcv, &len), 0);
	assert_true(rcv > plain_rcv);
	close(plain);

	/* IPv6 too */
	{
		int fd6 = sock_open(AF_INET6, SOCK_DGRAM, 0, s);

		if (fd6 >= 0) {
			assert_non_null(find_sock(s, fd6));
			assert_int_equal(find_sock(s, fd6)->family, AF_INET6);
			assert_int_equal(sock_close(fd6, s), 0);
		}
	}

	assert_int_equal(sock_close(fd, s), 0);
	assert_null(find_sock(s, fd));
	assert_int_equal(s->nsocks, 0);
	errno = 0;
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	dns_sock_free(s);
	loop_free(l);
}

static void test_open_tcp_not_batched(void **state)
{
	struct loop *l;
	struct dns_sock *s;
	struct sockaddr_in sa;
	int lfd, fd, afd, one = 0;
	socklen_t len = sizeof(one);
	char part1[] = "\x00\x05", part2[] = "hello";
	struct iovec iov[2] = {{part1, 2}, {part2, 5}};
	char buf[16];
	struct pollfd pfd;
	ssize_t n;

	(void)state;
	assert_int_equal(loop_new(&l), NP_OK);
	assert_int_equal(dns_sock_new(l, NULL, NULL, &s), NP_OK);
	fd = sock_open(AF_INET, SOCK_STREAM, 0, s);
	assert_true(fd >= 0);
	assert_null(find_sock(s, fd));
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len), 0);
	assert_int_equal(one, 1);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind_loopback(lfd, &sa);
	assert_int_equal(listen(lfd, 4), 0);
	if (sock_connect(fd, (struct sockaddr *)&sa, sizeof(sa), s) != 0)
		assert_int_equal(errno, EINPROGRESS);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	assert_int_equal(poll(&pfd, 1, 2000), 1);

	/* sendv writes at once, no hook needed */
	assert_int_equal(sock_sendv(fd, iov, 2, s), 7);
	n = recv(afd, buf, sizeof(buf), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "\x00\x05hello", 7);

	/* recvfrom with no address, as c-ares reads TCP */
	assert_int_equal(send(afd, "abc", 3, 0), 3);
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(sock_recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL, s), 3);
	assert_memory_equal(buf, "abc", 3);
	errno = 0;
	assert_int_equal(sock_recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL, s), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(sendmmsg_calls, 0);

	assert_int_equal(sock_close(fd, s), 0);
	close(afd);
	close(lfd);
	dns_sock_free(s);
	loop_free(l);
}

/* ---- sending ---- */

static void test_sends_wait_for_the_hook_then_leave_in_order(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	for (int i = 0; i < 5; i++)
		send_tagged(&p, "q", i);
	assert_int_equal(ours_state(&p)->n, 5);
	peer_expect_nothing(&p); /* queued, not sent */
	assert_int_equal(sendmmsg_calls, 0);

	hook(&p);
	assert_int_equal(sendmmsg_calls, 1); /* one system call for the five */
	assert_int_equal(sendmmsg_msgs, 5);
	assert_int_equal(ours_state(&p)->n, 0);
	assert_int_equal(ours_state(&p)->used, 0);
	peer_expect(&p, "q", 0, 5);
	peer_expect_nothing(&p);

	/* an empty queue costs no system call */
	hook(&p);
	assert_int_equal(sendmmsg_calls, 1);
	pair_close(&p);
}

static void test_iovec_is_one_datagram(void **state)
{
	struct pair p;
	char a[] = "ab", b[] = "", c[] = "cdef";
	struct iovec iov[3] = {{a, 2}, {b, 0}, {c, 4}};
	char buf[16];

	(void)state;
	pair_open(&p);
	assert_int_equal(sock_sendv(p.ours, iov, 3, p.s), 6);
	hook(&p);
	assert_int_equal(peer_read(&p, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "abcdef", 6);
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_flush_at_sends_without_the_hook(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	for (int i = 0; i < FLUSH_AT - 1; i++)
		send_tagged(&p, "f", i);
	assert_int_equal(sendmmsg_calls, 0);
	peer_expect_nothing(&p);

	send_tagged(&p, "f", FLUSH_AT - 1);
	assert_int_equal(sendmmsg_calls, 1);
	assert_int_equal(sendmmsg_last_dgrams, FLUSH_AT);
	assert_int_equal(ours_state(&p)->n, 0);
	peer_expect(&p, "f", 0, FLUSH_AT);

	/* the next ones queue again */
	send_tagged(&p, "f", FLUSH_AT);
	assert_int_equal(ours_state(&p)->n, 1);
	hook(&p);
	peer_expect(&p, "f", FLUSH_AT, FLUSH_AT + 1);
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_loop_runs_the_hook_before_waiting(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	for (int i = 0; i < 3; i++)
		send_tagged(&p, "h", i);
	run_once(p.loop);
	peer_expect(&p, "h", 0, 3);
	pair_close(&p);
}

static void test_more_than_a_chunk_in_order(void **state)
{
	struct pair p;
	int n = SEND_CHUNK * 2 + 3;

	(void)state;
	pair_open(&p);
	fail_errno = EAGAIN; /* hold them all back */
	for (int i = 0; i < n; i++)
		send_tagged(&p, "c", i);
	assert_int_equal(ours_state(&p)->n, n);
	fail_errno = 0;
	sendmmsg_calls = 0;
	hook(&p);
	assert_int_equal(sendmmsg_calls, 1); /* "c-0".."c-130": three lengths, up to 64 a message */
	assert_int_equal(sendmmsg_msgs, n);
	peer_expect(&p, "c", 0, n);
	peer_expect_nothing(&p);
	pair_close(&p);
}

/* ---- UDP GSO ---- */

/* Whether this kernel takes UDP_SEGMENT (Linux 4.18 and later). */
static int kernel_has_udp_gso(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int size = 100, ok;

	assert_true(fd >= 0);
	ok = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof(size)) == 0;
	close(fd);
	return ok;
}

/* Queues datagrams of exactly len bytes: "<i>" padded with '.'. */
static void send_sized(struct pair *p, int i, size_t len)
{
	char msg[2048];
	struct iovec iov;

	assert_true(len < sizeof(msg) && len >= 8);
	memset(msg, '.', len);
	snprintf(msg, 8, "%07d", i);
	msg[7] = '.';
	iov.iov_base = msg;
	iov.iov_len = len;
	assert_int_equal(sock_sendv(p->ours, &iov, 1, p->s), (ssize_t)len);
}

/* The peer gets datagrams from..to-1 of send_sized, each on its own. */
static void peer_expect_sized(struct pair *p, int from, int to, size_t len)
{
	char buf[2048], want[8];

	for (int i = from; i < to; i++) {
		ssize_t n = peer_read(p, buf, sizeof(buf));

		assert_int_equal(n, (ssize_t)len);
		snprintf(want, sizeof(want), "%07d", i);
		assert_memory_equal(buf, want, 7);
	}
}

static void test_equal_lengths_leave_as_one_gso_message(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	for (int i = 0; i < FLUSH_AT - 1; i++)
		send_sized(&p, i, 45);
	hook(&p);
	assert_int_equal(sendmmsg_calls, 1);
	assert_int_equal(sendmmsg_msgs, FLUSH_AT - 1);
	if (kernel_has_udp_gso()) {
		/* one message, cut back into datagrams by the kernel */
		assert_int_equal(sendmmsg_last_vlen, 1);
		assert_int_equal(gso_msgs, 1);
		assert_false(p.s->gso_off);
	} else {
		assert_true(p.s->gso_off);
	}
	peer_expect_sized(&p, 0, FLUSH_AT - 1, 45);
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_runs_of_lengths_keep_their_order(void **state)
{
	struct pair p;
	const size_t lens[] = {40, 40, 41, 41, 41, 40, 60};

	(void)state;
	if (!kernel_has_udp_gso())
		skip();
	pair_open(&p);
	for (int i = 0; i < 7; i++)
		send_sized(&p, i, lens[i]);
	hook(&p);
	/* [40 40] [41 41 41] [40] [60]: a run ends where the length changes */
	assert_int_equal(sendmmsg_calls, 1);
	assert_int_equal(sendmmsg_last_vlen, 4);
	assert_int_equal(gso_msgs, 2);
	for (int i = 0; i < 7; i++)
		peer_expect_sized(&p, i, i + 1, lens[i]);
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_gso_message_caps(void **state)
{
	struct pair p;

	(void)state;
	if (!kernel_has_udp_gso())
		skip();
	pair_open(&p);
	fail_errno = EAGAIN; /* queue them all first */
	for (int i = 0; i < 150; i++)
		send_sized(&p, i, 50);
	fail_errno = 0;
	sendmmsg_calls = 0;
	hook(&p);
	/* GSO_MAX_SEGS datagrams a message: 64 + 64 + 22 */
	assert_int_equal(sendmmsg_calls, 1);
	assert_int_equal(sendmmsg_last_vlen, 3);
	assert_int_equal(sendmmsg_msgs, 150);
	peer_expect_sized(&p, 0, 150, 50);
	peer_expect_nothing(&p);

	/* and GSO_MAX_BYTES: 1,000-byte datagrams go 60 a message (70 of
	 * them stay within the peer's default receive buffer) */
	fail_errno = EAGAIN;
	for (int i = 0; i < 70; i++)
		send_sized(&p, i, 1000);
	fail_errno = 0;
	sendmmsg_calls = 0;
	sendmmsg_msgs = 0;
	hook(&p);
	assert_int_equal(sendmmsg_calls, 1);
	assert_int_equal(sendmmsg_last_vlen, 2); /* 60 + 10 */
	assert_int_equal(sendmmsg_msgs, 70);
	peer_expect_sized(&p, 0, 70, 1000);
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_gso_over_ipv6(void **state)
{
	struct loop *l;
	struct dns_sock *s;
	struct sockaddr_in6 a6, b6;
	socklen_t len = sizeof(a6);
	char buf[64];
	int ours, peer;

	(void)state;
	if (!kernel_has_udp_gso())
		skip();
	reset_wrapper();
	assert_int_equal(loop_new(&l), NP_OK);
	assert_int_equal(dns_sock_new(l, NULL, NULL, &s), NP_OK);
	ours = sock_open(AF_INET6, SOCK_DGRAM, 0, s);
	peer = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(ours >= 0 && peer >= 0);
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	a6.sin6_addr = in6addr_loopback;
	b6 = a6;
	if (bind(ours, (struct sockaddr *)&a6, sizeof(a6)) != 0) {
		/* no ::1 on this machine */
		assert_int_equal(sock_close(ours, s), 0);
		close(peer);
		dns_sock_free(s);
		loop_free(l);
		skip();
	}
	assert_int_equal(bind(peer, (struct sockaddr *)&b6, sizeof(b6)), 0);
	assert_int_equal(getsockname(peer, (struct sockaddr *)&b6, &len), 0);
	assert_int_equal(sock_connect(ours, (struct sockaddr *)&b6, sizeof(b6), s), 0);
	for (int i = 0; i < 10; i++) {
		struct iovec iov;

		snprintf(buf, sizeof(buf), "six-%03d", i);
		iov.iov_base = buf;
		iov.iov_len = 7;
		assert_int_equal(sock_sendv(ours, &iov, 1, s), 7);
	}
	on_before_sleep(l, s);
	assert_int_equal(sendmmsg_last_vlen, 1);
	assert_int_equal(gso_msgs, 1);
	for (int i = 0; i < 10; i++) {
		char want[16];

		snprintf(want, sizeof(want), "six-%03d", i);
		assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 7);
		assert_memory_equal(buf, want, 7);
	}
	assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(sock_close(ours, s), 0);
	close(peer);
	dns_sock_free(s);
	loop_free(l);
	reset_wrapper();
}

static void test_gso_refused_falls_back_to_one_datagram_a_message(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	fail_gso_errno = EIO; /* what a device without UDP checksum offload gives */
	for (int i = 0; i < 10; i++)
		send_sized(&p, i, 45);
	hook(&p);
	assert_true(p.s->gso_off);
	assert_int_equal(gso_msgs, 0);
	assert_int_equal(sendmmsg_msgs, 10);
	assert_int_equal(sendmmsg_last_vlen, 10);
	assert_int_equal(ours_state(&p)->n, 0);
	assert_int_equal(p.errors_seen, 0); /* not an error for c-ares */
	peer_expect_sized(&p, 0, 10, 45);

	/* later sends do not try again */
	fail_gso_errno = 0;
	for (int i = 0; i < 5; i++)
		send_sized(&p, i, 45);
	hook(&p);
	assert_int_equal(gso_msgs, 0);
	assert_int_equal(sendmmsg_last_vlen, 5);
	peer_expect_sized(&p, 0, 5, 45);
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_eagain_keeps_the_queue(void **state)
{
	struct pair p;
	struct udp_sock *u;

	(void)state;
	pair_open(&p);
	fail_errno = EAGAIN;
	for (int i = 0; i < 3; i++)
		send_tagged(&p, "a", i);
	hook(&p);
	u = ours_state(&p);
	assert_int_equal(u->n, 3);
	assert_true(u->blocked);
	assert_int_equal(u->err, 0);

	/* ENOBUFS is the same */
	fail_errno = ENOBUFS;
	hook(&p);
	assert_int_equal(u->n, 3);
	assert_int_equal(u->err, 0);

	/* blocked: reaching FLUSH_AT does not try again on every send */
	sendmmsg_calls = 0;
	for (int i = 3; i < FLUSH_AT + 3; i++)
		send_tagged(&p, "a", i);
	assert_int_equal(sendmmsg_calls, 0);

	fail_errno = 0;
	hook(&p);
	assert_int_equal(u->n, 0);
	assert_false(u->blocked);
	peer_expect(&p, "a", 0, FLUSH_AT + 3);
	pair_close(&p);
}

/* The loop: a queue held back by EAGAIN leaves within a few ms, with no
 * other event to wake the loop (the hook caps the wait at RETRY_MS). */
struct retry_ctx {
	struct loop *loop;
	int fails_left;
	uint64_t got_at;
};

static void peer_readable(int fd, unsigned events, void *ud)
{
	struct retry_ctx *c = ud;

	(void)fd;
	(void)events;
	c->got_at = np_now_us();
	loop_stop(c->loop);
}

static void fail_then_pass_hook(struct loop *l, void *ud)
{
	struct retry_ctx *c = ud;

	(void)l;
	/* runs before dns_sock's hook (set hooks run first) */
	if (c->fails_left > 0) {
		c->fails_left--;
		fail_once_errno = EAGAIN;
	}
}

static void test_eagain_retried_soon_by_the_loop(void **state)
{
	struct pair p;
	struct retry_ctx c;
	struct loop_watch *w;
	struct loop_timer *guard;
	uint64_t start;

	(void)state;
	pair_open(&p);
	memset(&c, 0, sizeof(c));
	c.loop = p.loop;
	c.fails_left = 3;
	loop_set_before_sleep(p.loop, fail_then_pass_hook, &c);
	assert_int_equal(loop_watch_new(p.loop, p.peer, LOOP_READ, peer_readable, &c, &w), NP_OK);
	assert_int_equal(loop_timer_new(p.loop, stop_cb, p.loop, &guard), NP_OK);
	loop_timer_arm(guard, 2000);
	send_tagged(&p, "r", 0);
	start = np_now_us();
	assert_int_equal(loop_run(p.loop), NP_OK);
	assert_true(c.got_at != 0);            /* not the guard */
	assert_int_equal(c.fails_left, 0);     /* three failed tries first */
	assert_true(c.got_at - start < 200000u); /* ~3 x RETRY_MS, not a long wait */
	peer_expect(&p, "r", 0, 1);
	loop_set_before_sleep(p.loop, NULL, NULL);
	loop_watch_free(w);
	loop_timer_free(guard);
	pair_close(&p);
}

static void test_full_queue_fails_with_eagain(void **state)
{
	struct pair p;
	struct udp_sock *u;

	(void)state;
	pair_open(&p);
	fail_errno = EAGAIN;
	for (int i = 0; i < SENDQ_MAX; i++)
		send_tagged(&p, "x", i);
	u = ours_state(&p);
	assert_int_equal(u->n, SENDQ_MAX);

	/* full and still failing: EAGAIN, as c-ares 1.18 sees a failed send */
	{
		char late[] = "late";
		struct iovec iov = {late, 4};

		errno = 0;
		assert_int_equal(sock_sendv(p.ours, &iov, 1, p.s), -1);
		assert_int_equal(errno, EAGAIN);
	}
	assert_int_equal(u->n, SENDQ_MAX);

	/* full, but the flush it tries makes room: accepted */
	fail_errno = 0;
	sendmmsg_msgs = 0;
	send_tagged(&p, "y", 0);
	assert_int_equal(sendmmsg_msgs, SENDQ_MAX);
	assert_int_equal(u->n, 1);
	pair_close(&p);
}

static void test_byte_cap(void **state)
{
	struct pair p;
	static unsigned char big[65000];
	struct iovec iov = {big, sizeof(big)};
	int accepted = 0;

	(void)state;
	pair_open(&p);
	fail_errno = EAGAIN;
	while (accepted < 10 && sock_sendv(p.ours, &iov, 1, p.s) == (ares_ssize_t)sizeof(big))
		accepted++;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(accepted, SENDQ_BYTES_MAX / sizeof(big));
	assert_true(ours_state(&p)->used <= SENDQ_BYTES_MAX);
	pair_close(&p);
}

static void test_oversized_datagram_refused_at_once(void **state)
{
	struct pair p;
	static unsigned char big[UDP4_MAX_PAYLOAD + 1];
	struct iovec iov = {big, sizeof(big)};

	(void)state;
	pair_open(&p);
	send_tagged(&p, "o", 0);
	errno = 0;
	assert_int_equal(sock_sendv(p.ours, &iov, 1, p.s), -1);
	assert_int_equal(errno, EMSGSIZE);
	/* the other queued datagram is unharmed */
	assert_int_equal(ours_state(&p)->n, 1);
	hook(&p);
	peer_expect(&p, "o", 0, 1);
	pair_close(&p);
}

/* ---- hard send errors ---- */

static void test_hard_error_kept_for_the_next_read(void **state)
{
	struct pair p;
	struct udp_sock *u;
	char buf[64];
	struct sockaddr_in from;
	socklen_t fromlen = sizeof(from);

	(void)state;
	pair_open(&p);
	send_tagged(&p, "e", 0);
	send_tagged(&p, "e", 1);
	fail_once_errno = ECONNREFUSED;
	hook(&p);
	u = ours_state(&p);
	assert_int_equal(u->n, 0); /* dropped: c-ares re-sends after the error */
	assert_int_equal(u->err, ECONNREFUSED);
	assert_true(loop_timer_armed(p.s->notify));

	/* held while c-ares has not read the error: nothing is sent */
	send_tagged(&p, "e", 2);
	sendmmsg_calls = 0;
	hook(&p);
	assert_int_equal(sendmmsg_calls, 0);
	assert_int_equal(u->n, 1);

	/* an answer already there is read first, then the error, once */
	peer_send(&p, "answer", 6);
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, (struct sockaddr *)&from,
				       &fromlen, p.s), 6);
	errno = 0;
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, (struct sockaddr *)&from,
				       &fromlen, p.s), -1);
	assert_int_equal(errno, ECONNREFUSED);
	errno = 0;
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, (struct sockaddr *)&from,
				       &fromlen, p.s), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(u->err, 0);

	/* read already: the timer has nothing to report */
	run_once(p.loop);
	assert_int_equal(p.errors_seen, 0);
	peer_expect(&p, "e", 2, 3); /* and the socket sends again */
	peer_expect_nothing(&p);
	pair_close(&p);
}

static void test_hard_error_handed_to_the_callback(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	p.read_in_callback = 1;
	send_tagged(&p, "e", 0);
	fail_once_errno = EHOSTUNREACH;
	run_once(p.loop); /* the hook fails, then the 0 ms timer reports */
	if (p.errors_seen == 0)
		run_once(p.loop);
	assert_int_equal(p.errors_seen, 1);
	assert_int_equal(p.error_fd, p.ours);
	assert_int_equal(p.error_read, EHOSTUNREACH);
	assert_int_equal(ours_state(&p)->err, 0);
	pair_close(&p);
}

static void test_hard_error_nobody_reads_is_forgotten(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	send_tagged(&p, "e", 0);
	fail_once_errno = ECONNREFUSED;
	hook(&p);
	send_tagged(&p, "e", 1);
	run_once(p.loop); /* the callback does not read */
	if (p.errors_seen == 0)
		run_once(p.loop);
	assert_int_equal(p.errors_seen, 1);
	assert_int_equal(ours_state(&p)->err, 0);
	hook(&p); /* the socket works again */
	peer_expect(&p, "e", 1, 2);
	pair_close(&p);
}

static void test_hard_error_callback_may_close_the_socket(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p);
	send_tagged(&p, "e", 0);
	fail_once_errno = ECONNREFUSED;
	hook(&p);
	send_tagged(&p, "e", 1);
	/* what c-ares does: read the error, close the socket */
	p.read_in_callback = 1;
	p.close_in_callback = 1;
	run_once(p.loop);
	if (p.errors_seen == 0)
		run_once(p.loop);
	assert_int_equal(p.errors_seen, 1);
	assert_int_equal(p.error_read, ECONNREFUSED);
	assert_int_equal(p.ours, -1);
	assert_int_equal(p.s->nsocks, 0);
	sendmmsg_calls = 0;
	hook(&p);
	assert_int_equal(sendmmsg_calls, 0);
	peer_expect_nothing(&p);
	pair_close(&p);
}

/* A real ICMP port unreachable: a socket bound and connected to itself
 * takes nothing from ours, so the kernel refuses our datagrams. */
static void test_closed_port_is_refused(void **state)
{
	struct loop *l;
	struct dns_sock *s;
	struct sockaddr_in closed_addr;
	int closed, fd;
	char buf[64];
	char query[] = "query";
	struct iovec iov = {query, 5};
	ssize_t r = 0;

	(void)state;
	reset_wrapper();
	assert_int_equal(loop_new(&l), NP_OK);
	assert_int_equal(dns_sock_new(l, NULL, NULL, &s), NP_OK);
	closed = socket(AF_INET, SOCK_DGRAM, 0);
	bind_loopback(closed, &closed_addr);
	assert_int_equal(connect(closed, (struct sockaddr *)&closed_addr, sizeof(closed_addr)), 0);
	fd = sock_open(AF_INET, SOCK_DGRAM, 0, s);
	assert_int_equal(sock_connect(fd, (struct sockaddr *)&closed_addr, sizeof(closed_addr), s), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(sock_sendv(fd, &iov, 1, s), 5);
	on_before_sleep(l, s);
	/* From the kernel (recvmmsg) or kept from a send: ECONNREFUSED. */
	for (int i = 0; i < 200; i++) {
		errno = 0;
		r = sock_recvfrom(fd, buf, sizeof(buf), 0, NULL, NULL, s);
		if (!(r == -1 && errno == EAGAIN))
			break;
		usleep(5000);
	}
	assert_int_equal(r, -1);
	assert_int_equal(errno, ECONNREFUSED);
	assert_int_equal(sock_close(fd, s), 0);
	close(closed);
	dns_sock_free(s);
	loop_free(l);
}

/* ---- receiving ---- */

static void test_recv_batch_in_order_with_source(void **state)
{
	struct pair p;
	char buf[64], want[64];
	struct sockaddr_in from;
	socklen_t fromlen;
	int total = RECV_BATCH + 5;

	(void)state;
	pair_open(&p);
	for (int i = 0; i < total; i++) {
		int n = snprintf(want, sizeof(want), "answer-%d", i);

		peer_send(&p, want, (size_t)n);
	}
	for (int i = 0; i < total; i++) {
		ares_ssize_t n;

		memset(&from, 0, sizeof(from));
		fromlen = sizeof(from);
		n = sock_recvfrom(p.ours, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen,
				  p.s);
		snprintf(want, sizeof(want), "answer-%d", i);
		assert_int_equal(n, (ares_ssize_t)strlen(want));
		assert_memory_equal(buf, want, (size_t)n);
		assert_int_equal(fromlen, sizeof(struct sockaddr_in));
		assert_int_equal(from.sin_family, AF_INET);
		assert_int_equal(from.sin_port, p.peer_addr.sin_port);
		assert_int_equal(from.sin_addr.s_addr, p.peer_addr.sin_addr.s_addr);
		if (i == 0) /* one recvmmsg took a full batch */
			assert_int_equal(dns_sock_buffered(p.s, p.ours), RECV_BATCH - 1);
	}
	assert_int_equal(dns_sock_buffered(p.s, p.ours), 0);
	errno = 0;
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, NULL, NULL, p.s), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(dns_sock_buffered(p.s, -1), 0);
	pair_close(&p);
}

/* A socket c-ares did not connect: each datagram's own source, from the
 * kernel (a connected one gets the peer it was connected to). */
static void test_recv_unconnected_gives_each_source(void **state)
{
	struct loop *l;
	struct dns_sock *s;
	struct sockaddr_in ours_addr, a_addr, b_addr, from;
	socklen_t fromlen;
	char buf[16];
	int ours, a, b;

	(void)state;
	assert_int_equal(loop_new(&l), NP_OK);
	assert_int_equal(dns_sock_new(l, NULL, NULL, &s), NP_OK);
	ours = sock_open(AF_INET, SOCK_DGRAM, 0, s);
	assert_true(ours >= 0);
	bind_loopback(ours, &ours_addr);
	a = socket(AF_INET, SOCK_DGRAM, 0);
	b = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(a >= 0 && b >= 0);
	bind_loopback(a, &a_addr);
	bind_loopback(b, &b_addr);
	assert_int_equal(sendto(a, "from-a", 6, 0, (struct sockaddr *)&ours_addr, sizeof(ours_addr)), 6);
	assert_int_equal(sendto(b, "from-b", 6, 0, (struct sockaddr *)&ours_addr, sizeof(ours_addr)), 6);
	for (int i = 0; i < 2; i++) {
		const struct sockaddr_in *want = i == 0 ? &a_addr : &b_addr;

		memset(&from, 0, sizeof(from));
		fromlen = sizeof(from);
		assert_int_equal(sock_recvfrom(ours, buf, sizeof(buf), 0, (struct sockaddr *)&from,
					       &fromlen, s), 6);
		assert_memory_equal(buf, i == 0 ? "from-a" : "from-b", 6);
		assert_int_equal(fromlen, sizeof(struct sockaddr_in));
		assert_int_equal(from.sin_port, want->sin_port);
		assert_int_equal(from.sin_addr.s_addr, want->sin_addr.s_addr);
	}
	assert_int_equal(sock_close(ours, s), 0);
	close(a);
	close(b);
	dns_sock_free(s);
	loop_free(l);
}

static void test_recv_small_address_buffer(void **state)
{
	struct pair p;
	char buf[16];
	unsigned char addr[sizeof(struct sockaddr_in)];
	socklen_t fromlen = 4;

	(void)state;
	pair_open(&p);
	memset(addr, 0xee, sizeof(addr));
	peer_send(&p, "x", 1);
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, (struct sockaddr *)addr,
				       &fromlen, p.s), 1);
	/* as recvfrom: cut to the room given, the full length reported */
	assert_int_equal(fromlen, sizeof(struct sockaddr_in));
	assert_memory_equal(addr, &p.peer_addr, 4);
	assert_int_equal(addr[4], 0xee);
	pair_close(&p);
}

static void test_recv_truncates_like_recvfrom(void **state)
{
	struct pair p;
	static unsigned char big[5000], buf[8192];

	(void)state;
	pair_open(&p);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);

	/* a buffer smaller than the datagram: what fits, and the rest is gone */
	peer_send(&p, big, 100);
	peer_send(&p, "next", 4);
	assert_int_equal(sock_recvfrom(p.ours, buf, 40, 0, NULL, NULL, p.s), 40);
	assert_memory_equal(buf, big, 40);
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, NULL, NULL, p.s), 4);
	assert_memory_equal(buf, "next", 4);

	/* larger than a slot, read with c-ares' buffer size: cut at it */
	peer_send(&p, big, sizeof(big));
	assert_int_equal(sock_recvfrom(p.ours, buf, RECV_SLOT, 0, NULL, NULL, p.s), RECV_SLOT);
	assert_memory_equal(buf, big, RECV_SLOT);

	/* a larger buffer with nothing batched reads the socket directly */
	peer_send(&p, big, sizeof(big));
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, NULL, NULL, p.s),
			 (ares_ssize_t)sizeof(big));
	assert_memory_equal(buf, big, sizeof(big));
	pair_close(&p);
}

static void test_recv_zero_length_datagram(void **state)
{
	struct pair p;
	char buf[16];

	(void)state;
	pair_open(&p);
	peer_send(&p, "", 0);
	/* 0, as recvfrom returns for an empty datagram */
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, NULL, NULL, p.s), 0);
	errno = 0;
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, NULL, NULL, p.s), -1);
	assert_int_equal(errno, EAGAIN);
	pair_close(&p);
}

/* ---- close ---- */

static void test_close_drops_queue_and_batch(void **state)
{
	struct pair p;
	char buf[16];

	(void)state;
	pair_open(&p);
	for (int i = 0; i < 3; i++)
		send_tagged(&p, "d", i);
	for (int i = 0; i < 3; i++)
		peer_send(&p, "ans", 3);
	assert_int_equal(sock_recvfrom(p.ours, buf, sizeof(buf), 0, NULL, NULL, p.s), 3);
	assert_int_equal(dns_sock_buffered(p.s, p.ours), 2);

	assert_int_equal(sock_close(p.ours, p.s), 0);
	assert_int_equal(p.s->nsocks, 0);
	assert_int_equal(dns_sock_buffered(p.s, p.ours), 0);
	hook(&p);
	assert_int_equal(sendmmsg_calls, 0);
	peer_expect_nothing(&p); /* the queued ones never left */
	p.ours = -1;
	pair_close(&p);
}

static void test_free_with_sockets_left(void **state)
{
	struct loop *l;
	struct dns_sock *s;
	int fd;

	(void)state;
	assert_int_equal(loop_new(&l), NP_OK);
	assert_int_equal(dns_sock_new(l, NULL, NULL, &s), NP_OK);
	fd = sock_open(AF_INET, SOCK_DGRAM, 0, s);
	assert_true(fd >= 0);
	dns_sock_free(s); /* its state goes; the fd is c-ares' */
	assert_int_equal(close(fd), 0);
	run_once(l);      /* the hook is gone with it */
	loop_free(l);
	dns_sock_free(NULL);
}

/* ---- allocation failure ---- */

#define OOM_SENDS 31 /* under FLUSH_AT, 31 kB: the send buffer grows twice */
#define OOM_ANSWERS 3

/* A socket's whole life under the hook: the layer and its timer, two
 * sockets opened, datagrams queued and flushed by the hook, answers read
 * through a batch, close, free. Every allocation failure must surface as
 * the ENOMEM c-ares expects (ARES_SOCKET_BAD or -1 with errno ENOMEM)
 * and leave nothing behind; returns NP_ENOMEM then. */
static int socket_life(void *ud)
{
	struct loop *l = NULL;
	struct dns_sock *s = NULL;
	int ours = -1, other = -1, peer = -1;
	struct sockaddr_in ours_addr, peer_addr;
	char data[1000], buf[64];
	struct iovec iov = {data, sizeof(data)};
	int rc;

	(void)ud;
	memset(data, 'q', sizeof(data));
	rc = loop_new(&l);
	if (rc != NP_OK)
		goto done;
	rc = dns_sock_new(l, NULL, NULL, &s);
	if (rc != NP_OK)
		goto done;
	rc = NP_ENOMEM;
	errno = 0;
	other = sock_open(AF_INET, SOCK_DGRAM, 0, s);
	if (other < 0) {
		assert_int_equal(errno, ENOMEM);
		goto done;
	}
	ours = sock_open(AF_INET, SOCK_DGRAM, 0, s);
	if (ours < 0) {
		assert_int_equal(errno, ENOMEM);
		goto done;
	}
	peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(peer >= 0);
	bind_loopback(ours, &ours_addr);
	bind_loopback(peer, &peer_addr);
	assert_int_equal(sock_connect(ours, (struct sockaddr *)&peer_addr, sizeof(peer_addr), s),
			 0);
	assert_int_equal(connect(peer, (struct sockaddr *)&ours_addr, sizeof(ours_addr)), 0);

	for (int i = 0; i < OOM_SENDS; i++) {
		errno = 0;
		if (sock_sendv(ours, &iov, 1, s) < 0) {
			assert_int_equal(errno, ENOMEM);
			goto done;
		}
	}
	on_before_sleep(l, s);
	for (int i = 0; i < OOM_SENDS; i++)
		assert_int_equal(recv(peer, data, sizeof(data), MSG_DONTWAIT), sizeof(data));

	for (int i = 0; i < OOM_ANSWERS; i++)
		assert_int_equal(send(peer, "answer", 6, 0), 6);
	for (int i = 0; i < OOM_ANSWERS; i++) {
		errno = 0;
		if (sock_recvfrom(ours, buf, sizeof(buf), 0, NULL, NULL, s) < 0) {
			assert_int_equal(errno, ENOMEM);
			goto done;
		}
	}
	rc = NP_OK;
done:
	if (other >= 0)
		assert_int_equal(sock_close(other, s), 0);
	if (ours >= 0)
		assert_int_equal(sock_close(ours, s), 0);
	if (peer >= 0)
		close(peer);
	dns_sock_free(s);
	loop_free(l);
	return rc;
}

static void test_out_of_memory_everywhere(void **state)
{
	long points;

	(void)state;
	reset_wrapper();
	points = alloc_fail_sweep(socket_life, NULL, NP_OK, NP_ENOMEM);
	print_message("socket life: %ld allocations\n", points);
	/* loop, its heap, the layer, its timer, two sockets' array and
	 * state, the queue's entries and bytes (twice grown), the batch */
	assert_true(points >= 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_udp_configures_and_tracks),
		cmocka_unit_test(test_open_tcp_not_batched),
		cmocka_unit_test(test_sends_wait_for_the_hook_then_leave_in_order),
		cmocka_unit_test(test_iovec_is_one_datagram),
		cmocka_unit_test(test_flush_at_sends_without_the_hook),
		cmocka_unit_test(test_loop_runs_the_hook_before_waiting),
		cmocka_unit_test(test_more_than_a_chunk_in_order),
		cmocka_unit_test(test_equal_lengths_leave_as_one_gso_message),
		cmocka_unit_test(test_runs_of_lengths_keep_their_order),
		cmocka_unit_test(test_gso_message_caps),
		cmocka_unit_test(test_gso_over_ipv6),
		cmocka_unit_test(test_gso_refused_falls_back_to_one_datagram_a_message),
		cmocka_unit_test(test_eagain_keeps_the_queue),
		cmocka_unit_test(test_eagain_retried_soon_by_the_loop),
		cmocka_unit_test(test_full_queue_fails_with_eagain),
		cmocka_unit_test(test_byte_cap),
		cmocka_unit_test(test_oversized_datagram_refused_at_once),
		cmocka_unit_test(test_hard_error_kept_for_the_next_read),
		cmocka_unit_test(test_hard_error_handed_to_the_callback),
		cmocka_unit_test(test_hard_error_nobody_reads_is_forgotten),
		cmocka_unit_test(test_hard_error_callback_may_close_the_socket),
		cmocka_unit_test(test_closed_port_is_refused),
		cmocka_unit_test(test_recv_batch_in_order_with_source),
		cmocka_unit_test(test_recv_unconnected_gives_each_source),
		cmocka_unit_test(test_recv_small_address_buffer),
		cmocka_unit_test(test_recv_truncates_like_recvfrom),
		cmocka_unit_test(test_recv_zero_length_datagram),
		cmocka_unit_test(test_close_drops_queue_and_batch),
		cmocka_unit_test(test_free_with_sockets_left),
		cmocka_unit_test(test_out_of_memory_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
