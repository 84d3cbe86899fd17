/*
 * dns.c - DNS exchanges over c-ares, driven by the worker's loop.
 *
 * Each c-ares channel reports its sockets through sock_state_cb; we mirror
 * them as loop watchers and call ares_process_fd() when they fire, and keep
 * one loop timer at ares_timeout(). Queries are built by us (c-ares 1.18
 * cannot set CD or DO) and sent with ares_send. Channels are created with
 * ARES_FLAG_IGNTC so that a truncated UDP answer comes back to us: we then
 * repeat the query over TCP ourselves and can tell the caller we did
 * (RFC 7766 section 5), as dig does. ARES_FLAG_NOCHECKRESP keeps REFUSED
 * and SERVFAIL answers instead of silently trying another server.
 *
 * Every operation also has its own guard timer at the caller's budget, so
 * the caller's timeout holds whatever c-ares' retry schedule does.
 *
 * Every channel opens, reads and writes its sockets through the resolver's
 * dns_sock (service/dns_sock.c), which batches UDP system calls: queries
 * leave in one sendmmsg() per burst (at the latest from a before-sleep hook,
 * which runs after the HTTP server's, so the queries of requests served
 * there leave before the loop waits) and answers are read with recvmmsg().
 * It also gives each UDP socket its 4 MB receive buffer: with a thousand
 * queries in flight the default one overflows and answers are lost until
 * c-ares retries.
 */
#include "dns.h"
#include "config.h"
#include "dns_sock.h"
#include "log.h"
#include "loop.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_CHANNELS 16
/* Extra ares_process_fd() calls for answers dns_sock still holds after one. */
#define DRAIN_MAX 4

struct chan_sock {
	int fd;
	struct loop_watch *watch;
};

struct dns_channel {
	struct dns_resolver *res;
	ares_channel ch;
	/* What chan_get() matches on: the server list asked for ("" for
	 * the defaults), transport and timing. */
	char key_servers[320];
	unsigned key_timeout_ms;
	unsigned key_tries;
	char servers[256];       /* as reported to callers */
	int tcp;
	unsigned pending;        /* queries c-ares still holds */
	int busy;                /* inside a c-ares call: never destroy now */
	uint64_t last_use_ms;
	struct loop_timer *timer;
	struct chan_sock *socks;
	size_t nsocks, capsocks;
	struct dns_channel *next;
};

struct dns_op {
	struct dns_resolver *res;
	dns_addrs_cb addrs_cb;   /* set for dns_resolve operations */
	dns_answer_cb cb;
	void *ud;
	int cancelled;
	int delivered;           /* the callback ran (guard timeout or answer) */
	int in_ares;             /* c-ares holds this op as a callback argument */
	int tc_retried;
	uint16_t id;             /* message id, reserved in the resolver's id map */
	int id_taken;
	int starting;            /* inside ares_send / ares_getaddrinfo */
	int sync_status;         /* c-ares answered inside the call (-1: no) */
	const char *sync_detail; /* dns_resolve: the result kept from inside the call */
	struct sockaddr_storage *sync_addrs;
	size_t sync_n;
	unsigned char *query;
	size_t len;
	struct dns_send_opts opts;
	char *server;            /* copy of opts.server */
	uint64_t start_us;
	struct loop_timer *guard;
	struct dns_channel *chan; /* channel of the current attempt */
};

struct dns_resolver {
	struct loop *loop;
	const struct config *cfg;
	struct dns_channel *channels;
	unsigned nchannels;
	struct dns_sock *sock;   /* the sockets of every channel */
	char default_servers[256];
	/* c-ares 1.18's ares_send keeps the id of the message it is given, and
	 * matches answers on it: ids must be unique among queries in flight,
	 * and unpredictable against spoofing (RFC 5452 section 4.3). */
	uint8_t ids_in_use[65536 / 8];
	uint64_t rng;
};

static void chan_rearm(struct dns_channel *c);

/* ---- c-ares sockets on the loop ---- */

static void on_sock_event(int fd, unsigned events, void *ud)
{
	struct dns_channel *c = ud;
	int rd = (events & (LOOP_READ | LOOP_ERROR)) ? fd : ARES_SOCKET_BAD;
	int wr = (events & LOOP_WRITE) ? fd : ARES_SOCKET_BAD;

	c->busy++;
	ares_process_fd(c->ch, rd, wr);
	/* c-ares reads until EAGAIN, which leaves dns_sock's batch empty. If
	 * it stopped early, answers read from the kernel would wait for the
	 * next datagram to wake epoll: hand them over now. */
	for (int i = 0; rd != ARES_SOCKET_BAD && i < DRAIN_MAX &&
			dns_sock_buffered(c->res->sock, fd) > 0; i++)
		ares_process_fd(c->ch, fd, ARES_SOCKET_BAD);
	c->busy--;
	chan_rearm(c);
}

/* dns_sock kept a send error for fd (from a loop timer): c-ares reads it
 * now and closes the socket, then re-sends or ends its queries. */
static void on_send_error(int fd, void *ud)
{
	struct dns_resolver *r = ud;

	for (struct dns_channel *c = r->channels; c != NULL; c = c->next) {
		for (size_t i = 0; i < c->nsocks; i++) {
			if (c->socks[i].fd == fd) {
				on_sock_event(fd, LOOP_READ, c);
				return;
			}
		}
	}
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_channel *c = data;
	unsigned events = (readable ? LOOP_READ : 0u) | (writable ? LOOP_WRITE : 0u);
	size_t i;

	for (i = 0; i < c->nsocks; i++) {
		if (c->socks[i].fd == fd)
			break;
	}
	if (events == 0) {
		if (i < c->nsocks) {
			loop_watch_free(c->socks[i].watch);
			c->socks[i] = c->socks[--c->nsocks];
		}
		return;
	}
	if (i < c->nsocks) {
		if (loop_watch_set(c->socks[i].watch, events) != NP_OK)
			LOG(LOG_ERROR, "dns: cannot watch socket %d: %s", fd, strerror(errno));
		return;
	}
	{
		struct chan_sock *s = np_grow(c->socks, &c->capsocks, c->nsocks + 1, sizeof(*s), 4, 0);

		if (s == NULL) {
			LOG(LOG_ERROR, "dns: out of memory watching socket %d", fd);
			return;
		}
		c->socks = s;
	}
	if (loop_watch_new(c->res->loop, fd, events, on_sock_event, c,
			   &c->socks[c->nsocks].watch) != NP_OK) {
		LOG(LOG_ERROR, "dns: cannot watch socket %d: %s", fd, strerror(errno));
		return;
	}
	c->socks[c->nsocks++].fd = fd;
}

static void on_chan_timer(void *ud)
{
	struct dns_channel *c = ud;

	c->busy++;
	ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	c->busy--;
	chan_rearm(c);
}

static void chan_rearm(struct dns_channel *c)
{
	struct timeval tv;
	struct timeval *t = ares_timeout(c->ch, NULL, &tv);

	if (t == NULL) {
		loop_timer_disarm(c->timer);
		return;
	}
	loop_timer_arm_us(c->timer, (uint64_t)t->tv_sec * 1000000u + (uint64_t)t->tv_usec);
}

/* ---- channels ---- */

static void chan_free(struct dns_channel *c)
{
	if (c == NULL)
		return;
	if (c->ch != NULL)
		ares_destroy(c->ch); /* closes sockets through on_sock_state */
	for (size_t i = 0; i < c->nsocks; i++)
		loop_watch_free(c->socks[i].watch);
	free(c->socks);
	loop_timer_free(c->timer);
	free(c);
}

/* Per-try timeout so that c-ares' doubling schedule (t, 2t, 4t, ...)
 * fits the whole budget. */
static int per_try_ms(unsigned budget_ms, unsigned tries)
{
	unsigned long span = (1ul << (tries > 8 ? 8 : tries)) - 1;
	unsigned long t = budget_ms / span;

	return (int)(t < 1 ? 1 : t);
}

static int chan_new(struct dns_resolver *r, const char *servers_csv, int tcp,
		    unsigned timeout_ms, unsigned tries, struct dns_channel **out)
{
	struct ares_options opts;
	struct dns_channel *c;
	int optmask;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NP_ENOMEM;
	c->res = r;
	c->tcp = tcp;
	snprintf(c->key_servers, sizeof(c->key_servers), "%s", servers_csv ? servers_csv : "");
	c->key_timeout_ms = timeout_ms;
	c->key_tries = tries;
	if (loop_timer_new(r->loop, on_chan_timer, c, &c->timer) != NP_OK)
		goto fail;
	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_IGNTC | ARES_FLAG_STAYOPEN |
		     (tcp ? ARES_FLAG_USEVC : 0);
	opts.timeout = per_try_ms(timeout_ms, tries);
	opts.tries = (int)tries;
	opts.sock_state_cb = on_sock_state;
	opts.sock_state_cb_data = c;
	optmask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
	if (ares_init_options(&c->ch, &opts, optmask) != ARES_SUCCESS) {
		c->ch = NULL;
		goto fail;
	}
	/* Before any socket is opened: they all go through dns_sock. */
	dns_sock_install(r->sock, c->ch);
	if (servers_csv != NULL && ares_set_servers_ports_csv(c->ch, servers_csv) != ARES_SUCCESS)
		goto fail;
	snprintf(c->servers, sizeof(c->servers), "%s",
		 servers_csv != NULL ? servers_csv : r->default_servers);
	*out = c;
	return NP_OK;
fail:
	chan_free(c);
	return NP_ESYS;
}

/* Finds or creates the channel for this server set / transport / timing. */
static int chan_get(struct dns_resolver *r, const char *servers_csv, int tcp,
		    unsigned timeout_ms, unsigned tries, struct dns_channel **out)
{
	const char *csv = servers_csv ? servers_csv : "";
	struct dns_channel **pp, **victim = NULL;
	int rc;

	*out = NULL;
	for (pp = &r->channels; *pp != NULL; pp = &(*pp)->next) {
		const struct dns_channel *c = *pp;

		if (c->tcp == tcp && c->key_timeout_ms == timeout_ms && c->key_tries == tries &&
		    strcmp(c->key_servers, csv) == 0) {
			*out = *pp;
			(*pp)->last_use_ms = loop_now_ms(r->loop);
			return NP_OK;
		}
		if ((*pp)->pending == 0 && (*pp)->busy == 0 &&
		    (victim == NULL || (*pp)->last_use_ms < (*victim)->last_use_ms))
			victim = pp;
	}
	if (r->nchannels >= MAX_CHANNELS) {
		struct dns_channel *v;

		if (victim == NULL)
			return NP_ELIMIT;
		v = *victim;
		*victim = v->next;
		r->nchannels--;
		chan_free(v);
	}
	rc = chan_new(r, servers_csv, tcp, timeout_ms, tries, out);
	if (rc != NP_OK)
		return rc;
	(*out)->last_use_ms = loop_now_ms(r->loop);
	(*out)->next = r->channels;
	r->channels = *out;
	r->nchannels++;
	return NP_OK;
}

/* ---- operations ---- */

static uint64_t next_random(struct dns_resolver *r)
{
	/* xorshift64*: fast; seeded from getrandom. */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545F4914F6CDD1DULL;
}

static int id_take(struct dns_resolver *r, uint16_t *out)
{
	/* A few random probes, then a scan from a random start. */
	for (int i = 0; i < 64; i++) {
		uint16_t id = (uint16_t)(next_random(r) >> 48);

		if (!(r->ids_in_use[id >> 3] & (1u << (id & 7)))) {
			r->ids_in_use[id >> 3] |= (uint8_t)(1u << (id & 7));
			*out = id;
			return NP_OK;
		}
	}
	for (uint32_t k = 0, start = (uint32_t)(next_random(r) >> 48); k < 65536; k++) {
		uint16_t id = (uint16_t)(start + k);

		if (!(r->ids_in_use[id >> 3] & (1u << (id & 7)))) {
			r->ids_in_use[id >> 3] |= (uint8_t)(1u << (id & 7));
			*out = id;
			return NP_OK;
		}
	}
	return NP_ELIMIT;
}

static void id_release(struct dns_resolver *r, uint16_t id)
{
	r->ids_in_use[id >> 3] &= (uint8_t)~(1u << (id & 7));
}

static void op_free(struct dns_op *op)
{
	if (op->id_taken)
		id_release(op->res, op->id);
	loop_timer_free(op->guard);
	free(op->query);
	free(op->server);
	free(op->sync_addrs);
	free(op);
}

static void deliver(struct dns_op *op, enum np_status st, const char *detail,
		    const unsigned char *wire, size_t len)
{
	struct dns_answer a;

	if (op->delivered || op->cancelled)
		return;
	op->delivered = 1;
	loop_timer_disarm(op->guard);
	memset(&a, 0, sizeof(a));
	a.status = st;
	a.detail = detail;
	a.wire = wire;
	a.wire_len = len;
	a.server = op->chan != NULL ? op->chan->servers : "";
	a.transport = op->chan != NULL && op->chan->tcp ? "tcp" : "udp";
	a.tc_retried = op->tc_retried;
	a.rtt_ms = (double)(np_now_us() - op->start_us) / 1000.0;
	op->cb(&a, op->ud);
}

static enum np_status map_ares(int status, const char **detail)
{
	switch (status) {
	case ARES_ETIMEOUT:
		*detail = "no answer from the server before the timeout";
		return NP_ETIMEOUT;
	case ARES_ECONNREFUSED:
		*detail = "the server refused the connection";
		return NP_EREFUSED;
	case ARES_EBADRESP:
		*detail = "the server's answer was malformed";
		return NP_EPROTO;
	case ARES_ENOMEM:
		*detail = "out of memory";
		return NP_ENOMEM;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		*detail = "cancelled";
		return NP_ECANCELLED;
	default:
		*detail = ares_strerror(status);
		return NP_ESYS;
	}
}

static int op_start(struct dns_op *op, int tcp);

static void on_ares_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_op *op = arg;
	const char *detail = NULL;

	(void)timeouts;
	op->in_ares = 0;
	op->chan->pending--;
	if (op->starting) {
		/* Failed inside ares_send: op_start reports it to its caller. */
		op->sync_status = status;
		return;
	}
	if (op->cancelled || op->delivered) {
		op_free(op);
		return;
	}
	if (status == ARES_SUCCESS && abuf != NULL && alen >= 12) {
		/* TC bit: byte 2, bit 1 (RFC 1035 section 4.1.1). */
		if (!op->chan->tcp && !op->opts.keep_truncated && (abuf[2] & 0x02)) {
			op->tc_retried = 1;
			if (op_start(op, 1) == NP_OK)
				return;
			deliver(op, NP_ESYS, "cannot repeat the truncated query over TCP", NULL, 0);
			op_free(op);
			return;
		}
		deliver(op, NP_OK, NULL, abuf, (size_t)alen);
	} else if (status == ARES_SUCCESS) {
		deliver(op, NP_EPROTO, "the answer is shorter than a DNS header", NULL, 0);
	} else {
		enum np_status st = map_ares(status, &detail);

		deliver(op, st, detail, NULL, 0);
	}
	op_free(op);
}

static void deliver_addrs(struct dns_op *op, enum np_status st, const char *detail,
			  const struct sockaddr_storage *addrs, size_t n)
{
	if (op->delivered || op->cancelled)
		return;
	op->delivered = 1;
	loop_timer_disarm(op->guard);
	op->addrs_cb(st, detail, addrs, n, op->ud);
}

static void on_guard(void *ud)
{
	struct dns_op *op = ud;

	if (op->addrs_cb != NULL) {
		if (op->sync_status != -1) {
			/* c-ares answered inside dns_resolve and holds no reference. */
			deliver_addrs(op, (enum np_status)op->sync_status, op->sync_detail,
				      op->sync_addrs, op->sync_n);
			op_free(op);
			return;
		}
		deliver_addrs(op, NP_ETIMEOUT, "no answer from the server before the timeout", NULL,
			      0);
		return;
	}
	deliver(op, NP_ETIMEOUT, "no answer from the server before the timeout", NULL, 0);
	/* c-ares still holds op; it is freed when c-ares gives it back. */
}

static int op_start(struct dns_op *op, int tcp)
{
	const struct dns_resolver *r = op->res;
	const char *servers = op->server;
	struct dns_channel *c;
	int rc;

	if (servers == NULL && r->cfg->dns_servers != NULL)
		servers = r->default_servers;
	/* c-ares never resends a query on an open TCP connection, so over TCP
	 * the first try is the only one: give it the whole budget. */
	rc = chan_get(op->res, servers, tcp, op->opts.timeout_ms, tcp ? 1 : op->opts.tries, &c);
	if (rc != NP_OK)
		return rc;
	op->chan = c;
	op->in_ares = 1;
	op->starting = 1;
	op->sync_status = -1;
	c->pending++;
	c->busy++;
	/* ares_send may call on_ares_answer before returning (no memory, no
	 * servers); that is reported as our error, never as a callback. */
	ares_send(c->ch, op->query, (int)op->len, on_ares_answer, op);
	c->busy--;
	op->starting = 0;
	/* A new query's deadline is never earlier than those already held by
	 * the channel (one timeout per channel), so an armed timer stays right.
	 * ares_timeout walks every query: calling it per send would make a
	 * batch cost quadratic. */
	if (!loop_timer_armed(c->timer))
		chan_rearm(c);
	return op->sync_status == -1 ? NP_OK : NP_ESYS;
}

int dns_send(struct dns_resolver *r, const unsigned char *query, size_t len,
	     const struct dns_send_opts *o, dns_answer_cb cb, void *ud, struct dns_op **op_out)
{
	struct dns_op *op;
	int rc;

	if (op_out != NULL)
		*op_out = NULL;
	if (len < 12 || len > 65535 || o->tries == 0 || o->timeout_ms == 0)
		return NP_EINVAL;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NP_ENOMEM;
	op->res = r;
	op->cb = cb;
	op->ud = ud;
	op->opts = *o;
	op->query = malloc(len);
	op->server = o->server != NULL ? strdup(o->server) : NULL;
	if (op->query == NULL || (o->server != NULL && op->server == NULL) ||
	    loop_timer_new(r->loop, on_guard, op, &op->guard) != NP_OK) {
		op_free(op);
		return NP_ENOMEM;
	}
	op->opts.server = op->server;
	if (id_take(r, &op->id) != NP_OK) {
		op_free(op);
		return NP_ELIMIT;
	}
	op->id_taken = 1;
	memcpy(op->query, query, len);
	op->query[0] = (unsigned char)(op->id >> 8);
	op->query[1] = (unsigned char)(op->id & 0xff);
	op->len = len;
	op->start_us = np_now_us();
	loop_timer_arm(op->guard, o->timeout_ms);
	rc = op_start(op, o->tcp);
	if (rc != NP_OK) {
		op_free(op);
		return rc;
	}
	if (op_out != NULL)
		*op_out = op;
	return NP_OK;
}

#define ADDRS_MAX 64

/* Maps a getaddrinfo outcome to what dns_resolve callers get. */
static enum np_status addrs_status(int status, size_t n, const char **detail)
{
	if (n > 0)
		return NP_OK;
	if (status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA) {
		*detail = "the name has no addresses";
		return NP_ENOTFOUND;
	}
	return map_ares(status, detail);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct dns_op *op = arg;
	struct sockaddr_storage addrs[ADDRS_MAX];
	const char *detail = NULL;
	enum np_status st;
	size_t n = 0;

	(void)timeouts;
	op->in_ares = 0;
	op->chan->pending--;
	if (ai != NULL) {
		for (struct ares_addrinfo_node *nd = ai->nodes; nd != NULL && n < ADDRS_MAX;
		     nd = nd->ai_next) {
			if (nd->ai_addr == NULL || nd->ai_addrlen > sizeof(addrs[0]))
				continue;
			memset(&addrs[n], 0, sizeof(addrs[n]));
			memcpy(&addrs[n], nd->ai_addr, nd->ai_addrlen);
			n++;
		}
		ares_freeaddrinfo(ai);
	}
	st = addrs_status(status, n, &detail);
	if (op->starting) {
		/* Answered inside ares_getaddrinfo (/etc/hosts, literals): keep
		 * the result for the next loop turn, never call back from inside
		 * dns_resolve. */
		op->sync_status = (int)st;
		op->sync_detail = detail;
		if (n > 0) {
			op->sync_addrs = malloc(n * sizeof(*addrs));
			if (op->sync_addrs == NULL) {
				op->sync_status = NP_ENOMEM;
				op->sync_detail = "out of memory";
				n = 0;
			} else {
				memcpy(op->sync_addrs, addrs, n * sizeof(*addrs));
			}
		}
		op->sync_n = n;
		return;
	}
	if (!op->cancelled && !op->delivered)
		deliver_addrs(op, st, detail, addrs, n);
	op_free(op);
}

int dns_resolve(struct dns_resolver *r, const char *name, unsigned timeout_ms, dns_addrs_cb cb,
		void *ud, struct dns_op **op_out)
{
	struct ares_addrinfo_hints hints;
	struct dns_channel *c;
	struct dns_op *op;
	int rc;

	if (op_out != NULL)
		*op_out = NULL;
	if (timeout_ms == 0)
		return NP_EINVAL;
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return NP_ENOMEM;
	op->res = r;
	op->addrs_cb = cb;
	op->ud = ud;
	op->start_us = np_now_us();
	if (loop_timer_new(r->loop, on_guard, op, &op->guard) != NP_OK) {
		op_free(op);
		return NP_ENOMEM;
	}
	rc = chan_get(r, r->cfg->dns_servers != NULL ? r->default_servers : NULL, 0, timeout_ms, 2,
		      &c);
	if (rc != NP_OK) {
		op_free(op);
		return rc;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	/* NOSORT: RFC 6724 sorting would connect() probe sockets. */
	hints.ai_flags = ARES_AI_NOSORT;
	op->chan = c;
	op->in_ares = 1;
	op->starting = 1;
	op->sync_status = -1;
	c->pending++;
	c->busy++;
	ares_getaddrinfo(c->ch, name, NULL, &hints, on_addrinfo, op);
	c->busy--;
	op->starting = 0;
	if (!loop_timer_armed(c->timer))
		chan_rearm(c);
	/* The guard delivers a result kept from inside the call at once, and
	 * otherwise ends the wait at the caller's budget. */
	loop_timer_arm(op->guard, op->sync_status != -1 ? 0 : timeout_ms);
	if (op_out != NULL)
		*op_out = op;
	return NP_OK;
}

void dns_op_cancel(struct dns_op *op)
{
	if (op == NULL)
		return;
	op->cancelled = 1;
	loop_timer_disarm(op->guard);
	if (!op->in_ares)
		op_free(op);
}

/* ---- resolver ---- */

int dns_server_parse(const char *text, struct sockaddr_storage *ss, char *canon, size_t canonlen,
		     char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port_text = NULL;
	unsigned long port = 53;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || (size_t)(close - text - 1) >= sizeof(host))
			goto bad;
		n = (size_t)(close - text - 1);
		memcpy(host, text + 1, n);
		host[n] = '\0';
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1] != '\0')
			goto bad;
	} else {
		const char *colon = strchr(text, ':');

		/* One colon: ipv4:port. More: a bare IPv6 address. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			n = (size_t)(colon - text);
			port_text = colon + 1;
		} else {
			n = strlen(text);
		}
		if (n >= sizeof(host))
			goto bad;
		memcpy(host, text, n);
		host[n] = '\0';
	}
	if (port_text != NULL) {
		char *end;

		errno = 0;
		port = strtoul(port_text, &end, 10);
		if (*port_text == '\0' || *end != '\0' || errno != 0 || port == 0 || port > 65535) {
			snprintf(err, errlen, "'%s': the port must be 1..65535", text);
			return NP_EINVAL;
		}
	}
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		snprintf(canon, canonlen, "%s:%lu", host, port);
		return NP_OK;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		snprintf(canon, canonlen, "[%s]:%lu", host, port);
		return NP_OK;
	}
bad:
	snprintf(err, errlen, "'%s' is not an IP address, ip:port or [ipv6]:port", text);
	return NP_EINVAL;
}

/* Reads the servers a fresh system-configured channel would use. */
static void describe_servers(ares_channel ch, char *buf, size_t len)
{
	struct ares_addr_port_node *list = NULL;
	size_t used = 0;

	buf[0] = '\0';
	if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS)
		return;
	for (struct ares_addr_port_node *n = list; n != NULL && used < len; n = n->next) {
		char ip[INET6_ADDRSTRLEN];
		int port = n->udp_port ? n->udp_port : 53;
		int k;

		if (inet_ntop(n->family, &n->addr, ip, sizeof(ip)) == NULL)
			continue;
		k = n->family == AF_INET6
			    ? snprintf(buf + used, len - used, "%s[%s]:%d", used ? "," : "", ip, port)
			    : snprintf(buf + used, len - used, "%s%s:%d", used ? "," : "", ip, port);
		if (k > 0)
			used += (size_t)k;
	}
	ares_free_data(list);
}

int dns_resolver_new(struct loop *l, const struct config *c, struct dns_resolver **out,
		     char *err, size_t errlen)
{
	struct dns_resolver *r;
	ares_channel probe = NULL;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NP_ENOMEM;
	}
	r->loop = l;
	r->cfg = c;
	if (getrandom(&r->rng, sizeof(r->rng), 0) != sizeof(r->rng) || r->rng == 0)
		r->rng = np_now_us() | 1u;
	if (c->dns_servers != NULL) {
		/* Validate and canonicalise each: "ip[:port]" or "[v6]:port". */
		char *list = strdup(c->dns_servers);
		char *save = NULL;
		size_t used = 0;

		if (list == NULL)
			goto oom;
		for (char *tok = strtok_r(list, ",", &save); tok != NULL;
		     tok = strtok_r(NULL, ",", &save)) {
			struct sockaddr_storage ss;
			char canon[80], why[160];

			if (dns_server_parse(tok, &ss, canon, sizeof(canon), why, sizeof(why)) !=
			    NP_OK) {
				snprintf(err, errlen, "--dns-server: %s", why);
				free(list);
				free(r);
				return NP_EINVAL;
			}
			used += (size_t)snprintf(r->default_servers + used,
						 sizeof(r->default_servers) - used, "%s%s",
						 used ? "," : "", canon);
			if (used >= sizeof(r->default_servers)) {
				snprintf(err, errlen, "--dns-server: too many servers");
				free(list);
				free(r);
				return NP_EINVAL;
			}
		}
		free(list);
		if (used == 0) {
			snprintf(err, errlen, "--dns-server: empty server list");
			free(r);
			return NP_EINVAL;
		}
	} else {
		if (ares_init(&probe) != ARES_SUCCESS) {
			snprintf(err, errlen, "c-ares: cannot read the system resolver configuration");
			free(r);
			return NP_ESYS;
		}
		describe_servers(probe, r->default_servers, sizeof(r->default_servers));
		ares_destroy(probe);
		if (r->default_servers[0] == '\0')
			snprintf(r->default_servers, sizeof(r->default_servers), "127.0.0.1:53");
	}
	/* Its before-sleep hook lives as long as the resolver. */
	rc = dns_sock_new(l, on_send_error, r, &r->sock);
	if (rc != NP_OK) {
		snprintf(err, errlen, "cannot attach the DNS sockets to the event loop: %s",
			 np_strerror((enum np_status)rc));
		free(r);
		return rc;
	}
	*out = r;
	return NP_OK;
oom:
	snprintf(err, errlen, "out of memory");
	free(r);
	return NP_ENOMEM;
}

const char *dns_resolver_default_servers(const struct dns_resolver *r)
{
	return r->default_servers;
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	while (r->channels != NULL) {
		struct dns_channel *c = r->channels;

		r->channels = c->next;
		/* ares_destroy hands every held op back with ARES_EDESTRUCTION;
		 * cancelled ones are freed there, live ones get NP_ECANCELLED. */
		chan_free(c);
	}
	/* After the channels: ares_destroy closes their sockets through it. */
	dns_sock_free(r->sock);
	free(r);
}
