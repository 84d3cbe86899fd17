/*
 * ratelimit.c - per-client token buckets for --rate-limit (see ratelimit.h).
 *
 * The HTTP servers (server.c, and h2.c for DoH over HTTP/2) ask
 * ratelimit_allow() once per probe request, on their worker's loop thread,
 * before the handler runs. A client's connections land on any worker
 * (SO_REUSEPORT), so the buckets live in one table that all workers share,
 * instead of in the workers' own state.
 *
 * The table is set-associative: a keyed hash (SipHash-2-4, with a secret
 * drawn at start, so that a client cannot choose addresses that crowd
 * another's set) picks a set of RL_WAYS slots, and the client's bucket is
 * one of those or takes one of them over. Sets are guarded by RL_LOCKS
 * mutexes (lock striping): workers contend only when they touch sets under
 * the same mutex, and then for the few instructions of one bucket update.
 *
 * A bucket is two integers. Tokens are counted in millionths, so that
 * refilling at `rate` tokens per second adds exactly `rate` millionths per
 * microsecond of the monotonic clock: no floating point, no drift. Time is
 * an argument, so that tests can drive it.
 */
#include "ratelimit.h"
#include "np.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define RL_WAYS 8u	     /* slots per set: where a client may live */
#define RL_LOCKS 64u	     /* mutexes; set i is guarded by lock i % nlocks */
#define TOKEN 1000000u	     /* one token, in millionths */
#define SLOT_FREE UINT64_MAX /* `tokens` of a slot that holds no client */

struct rl_slot {
	unsigned char key[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
	uint64_t tokens;       /* millionths of a token; SLOT_FREE when unused */
	uint64_t last_us;      /* when tokens was last brought up to date */
};

/* One mutex per cache line, so that workers taking neighbouring locks do
 * not slow each other down. */
struct rl_lock {
	_Alignas(64) pthread_mutex_t mu;
};

struct ratelimit {
	uint64_t rate; /* tokens per second = millionths per microsecond */
	uint64_t cap;  /* burst, in millionths */
	unsigned v6_prefix;
	uint64_t k0, k1; /* SipHash key */
	size_t nsets;
	unsigned nlocks;
	struct rl_slot *slots; /* nsets * RL_WAYS */
	struct rl_lock *locks;
	atomic_ullong clients;
	atomic_ullong evictions;
};

/* ---- SipHash-2-4 of a 16-byte key (Aumasson and Bernstein, 2012) ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t siphash16(const unsigned char in[16], uint64_t k0, uint64_t k1)
{
	uint64_t v0 = 0x736f6d6570736575ull ^ k0;
	uint64_t v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0;
	uint64_t v3 = 0x7465646279746573ull ^ k1;
	uint64_t m;
	const uint64_t last = (uint64_t)16 << 56; /* the length; no tail bytes */

	for (int i = 0; i < 2; i++) {
		m = le64(in + 8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- client keys ---- */

/*
 * The 16-byte key of a peer: IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d,
 * other IPv6 addresses cut to their first v6_prefix bits. 0 when the peer
 * has no IP address to key on.
 */
static int client_key(unsigned v6_prefix, const struct sockaddr *sa, unsigned char key[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		memcpy(key, mapped, sizeof(mapped));
		memcpy(key + 12, &in->sin_addr, 4);
		return 1;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		memcpy(key, &in6->sin6_addr, 16);
		if (memcmp(key, mapped, sizeof(mapped)) == 0)
			return 1; /* IPv4 through a dual-stack socket: the IPv4 client */
		for (unsigned i = 0; i < 16; i++) {
			unsigned keep = v6_prefix > i * 8 ? v6_prefix - i * 8 : 0;

			if (keep < 8)
				key[i] &= (unsigned char)(0xff00u >> keep);
		}
		return 1;
	}
	return 0;
}

/* ---- buckets ---- */

static int slot_used(const struct rl_slot *s)
{
	return s->tokens != SLOT_FREE;
}

/* Millionths a bucket gains from last_us to now (capped at what fills it). */
static uint64_t refill_amount(const struct ratelimit *rl, const struct rl_slot *s, uint64_t now_us)
{
	uint64_t room = rl->cap - s->tokens;
	uint64_t elapsed;

	/* Another worker may have read the clock a moment later than we
	 * did and updated the bucket first: no time passed, then. */
	if (now_us <= s->last_us)
		return 0;
	elapsed = now_us - s->last_us;
	if (elapsed > room / rl->rate)
		return room;
	return elapsed * rl->rate;
}

static void refill(const struct ratelimit *rl, struct rl_slot *s, uint64_t now_us)
{
	s->tokens += refill_amount(rl, s, now_us);
	if (now_us > s->last_us)
		s->last_us = now_us;
}

static int bucket_full(const struct ratelimit *rl, const struct rl_slot *s, uint64_t now_us)
{
	return s->tokens + refill_amount(rl, s, now_us) >= rl->cap;
}

/*
 * The slot of key in its set (lock held), taking one over for a new
 * client: a free slot, else one whose bucket has refilled to full, else
 * the one seen least recently (whose client then starts afresh if it
 * comes back, which is counted as an eviction).
 */
static struct rl_slot *slot_for(struct ratelimit *rl, struct rl_slot *set,
				const unsigned char key[16], uint64_t now_us)
{
	struct rl_slot *free_slot = NULL, *full = NULL, *oldest = NULL, *taken;

	for (unsigned i = 0; i < RL_WAYS; i++) {
		struct rl_slot *s = &set[i];

		if (!slot_used(s)) {
			if (free_slot == NULL)
				free_slot = s;
			continue;
		}
		if (memcmp(s->key, key, 16) == 0)
			return s;
		if (full == NULL && bucket_full(rl, s, now_us))
			full = s;
		if (oldest == NULL || s->last_us < oldest->last_us)
			oldest = s;
	}
	if (free_slot != NULL) {
		taken = free_slot;
		atomic_fetch_add_explicit(&rl->clients, 1, memory_order_relaxed);
	} else if (full != NULL) {
		taken = full;
	} else {
		taken = oldest;
		atomic_fetch_add_explicit(&rl->evictions, 1, memory_order_relaxed);
	}
	/* A new client's bucket starts full. */
	memcpy(taken->key, key, 16);
	taken->tokens = rl->cap;
	taken->last_us = now_us;
	return taken;
}

/* ---- API ---- */

int ratelimit_new(unsigned rate, unsigned burst, unsigned max_clients, unsigned v6_prefix,
		  struct ratelimit **out)
{
	struct ratelimit *rl;
	unsigned char seed[16];
	size_t nslots;

	*out = NULL;
	if (rate == 0 || burst == 0 || max_clients == 0 || v6_prefix == 0 || v6_prefix > 128)
		return NP_EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NP_ENOMEM;
	rl->rate = rate;
	rl->cap = (uint64_t)burst * TOKEN;
	rl->v6_prefix = v6_prefix;
	rl->nsets = (max_clients + RL_WAYS - 1) / RL_WAYS;
	rl->nlocks = rl->nsets < RL_LOCKS ? (unsigned)rl->nsets : RL_LOCKS;
	nslots = rl->nsets * RL_WAYS;
	/* The secret only spreads clients over sets; if the kernel cannot
	 * give one, a clock reading still differs from run to run. */
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		uint64_t t = np_now_us();

		memcpy(seed, &t, sizeof(t));
		memcpy(seed + 8, &rl, sizeof(rl) < 8 ? sizeof(rl) : 8);
	}
	rl->k0 = le64(seed);
	rl->k1 = le64(seed + 8);
	rl->slots = malloc(nslots * sizeof(*rl->slots));
	rl->locks = aligned_alloc(_Alignof(struct rl_lock), rl->nlocks * sizeof(*rl->locks));
	if (rl->slots == NULL || rl->locks == NULL) {
		free(rl->slots);
		free(rl->locks);
		free(rl);
		return NP_ENOMEM;
	}
	for (size_t i = 0; i < nslots; i++) {
		memset(rl->slots[i].key, 0, sizeof(rl->slots[i].key));
		rl->slots[i].tokens = SLOT_FREE;
		rl->slots[i].last_us = 0;
	}
	for (unsigned i = 0; i < rl->nlocks; i++)
		pthread_mutex_init(&rl->locks[i].mu, NULL);
	*out = rl;
	return NP_OK;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	for (unsigned i = 0; i < rl->nlocks; i++)
		pthread_mutex_destroy(&rl->locks[i].mu);
	free(rl->locks);
	free(rl->slots);
	free(rl);
}

int ratelimit_allow(struct ratelimit *rl, const struct sockaddr *peer, uint64_t now_us,
		    unsigned *retry_after_s)
{
	unsigned char key[16];
	size_t set;
	pthread_mutex_t *mu;
	struct rl_slot *s;
	uint64_t wait_us = 0;
	int allowed;

	if (!client_key(rl->v6_prefix, peer, key))
		return 1;
	set = (size_t)(siphash16(key, rl->k0, rl->k1) % rl->nsets);
	mu = &rl->locks[set % rl->nlocks].mu;
	pthread_mutex_lock(mu);
	s = slot_for(rl, &rl->slots[set * RL_WAYS], key, now_us);
	refill(rl, s, now_us);
	allowed = s->tokens >= TOKEN;
	if (allowed)
		s->tokens -= TOKEN;
	else
		wait_us = (TOKEN - s->tokens + rl->rate - 1) / rl->rate;
	pthread_mutex_unlock(mu);
	if (!allowed) {
		/* Retry-After is in whole seconds (RFC 9110 section 10.2.3):
		 * rounded up, so that a client that waits that long finds a
		 * token. With rate >= 1 it is never more than one second. */
		uint64_t secs = (wait_us + 999999u) / 1000000u;

		*retry_after_s = secs < 1 ? 1u : (unsigned)secs;
	}
	return allowed;
}

void ratelimit_client_text(const struct ratelimit *rl, const struct sockaddr *peer, char *buf,
			   size_t len)
{
	unsigned char key[16];
	char addr[INET6_ADDRSTRLEN];

	if (len == 0)
		return;
	if (!client_key(rl->v6_prefix, peer, key)) {
		snprintf(buf, len, "-");
		return;
	}
	if (peer->sa_family == AF_INET || memcmp(key, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		inet_ntop(AF_INET, key + 12, addr, sizeof(addr));
		snprintf(buf, len, "%s", addr);
		return;
	}
	inet_ntop(AF_INET6, key, addr, sizeof(addr));
	if (rl->v6_prefix < 128)
		snprintf(buf, len, "%s/%u", addr, rl->v6_prefix);
	else
		snprintf(buf, len, "%s", addr);
}

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (rl == NULL)
		return;
	out->clients = atomic_load_explicit(&rl->clients, memory_order_relaxed);
	out->evictions = atomic_load_explicit(&rl->evictions, memory_order_relaxed);
	out->slots = (unsigned long long)rl->nsets * RL_WAYS;
}

int ratelimit_admit(struct ratelimit *rl, const struct sockaddr *peer, unsigned *retry_after_s,
		    char *why, size_t len)
{
	char client[RATELIMIT_CLIENT_TEXT_MAX];

	*retry_after_s = 0;
	if (rl == NULL || ratelimit_allow(rl, peer, np_now_us(), retry_after_s))
		return 1;
	ratelimit_client_text(rl, peer, client, sizeof(client));
	snprintf(why, len,
		 "too many requests from %s: at most %llu per second in bursts of %llu "
		 "(--rate-limit, --rate-burst); retry in %u s",
		 client, (unsigned long long)rl->rate, (unsigned long long)(rl->cap / TOKEN),
		 *retry_after_s);
	return 0;
}
