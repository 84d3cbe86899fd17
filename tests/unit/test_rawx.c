/*
 * test_rawx.c - service/rawx.c on a real loop against loopback peers the
 * test opens: a TCP exchange with a peer that answers and closes (the
 * bytes sent arrive whole, the answer and the timings come back), the
 * callback never running inside rawx_start (even for a failure found
 * there), a refused TCP port and a refused UDP port, a UDP answer cut to
 * max_bytes, cancel before the end, bad arguments, and every allocation
 * of a whole exchange failing in turn.
 *
 * Traffic goes only to 127.0.0.1, to sockets this test opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loop.h"
#include "np.h"
#include "rawx.h"
#include "support/alloc_fail.h"

struct outcome {
	struct loop *loop;
	int calls;
	int inside_start;         /* set while rawx_start runs */
	int called_inside_start;
	enum np_status status;
	enum rawx_end end;
	unsigned char buf[256];
	size_t len, sent, ndgrams, full_len;
	int truncated;
	uint64_t start_us, connect_us, first_us, end_us;
};

static void on_done(const struct rawx_result *r, void *ud)
{
	struct outcome *o = ud;

	o->calls++;
	o->called_inside_start |= o->inside_start;
	o->status = r->status;
	o->end = r->end;
	o->len = r->len < sizeof(o->buf) ? r->len : sizeof(o->buf);
	if (o->len > 0)
		memcpy(o->buf, r->buf, o->len);
	o->sent = r->sent;
	o->truncated = r->truncated;
	o->ndgrams = r->ndgrams;
	o->full_len = r->ndgrams > 0 ? r->dgrams[0].full_len : 0;
	o->start_us = r->start_us;
	o->connect_us = r->connect_us;
	o->first_us = r->first_us;
	o->end_us = r->end_us;
	loop_stop(o->loop);
}

static void stop_loop(void *ud)
{
	loop_stop(ud);
}

static struct sockaddr_in loopback(unsigned port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	return sa;
}

/* A socket of type bound to 127.0.0.1 on a kernel-picked port. */
static int bound(int type, unsigned *port)
{
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port nothing listens on: bound, then closed. */
static unsigned closed_port(int type)
{
	unsigned port;

	close(bound(type, &port));
	return port;
}

static int start(struct outcome *o, unsigned port, const struct rawx_opts *opts,
		 struct rawx **x)
{
	struct sockaddr_in sa = loopback(port);
	int rc;

	o->inside_start = 1;
	rc = rawx_start(o->loop, (struct sockaddr *)&sa, sizeof(sa), opts, on_done, o, x);
	o->inside_start = 0;
	return rc;
}

static struct rawx_opts opts_tcp(const char *data, size_t max_bytes)
{
	struct rawx_opts op;

	memset(&op, 0, sizeof(op));
	op.data = (const unsigned char *)data;
	op.len = data != NULL ? strlen(data) : 0;
	op.deadline_us = np_now_us() + 5000000u;
	op.max_bytes = max_bytes;
	op.max_datagrams = 1;
	return op;
}

static void test_tcp_exchange(void **state)
{
	struct outcome o = {0};
	struct rawx *x;
	unsigned port;
	int lfd = bound(SOCK_STREAM, &port), cfd;
	struct rawx_opts op = opts_tcp("ping", 1024);
	char got[16];

	(void)state;
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(loop_new(&o.loop), NP_OK);
	op.half_close = 1;
	assert_int_equal(start(&o, port, &op, &x), NP_OK);
	/* the peer: accept, read to EOF (half_close), answer, close */
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	{
		/* the loop has to run for the connect and the send */
		struct loop_timer *t;

		assert_int_equal(loop_timer_new(o.loop, stop_loop, o.loop, &t), NP_OK);
		loop_timer_arm(t, 50);
		assert_int_equal(loop_run(o.loop), NP_OK);
		loop_timer_free(t);
	}
	assert_int_equal(o.calls, 0);
	assert_int_equal(recv(cfd, got, sizeof(got), 0), 4);
	assert_memory_equal(got, "ping", 4);
	assert_int_equal(recv(cfd, got, sizeof(got), 0), 0); /* half-closed */
	assert_int_equal(send(cfd, "pong!", 5, 0), 5);
	close(cfd);
	assert_int_equal(loop_run(o.loop), NP_OK);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.status, NP_OK);
	assert_int_equal(o.end, RAWX_END_CLOSE);
	assert_int_equal(o.sent, 4);
	assert_int_equal(o.len, 5);
	assert_memory_equal(o.buf, "pong!", 5);
	assert_false(o.truncated);
	assert_true(o.start_us <= o.connect_us && o.connect_us <= o.first_us &&
		    o.first_us <= o.end_us);
	assert_string_equal(rawx_end_text(o.end), "close");
	close(lfd);
	loop_free(o.loop);
}

static void test_tcp_refused_is_reported_from_the_loop(void **state)
{
	struct outcome o = {0};
	struct rawx *x;
	struct rawx_opts op = opts_tcp("x", 16);

	(void)state;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(start(&o, closed_port(SOCK_STREAM), &op, &x), NP_OK);
	assert_int_equal(o.calls, 0);
	assert_int_equal(loop_run(o.loop), NP_OK);
	assert_int_equal(o.calls, 1);
	assert_false(o.called_inside_start);
	assert_int_equal(o.status, NP_EREFUSED);
	assert_int_equal(o.end, RAWX_END_ERROR);
	assert_int_equal(o.sent, 0);
	assert_int_equal(o.connect_us, 0);
	loop_free(o.loop);
}

static void test_udp_answer_cut_to_max_bytes(void **state)
{
	struct outcome o = {0};
	struct rawx *x;
	unsigned port;
	int peer = bound(SOCK_DGRAM, &port);
	struct rawx_opts op = opts_tcp("question", 4);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	char got[32];

	(void)state;
	op.udp = 1;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(start(&o, port, &op, &x), NP_OK);
	assert_int_equal(recvfrom(peer, got, sizeof(got), 0, (struct sockaddr *)&from, &flen), 8);
	assert_memory_equal(got, "question", 8);
	assert_int_equal(sendto(peer, "answer!", 7, 0, (struct sockaddr *)&from, flen), 7);
	assert_int_equal(loop_run(o.loop), NP_OK);
	assert_int_equal(o.status, NP_OK);
	assert_int_equal(o.end, RAWX_END_COUNT);
	assert_int_equal(o.ndgrams, 1);
	assert_int_equal(o.full_len, 7);
	assert_int_equal(o.len, 4);
	assert_memory_equal(o.buf, "answ", 4);
	close(peer);
	loop_free(o.loop);
}

static void test_udp_refused(void **state)
{
	struct outcome o = {0};
	struct rawx *x;
	struct rawx_opts op = opts_tcp("hello", 64);

	(void)state;
	op.udp = 1;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(start(&o, closed_port(SOCK_DGRAM), &op, &x), NP_OK);
	assert_int_equal(loop_run(o.loop), NP_OK);
	assert_int_equal(o.status, NP_EREFUSED);
	assert_int_equal(o.ndgrams, 0);
	loop_free(o.loop);
}

static void test_cancel_and_bad_arguments(void **state)
{
	struct outcome o = {0};
	struct rawx *x;
	unsigned port;
	int peer = bound(SOCK_DGRAM, &port);
	struct rawx_opts op = opts_tcp("q", 64);
	struct sockaddr_un_like {
		sa_family_t family;
		char rest[32];
	} other = {AF_UNIX, {0}};

	(void)state;
	op.udp = 1;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(start(&o, port, &op, &x), NP_OK);
	rawx_cancel(x); /* no callback, nothing left (LeakSanitizer) */
	rawx_cancel(NULL);
	assert_int_equal(o.calls, 0);

	op.max_bytes = 0;
	assert_int_equal(start(&o, port, &op, &x), NP_EINVAL);
	assert_null(x);
	op.max_bytes = 64;
	op.max_datagrams = 0;
	assert_int_equal(start(&o, port, &op, &x), NP_EINVAL);
	op.max_datagrams = 1;
	assert_int_equal(rawx_start(o.loop, (struct sockaddr *)&other, sizeof(other), &op, on_done,
				    &o, &x),
			 NP_EINVAL);
	close(peer);
	loop_free(o.loop);
}

/* ---- every allocation failing in turn ---- */

struct sweep {
	unsigned port;
	int peer;
};

static int one_exchange(void *ud)
{
	struct sweep *sw = ud;
	struct outcome o = {0};
	struct rawx *x;
	struct rawx_opts op = opts_tcp("question", 64);
	int rc;

	op.udp = 1;
	op.deadline_us = np_now_us() + 2000000u;
	if (loop_new(&o.loop) != NP_OK)
		return NP_ENOMEM;
	rc = start(&o, sw->port, &op, &x);
	if (rc == NP_OK) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		char got[32];

		/* the datagram is out: answer it */
		if (recvfrom(sw->peer, got, sizeof(got), 0, (struct sockaddr *)&from, &flen) > 0)
			(void)sendto(sw->peer, "answer", 6, 0, (struct sockaddr *)&from, flen);
		if (loop_run(o.loop) != NP_OK)
			rc = NP_ESYS;
		else if (o.calls != 1)
			rc = NP_EINVAL;
		else
			rc = o.status;
	}
	loop_free(o.loop);
	return rc;
}

static void test_out_of_memory_everywhere(void **state)
{
	struct sweep sw;
	struct timeval tv = {2, 0};

	(void)state;
	sw.peer = bound(SOCK_DGRAM, &sw.port);
	/* a run that failed before sending must not hang the next recvfrom */
	assert_int_equal(setsockopt(sw.peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_true(alloc_fail_sweep(one_exchange, &sw, NP_OK, NP_ENOMEM) >= 4);
	close(sw.peer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_exchange),
		cmocka_unit_test(test_tcp_refused_is_reported_from_the_loop),
		cmocka_unit_test(test_udp_answer_cut_to_max_bytes),
		cmocka_unit_test(test_udp_refused),
		cmocka_unit_test(test_cancel_and_bad_arguments),
		cmocka_unit_test(test_out_of_memory_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
