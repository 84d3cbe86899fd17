/*
 * loop.c - the per-worker event loop.
 *
 * One epoll instance watches file descriptors; timers live in a binary
 * min-heap keyed on their due time in microseconds; cross-thread wake-ups
 * go through one eventfd. Each iteration: run the before-sleep hooks, wait
 * (capped by the nearest timer and any cap a hook set), dispatch fd
 * events, then fire due timers. Objects freed during dispatch are only
 * marked dead and reclaimed at the end of the iteration, so a callback may
 * free any watcher or timer, its own included.
 */
#include "loop.h"
#include "np.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct loop_watch {
	struct loop *loop;
	int fd;
	unsigned events;     /* current mask, LOOP_READ | LOOP_WRITE */
	int registered;      /* known to epoll */
	int dead;
	loop_io_cb cb;
	void *ud;
	struct loop_watch *next_dead;
};

struct loop_timer {
	struct loop *loop;
	uint64_t due_us;
	uint64_t armed_round; /* loop->round when armed: not fired in that round */
	size_t heap_idx;     /* SIZE_MAX when disarmed */
	int dead;
	loop_timer_cb cb;
	void *ud;
	struct loop_timer *next_dead;
};

struct loop_async {
	struct loop *loop;
	atomic_int pending;
	int dead;
	loop_async_cb cb;
	void *ud;
	struct loop_async *next;   /* list of live asyncs */
};

struct loop {
	int epfd;
	int wakefd;              /* eventfd for loop_async_send */
	int stop;
	uint64_t now_us;
	uint64_t wait_cap_ms;
	uint64_t round;          /* timer rounds run so far */

	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	size_t timers_live;      /* heap_cap >= timers_live, always */

	struct loop_watch *dead_watches;
	struct loop_timer *dead_timers;
	struct loop_async *asyncs;
	int asyncs_dead;

	loop_hook_cb before_sleep;   /* set with loop_set_before_sleep: runs first */
	void *before_sleep_ud;
	struct loop_hook {
		loop_hook_cb cb;     /* NULL: removed while the hooks ran */
		void *ud;
	} hooks[LOOP_MAX_HOOKS];     /* added with loop_add_before_sleep, in order */
	size_t nhooks;
	int running_hooks;           /* removal only marks the slot; compact after */
};

static void update_now(struct loop *l)
{
	l->now_us = np_now_us();
}

int loop_new(struct loop **out)
{
	struct loop *l;
	struct epoll_event ev;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NP_ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wakefd < 0)
		goto fail;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* NULL marks the wake-up fd */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) != 0)
		goto fail;
	update_now(l);
	*out = l;
	return NP_OK;
fail: {
	int saved = errno; /* keep the errno that explains the failure */

	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
	errno = saved;
	return NP_ESYS;
}
}

static void reap(struct loop *l)
{
	while (l->dead_watches != NULL) {
		struct loop_watch *w = l->dead_watches;

		l->dead_watches = w->next_dead;
		free(w);
	}
	while (l->dead_timers != NULL) {
		struct loop_timer *t = l->dead_timers;

		l->dead_timers = t->next_dead;
		free(t);
	}
	if (l->asyncs_dead) {
		struct loop_async **pp = &l->asyncs;

		while (*pp != NULL) {
			struct loop_async *a = *pp;

			if (a->dead) {
				*pp = a->next;
				free(a);
			} else {
				pp = &a->next;
			}
		}
		l->asyncs_dead = 0;
	}
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	reap(l);
	while (l->asyncs != NULL) {
		struct loop_async *a = l->asyncs;

		l->asyncs = a->next;
		free(a);
	}
	free(l->heap);
	close(l->epfd);
	close(l->wakefd);
	free(l);
}

uint64_t loop_now_ms(const struct loop *l)
{
	return l->now_us / 1000u;
}

uint64_t loop_now_us(const struct loop *l)
{
	return l->now_us;
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* ---- fd watchers ---- */

static uint32_t to_epoll(unsigned events)
{
	uint32_t e = 0;

	if (events & LOOP_READ)
		e |= EPOLLIN;
	if (events & LOOP_WRITE)
		e |= EPOLLOUT;
	if (events & LOOP_PEER_CLOSED)
		e |= EPOLLRDHUP;
	return e;
}

int loop_watch_new(struct loop *l, int fd, unsigned events, loop_io_cb cb, void *ud,
		   struct loop_watch **out)
{
	struct loop_watch *w;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NP_ENOMEM;
	w->loop = l;
	w->fd = fd;
	w->cb = cb;
	w->ud = ud;
	rc = loop_watch_set(w, events);
	if (rc != NP_OK) {
		free(w);
		return rc;
	}
	*out = w;
	return NP_OK;
}

int loop_watch_set(struct loop_watch *w, unsigned events)
{
	struct epoll_event ev;
	int op;

	events &= LOOP_READ | LOOP_WRITE | LOOP_PEER_CLOSED;
	if (w->registered && events == w->events)
		return NP_OK;
	if (events == 0) {
		/* Paused: leave epoll entirely, since it reports EPOLLERR and
		 * EPOLLHUP whatever the mask, and a hung-up fd would spin. */
		if (w->registered && epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL) != 0)
			return NP_ESYS;
		w->registered = 0;
		w->events = 0;
		return NP_OK;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = to_epoll(events);
	ev.data.ptr = w;
	op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(w->loop->epfd, op, w->fd, &ev) != 0)
		return NP_ESYS;
	w->registered = 1;
	w->events = events;
	return NP_OK;
}

void loop_watch_free(struct loop_watch *w)
{
	if (w == NULL || w->dead)
		return;
	/* The fd may already be closed by its owner; ignore errors. */
	if (w->registered)
		epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = 1;
	w->next_dead = w->loop->dead_watches;
	w->loop->dead_watches = w;
}

/* ---- timers: binary min-heap on due_us ---- */

static void heap_set(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (l->heap[parent]->due_us <= t->due_us)
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= l->heap_len)
			break;
		if (child + 1 < l->heap_len && l->heap[child + 1]->due_us < l->heap[child]->due_us)
			child++;
		if (t->due_us <= l->heap[child]->due_us)
			break;
		heap_set(l, i, l->heap[child]);
		i = child;
	}
	heap_set(l, i, t);
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->heap_idx;
	struct loop_timer *last;

	t->heap_idx = SIZE_MAX;
	l->heap_len--;
	if (i == l->heap_len)
		return;
	last = l->heap[l->heap_len];
	heap_set(l, i, last);
	heap_down(l, i);
	heap_up(l, last->heap_idx);
}

int loop_timer_new(struct loop *l, loop_timer_cb cb, void *ud, struct loop_timer **out)
{
	struct loop_timer *t;

	*out = NULL;
	/* Grow the heap now so that arming can never fail later. */
	{
		struct loop_timer **h = np_grow(l->heap, &l->heap_cap, l->timers_live + 1,
						sizeof(*h), 64, 0);

		if (h == NULL)
			return NP_ENOMEM;
		l->heap = h;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NP_ENOMEM;
	t->loop = l;
	t->heap_idx = SIZE_MAX;
	t->cb = cb;
	t->ud = ud;
	l->timers_live++;
	*out = t;
	return NP_OK;
}

void loop_timer_arm_us(struct loop_timer *t, uint64_t after_us)
{
	struct loop *l = t->loop;

	if (t->dead)
		return;
	if (t->heap_idx != SIZE_MAX)
		heap_remove(l, t);
	/* Capacity is reserved per live timer by loop_timer_new; a timer that
	 * was disarmed frees its slot, so this cannot overflow. */
	/* Saturate: a huge delay means "not in this life", not a wrap-around. */
	{
		uint64_t now = np_now_us();

		t->due_us = after_us > UINT64_MAX - now ? UINT64_MAX : now + after_us;
	}
	t->armed_round = l->round;
	l->heap[l->heap_len] = t;
	t->heap_idx = l->heap_len++;
	heap_up(l, t->heap_idx);
}

void loop_timer_arm(struct loop_timer *t, uint64_t after_ms)
{
	loop_timer_arm_us(t, after_ms > UINT64_MAX / 1000u ? UINT64_MAX : after_ms * 1000u);
}

void loop_timer_disarm(struct loop_timer *t)
{
	if (t->heap_idx != SIZE_MAX)
		heap_remove(t->loop, t);
}

int loop_timer_armed(const struct loop_timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

void loop_timer_free(struct loop_timer *t)
{
	if (t == NULL || t->dead)
		return;
	loop_timer_disarm(t);
	t->loop->timers_live--;
	t->dead = 1;
	t->next_dead = t->loop->dead_timers;
	t->loop->dead_timers = t;
}

/*
 * Fires the timers due now. A timer armed during this round (say at 0 ms
 * from its own callback) waits for the next round, after fd events and the
 * before-sleep hook have run: a 0 ms timer is a yield, never a spin.
 */
static void fire_timers(struct loop *l)
{
	uint64_t round = ++l->round;

	update_now(l);
	while (l->heap_len > 0 && l->heap[0]->due_us <= l->now_us &&
	       l->heap[0]->armed_round != round) {
		struct loop_timer *t = l->heap[0];

		heap_remove(l, t);
		t->cb(t->ud);
	}
}

/* ---- cross-thread wake-ups ---- */

int loop_async_new(struct loop *l, loop_async_cb cb, void *ud, struct loop_async **out)
{
	struct loop_async *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NP_ENOMEM;
	a->loop = l;
	a->cb = cb;
	a->ud = ud;
	atomic_init(&a->pending, 0);
	a->next = l->asyncs;
	l->asyncs = a;
	*out = a;
	return NP_OK;
}

void loop_async_send(struct loop_async *a)
{
	uint64_t one = 1;

	if (atomic_exchange(&a->pending, 1) == 0) {
		/* A full eventfd counter still wakes the loop; nothing to do on error. */
		ssize_t n = write(a->loop->wakefd, &one, sizeof(one));
		(void)n;
	}
}

void loop_async_free(struct loop_async *a)
{
	if (a == NULL)
		return;
	a->dead = 1;
	a->loop->asyncs_dead = 1;
}

static void run_asyncs(struct loop *l)
{
	uint64_t v;
	ssize_t n = read(l->wakefd, &v, sizeof(v));

	(void)n;
	for (struct loop_async *a = l->asyncs; a != NULL; a = a->next) {
		if (!a->dead && atomic_exchange(&a->pending, 0) != 0)
			a->cb(a->ud);
	}
}

/* ---- running ---- */

void loop_set_before_sleep(struct loop *l, loop_hook_cb cb, void *ud)
{
	l->before_sleep = cb;
	l->before_sleep_ud = ud;
}

int loop_add_before_sleep(struct loop *l, loop_hook_cb cb, void *ud)
{
	if (cb == NULL)
		return NP_EINVAL;
	if (l->nhooks == LOOP_MAX_HOOKS)
		return NP_ELIMIT;
	l->hooks[l->nhooks].cb = cb;
	l->hooks[l->nhooks].ud = ud;
	l->nhooks++;
	return NP_OK;
}

static void compact_hooks(struct loop *l)
{
	size_t kept = 0;

	for (size_t i = 0; i < l->nhooks; i++) {
		if (l->hooks[i].cb != NULL)
			l->hooks[kept++] = l->hooks[i];
	}
	l->nhooks = kept;
}

void loop_remove_before_sleep(struct loop *l, loop_hook_cb cb, void *ud)
{
	for (size_t i = 0; i < l->nhooks; i++) {
		if (l->hooks[i].cb == cb && l->hooks[i].ud == ud) {
			l->hooks[i].cb = NULL;
			break;
		}
	}
	/* While the hooks run, the slots must not move under run_hooks. */
	if (!l->running_hooks)
		compact_hooks(l);
}

static void run_hooks(struct loop *l)
{
	/* Hooks added from a hook wait for the next iteration. */
	size_t n = l->nhooks;

	l->running_hooks = 1;
	if (l->before_sleep != NULL)
		l->before_sleep(l, l->before_sleep_ud);
	for (size_t i = 0; i < n; i++) {
		if (l->hooks[i].cb != NULL)
			l->hooks[i].cb(l, l->hooks[i].ud);
	}
	l->running_hooks = 0;
	compact_hooks(l);
}

void loop_cap_wait(struct loop *l, uint64_t ms)
{
	if (ms < l->wait_cap_ms)
		l->wait_cap_ms = ms;
}

static int next_wait_ms(struct loop *l)
{
	uint64_t wait = l->wait_cap_ms;

	if (l->heap_len > 0) {
		uint64_t due = l->heap[0]->due_us;
		uint64_t now = np_now_us();
		/* Round up so that we never wake just before a timer is due. */
		uint64_t t = due > now ? (due - now + 999u) / 1000u : 0;

		if (t < wait)
			wait = t;
	}
	if (wait > 60000u)
		wait = 60000u;
	return (int)wait;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];

	while (!l->stop) {
		int n;

		l->wait_cap_ms = UINT64_MAX;
		run_hooks(l);
		if (l->stop)
			break;
		n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, next_wait_ms(l));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NP_ESYS;
		}
		update_now(l);
		for (int i = 0; i < n; i++) {
			struct loop_watch *w = evs[i].data.ptr;
			unsigned events = 0;

			if (w == NULL) {
				run_asyncs(l);
				continue;
			}
			if (w->dead)
				continue;
			if (evs[i].events & EPOLLIN)
				events |= LOOP_READ;
			if (evs[i].events & EPOLLOUT)
				events |= LOOP_WRITE;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				events |= LOOP_ERROR;
			if (evs[i].events & EPOLLRDHUP)
				events |= LOOP_PEER_CLOSED;
			w->cb(w->fd, events, w->ud);
		}
		fire_timers(l);
		reap(l);
	}
	reap(l);
	l->stop = 0; /* a later loop_run() runs again */
	return NP_OK;
}
