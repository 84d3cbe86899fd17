/*
 * test_loop.c - unit tests of the event loop (service/loop.c): timer order
 * and the min-heap, re-arming, disarming, freeing from callbacks, fd
 * readiness and mask changes, paused watchers on hung-up fds, peer close,
 * cross-thread wake-ups, stopping, the before-sleep hooks (the one set and
 * those added: order, limits, removal and addition from inside a hook) and
 * the wait cap, the cached clock, and every allocation of a loop's life
 * failing in turn.
 *
 * Every loop_run() is bounded: a guard timer (or, where a timer would
 * change what is measured, a watchdog thread) stops the loop after 2 s and
 * the test then fails.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "np.h"
#include "support/alloc_fail.h"

#define GUARD_MS 2000u

/* ---- helpers ---- */

struct guard {
	struct loop *loop;
	struct loop_timer *t;
	int fired;
};

static void guard_cb(void *ud)
{
	struct guard *g = ud;

	g->fired = 1;
	loop_stop(g->loop);
}

static struct loop *new_loop(void)
{
	struct loop *l = NULL;

	assert_int_equal(loop_new(&l), NP_OK);
	assert_non_null(l);
	return l;
}

static void guard_start(struct guard *g, struct loop *l)
{
	g->loop = l;
	g->fired = 0;
	assert_int_equal(loop_timer_new(l, guard_cb, g, &g->t), NP_OK);
	loop_timer_arm(g->t, GUARD_MS);
}

/* Runs the loop; fails if the guard had to stop it. */
static void run_guarded(struct guard *g)
{
	assert_int_equal(loop_run(g->loop), NP_OK);
	assert_false(g->fired);
}

static void guard_free(struct guard *g)
{
	loop_timer_free(g->t);
	g->t = NULL;
}

static void stop_cb(void *ud)
{
	loop_stop(ud);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* A watchdog thread for tests that must run without any timer: after 2 s
 * it wakes the loop through an async, whose callback stops it. */
struct watchdog {
	struct loop *loop;
	struct loop_async *a;
	pthread_t th;
	atomic_int done;
	atomic_int fired;
};

static void *watchdog_main(void *ud)
{
	struct watchdog *w = ud;

	for (unsigned i = 0; i < GUARD_MS / 10u && !atomic_load(&w->done); i++)
		sleep_ms(10);
	if (!atomic_load(&w->done)) {
		atomic_store(&w->fired, 1);
		loop_async_send(w->a);
	}
	return NULL;
}

static void watchdog_cb(void *ud)
{
	struct watchdog *w = ud;

	if (atomic_load(&w->fired))
		loop_stop(w->loop);
}

static void watchdog_start(struct watchdog *w, struct loop *l)
{
	w->loop = l;
	atomic_init(&w->done, 0);
	atomic_init(&w->fired, 0);
	assert_int_equal(loop_async_new(l, watchdog_cb, w, &w->a), NP_OK);
	assert_int_equal(pthread_create(&w->th, NULL, watchdog_main, w), 0);
}

/* Stops the thread; returns whether it had to stop the loop. */
static int watchdog_end(struct watchdog *w)
{
	atomic_store(&w->done, 1);
	assert_int_equal(pthread_join(w->th, NULL), 0);
	loop_async_free(w->a);
	w->a = NULL;
	return atomic_load(&w->fired);
}

/* A small deterministic PRNG (xorshift32). */
static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
	uint32_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	rng_state = x;
	return x;
}

/* ---- timers: order, re-arm, disarm, armed ---- */

struct rec {
	struct loop *loop;
	int ids[16];
	uint64_t at_us[16];
	int n;
	int stop_after; /* 0: never */
};

struct rtimer {
	struct rec *rec;
	int id;
	struct loop_timer *t;
	int armed_in_cb;
};

static void rec_cb(void *ud)
{
	struct rtimer *x = ud;
	struct rec *r = x->rec;

	x->armed_in_cb = loop_timer_armed(x->t);
	assert_true(r->n < 16);
	r->ids[r->n] = x->id;
	r->at_us[r->n] = loop_now_us(r->loop);
	r->n++;
	if (r->n == r->stop_after)
		loop_stop(r->loop);
}

static void rtimer_new(struct rtimer *x, struct rec *r, int id)
{
	x->rec = r;
	x->id = id;
	x->armed_in_cb = -1;
	assert_int_equal(loop_timer_new(r->loop, rec_cb, x, &x->t), NP_OK);
	assert_false(loop_timer_armed(x->t)); /* a timer starts disarmed */
}

static void test_timers_fire_in_due_order(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct rec r = {.loop = l, .stop_after = 3};
	struct rtimer t30, t10, t20;
	uint64_t start;

	(void)state;
	guard_start(&g, l);
	rtimer_new(&t30, &r, 30);
	rtimer_new(&t10, &r, 10);
	rtimer_new(&t20, &r, 20);
	start = np_now_us();
	loop_timer_arm(t30.t, 30);
	loop_timer_arm(t10.t, 10);
	loop_timer_arm(t20.t, 20);
	run_guarded(&g);

	assert_int_equal(r.n, 3);
	assert_int_equal(r.ids[0], 10);
	assert_int_equal(r.ids[1], 20);
	assert_int_equal(r.ids[2], 30);
	for (int i = 0; i < 3; i++) {
		/* never early, and not absurdly late */
		assert_true(r.at_us[i] >= start + (uint64_t)r.ids[i] * 1000u);
		assert_true(r.at_us[i] < start + 1000000u);
	}
	/* a fired timer is disarmed, already inside its callback */
	assert_int_equal(t10.armed_in_cb, 0);
	assert_int_equal(t20.armed_in_cb, 0);
	assert_int_equal(t30.armed_in_cb, 0);
	assert_false(loop_timer_armed(t10.t));
	assert_false(loop_timer_armed(t30.t));

	loop_timer_free(t30.t);
	loop_timer_free(t10.t);
	loop_timer_free(t20.t);
	guard_free(&g);
	loop_free(l);
}

static void test_timer_rearm_moves_it(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct rec r = {.loop = l};
	struct rtimer later, marker, sooner;
	struct loop_timer *stop;
	uint64_t start;

	(void)state;
	guard_start(&g, l);
	rtimer_new(&later, &r, 1);
	rtimer_new(&marker, &r, 2);
	rtimer_new(&sooner, &r, 3);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);

	start = np_now_us();
	loop_timer_arm(later.t, 10);
	loop_timer_arm(later.t, 60);     /* moved later: fires once, at 60 */
	loop_timer_arm(marker.t, 30);
	loop_timer_arm(sooner.t, 500);
	loop_timer_arm(sooner.t, 5);     /* moved sooner */
	loop_timer_arm_us(marker.t, 30000); /* same due through the _us form */
	assert_true(loop_timer_armed(later.t));
	assert_true(loop_timer_armed(sooner.t));
	loop_timer_arm(stop, 120);
	run_guarded(&g);

	assert_int_equal(r.n, 3);
	assert_int_equal(r.ids[0], 3);
	assert_int_equal(r.ids[1], 2);
	assert_int_equal(r.ids[2], 1);
	assert_true(r.at_us[0] >= start + 5000u);
	assert_true(r.at_us[0] < start + 500000u); /* not at its first due */
	assert_true(r.at_us[1] >= start + 30000u);
	assert_true(r.at_us[2] >= start + 60000u);

	loop_timer_free(later.t);
	loop_timer_free(marker.t);
	loop_timer_free(sooner.t);
	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
}

struct disarmer {
	struct loop_timer *self;
	struct loop_timer *victim;
	int fired;
};

static void disarmer_cb(void *ud)
{
	struct disarmer *d = ud;

	d->fired++;
	loop_timer_disarm(d->victim);
	assert_false(loop_timer_armed(d->victim));
}

static void test_timer_disarm_prevents_firing(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct rec r = {.loop = l};
	struct rtimer a, b, c;
	struct disarmer d = {0};
	struct loop_timer *stop;

	(void)state;
	guard_start(&g, l);
	rtimer_new(&a, &r, 1);
	rtimer_new(&b, &r, 2);
	rtimer_new(&c, &r, 3);
	assert_int_equal(loop_timer_new(l, disarmer_cb, &d, &d.self), NP_OK);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);

	loop_timer_arm(a.t, 10);
	loop_timer_disarm(a.t);          /* disarmed before the loop runs */
	assert_false(loop_timer_armed(a.t));
	loop_timer_disarm(a.t);          /* twice is harmless */
	loop_timer_disarm(c.t);          /* never armed: harmless */
	loop_timer_arm(b.t, 25);         /* disarmed from d's callback at 5 */
	d.victim = b.t;
	loop_timer_arm(d.self, 5);
	loop_timer_arm(c.t, 40);         /* the one that still fires */
	loop_timer_arm(stop, 80);
	run_guarded(&g);

	assert_int_equal(d.fired, 1);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ids[0], 3);
	assert_false(loop_timer_armed(a.t));
	assert_false(loop_timer_armed(b.t));

	loop_timer_free(a.t);
	loop_timer_free(b.t);
	loop_timer_free(c.t);
	loop_timer_free(d.self);
	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
}

struct armed_probe {
	struct loop *loop;
	struct loop_timer *t;
	int calls;
	int armed_on_entry[2];
	int armed_after_rearm;
};

static void armed_probe_cb(void *ud)
{
	struct armed_probe *p = ud;

	p->armed_on_entry[p->calls] = loop_timer_armed(p->t);
	p->calls++;
	if (p->calls == 1) {
		loop_timer_arm(p->t, 5);
		p->armed_after_rearm = loop_timer_armed(p->t);
	} else {
		loop_stop(p->loop);
	}
}

static void test_timer_armed_flag(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct armed_probe p = {.loop = l};

	(void)state;
	guard_start(&g, l);
	assert_int_equal(loop_timer_new(l, armed_probe_cb, &p, &p.t), NP_OK);
	assert_int_equal(loop_timer_armed(p.t), 0);
	loop_timer_arm(p.t, 1000);
	assert_int_equal(loop_timer_armed(p.t), 1);
	loop_timer_disarm(p.t);
	assert_int_equal(loop_timer_armed(p.t), 0);
	loop_timer_arm_us(p.t, 2000);
	assert_int_equal(loop_timer_armed(p.t), 1);
	run_guarded(&g);

	assert_int_equal(p.calls, 2);
	assert_int_equal(p.armed_on_entry[0], 0);
	assert_int_equal(p.armed_after_rearm, 1);
	assert_int_equal(p.armed_on_entry[1], 0);
	assert_int_equal(loop_timer_armed(p.t), 0);

	loop_timer_free(p.t);
	guard_free(&g);
	loop_free(l);
}

/* ---- freeing timers from callbacks ---- */

struct freer {
	struct loop_timer *self;
	struct loop_timer **victim; /* freed too, and set to NULL */
	int *fired;                 /* shared counter */
	int own;                    /* this one's count */
};

static void freer_cb(void *ud)
{
	struct freer *f = ud;

	f->own++;
	(*f->fired)++;
	loop_timer_arm(f->self, 1); /* re-armed, then freed: must not fire */
	loop_timer_free(f->self);
	f->self = NULL;
	if (f->victim != NULL && *f->victim != NULL) {
		loop_timer_free(*f->victim);
		*f->victim = NULL;
	}
}

struct victim_rec {
	int fired;
};

static void victim_cb(void *ud)
{
	((struct victim_rec *)ud)->fired++;
}

static void test_timer_freed_in_callbacks(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int pair_fired = 0, solo_fired = 0, killer_fired = 0;
	struct freer solo = {.fired = &solo_fired};
	struct freer p1 = {.fired = &pair_fired}, p2 = {.fired = &pair_fired};
	struct freer killer = {.fired = &killer_fired};
	struct victim_rec vr = {0};
	struct loop_timer *victim, *stop;

	(void)state;
	guard_start(&g, l);
	/* solo frees itself in its own callback */
	assert_int_equal(loop_timer_new(l, freer_cb, &solo, &solo.self), NP_OK);
	/* p1 and p2 are due in the same round; whichever runs first frees
	 * itself and the other, which must then not run */
	assert_int_equal(loop_timer_new(l, freer_cb, &p1, &p1.self), NP_OK);
	assert_int_equal(loop_timer_new(l, freer_cb, &p2, &p2.self), NP_OK);
	p1.victim = &p2.self;
	p2.victim = &p1.self;
	/* killer frees an armed timer that is due later */
	assert_int_equal(loop_timer_new(l, freer_cb, &killer, &killer.self), NP_OK);
	assert_int_equal(loop_timer_new(l, victim_cb, &vr, &victim), NP_OK);
	killer.victim = &victim;
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);

	loop_timer_arm(solo.self, 5);
	loop_timer_arm(p1.self, 10);
	loop_timer_arm(p2.self, 10);
	sleep_ms(15); /* both overdue when the loop starts: one round */
	loop_timer_arm(killer.self, 5);
	loop_timer_arm(victim, 20);
	loop_timer_arm(stop, 60);
	run_guarded(&g);

	assert_int_equal(solo_fired, 1);
	assert_int_equal(pair_fired, 1);
	assert_int_equal(p1.own + p2.own, 1);
	assert_null(p1.self);
	assert_null(p2.self);
	assert_int_equal(killer_fired, 1);
	assert_null(victim);
	assert_int_equal(vr.fired, 0);

	/* the loop still works after those frees */
	loop_timer_arm(stop, 5);
	run_guarded(&g);

	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
}

/* ---- a timer armed at 0 ---- */

struct zero {
	struct loop *loop;
	struct loop_timer *t;
	int iter;          /* before-sleep calls so far = current iteration */
	int fires;
	int fire_iter[32];
	uint64_t start_us, end_us;
};

static void zero_hook(struct loop *l, void *ud)
{
	struct zero *z = ud;

	(void)l;
	z->iter++;
}

static void zero_cb(void *ud)
{
	struct zero *z = ud;

	z->fire_iter[z->fires++] = z->iter;
	if (z->fires < 20) {
		loop_timer_arm(z->t, 0);
	} else {
		z->end_us = np_now_us();
		loop_stop(z->loop);
	}
}

static void test_timer_zero_fires_next_iteration(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct zero z = {.loop = l};

	(void)state;
	guard_start(&g, l);
	loop_set_before_sleep(l, zero_hook, &z);
	assert_int_equal(loop_timer_new(l, zero_cb, &z, &z.t), NP_OK);
	z.start_us = np_now_us();
	loop_timer_arm(z.t, 0);
	assert_int_equal(loop_run(l), NP_OK);
	/* free first, so that a failure below reports only itself */
	loop_set_before_sleep(l, NULL, NULL);
	loop_timer_free(z.t);
	guard_free(&g);
	loop_free(l);

	assert_false(g.fired);
	assert_int_equal(z.fires, 20);
	assert_true(z.end_us - z.start_us < 100000u); /* no waiting */
	/* armed before the run: fires in the first iteration; re-armed at 0
	 * from its own callback: fires once per iteration, in the next one,
	 * not again within the same round of due timers */
	for (int i = 0; i < 20; i++) {
		if (z.fire_iter[i] != i + 1)
			print_error("firing %d of the 0 ms timer ran in iteration %d\n", i + 1,
				    z.fire_iter[i]);
		assert_int_equal(z.fire_iter[i], i + 1);
	}
}

/* ---- many timers: the min-heap ---- */

#define MANY 10000

struct many {
	struct loop *loop;
	struct loop_timer *t;
	uint64_t lo, hi;   /* bounds of the true due time, in us */
	int fired;
	uint64_t fired_at;
	int disarmed;
};

struct many_ctx {
	struct many *m;
	int order[MANY];
	int n;
	int expected;
	struct loop *loop;
};

static struct many_ctx *many_ctx_g;

static void many_cb(void *ud)
{
	struct many *m = ud;
	struct many_ctx *c = many_ctx_g;

	m->fired++;
	m->fired_at = loop_now_us(c->loop);
	assert_true(c->n < MANY);
	c->order[c->n++] = (int)(m - c->m);
	if (c->n == c->expected)
		loop_stop(c->loop);
}

static void arm_many(struct many *m, uint64_t after_us)
{
	m->lo = np_now_us() + after_us;
	loop_timer_arm_us(m->t, after_us);
	m->hi = np_now_us() + after_us;
}

static void test_many_timers_heap_order(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct many_ctx *c = calloc(1, sizeof(*c));
	struct many *m = calloc(MANY, sizeof(*m));
	uint64_t max_lo = 0;
	int disarmed = 0;

	(void)state;
	assert_non_null(c);
	assert_non_null(m);
	c->m = m;
	c->loop = l;
	many_ctx_g = c;
	guard_start(&g, l);
	rng_state = 2463534242u;
	for (int i = 0; i < MANY; i++) {
		m[i].loop = l;
		assert_int_equal(loop_timer_new(l, many_cb, &m[i], &m[i].t), NP_OK);
		arm_many(&m[i], rng() % 300000u); /* 0 .. 300 ms, in us */
	}
	/* Exercise removal from the middle of the heap: disarm some, move
	 * others (earlier or later). */
	for (int i = 0; i < MANY; i++) {
		if (i % 7 == 0) {
			loop_timer_disarm(m[i].t);
			m[i].disarmed = 1;
			disarmed++;
		} else if (i % 11 == 0) {
			arm_many(&m[i], rng() % 300000u);
		}
	}
	c->expected = MANY - disarmed;
	run_guarded(&g);

	assert_int_equal(c->n, c->expected);
	for (int i = 0; i < MANY; i++) {
		if (m[i].disarmed) {
			assert_int_equal(m[i].fired, 0);
		} else {
			assert_int_equal(m[i].fired, 1);
			assert_true(m[i].fired_at >= m[i].lo); /* never early */
		}
	}
	/* Fired in non-decreasing due order. The true due of timer k lies in
	 * [lo, hi]; if dues are sorted in firing order, every earlier lo is at
	 * most every later hi. */
	for (int k = 0; k < c->n; k++) {
		struct many *x = &m[c->order[k]];

		assert_true(max_lo <= x->hi);
		if (x->lo > max_lo)
			max_lo = x->lo;
	}

	for (int i = 0; i < MANY; i++)
		loop_timer_free(m[i].t);
	guard_free(&g);
	loop_free(l);
	many_ctx_g = NULL;
	free(m);
	free(c);
}

/* ---- fd watchers ---- */

struct io_rec {
	struct loop *loop;
	struct loop_watch *w;
	int fd;
	int calls;
	unsigned events[16];
	int gate;          /* set by the test when an event may come */
	int early;         /* a callback came before gate */
	int stop_after;
	char byte;
};

static void io_rec_cb(int fd, unsigned events, void *ud)
{
	struct io_rec *r = ud;

	assert_int_equal(fd, r->fd);
	if (!r->gate)
		r->early++;
	if (r->calls < 16)
		r->events[r->calls] = events;
	r->calls++;
	if (events & LOOP_READ) {
		char b;

		if (read(fd, &b, 1) == 1)
			r->byte = b;
	}
	if (r->calls == r->stop_after)
		loop_stop(r->loop);
}

struct writer {
	int fd;
	int *gate;
};

static void writer_cb(void *ud)
{
	struct writer *w = ud;

	*w->gate = 1;
	assert_int_equal(write(w->fd, "x", 1), 1);
}

static void test_watch_read_readiness(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int p[2];
	struct io_rec r = {.loop = l, .stop_after = 1};
	struct writer wr;
	struct loop_timer *t;

	(void)state;
	assert_int_equal(pipe(p), 0);
	r.fd = p[0];
	wr.fd = p[1];
	wr.gate = &r.gate;
	guard_start(&g, l);
	assert_int_equal(loop_watch_new(l, p[0], LOOP_READ, io_rec_cb, &r, &r.w), NP_OK);
	assert_non_null(r.w);
	assert_int_equal(loop_timer_new(l, writer_cb, &wr, &t), NP_OK);
	loop_timer_arm(t, 20);
	run_guarded(&g);

	assert_int_equal(r.early, 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.events[0], LOOP_READ);
	assert_int_equal(r.byte, 'x');

	loop_watch_free(r.w);
	loop_timer_free(t);
	guard_free(&g);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

struct drainer {
	int fd;
	int *gate;
};

static void drainer_cb(void *ud)
{
	struct drainer *d = ud;
	char buf[65536];

	*d->gate = 1;
	while (read(d->fd, buf, sizeof(buf)) > 0)
		;
}

static void test_watch_write_readiness(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int s[2], p[2];
	struct io_rec ws = {.loop = l, .stop_after = 1, .gate = 1};
	struct io_rec wp = {.loop = l, .stop_after = 1};
	struct drainer d;
	struct loop_timer *t;
	char buf[4096];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	guard_start(&g, l);

	/* a fresh socket is writable at once */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	ws.fd = s[0];
	assert_int_equal(loop_watch_new(l, s[0], LOOP_WRITE, io_rec_cb, &ws, &ws.w), NP_OK);
	run_guarded(&g);
	assert_int_equal(ws.calls, 1);
	assert_int_equal(ws.events[0], LOOP_WRITE);
	loop_watch_free(ws.w);

	/* a full pipe becomes writable only once the reader drains it */
	assert_int_equal(pipe(p), 0);
	set_nonblock(p[0]);
	set_nonblock(p[1]);
	while (write(p[1], buf, sizeof(buf)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	wp.fd = p[1];
	d.fd = p[0];
	d.gate = &wp.gate;
	assert_int_equal(loop_watch_new(l, p[1], LOOP_WRITE, io_rec_cb, &wp, &wp.w), NP_OK);
	assert_int_equal(loop_timer_new(l, drainer_cb, &d, &t), NP_OK);
	loop_timer_arm(t, 20);
	run_guarded(&g);
	assert_int_equal(wp.early, 0);
	assert_int_equal(wp.calls, 1);
	assert_int_equal(wp.events[0], LOOP_WRITE);

	loop_watch_free(wp.w);
	loop_timer_free(t);
	guard_free(&g);
	loop_free(l);
	close(s[0]);
	close(s[1]);
	close(p[0]);
	close(p[1]);
}

/* Phases: READ only on an empty socket (silent), then WRITE (fires), then
 * READ only (silent until the peer writes), then READ|WRITE. */
struct mask_ctx {
	struct loop *loop;
	struct loop_watch *w;
	int peer;
	int phase;
	int calls[4];
	unsigned events[4];
	struct loop_timer *t;
};

static void mask_io_cb(int fd, unsigned events, void *ud)
{
	struct mask_ctx *m = ud;

	(void)fd;
	m->calls[m->phase]++;
	m->events[m->phase] = events;
	switch (m->phase) {
	case 1:
		assert_int_equal(loop_watch_set(m->w, LOOP_READ), NP_OK);
		m->phase = 2;
		loop_timer_arm(m->t, 20);
		break;
	case 2:
		assert_int_equal(loop_watch_set(m->w, LOOP_READ | LOOP_WRITE), NP_OK);
		m->phase = 3;
		break;
	case 3:
		loop_stop(m->loop);
		break;
	default:
		break;
	}
}

static void mask_timer_cb(void *ud)
{
	struct mask_ctx *m = ud;

	if (m->phase == 0) {
		assert_int_equal(loop_watch_set(m->w, LOOP_WRITE), NP_OK);
		m->phase = 1;
	} else if (m->phase == 2) {
		assert_int_equal(write(m->peer, "y", 1), 1);
	}
}

static void test_watch_set_changes_mask(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int s[2];
	struct mask_ctx m = {.loop = l};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	m.peer = s[1];
	guard_start(&g, l);
	assert_int_equal(loop_watch_new(l, s[0], LOOP_READ, mask_io_cb, &m, &m.w), NP_OK);
	assert_int_equal(loop_watch_set(m.w, LOOP_READ), NP_OK); /* same mask: no-op */
	assert_int_equal(loop_timer_new(l, mask_timer_cb, &m, &m.t), NP_OK);
	loop_timer_arm(m.t, 20);
	run_guarded(&g);

	assert_int_equal(m.calls[0], 0);            /* READ on an empty socket */
	assert_int_equal(m.calls[1], 1);
	assert_int_equal(m.events[1], LOOP_WRITE);
	assert_int_equal(m.calls[2], 1);            /* only after the peer wrote */
	assert_int_equal(m.events[2], LOOP_READ);   /* writable, but not asked */
	assert_int_equal(m.calls[3], 1);
	assert_int_equal(m.events[3], LOOP_READ | LOOP_WRITE);

	loop_watch_free(m.w);
	loop_timer_free(m.t);
	guard_free(&g);
	loop_free(l);
	close(s[0]);
	close(s[1]);
}

static void test_paused_watch_does_not_spin_on_hangup(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int s[2], q[2];
	struct io_rec r = {.loop = l, .gate = 1};
	struct io_rec r0 = {.loop = l, .gate = 1};
	struct loop_timer *stop;
	uint64_t start;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, q), 0);
	r.fd = s[0];
	r0.fd = q[0];
	guard_start(&g, l);
	assert_int_equal(loop_watch_new(l, s[0], LOOP_READ, io_rec_cb, &r, &r.w), NP_OK);
	assert_int_equal(loop_watch_set(r.w, 0), NP_OK);      /* paused */
	assert_int_equal(loop_watch_set(r.w, 0), NP_OK);      /* twice: fine */
	assert_int_equal(loop_watch_new(l, q[0], 0, io_rec_cb, &r0, &r0.w), NP_OK); /* born paused */
	close(s[1]); /* peer hangs up: EPOLLHUP whatever the mask */
	close(q[1]);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);
	start = np_now_us();
	loop_timer_arm(stop, 100);
	run_guarded(&g);
	assert_true(np_now_us() - start >= 100000u);
	assert_int_equal(r.calls, 0);
	assert_int_equal(r0.calls, 0);

	/* resumed: the hang-up is reported, once */
	r.stop_after = 1;
	assert_int_equal(loop_watch_set(r.w, LOOP_READ), NP_OK);
	run_guarded(&g);
	assert_int_equal(r.calls, 1);
	assert_true(r.events[0] & LOOP_READ);
	assert_true(r.events[0] & LOOP_ERROR);

	loop_watch_free(r.w);
	loop_watch_free(r0.w);
	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
	close(s[0]);
	close(q[0]);
}

struct closer {
	int fd;
	int how;  /* -1: close, else shutdown(how) */
	int *gate;
};

static void closer_cb(void *ud)
{
	struct closer *c = ud;

	*c->gate = 1;
	if (c->how < 0) {
		close(c->fd);
		c->fd = -1;
	} else {
		assert_int_equal(shutdown(c->fd, c->how), 0);
	}
}

/* Records one event, then pauses itself so that nothing spins. */
static void once_cb(int fd, unsigned events, void *ud)
{
	struct io_rec *r = ud;

	(void)fd;
	if (!r->gate)
		r->early++;
	if (r->calls < 16)
		r->events[r->calls] = events;
	r->calls++;
	assert_int_equal(loop_watch_set(r->w, 0), NP_OK);
	loop_stop(r->loop);
}

static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(lfd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	*server = accept(lfd, NULL, NULL);
	assert_true(*server >= 0);
	close(lfd);
}

static void peer_closed_case(int fd, int peer, int how, unsigned mask, unsigned want_set,
			     unsigned want_clear)
{
	struct loop *l = new_loop();
	struct guard g;
	struct io_rec r = {.loop = l, .fd = fd};
	struct closer c = {.fd = peer, .how = how, .gate = &r.gate};
	struct loop_timer *t;

	guard_start(&g, l);
	assert_int_equal(loop_watch_new(l, fd, mask, once_cb, &r, &r.w), NP_OK);
	assert_int_equal(loop_timer_new(l, closer_cb, &c, &t), NP_OK);
	loop_timer_arm(t, 10);
	run_guarded(&g);
	assert_int_equal(r.early, 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.events[0] & want_set, want_set);
	assert_int_equal(r.events[0] & want_clear, 0);

	loop_watch_free(r.w);
	loop_timer_free(t);
	guard_free(&g);
	loop_free(l);
	if (c.fd >= 0)
		close(c.fd);
	close(fd);
}

static void test_peer_closed_reported(void **state)
{
	int s[2], cl, sv;

	(void)state;
	/* socketpair, peer closes */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	peer_closed_case(s[0], s[1], -1, LOOP_READ | LOOP_PEER_CLOSED,
			 LOOP_READ | LOOP_PEER_CLOSED, LOOP_WRITE);
	/* socketpair, watching for the close alone (as server.c does) */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	peer_closed_case(s[0], s[1], -1, LOOP_PEER_CLOSED, LOOP_PEER_CLOSED,
			 LOOP_READ | LOOP_WRITE);
	/* TCP, peer closes: exactly "peer closed" when only that was asked */
	tcp_pair(&cl, &sv);
	peer_closed_case(sv, cl, -1, LOOP_PEER_CLOSED, LOOP_PEER_CLOSED,
			 LOOP_READ | LOOP_WRITE | LOOP_ERROR);
	/* TCP, peer half-closes (FIN only) while we read */
	tcp_pair(&cl, &sv);
	peer_closed_case(sv, cl, SHUT_WR, LOOP_READ | LOOP_PEER_CLOSED,
			 LOOP_READ | LOOP_PEER_CLOSED, LOOP_WRITE | LOOP_ERROR);
}

/* Two readable sockets, one batch: whichever callback runs first frees
 * both watchers (its own included); the other event, already fetched by
 * epoll_wait, must be dropped, not delivered to freed memory. */
struct twin {
	struct loop_watch **self;
	struct loop_watch **other;
	int *calls;
};

static void twin_cb(int fd, unsigned events, void *ud)
{
	struct twin *t = ud;

	(void)fd;
	(void)events;
	(*t->calls)++;
	loop_watch_free(*t->self);
	loop_watch_free(*t->self); /* twice: ignored */
	*t->self = NULL;
	loop_watch_free(*t->other);
	*t->other = NULL;
}

static void test_watch_freed_with_pending_event(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int a[2], b[2], calls = 0;
	struct loop_watch *wa, *wb;
	struct twin ta = {&wa, &wb, &calls}, tb = {&wb, &wa, &calls};
	struct loop_timer *stop;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(write(a[1], "1", 1), 1);
	assert_int_equal(write(b[1], "2", 1), 1);
	guard_start(&g, l);
	assert_int_equal(loop_watch_new(l, a[0], LOOP_READ, twin_cb, &ta, &wa), NP_OK);
	assert_int_equal(loop_watch_new(l, b[0], LOOP_READ, twin_cb, &tb, &wb), NP_OK);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);
	loop_timer_arm(stop, 30);
	run_guarded(&g);

	assert_int_equal(calls, 1);
	assert_null(wa);
	assert_null(wb);

	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* A watcher that frees itself (and closes its fd) in its own callback. */
struct selfkill {
	struct loop_watch *w;
	int fd;
	int calls;
};

static void selfkill_cb(int fd, unsigned events, void *ud)
{
	struct selfkill *s = ud;

	assert_int_equal(fd, s->fd);
	assert_int_equal(events, LOOP_READ);
	s->calls++;
	loop_watch_free(s->w);
	s->w = NULL;
	close(fd);
	s->fd = -1;
}

static void test_watch_freed_in_own_callback(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int p[2];
	struct selfkill s = {0};
	struct loop_timer *stop;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "zz", 2), 2); /* stays readable */
	s.fd = p[0];
	guard_start(&g, l);
	assert_int_equal(loop_watch_new(l, p[0], LOOP_READ, selfkill_cb, &s, &s.w), NP_OK);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);
	loop_timer_arm(stop, 30);
	run_guarded(&g);
	assert_int_equal(s.calls, 1);
	assert_null(s.w);

	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
	close(p[1]);
}

/* ---- async ---- */

struct async_ctx {
	struct loop *loop;
	struct loop_async *a;
	pthread_t loop_thread;
	pthread_t cb_thread;
	int calls;
	atomic_int seq;   /* last value the sender published */
	int seen;         /* last value a callback saw */
	int target;
};

static void async_cb(void *ud)
{
	struct async_ctx *c = ud;

	c->cb_thread = pthread_self();
	c->calls++;
	c->seen = atomic_load(&c->seq);
	if (c->seen >= c->target)
		loop_stop(c->loop);
}

static void *async_sender(void *ud)
{
	struct async_ctx *c = ud;

	sleep_ms(20);
	atomic_store(&c->seq, 1);
	loop_async_send(c->a);
	return NULL;
}

static void test_async_from_thread(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct async_ctx c = {.loop = l, .target = 1};
	pthread_t th;

	(void)state;
	atomic_init(&c.seq, 0);
	c.loop_thread = pthread_self();
	guard_start(&g, l);
	assert_int_equal(loop_async_new(l, async_cb, &c, &c.a), NP_OK);
	assert_int_equal(pthread_create(&th, NULL, async_sender, &c), 0);
	run_guarded(&g);
	assert_int_equal(pthread_join(th, NULL), 0);

	assert_int_equal(c.calls, 1);
	assert_int_equal(c.seen, 1);
	assert_true(pthread_equal(c.cb_thread, c.loop_thread));

	loop_async_free(c.a);
	guard_free(&g);
	loop_free(l);
}

static void *async_burst(void *ud)
{
	struct async_ctx *c = ud;

	for (int i = 1; i <= c->target; i++) {
		atomic_store(&c->seq, i);
		loop_async_send(c->a);
	}
	return NULL;
}

static void test_async_sends_coalesce(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct async_ctx c = {.loop = l, .target = 1000000};
	struct loop_timer *stop;
	pthread_t th;

	(void)state;
	atomic_init(&c.seq, 0);
	guard_start(&g, l);
	assert_int_equal(loop_async_new(l, async_cb, &c, &c.a), NP_OK);

	/* five sends before the loop runs: at least one call, at most five */
	for (int i = 0; i < 5; i++)
		loop_async_send(c.a);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);
	loop_timer_arm(stop, 30);
	run_guarded(&g);
	assert_true(c.calls >= 1);
	assert_true(c.calls <= 5);

	/* a burst from another thread: the last send is never lost (a
	 * callback sees the final value), and sends coalesce */
	c.calls = 0;
	c.target = 20000;
	loop_timer_disarm(stop);
	assert_int_equal(pthread_create(&th, NULL, async_burst, &c), 0);
	run_guarded(&g);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(c.seen, c.target);
	assert_true(c.calls >= 1);
	assert_true(c.calls <= c.target);

	loop_async_free(c.a);
	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
}

/* ---- stopping ---- */

static void test_stop_from_callback(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct rec r = {.loop = l};
	struct rtimer late;
	struct loop_timer *stop;
	uint64_t start, took;

	(void)state;
	guard_start(&g, l);
	rtimer_new(&late, &r, 1);
	assert_int_equal(loop_timer_new(l, stop_cb, l, &stop), NP_OK);
	start = np_now_us();
	loop_timer_arm(stop, 10);
	loop_timer_arm(late.t, 300);
	run_guarded(&g);
	took = np_now_us() - start;
	assert_true(took >= 10000u);
	assert_true(took < 300000u);
	assert_int_equal(r.n, 0);
	assert_true(loop_timer_armed(late.t));

	/* the stop is consumed: a second run runs until the next stop */
	start = np_now_us();
	loop_timer_arm(stop, 20);
	run_guarded(&g);
	assert_true(np_now_us() - start >= 20000u);
	assert_int_equal(r.n, 0);

	loop_timer_free(late.t);
	loop_timer_free(stop);
	guard_free(&g);
	loop_free(l);
}

static void count_hook(struct loop *l, void *ud)
{
	(void)l;
	(*(int *)ud)++;
}

static void test_stop_before_run(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct rec r = {.loop = l};
	struct rtimer t;
	int hooks = 0;
	uint64_t start;

	(void)state;
	guard_start(&g, l);
	rtimer_new(&t, &r, 1);
	loop_set_before_sleep(l, count_hook, &hooks);
	loop_timer_arm(t.t, 0);
	loop_stop(l);
	start = np_now_us();
	assert_int_equal(loop_run(l), NP_OK);
	assert_true(np_now_us() - start < 50000u);
	assert_int_equal(hooks, 0);
	assert_int_equal(r.n, 0);             /* not even an overdue timer */
	assert_true(loop_timer_armed(t.t));

	/* kept only once: the next run runs */
	r.stop_after = 1;
	run_guarded(&g);
	assert_int_equal(r.n, 1);
	assert_true(hooks >= 1);

	loop_set_before_sleep(l, NULL, NULL);
	loop_timer_free(t.t);
	guard_free(&g);
	loop_free(l);
}

/* ---- before-sleep hook and wait cap ---- */

struct iter_ctx {
	struct loop *loop;
	struct loop_watch *w;
	int hooks;
	int cbs;
	int hook_saw_wrong;
};

static void iter_hook(struct loop *l, void *ud)
{
	struct iter_ctx *c = ud;

	if (l != c->loop || c->hooks != c->cbs)
		c->hook_saw_wrong++;
	c->hooks++;
}

static void iter_cb(int fd, unsigned events, void *ud)
{
	struct iter_ctx *c = ud;

	(void)fd;
	(void)events;
	c->cbs++;
	if (c->cbs == 50)
		loop_stop(c->loop);
}

static void test_before_sleep_once_per_iteration(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	int p[2];
	struct iter_ctx c = {.loop = l};

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1); /* never read: one event per iteration */
	guard_start(&g, l);
	loop_set_before_sleep(l, iter_hook, &c);
	assert_int_equal(loop_watch_new(l, p[0], LOOP_READ, iter_cb, &c, &c.w), NP_OK);
	run_guarded(&g);
	assert_int_equal(c.cbs, 50);
	assert_int_equal(c.hooks, 50);
	assert_int_equal(c.hook_saw_wrong, 0);

	loop_set_before_sleep(l, NULL, NULL);
	loop_watch_free(c.w);
	guard_free(&g);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

struct cap_ctx {
	struct loop *loop;
	int hooks;
	uint64_t at[8];
	struct loop_timer *t; /* NULL in the no-timer case */
};

/* No timers: every iteration capped at 20 ms, stop at the 4th hook. */
static void cap_hook(struct loop *l, void *ud)
{
	struct cap_ctx *c = ud;

	c->at[c->hooks++] = np_now_us();
	if (c->hooks == 4) {
		loop_stop(l);
		return;
	}
	loop_cap_wait(l, 500);
	loop_cap_wait(l, 20);
	loop_cap_wait(l, 1000); /* a higher cap does not raise it */
}

/* A timer at 150 ms; only the first iteration is capped at 20 ms. */
static void cap_once_hook(struct loop *l, void *ud)
{
	struct cap_ctx *c = ud;

	c->at[c->hooks++] = np_now_us();
	if (c->hooks == 1)
		loop_cap_wait(l, 20);
	if (c->hooks == 3)
		loop_stop(l);
}

static void noop_cb(void *ud)
{
	(void)ud;
}

static void test_cap_wait(void **state)
{
	struct loop *l = new_loop();
	struct watchdog wd;
	struct guard g;
	struct cap_ctx c = {.loop = l};
	uint64_t start;

	(void)state;
	/* no timer at all: the cap alone wakes the loop */
	watchdog_start(&wd, l);
	loop_set_before_sleep(l, cap_hook, &c);
	start = np_now_us();
	assert_int_equal(loop_run(l), NP_OK);
	assert_false(watchdog_end(&wd));
	assert_int_equal(c.hooks, 4);
	for (int i = 1; i < 4; i++) {
		uint64_t gap = c.at[i] - c.at[i - 1];

		assert_true(gap >= 19000u);   /* waited ~20 ms */
		assert_true(gap < 100000u);   /* not longer */
	}
	assert_true(c.at[3] - start < 300000u);

	/* the cap lasts one iteration: the next wait runs to the timer */
	memset(&c, 0, sizeof(c));
	c.loop = l;
	guard_start(&g, l);
	assert_int_equal(loop_timer_new(l, noop_cb, NULL, &c.t), NP_OK);
	loop_set_before_sleep(l, cap_once_hook, &c);
	start = np_now_us();
	loop_timer_arm(c.t, 150);
	run_guarded(&g);
	assert_int_equal(c.hooks, 3);
	assert_true(c.at[1] - c.at[0] >= 19000u);
	assert_true(c.at[1] - c.at[0] < 100000u);
	assert_true(c.at[2] - start >= 150000u); /* not woken every 20 ms */
	assert_false(loop_timer_armed(c.t));

	loop_set_before_sleep(l, NULL, NULL);
	loop_timer_free(c.t);
	guard_free(&g);
	loop_free(l);
}

/* ---- several before-sleep hooks ---- */

struct hooks_ctx {
	struct loop *loop;
	char log[64];
	size_t n;
	int iterations;          /* stop after this many rounds of hooks */
	int rounds;
	loop_hook_cb remove_cb;  /* removed by hook 'a' in its first call */
	void *remove_ud;
	int add_once;            /* hook 'a' adds hook 'd' in its first call */
};

static void hooks_log(struct hooks_ctx *c, char ch)
{
	if (c->n < sizeof(c->log) - 1)
		c->log[c->n++] = ch;
}

static void hook_d(struct loop *l, void *ud);

static void hook_s(struct loop *l, void *ud)
{
	(void)l;
	hooks_log(ud, 's');
}

/* The set hook, removing remove_cb in its first call. */
static void hook_s_removes(struct loop *l, void *ud)
{
	struct hooks_ctx *c = ud;

	hooks_log(c, 's');
	if (c->remove_cb != NULL) {
		loop_remove_before_sleep(l, c->remove_cb, c->remove_ud);
		c->remove_cb = NULL;
	}
}

static void hook_a(struct loop *l, void *ud)
{
	struct hooks_ctx *c = ud;

	hooks_log(c, 'a');
	if (c->remove_cb != NULL) {
		loop_remove_before_sleep(l, c->remove_cb, c->remove_ud);
		c->remove_cb = NULL;
	}
	if (c->add_once) {
		c->add_once = 0;
		assert_int_equal(loop_add_before_sleep(l, hook_d, c), NP_OK);
	}
}

static void hook_b(struct loop *l, void *ud)
{
	hooks_log(ud, 'b');
	(void)l;
}

static void hook_d(struct loop *l, void *ud)
{
	hooks_log(ud, 'd');
	(void)l;
}

/* Last hook: one round done; a 0 ms timer keeps the loop from waiting. */
static void hook_end(struct loop *l, void *ud)
{
	struct hooks_ctx *c = ud;

	hooks_log(c, '|');
	if (++c->rounds == c->iterations)
		loop_stop(l);
	loop_cap_wait(l, 0);
}

static void hooks_run(struct hooks_ctx *c)
{
	struct guard g;

	guard_start(&g, c->loop);
	run_guarded(&g);
	guard_free(&g);
}

static void test_hooks_run_in_order(void **state)
{
	struct loop *l = new_loop();
	struct hooks_ctx c = {.loop = l, .iterations = 3};

	(void)state;
	/* added first, set later: the set one still runs first */
	assert_int_equal(loop_add_before_sleep(l, hook_a, &c), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, hook_b, &c), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, hook_end, &c), NP_OK);
	loop_set_before_sleep(l, hook_s, &c);
	hooks_run(&c);
	assert_string_equal(c.log, "sab|sab|sab|");

	/* clearing the set hook leaves the added ones */
	memset(c.log, 0, sizeof(c.log));
	c.n = 0;
	c.rounds = 0;
	c.iterations = 2;
	loop_set_before_sleep(l, NULL, NULL);
	hooks_run(&c);
	assert_string_equal(c.log, "ab|ab|");

	/* removed from outside: gone at once, the others keep their order */
	memset(c.log, 0, sizeof(c.log));
	c.n = 0;
	c.rounds = 0;
	loop_remove_before_sleep(l, hook_a, &c);
	loop_remove_before_sleep(l, hook_a, &c);   /* twice: nothing */
	loop_remove_before_sleep(l, hook_b, NULL); /* other ud: nothing */
	hooks_run(&c);
	assert_string_equal(c.log, "b|b|");

	loop_remove_before_sleep(l, hook_b, &c);
	loop_remove_before_sleep(l, hook_end, &c);
	loop_free(l);
}

static void test_hooks_limits(void **state)
{
	struct loop *l = new_loop();
	int hooks = 0;

	(void)state;
	assert_int_equal(loop_add_before_sleep(l, NULL, NULL), NP_EINVAL);
	for (int i = 0; i < LOOP_MAX_HOOKS; i++)
		assert_int_equal(loop_add_before_sleep(l, count_hook, &hooks), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, count_hook, &hooks), NP_ELIMIT);
	/* the same cb and ud twice: one removal takes one of them */
	loop_remove_before_sleep(l, count_hook, &hooks);
	assert_int_equal(loop_add_before_sleep(l, count_hook, &hooks), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, count_hook, &hooks), NP_ELIMIT);
	/* the set hook is not one of them */
	loop_set_before_sleep(l, count_hook, &hooks);
	loop_set_before_sleep(l, NULL, NULL);
	for (int i = 0; i < LOOP_MAX_HOOKS; i++)
		loop_remove_before_sleep(l, count_hook, &hooks);
	assert_int_equal(loop_add_before_sleep(l, count_hook, &hooks), NP_OK);
	loop_remove_before_sleep(l, count_hook, &hooks);
	loop_free(l);
}

static void test_hooks_removed_from_a_hook(void **state)
{
	struct loop *l = new_loop();
	struct hooks_ctx c = {.loop = l, .iterations = 2};

	(void)state;
	/* 'a' removes 'b', which comes after it: 'b' never runs */
	c.remove_cb = hook_b;
	c.remove_ud = &c;
	assert_int_equal(loop_add_before_sleep(l, hook_a, &c), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, hook_b, &c), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, hook_end, &c), NP_OK);
	hooks_run(&c);
	assert_string_equal(c.log, "a|a|");

	/* 'a' removes itself: it ran this once */
	memset(c.log, 0, sizeof(c.log));
	c.n = 0;
	c.rounds = 0;
	c.remove_cb = hook_a;
	hooks_run(&c);
	assert_string_equal(c.log, "a||");

	/* the set hook removes an added one before it runs */
	memset(c.log, 0, sizeof(c.log));
	c.n = 0;
	c.rounds = 0;
	assert_int_equal(loop_add_before_sleep(l, hook_a, &c), NP_OK); /* after end */
	assert_int_equal(loop_add_before_sleep(l, hook_b, &c), NP_OK);
	c.remove_cb = hook_a;
	loop_set_before_sleep(l, hook_s_removes, &c);
	hooks_run(&c);
	assert_string_equal(c.log, "s|bs|b");

	loop_set_before_sleep(l, NULL, NULL);
	loop_remove_before_sleep(l, hook_b, &c);
	loop_remove_before_sleep(l, hook_end, &c);
	loop_free(l);
}

static void test_hooks_added_from_a_hook(void **state)
{
	struct loop *l = new_loop();
	struct hooks_ctx c = {.loop = l, .iterations = 3, .add_once = 1};

	(void)state;
	assert_int_equal(loop_add_before_sleep(l, hook_a, &c), NP_OK);
	assert_int_equal(loop_add_before_sleep(l, hook_end, &c), NP_OK);
	hooks_run(&c);
	/* added by 'a' in the first round: runs from the second, last */
	assert_string_equal(c.log, "a|a|da|d");
	loop_remove_before_sleep(l, hook_a, &c);
	loop_remove_before_sleep(l, hook_end, &c);
	loop_remove_before_sleep(l, hook_d, &c);
	loop_free(l);
}

static void test_added_hook_caps_wait(void **state)
{
	struct loop *l = new_loop();
	struct watchdog wd;
	struct cap_ctx c = {.loop = l};
	uint64_t start;

	(void)state;
	watchdog_start(&wd, l);
	assert_int_equal(loop_add_before_sleep(l, cap_hook, &c), NP_OK);
	start = np_now_us();
	assert_int_equal(loop_run(l), NP_OK);
	assert_false(watchdog_end(&wd));
	assert_int_equal(c.hooks, 4);
	for (int i = 1; i < 4; i++) {
		uint64_t gap = c.at[i] - c.at[i - 1];

		assert_true(gap >= 19000u);
		assert_true(gap < 100000u);
	}
	assert_true(c.at[3] - start < 300000u);
	loop_remove_before_sleep(l, cap_hook, &c);
	loop_free(l);
}

/* ---- the cached clock ---- */

struct clock_ctx {
	struct loop *loop;
	struct loop_timer *t;
	struct loop_watch *w;
	uint64_t us[64];
	uint64_t ms[64];
	uint64_t real[64];
	int n;
	int timer_fires;
	int peer;
};

static void clock_note(struct clock_ctx *c)
{
	if (c->n >= 64)
		return;
	c->us[c->n] = loop_now_us(c->loop);
	c->ms[c->n] = loop_now_ms(c->loop);
	c->real[c->n] = np_now_us();
	c->n++;
}

static void clock_timer_cb(void *ud)
{
	struct clock_ctx *c = ud;

	clock_note(c);
	assert_int_equal(write(c->peer, "x", 1), 1); /* the watcher runs next */
	if (++c->timer_fires == 20)
		loop_stop(c->loop);
	else
		loop_timer_arm(c->t, 1);
}

static void clock_io_cb(int fd, unsigned events, void *ud)
{
	struct clock_ctx *c = ud;
	char b;

	(void)events;
	clock_note(c);
	assert_int_equal(read(fd, &b, 1), 1);
}

static void test_now_monotonic(void **state)
{
	struct loop *l = new_loop();
	struct guard g;
	struct clock_ctx c = {.loop = l};
	int p[2];
	uint64_t before, first;

	(void)state;
	before = np_now_us();
	/* set at creation already, from the same clock */
	assert_true(loop_now_us(l) > 0);
	assert_true(loop_now_us(l) <= before);
	assert_int_equal(loop_now_ms(l), loop_now_us(l) / 1000u);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	c.peer = p[1];
	guard_start(&g, l);
	assert_int_equal(loop_timer_new(l, clock_timer_cb, &c, &c.t), NP_OK);
	assert_int_equal(loop_watch_new(l, p[0], LOOP_READ, clock_io_cb, &c, &c.w), NP_OK);
	loop_timer_arm(c.t, 1);
	first = loop_now_us(l);
	run_guarded(&g);

	assert_int_equal(c.timer_fires, 20);
	assert_true(c.n >= 40);
	assert_true(c.us[0] >= first);
	for (int i = 0; i < c.n; i++) {
		assert_int_equal(c.ms[i], c.us[i] / 1000u);
		assert_true(c.us[i] <= c.real[i]);             /* cached, never ahead */
		assert_true(c.real[i] - c.us[i] < 100000u);    /* and fresh */
		if (i > 0)
			assert_true(c.us[i] >= c.us[i - 1]);
	}
	/* 20 timers of 1 ms one after the other: at least 20 ms went by */
	assert_true(c.us[c.n - 1] - c.us[0] >= 19000u);
	assert_true(loop_now_us(l) >= c.us[c.n - 1]);

	loop_watch_free(c.w);
	loop_timer_free(c.t);
	guard_free(&g);
	loop_free(l);
	close(p[0]);
	close(p[1]);
}

/* ---- NULL safety ---- */

static void test_null_safe(void **state)
{
	(void)state;
	loop_free(NULL);
	loop_watch_free(NULL);
	loop_timer_free(NULL);
	loop_async_free(NULL);
}

/* ---- allocation failure ---- */

#define OOM_TIMERS 70 /* past the heap's first 64 slots */

struct oom_run {
	struct loop *loop;
	int watch_calls, timer_calls, async_calls, hook_calls, first_hook_calls;
};

static void oom_io(int fd, unsigned events, void *ud)
{
	struct oom_run *r = ud;
	char c;

	(void)events;
	assert_int_equal(read(fd, &c, 1), 1);
	r->watch_calls++;
}

static void oom_timer(void *ud)
{
	struct oom_run *r = ud;

	/* The last of the 0 ms timers stops the loop: all ran in one round. */
	if (++r->timer_calls == OOM_TIMERS)
		loop_stop(r->loop);
}

static void oom_async(void *ud)
{
	((struct oom_run *)ud)->async_calls++;
}

static void oom_first_hook(struct loop *l, void *ud)
{
	(void)l;
	((struct oom_run *)ud)->first_hook_calls++;
}

static void oom_hook(struct loop *l, void *ud)
{
	(void)l;
	((struct oom_run *)ud)->hook_calls++;
}

/* A loop's life under the hook: the loop, a watcher, 70 timers (the heap
 * grows), an async handle, hooks, one run, then everything freed. Any
 * failure must be NP_ENOMEM with nothing left behind. */
static int loop_life(void *ud)
{
	struct oom_run r;
	struct loop_watch *w = NULL;
	struct loop_timer *t[OOM_TIMERS] = {NULL};
	struct loop_async *a = NULL;
	int fds[2] = {-1, -1};
	int rc;

	(void)ud;
	memset(&r, 0, sizeof(r));
	assert_int_equal(pipe(fds), 0);
	rc = loop_new(&r.loop);
	if (rc != NP_OK)
		goto done;
	rc = loop_watch_new(r.loop, fds[0], LOOP_READ, oom_io, &r, &w);
	if (rc != NP_OK)
		goto done;
	for (int i = 0; i < OOM_TIMERS; i++) {
		rc = loop_timer_new(r.loop, oom_timer, &r, &t[i]);
		if (rc != NP_OK)
			goto done;
	}
	rc = loop_async_new(r.loop, oom_async, &r, &a);
	if (rc != NP_OK)
		goto done;
	/* Hooks have fixed slots: nothing to fail. */
	loop_set_before_sleep(r.loop, oom_first_hook, &r);
	assert_int_equal(loop_add_before_sleep(r.loop, oom_hook, &r), NP_OK);

	assert_int_equal(write(fds[1], "x", 1), 1);
	loop_async_send(a);
	for (int i = 0; i < OOM_TIMERS; i++)
		loop_timer_arm(t[i], 0);
	assert_int_equal(loop_run(r.loop), NP_OK);
	assert_int_equal(r.timer_calls, OOM_TIMERS);
	assert_int_equal(r.watch_calls, 1);
	assert_int_equal(r.async_calls, 1);
	assert_true(r.first_hook_calls >= 1);
	assert_true(r.hook_calls >= 1);
	loop_remove_before_sleep(r.loop, oom_hook, &r);
done:
	loop_async_free(a);
	for (int i = 0; i < OOM_TIMERS; i++)
		loop_timer_free(t[i]);
	loop_watch_free(w);
	loop_free(r.loop);
	close(fds[0]);
	close(fds[1]);
	return rc;
}

static void test_out_of_memory_everywhere(void **state)
{
	long points;

	(void)state;
	points = alloc_fail_sweep(loop_life, NULL, NP_OK, NP_ENOMEM);
	print_message("loop life: %ld allocations\n", points);
	/* loop, watch, heap (twice), 70 timers, async */
	assert_int_equal(points, 1 + 1 + 2 + OOM_TIMERS + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_due_order),
		cmocka_unit_test(test_timer_rearm_moves_it),
		cmocka_unit_test(test_timer_disarm_prevents_firing),
		cmocka_unit_test(test_timer_armed_flag),
		cmocka_unit_test(test_timer_freed_in_callbacks),
		cmocka_unit_test(test_timer_zero_fires_next_iteration),
		cmocka_unit_test(test_many_timers_heap_order),
		cmocka_unit_test(test_watch_read_readiness),
		cmocka_unit_test(test_watch_write_readiness),
		cmocka_unit_test(test_watch_set_changes_mask),
		cmocka_unit_test(test_paused_watch_does_not_spin_on_hangup),
		cmocka_unit_test(test_peer_closed_reported),
		cmocka_unit_test(test_watch_freed_with_pending_event),
		cmocka_unit_test(test_watch_freed_in_own_callback),
		cmocka_unit_test(test_async_from_thread),
		cmocka_unit_test(test_async_sends_coalesce),
		cmocka_unit_test(test_stop_from_callback),
		cmocka_unit_test(test_stop_before_run),
		cmocka_unit_test(test_before_sleep_once_per_iteration),
		cmocka_unit_test(test_cap_wait),
		cmocka_unit_test(test_hooks_run_in_order),
		cmocka_unit_test(test_hooks_limits),
		cmocka_unit_test(test_hooks_removed_from_a_hook),
		cmocka_unit_test(test_hooks_added_from_a_hook),
		cmocka_unit_test(test_added_hook_caps_wait),
		cmocka_unit_test(test_now_monotonic),
		cmocka_unit_test(test_null_safe),
		cmocka_unit_test(test_out_of_memory_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
