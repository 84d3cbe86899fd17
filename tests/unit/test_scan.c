/*
 * test_scan.c - service/scan.c on a real loop against loopback sockets the
 * test opens: open (listening) and closed (bound, not listening) ports told
 * apart and reported in ascending order with their connect times; a banner
 * read (whole, cut at SCAN_BANNER_MAX, and an open port that says nothing
 * within banner_ms); many closed ports, with a timer armed beside the
 * scan that runs before it ends (the loop stays free); the deadline
 * leaving ports unscanned; cancel; bad arguments; and every allocation of
 * a scan failing in turn.
 *
 * Traffic goes only to 127.0.0.1, to sockets this test opened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "np.h"
#include "scan.h"
#include "support/alloc_fail.h"

struct outcome {
	struct loop *loop;
	int calls;
	enum np_status status;
	uint16_t open[8];
	size_t nopen, closed, filtered, unscanned;
	unsigned char banner[SCAN_BANNER_MAX];
	size_t banner_len;
	int banner_truncated;
	uint64_t rtt_us;
	int side_timer_first;       /* the side timer ran before the scan ended */
	int side_timer_ran;
};

static void on_done(const struct scan_result *r, void *ud)
{
	struct outcome *o = ud;

	o->calls++;
	o->status = r->status;
	o->nopen = r->nopen;
	for (size_t i = 0; i < r->nopen && i < 8; i++)
		o->open[i] = r->open[i].port;
	if (r->nopen > 0) {
		o->banner_len = r->open[0].banner_len;
		o->banner_truncated = r->open[0].banner_truncated;
		o->rtt_us = r->open[0].rtt_us;
		if (o->banner_len > 0)
			memcpy(o->banner, r->open[0].banner, o->banner_len);
	}
	o->closed = r->closed;
	o->filtered = r->filtered;
	o->unscanned = r->unscanned;
	loop_stop(o->loop);
}

static void on_side_timer(void *ud)
{
	struct outcome *o = ud;

	o->side_timer_ran = 1;
	o->side_timer_first = o->calls == 0;
}

static void stop_loop(void *ud)
{
	loop_stop(ud);
}

static struct sockaddr_in loopback(void)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sa;
}

/* A TCP socket bound to 127.0.0.1 (listening if listening). */
static int tcp_port(int listening, uint16_t *port)
{
	struct sockaddr_in sa = loopback();
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (listening)
		assert_int_equal(listen(fd, 16), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static struct scan_opts opts(uint16_t *ports, size_t n)
{
	struct scan_opts o;

	qsort(ports, n, sizeof(*ports), cmp_u16);
	memset(&o, 0, sizeof(o));
	o.ports = ports;
	o.nports = n;
	o.timeout_ms = 2000;
	o.concurrency = 16;
	o.banner_ms = 200;
	o.deadline_us = np_now_us() + 5000000u;
	return o;
}

static void run_scan(struct outcome *o, const struct scan_opts *so)
{
	struct sockaddr_in sa = loopback();
	struct scan *s;

	assert_int_equal(scan_start(o->loop, (struct sockaddr *)&sa, sizeof(sa), so, on_done, o, &s),
			 NP_OK);
	assert_int_equal(o->calls, 0); /* never inside scan_start */
	assert_int_equal(loop_run(o->loop), NP_OK);
	assert_int_equal(o->calls, 1);
}

static void test_open_and_closed(void **state)
{
	struct outcome o = {0};
	uint16_t ports[4];
	int fds[4];
	struct scan_opts so;

	(void)state;
	fds[0] = tcp_port(1, &ports[0]);
	fds[1] = tcp_port(0, &ports[1]);
	fds[2] = tcp_port(1, &ports[2]);
	fds[3] = tcp_port(0, &ports[3]);
	{
		uint16_t want[2] = {ports[0], ports[2]};

		qsort(want, 2, sizeof(want[0]), cmp_u16);
		so = opts(ports, 4);
		assert_int_equal(loop_new(&o.loop), NP_OK);
		run_scan(&o, &so);
		assert_int_equal(o.status, NP_OK);
		assert_int_equal(o.nopen, 2);
		assert_int_equal(o.open[0], want[0]); /* ascending */
		assert_int_equal(o.open[1], want[1]);
	}
	assert_int_equal(o.closed, 2);
	assert_int_equal(o.filtered, 0);
	assert_int_equal(o.unscanned, 0);
	assert_true(o.rtt_us > 0);
	assert_int_equal(o.banner_len, 0); /* no banner asked */
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	loop_free(o.loop);
}

/* An open port whose peer says `say` on accept (len bytes). */
static void banner_case(const char *say, size_t len, size_t want_len, int want_trunc)
{
	struct outcome o = {0};
	uint16_t port;
	int lfd = tcp_port(1, &port);
	struct scan_opts so;
	struct sockaddr_in sa = loopback();
	struct scan *s;
	int cfd;

	so = opts(&port, 1);
	so.banner = 1;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(scan_start(o.loop, (struct sockaddr *)&sa, sizeof(sa), &so, on_done, &o, &s),
			 NP_OK);
	/* let the connect happen (20 ms of loop), then speak from the accepted side */
	{
		struct loop_timer *t;

		assert_int_equal(loop_timer_new(o.loop, stop_loop, o.loop, &t), NP_OK);
		loop_timer_arm(t, 20);
		assert_int_equal(loop_run(o.loop), NP_OK);
		loop_timer_free(t);
		assert_int_equal(o.calls, 0);
		cfd = accept(lfd, NULL, NULL);
		assert_true(cfd >= 0);
		if (len > 0)
			assert_int_equal(send(cfd, say, len, 0), (ssize_t)len);
		assert_int_equal(loop_run(o.loop), NP_OK);
	}
	assert_int_equal(o.nopen, 1);
	assert_int_equal(o.banner_len, want_len);
	assert_memory_equal(o.banner, say, want_len);
	assert_int_equal(o.banner_truncated, want_trunc);
	close(cfd);
	close(lfd);
	loop_free(o.loop);
}

static void test_banners(void **state)
{
	char big[SCAN_BANNER_MAX + 100];

	(void)state;
	banner_case("SSH-2.0-test\r\n", 14, 14, 0);
	memset(big, 'x', sizeof(big));
	banner_case(big, sizeof(big), SCAN_BANNER_MAX, 1);
	banner_case("", 0, 0, 0); /* says nothing within banner_ms */
}

static void test_many_closed_ports_leave_the_loop_free(void **state)
{
	enum { N = 600 };
	struct outcome o = {0};
	uint16_t *ports = calloc(N, sizeof(*ports));
	int *fds = calloc(N, sizeof(*fds));
	struct loop_timer *side;
	struct scan_opts so;

	(void)state;
	assert_non_null(ports);
	assert_non_null(fds);
	for (int i = 0; i < N; i++)
		fds[i] = tcp_port(0, &ports[i]);
	so = opts(ports, N);
	so.concurrency = 512;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(loop_timer_new(o.loop, on_side_timer, &o, &side), NP_OK);
	{
		struct sockaddr_in sa = loopback();
		struct scan *s;

		assert_int_equal(scan_start(o.loop, (struct sockaddr *)&sa, sizeof(sa), &so, on_done,
					    &o, &s),
				 NP_OK);
		loop_timer_arm(side, 0);
		assert_int_equal(loop_run(o.loop), NP_OK);
	}
	assert_int_equal(o.closed, N);
	assert_int_equal(o.nopen, 0);
	assert_true(o.side_timer_ran);
	/* other timers of the loop run while the scan goes on (here the
	 * refusals come back through the loop; START_PER_TURN bounds the
	 * case where connect() settles a port itself) */
	assert_true(o.side_timer_first);
	loop_timer_free(side);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	free(fds);
	free(ports);
	loop_free(o.loop);
}

static void test_deadline_leaves_ports_unscanned(void **state)
{
	struct outcome o = {0};
	uint16_t ports[3];
	int fds[3];
	struct scan_opts so;

	(void)state;
	for (int i = 0; i < 3; i++)
		fds[i] = tcp_port(1, &ports[i]);
	so = opts(ports, 3);
	so.concurrency = 1;
	so.banner = 1;
	so.banner_ms = 2000;                   /* each open port would hold 2 s */
	so.deadline_us = np_now_us() + 150000; /* but the scan has 150 ms */
	assert_int_equal(loop_new(&o.loop), NP_OK);
	run_scan(&o, &so);
	assert_int_equal(o.nopen, 1);          /* the first, its banner wait cut short */
	assert_int_equal(o.unscanned, 2);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	loop_free(o.loop);
}

static void test_cancel_and_bad_arguments(void **state)
{
	struct outcome o = {0};
	uint16_t port;
	int fd = tcp_port(1, &port);
	struct scan_opts so = opts(&port, 1);
	struct sockaddr_in sa = loopback();
	struct {
		sa_family_t family;
		char rest[32];
	} other = {AF_UNIX, {0}};
	struct scan *s;

	(void)state;
	assert_int_equal(loop_new(&o.loop), NP_OK);
	assert_int_equal(scan_start(o.loop, (struct sockaddr *)&sa, sizeof(sa), &so, on_done, &o, &s),
			 NP_OK);
	scan_cancel(s); /* no callback, nothing left (LeakSanitizer) */
	scan_cancel(NULL);
	assert_int_equal(o.calls, 0);
	so.nports = 0;
	assert_int_equal(scan_start(o.loop, (struct sockaddr *)&sa, sizeof(sa), &so, on_done, &o, &s),
			 NP_EINVAL);
	so.nports = 1;
	so.concurrency = 0;
	assert_int_equal(scan_start(o.loop, (struct sockaddr *)&sa, sizeof(sa), &so, on_done, &o, &s),
			 NP_EINVAL);
	so.concurrency = 1;
	assert_int_equal(scan_start(o.loop, (struct sockaddr *)&other, sizeof(other), &so, on_done,
				    &o, &s),
			 NP_EINVAL);
	close(fd);
	loop_free(o.loop);
}

struct sweep {
	uint16_t ports[2];
};

static int one_scan(void *ud)
{
	struct sweep *sw = ud;
	struct outcome o = {0};
	struct scan_opts so = opts(sw->ports, 2);
	struct sockaddr_in sa = loopback();
	struct scan *s;
	int rc;

	if (loop_new(&o.loop) != NP_OK)
		return NP_ENOMEM;
	rc = scan_start(o.loop, (struct sockaddr *)&sa, sizeof(sa), &so, on_done, &o, &s);
	if (rc == NP_OK) {
		if (loop_run(o.loop) != NP_OK || o.calls != 1)
			rc = NP_ESYS;
		else if (o.status != NP_OK)
			rc = o.status;
		else if (o.nopen + o.closed + o.unscanned != 2)
			rc = NP_EINVAL;
	}
	loop_free(o.loop);
	return rc;
}

static void test_out_of_memory_everywhere(void **state)
{
	struct sweep sw;
	int a, b;

	(void)state;
	a = tcp_port(1, &sw.ports[0]);
	b = tcp_port(0, &sw.ports[1]);
	assert_true(alloc_fail_sweep(one_scan, &sw, NP_OK, NP_ENOMEM) >= 5);
	close(a);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_and_closed),
		cmocka_unit_test(test_banners),
		cmocka_unit_test(test_many_closed_ports_leave_the_loop_free),
		cmocka_unit_test(test_deadline_leaves_ports_unscanned),
		cmocka_unit_test(test_cancel_and_bad_arguments),
		cmocka_unit_test(test_out_of_memory_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
