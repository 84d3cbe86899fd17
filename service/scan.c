/*
 * scan.c - a TCP connect scan on the loop (see scan.h).
 *
 * Slots: `concurrency` of them, each one connect (and then maybe one
 * banner read) with its own watcher and timer. A 0 ms "kick" timer starts
 * new connects, at most START_PER_TURN per loop turn: on loopback a closed
 * port is refused inside connect() itself, and a whole range settled in
 * one callback would hold the worker's other requests back.
 */
#include "scan.h"
#include "loop.h"
#include "netaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Connects started per loop turn, at most. */
#define START_PER_TURN 256u

enum slot_phase { SLOT_FREE, SLOT_CONNECTING, SLOT_BANNER };

struct slot {
	struct scan *s;
	enum slot_phase phase;
	int fd;
	uint16_t port;
	uint64_t start_us;
	size_t open_idx;          /* in s->open, during SLOT_BANNER */
	int self_pair;            /* connected to another slot of ours: closed */
	struct loop_watch *watch;
	struct loop_timer *timer;
};

struct scan {
	struct loop *loop;
	scan_cb cb;
	void *ud;
	struct scan_opts o;
	uint16_t *ports;
	union np_sockaddr addr;
	socklen_t addrlen;
	struct slot *slots;
	size_t inflight;
	size_t next;              /* ports[next] is the next to try */
	struct scan_open *open;
	size_t nopen, capopen;
	size_t closed, filtered, unscanned;
	uint64_t start_us;
	struct loop_timer *kick;
	struct loop_timer *deadline;
	int failed;               /* NP_* that stops the scan (out of fds...) */
	const char *fail_detail;
	int in_kick;              /* on_kick runs: settle() must not finish */
};

static void slot_close(struct slot *sl)
{
	loop_watch_free(sl->watch);
	sl->watch = NULL;
	if (sl->timer != NULL)
		loop_timer_disarm(sl->timer);
	if (sl->fd >= 0)
		close(sl->fd);
	sl->fd = -1;
	if (sl->phase != SLOT_FREE)
		sl->s->inflight--;
	sl->phase = SLOT_FREE;
	sl->self_pair = 0;
}

static void scan_free(struct scan *s)
{
	if (s->slots != NULL) {
		for (unsigned i = 0; i < s->o.concurrency; i++) {
			slot_close(&s->slots[i]);
			loop_timer_free(s->slots[i].timer);
		}
	}
	loop_timer_free(s->kick);
	loop_timer_free(s->deadline);
	free(s->slots);
	free(s->ports);
	free(s->open);
	free(s);
}

void scan_cancel(struct scan *s)
{
	if (s != NULL)
		scan_free(s);
}

static int by_port(const void *a, const void *b)
{
	const struct scan_open *x = a, *y = b;

	return (int)x->port - (int)y->port;
}

static void finish(struct scan *s)
{
	struct scan_result r;

	/* What is still in flight is unsettled; banners keep what came. */
	for (unsigned i = 0; i < s->o.concurrency; i++) {
		if (s->slots[i].phase == SLOT_CONNECTING)
			s->unscanned++;
		slot_close(&s->slots[i]);
	}
	s->unscanned += s->o.nports - s->next;
	s->next = s->o.nports;
	if (s->nopen > 1)
		qsort(s->open, s->nopen, sizeof(*s->open), by_port);
	memset(&r, 0, sizeof(r));
	r.status = (enum np_status)s->failed;
	r.detail = s->fail_detail;
	r.open = s->open;
	r.nopen = s->nopen;
	r.closed = s->closed;
	r.filtered = s->filtered;
	r.unscanned = s->unscanned;
	r.start_us = s->start_us;
	r.end_us = np_now_us();
	s->cb(&r, s->ud);
	scan_free(s);
}

/* Done with the slot: more ports, or the end. */
static void settle(struct slot *sl)
{
	struct scan *s = sl->s;

	slot_close(sl);
	if (s->in_kick)
		return; /* on_kick checks for the end itself */
	if (s->inflight == 0 && (s->next == s->o.nports || s->failed != NP_OK)) {
		finish(s);
		return;
	}
	if (!loop_timer_armed(s->kick))
		loop_timer_arm(s->kick, 0);
}

/* fd's own address; 0, or -1 if unknown. */
static int local_name(int fd, union np_sockaddr *me)
{
	socklen_t len = sizeof(*me);

	return getsockname(fd, &me->sa, &len) == 0 ? 0 : -1;
}

/* Did connect() reach our own socket (TCP simultaneous open on loopback)? */
static int self_connected(const struct slot *sl)
{
	union np_sockaddr me;
	const struct scan *s = sl->s;

	if (local_name(sl->fd, &me) != 0 || me.sa.sa_family != s->addr.sa.sa_family)
		return 0;
	/* (s->addr's port is that of the latest connect, not sl's) */
	if (me.sa.sa_family == AF_INET)
		return ntohs(me.in4.sin_port) == sl->port &&
		       me.in4.sin_addr.s_addr == s->addr.in4.sin_addr.s_addr;
	return ntohs(me.in6.sin6_port) == sl->port &&
	       memcmp(&me.in6.sin6_addr, &s->addr.in6.sin6_addr, sizeof(me.in6.sin6_addr)) == 0;
}

/* The local port of fd, 0 if unknown. */
static uint16_t local_port(int fd)
{
	union np_sockaddr me;

	if (local_name(fd, &me) != 0)
		return 0;
	return ntohs(me.sa.sa_family == AF_INET ? me.in4.sin_port : me.in6.sin6_port);
}

/*
 * Two of our own connects can meet (TCP simultaneous open on loopback): A
 * from port x to port y while B goes from y to x. Both then "succeed",
 * though nothing listens on x or y. Finds B for a connected sl, marks it,
 * and says so; both count as closed.
 */
static int met_another_slot(struct slot *sl)
{
	struct scan *s = sl->s;
	uint16_t mine = local_port(sl->fd);

	if (mine == 0)
		return 0;
	for (unsigned i = 0; i < s->o.concurrency; i++) {
		struct slot *other = &s->slots[i];

		if (other == sl || other->phase == SLOT_FREE || other->port != mine)
			continue;
		if (local_port(other->fd) == sl->port) {
			other->self_pair = 1;
			return 1;
		}
	}
	return 0;
}

static void on_slot_io(int fd, unsigned events, void *ud);

/* The connect finished: open, closed or filtered. */
static void connect_done(struct slot *sl, int err)
{
	struct scan *s = sl->s;
	struct scan_open *o;

	if (err == 0 && (sl->self_pair || self_connected(sl) || met_another_slot(sl)))
		err = ECONNREFUSED;
	else if (sl->self_pair)
		err = ECONNREFUSED; /* its partner settled first and reset it */
	if (err == ECONNREFUSED) {
		s->closed++;
		settle(sl);
		return;
	}
	if (err != 0) {
		s->filtered++;
		settle(sl);
		return;
	}
	o = np_grow(s->open, &s->capopen, s->nopen + 1, sizeof(*o), 16, 0);
	if (o == NULL) {
		s->failed = NP_ENOMEM;
		s->fail_detail = "out of memory";
		s->unscanned++;
		settle(sl);
		return;
	}
	s->open = o;
	o = &s->open[s->nopen];
	memset(o, 0, sizeof(*o));
	o->port = sl->port;
	o->rtt_us = np_now_us() - sl->start_us;
	sl->open_idx = s->nopen++;
	if (!s->o.banner) {
		settle(sl);
		return;
	}
	sl->phase = SLOT_BANNER;
	if (loop_watch_set(sl->watch, LOOP_READ) != NP_OK) {
		settle(sl);
		return;
	}
	loop_timer_arm(sl->timer, s->o.banner_ms);
}

/* Reads banner bytes; settles the slot at EOF, an error or the cap. */
static void banner_read(struct slot *sl)
{
	struct scan_open *o = &sl->s->open[sl->open_idx];

	for (;;) {
		ssize_t n;

		if (o->banner_len == SCAN_BANNER_MAX) {
			unsigned char one;

			/* a full banner and then the end is not cut short */
			o->banner_truncated = recv(sl->fd, &one, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
			settle(sl);
			return;
		}
		n = recv(sl->fd, o->banner + o->banner_len, SCAN_BANNER_MAX - o->banner_len,
			 MSG_DONTWAIT);
		if (n > 0) {
			o->banner_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		settle(sl); /* EOF or an error: what came is the banner */
		return;
	}
}

static void on_slot_io(int fd, unsigned events, void *ud)
{
	struct slot *sl = ud;

	(void)fd;
	(void)events;
	if (sl->phase == SLOT_CONNECTING) {
		int err = 0;
		socklen_t elen = sizeof(err);

		if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		connect_done(sl, err);
		return;
	}
	if (sl->phase == SLOT_BANNER)
		banner_read(sl);
}

static void on_slot_timer(void *ud)
{
	struct slot *sl = ud;

	if (sl->phase == SLOT_CONNECTING)
		sl->s->filtered++;
	settle(sl); /* a banner keeps what came within banner_ms */
}

/* Starts port on a free slot. 0, or -1 when no socket can be had now. */
static int start_port(struct scan *s, struct slot *sl, uint16_t port)
{
	int fd = socket(s->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sl->fd = fd;
	sl->port = port;
	sl->phase = SLOT_CONNECTING;
	sl->start_us = np_now_us();
	s->inflight++;
	if (s->addr.sa.sa_family == AF_INET)
		s->addr.in4.sin_port = htons(port);
	else
		s->addr.in6.sin6_port = htons(port);
	if (connect(fd, &s->addr.sa, s->addrlen) == 0) {
		if (loop_watch_new(s->loop, fd, 0, on_slot_io, sl, &sl->watch) != NP_OK) {
			s->unscanned++;
			settle(sl);
			return 0;
		}
		connect_done(sl, 0);
		return 0;
	}
	if (errno != EINPROGRESS) {
		connect_done(sl, errno == EAGAIN ? ETIMEDOUT : errno);
		return 0;
	}
	if (loop_watch_new(s->loop, fd, LOOP_WRITE, on_slot_io, sl, &sl->watch) != NP_OK) {
		s->unscanned++;
		settle(sl);
		return 0;
	}
	loop_timer_arm(sl->timer, s->o.timeout_ms);
	return 0;
}

static void on_kick(void *ud)
{
	struct scan *s = ud;
	unsigned started = 0;
	size_t i = 0;

	s->in_kick = 1;
	while (i < s->o.concurrency && started < START_PER_TURN && s->next < s->o.nports &&
	       s->failed == NP_OK) {
		struct slot *sl = &s->slots[i];

		if (sl->phase != SLOT_FREE) {
			i++;
			continue;
		}
		if (start_port(s, sl, s->ports[s->next]) != 0) {
			int e = errno;

			if (s->inflight > 0)
				break; /* out of fds for now: a slot settling kicks again */
			s->failed = e == EMFILE || e == ENFILE ? NP_ELIMIT : NP_ESYS;
			s->fail_detail = e == EMFILE || e == ENFILE
						 ? "no file descriptor left for a socket"
						 : "cannot open a socket";
			break;
		}
		s->next++;
		started++;
		/* A port settled inside connect() leaves its slot free again. */
		if (sl->phase != SLOT_FREE)
			i++;
	}
	s->in_kick = 0;
	if (s->inflight == 0 && (s->next == s->o.nports || s->failed != NP_OK)) {
		finish(s);
		return;
	}
	/* The rest next turn, so that other requests on this loop go on. */
	if (started == START_PER_TURN && s->next < s->o.nports && s->inflight < s->o.concurrency)
		loop_timer_arm(s->kick, 0);
}

static void on_deadline(void *ud)
{
	finish(ud);
}

int scan_start(struct loop *l, const struct sockaddr *sa, socklen_t salen,
	       const struct scan_opts *o, scan_cb cb, void *ud, struct scan **out)
{
	struct scan *s;
	uint64_t now = np_now_us();

	*out = NULL;
	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) || salen > sizeof(s->addr) ||
	    o->nports == 0 || o->concurrency == 0 || o->timeout_ms == 0 ||
	    (o->banner && o->banner_ms == 0))
		return NP_EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NP_ENOMEM;
	s->loop = l;
	s->cb = cb;
	s->ud = ud;
	s->o = *o;
	s->o.ports = NULL;
	s->start_us = now;
	s->failed = NP_OK;
	memcpy(&s->addr, sa, salen);
	s->addrlen = salen;
	s->ports = malloc(o->nports * sizeof(*s->ports));
	s->slots = calloc(o->concurrency, sizeof(*s->slots));
	if (s->ports == NULL || s->slots == NULL)
		goto oom;
	memcpy(s->ports, o->ports, o->nports * sizeof(*s->ports));
	for (unsigned i = 0; i < o->concurrency; i++) {
		s->slots[i].s = s;
		s->slots[i].fd = -1;
		if (loop_timer_new(l, on_slot_timer, &s->slots[i], &s->slots[i].timer) != NP_OK)
			goto oom;
	}
	if (loop_timer_new(l, on_kick, s, &s->kick) != NP_OK ||
	    loop_timer_new(l, on_deadline, s, &s->deadline) != NP_OK)
		goto oom;
	loop_timer_arm(s->kick, 0);
	loop_timer_arm_us(s->deadline, o->deadline_us > now ? o->deadline_us - now : 0);
	*out = s;
	return NP_OK;
oom:
	scan_free(s);
	return NP_ENOMEM;
}
