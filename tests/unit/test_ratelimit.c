/*
 * test_ratelimit.c - unit tests of the per-client token buckets
 * (service/ratelimit.c), with the clock injected: every call says what time
 * it is, so refills are checked to the microsecond. Burst, refill, the
 * Retry-After rounding, per-client isolation, IPv4-mapped IPv6 as IPv4,
 * IPv6 networks, peers without an address, eviction within the fixed
 * table (full buckets first, then the least recently seen), the memory
 * bound, a clock read late by another thread, large values, many
 * threads on one bucket, and each allocation of ratelimit_new() failing. The statics (SipHash, the client key) are reached
 * by including the .c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "../../service/ratelimit.c"

#include "support/alloc_fail.h"

#define T0 1000000000ull /* an arbitrary start, in microseconds */
#define SEC 1000000ull

static struct sockaddr_storage v4(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static struct ratelimit *make(unsigned rate, unsigned burst, unsigned clients, unsigned prefix)
{
	struct ratelimit *rl = NULL;

	assert_int_equal(ratelimit_new(rate, burst, clients, prefix, &rl), NP_OK);
	assert_non_null(rl);
	return rl;
}

/* Takes n tokens at `now`; returns how many were granted. */
static unsigned take(struct ratelimit *rl, const struct sockaddr *peer, uint64_t now, unsigned n)
{
	unsigned granted = 0, wait;

	for (unsigned i = 0; i < n; i++)
		granted += (unsigned)ratelimit_allow(rl, peer, now, &wait);
	return granted;
}

static void assert_refused(struct ratelimit *rl, const struct sockaddr *peer, uint64_t now,
			   unsigned want_wait)
{
	unsigned wait = 12345;

	assert_int_equal(ratelimit_allow(rl, peer, now, &wait), 0);
	assert_int_equal(wait, want_wait);
}

/* ---- the hash and the keys ---- */

static void test_siphash_reference_vector(void **state)
{
	unsigned char key[16], in[16];

	(void)state;
	/* SipHash-2-4 with key 00..0f over the 16 bytes 00..0f: entry 16 of
	 * the reference implementation's vectors.h. */
	for (unsigned i = 0; i < 16; i++)
		key[i] = in[i] = (unsigned char)i;
	assert_true(siphash16(in, le64(key), le64(key + 8)) == 0x3f2acc7f57c29bdbull);
	/* the secret matters */
	assert_true(siphash16(in, le64(key) ^ 1, le64(key + 8)) != 0x3f2acc7f57c29bdbull);
}

static void test_client_keys(void **state)
{
	struct sockaddr_storage a = v4("192.0.2.1"), m = v6("::ffff:192.0.2.1");
	struct sockaddr_storage x = v6("2001:db8:1:2f:aaaa:bbbb:cccc:dddd");
	unsigned char ka[16], km[16], kx[16], want[16];
	struct sockaddr_un un;

	(void)state;
	assert_int_equal(client_key(64, SA(a), ka), 1);
	assert_int_equal(client_key(64, SA(m), km), 1);
	assert_memory_equal(ka, km, 16); /* v4-mapped is the IPv4 client */
	/* A mapped address is never cut to the IPv6 prefix. */
	assert_int_equal(client_key(8, SA(m), km), 1);
	assert_memory_equal(ka, km, 16);

	assert_int_equal(client_key(128, SA(x), kx), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1:2f:aaaa:bbbb:cccc:dddd", want), 1);
	assert_memory_equal(kx, want, 16);
	assert_int_equal(client_key(64, SA(x), kx), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1:2f::", want), 1);
	assert_memory_equal(kx, want, 16);
	assert_int_equal(client_key(60, SA(x), kx), 1); /* within a byte */
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1:20::", want), 1);
	assert_memory_equal(kx, want, 16);
	assert_int_equal(client_key(1, SA(x), kx), 1);
	assert_int_equal(inet_pton(AF_INET6, "::", want), 1);
	assert_memory_equal(kx, want, 16);

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_int_equal(client_key(64, (const struct sockaddr *)&un, kx), 0);
	assert_int_equal(client_key(64, NULL, kx), 0);
}

static void test_client_text(void **state)
{
	struct ratelimit *rl64 = make(1, 1, 64, 64), *rl128 = make(1, 1, 64, 128);
	struct sockaddr_storage a = v4("192.0.2.1"), m = v6("::ffff:192.0.2.1");
	struct sockaddr_storage x = v6("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
	char buf[RATELIMIT_CLIENT_TEXT_MAX];
	char tiny[6];

	(void)state;
	ratelimit_client_text(rl64, SA(a), buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1");
	ratelimit_client_text(rl64, SA(m), buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1");
	ratelimit_client_text(rl64, SA(x), buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2::/64");
	ratelimit_client_text(rl128, SA(x), buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1:2:aaaa:bbbb:cccc:dddd");
	ratelimit_client_text(rl64, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	ratelimit_client_text(rl64, SA(x), tiny, sizeof(tiny)); /* truncated, terminated */
	assert_string_equal(tiny, "2001:");
	ratelimit_free(rl64);
	ratelimit_free(rl128);
}

/* ---- arguments ---- */

static void test_new_rejects_bad_arguments(void **state)
{
	struct ratelimit *rl = (struct ratelimit *)(uintptr_t)1;

	(void)state;
	assert_int_equal(ratelimit_new(0, 1, 64, 64, &rl), NP_EINVAL);
	assert_null(rl);
	assert_int_equal(ratelimit_new(1, 0, 64, 64, &rl), NP_EINVAL);
	assert_int_equal(ratelimit_new(1, 1, 0, 64, &rl), NP_EINVAL);
	assert_int_equal(ratelimit_new(1, 1, 64, 0, &rl), NP_EINVAL);
	assert_int_equal(ratelimit_new(1, 1, 64, 129, &rl), NP_EINVAL);
	assert_null(rl);
	ratelimit_free(NULL);
}

/* ---- burst and refill ---- */

static void test_burst_then_refused(void **state)
{
	struct ratelimit *rl = make(5, 5, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.1");

	(void)state;
	/* A new client starts with a full bucket: the burst at once... */
	assert_int_equal(take(rl, SA(a), T0, 5), 5);
	/* ...and no more: the 6th waits for a token, 200 ms away: 1 s. */
	assert_refused(rl, SA(a), T0, 1);
	/* Refused requests cost nothing. */
	assert_refused(rl, SA(a), T0, 1);
	assert_int_equal(take(rl, SA(a), T0 + 200000, 1), 1);
	ratelimit_free(rl);
}

static void test_refill_is_exact(void **state)
{
	struct ratelimit *rl = make(3, 1, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.1");

	(void)state;
	assert_int_equal(take(rl, SA(a), T0, 1), 1);
	/* 3 per second: a token is 333,333.3 us; 333,333 us is a millionth short. */
	assert_refused(rl, SA(a), T0 + 333333, 1);
	assert_int_equal(take(rl, SA(a), T0 + 333334, 1), 1);
	assert_refused(rl, SA(a), T0 + 333334, 1);
	/* The bucket never holds more than the burst, not even millionths:
	 * the next token is 333,333.3 us from the last take. */
	assert_refused(rl, SA(a), T0 + 666667, 1);
	assert_int_equal(take(rl, SA(a), T0 + 666668, 1), 1);
	ratelimit_free(rl);
}

static void test_refill_stops_at_burst(void **state)
{
	struct ratelimit *rl = make(10, 4, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.1");

	(void)state;
	assert_int_equal(take(rl, SA(a), T0, 4), 4);
	/* A long idle time fills the bucket, never past the burst. */
	assert_int_equal(take(rl, SA(a), T0 + 3600 * SEC, 10), 4);
	/* Half a second at 10/s: five tokens, capped at four. */
	assert_int_equal(take(rl, SA(a), T0 + 3600 * SEC + SEC / 2, 10), 4);
	/* Steady state: one request per 100 ms always passes. */
	for (unsigned i = 1; i <= 50; i++)
		assert_int_equal(take(rl, SA(a), T0 + 3601 * SEC + i * 100000ull, 1), 1);
	ratelimit_free(rl);
}

static void test_retry_after_rounds_up(void **state)
{
	struct ratelimit *rl = make(1, 1, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.1");

	(void)state;
	assert_int_equal(take(rl, SA(a), T0, 1), 1);
	assert_refused(rl, SA(a), T0, 1);          /* 1 s away */
	assert_refused(rl, SA(a), T0 + 999999, 1); /* 1 us away: still 1 */
	assert_int_equal(take(rl, SA(a), T0 + SEC, 1), 1);
	ratelimit_free(rl);
}

static void test_clock_read_late_by_another_thread(void **state)
{
	struct ratelimit *rl = make(1, 2, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.1");

	(void)state;
	assert_int_equal(take(rl, SA(a), T0 + SEC, 2), 2);
	/* A worker that read the clock before the last update: no time
	 * passes for it, and the bucket does not go back in time. */
	assert_refused(rl, SA(a), T0, 1);
	assert_refused(rl, SA(a), T0 + SEC + 999999, 1);
	assert_int_equal(take(rl, SA(a), T0 + 2 * SEC, 1), 1);
	ratelimit_free(rl);
}

/* The slot holding peer's bucket (single-threaded tests only). */
static struct rl_slot *slot_of(struct ratelimit *rl, const struct sockaddr *peer)
{
	unsigned char key[16];

	assert_int_equal(client_key(rl->v6_prefix, peer, key), 1);
	for (size_t i = 0; i < rl->nsets * RL_WAYS; i++)
		if (slot_used(&rl->slots[i]) && memcmp(rl->slots[i].key, key, 16) == 0)
			return &rl->slots[i];
	fail_msg("no slot for the peer");
	return NULL;
}

static void test_large_values_do_not_overflow(void **state)
{
	/* The largest --rate-limit and --rate-burst. */
	struct ratelimit *rl = make(1000000, 10000000, 64, 64);
	struct sockaddr_storage a = v4("192.0.2.1");

	(void)state;
	assert_int_equal(take(rl, SA(a), 1, 1), 1);
	assert_true(slot_of(rl, SA(a))->tokens == 10000000ull * TOKEN - TOKEN);
	/* Centuries later: full, not wrapped around. */
	assert_int_equal(take(rl, SA(a), UINT64_MAX / 2, 1), 1);
	assert_true(slot_of(rl, SA(a))->tokens == 10000000ull * TOKEN - TOKEN);
	/* A million per second: one per microsecond. */
	slot_of(rl, SA(a))->tokens = 0;
	assert_refused(rl, SA(a), UINT64_MAX / 2, 1);
	assert_int_equal(take(rl, SA(a), UINT64_MAX / 2 + 1, 2), 1);
	assert_int_equal(take(rl, SA(a), UINT64_MAX / 2 + 3, 3), 2);
	ratelimit_free(rl);
}

/* ---- who is a client ---- */

static void test_clients_are_isolated(void **state)
{
	struct ratelimit *rl = make(1, 3, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2"), c = v4("198.51.100.1");

	(void)state;
	assert_int_equal(take(rl, SA(a), T0, 10), 3);
	assert_int_equal(take(rl, SA(b), T0, 10), 3);
	assert_int_equal(take(rl, SA(c), T0, 1), 1);
	assert_refused(rl, SA(a), T0, 1);
	/* The port is not part of the client: another connection, same bucket. */
	((struct sockaddr_in *)&a)->sin_port = htons(40001);
	assert_refused(rl, SA(a), T0, 1);
	assert_int_equal(take(rl, SA(c), T0, 10), 2);
	ratelimit_free(rl);
}

static void test_v4_mapped_is_the_ipv4_client(void **state)
{
	struct ratelimit *rl = make(1, 2, 1024, 64);
	struct sockaddr_storage a = v4("192.0.2.7"), m = v6("::ffff:192.0.2.7");
	struct sockaddr_storage other = v6("::ffff:192.0.2.8");

	(void)state;
	assert_int_equal(take(rl, SA(m), T0, 1), 1);
	assert_int_equal(take(rl, SA(a), T0, 5), 1);
	assert_refused(rl, SA(m), T0, 1);
	assert_int_equal(take(rl, SA(other), T0, 5), 2);
	ratelimit_free(rl);
}

static void test_ipv6_networks(void **state)
{
	struct ratelimit *rl = make(1, 2, 1024, 64), *per_addr = make(1, 2, 1024, 128);
	struct sockaddr_storage x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2:ffff::9");
	struct sockaddr_storage y = v6("2001:db8:1:3::1");

	(void)state;
	/* /64: the addresses of one network share a bucket... */
	assert_int_equal(take(rl, SA(x1), T0, 1), 1);
	assert_int_equal(take(rl, SA(x2), T0, 5), 1);
	assert_refused(rl, SA(x1), T0, 1);
	/* ...the next network does not. */
	assert_int_equal(take(rl, SA(y), T0, 5), 2);
	/* /128: one bucket per address. */
	assert_int_equal(take(per_addr, SA(x1), T0, 5), 2);
	assert_int_equal(take(per_addr, SA(x2), T0, 5), 2);
	ratelimit_free(rl);
	ratelimit_free(per_addr);
}

static void test_peers_without_address_are_allowed(void **state)
{
	struct ratelimit *rl = make(1, 1, 64, 64);
	struct sockaddr_un un;
	struct ratelimit_stats st;

	(void)state;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	assert_int_equal(take(rl, (const struct sockaddr *)&un, T0, 10), 10);
	assert_int_equal(take(rl, NULL, T0, 10), 10);
	ratelimit_stats(rl, &st);
	assert_int_equal(st.clients, 0);
	ratelimit_free(rl);
}

/* ---- the fixed table ---- */

static struct sockaddr_storage nth_client(unsigned n)
{
	char ip[32];

	snprintf(ip, sizeof(ip), "10.%u.%u.%u", (n >> 16) & 255, (n >> 8) & 255, n & 255);
	return v4(ip);
}

static void test_table_size_is_fixed(void **state)
{
	struct ratelimit *rl = make(1, 1, 100, 64);
	struct ratelimit_stats st;

	(void)state;
	ratelimit_stats(rl, &st);
	assert_int_equal(st.slots, 104); /* rounded up to whole sets of 8 */
	assert_int_equal(st.clients, 0);
	assert_int_equal(st.evictions, 0);
	/* Ten thousand clients, one request each, in one instant: the table
	 * never holds more than its slots. */
	for (unsigned i = 0; i < 10000; i++) {
		struct sockaddr_storage c = nth_client(i);

		assert_int_equal(take(rl, SA(c), T0, 1), 1);
	}
	ratelimit_stats(rl, &st);
	assert_int_equal(st.slots, 104);
	assert_int_equal(st.clients, 104);
	assert_int_equal(st.evictions, 10000 - 104);
	ratelimit_free(rl);
	ratelimit_stats(NULL, &st);
	assert_int_equal(st.slots + st.clients + st.evictions, 0);
}

static void test_eviction_prefers_full_buckets(void **state)
{
	/* Eight slots: one set, so every client competes for the same ones. */
	struct ratelimit *rl = make(1, 2, 8, 64);
	struct sockaddr_storage c[10];
	struct ratelimit_stats st;

	(void)state;
	for (unsigned i = 0; i < 10; i++)
		c[i] = nth_client(i);
	/* Client 0 empties its bucket at T0; clients 1..7 take one of their
	 * two tokens half a second later. */
	assert_int_equal(take(rl, SA(c[0]), T0, 2), 2);
	for (unsigned i = 1; i < 8; i++)
		assert_int_equal(take(rl, SA(c[i]), T0 + SEC / 2, 1), 1);
	ratelimit_stats(rl, &st);
	assert_int_equal(st.clients, 8);
	/* At T0 + 1.5 s clients 1..7 are full again, client 0, the least
	 * recently seen, has 1.5 tokens. A newcomer takes a full bucket's
	 * slot: no eviction, and client 0 keeps its state. */
	assert_int_equal(take(rl, SA(c[8]), T0 + 3 * SEC / 2, 2), 2);
	ratelimit_stats(rl, &st);
	assert_int_equal(st.clients, 8);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(take(rl, SA(c[0]), T0 + 3 * SEC / 2, 5), 1);
	/* So does the next newcomer (one of 2..7 gives way). */
	assert_int_equal(take(rl, SA(c[9]), T0 + 3 * SEC / 2, 5), 2);
	ratelimit_stats(rl, &st);
	assert_int_equal(st.evictions, 0);
	assert_refused(rl, SA(c[0]), T0 + 3 * SEC / 2, 1);
	assert_refused(rl, SA(c[8]), T0 + 3 * SEC / 2, 1);
	ratelimit_free(rl);
}

static void test_eviction_of_least_recently_seen(void **state)
{
	struct ratelimit *rl = make(1, 2, 8, 64);
	struct sockaddr_storage c[9];
	struct ratelimit_stats st;

	(void)state;
	for (unsigned i = 0; i < 9; i++)
		c[i] = nth_client(i);
	/* All eight slots hold a client that has emptied its bucket, client i
	 * last seen at T0 + i ms. */
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(take(rl, SA(c[i]), T0 + i * 1000ull, 2), 2);
	/* No bucket has refilled: the newcomer takes the slot of the one seen
	 * least recently, client 0, and that counts as an eviction. */
	assert_int_equal(take(rl, SA(c[8]), T0 + 10000, 2), 2);
	ratelimit_stats(rl, &st);
	assert_int_equal(st.clients, 8);
	assert_int_equal(st.evictions, 1);
	/* Clients 1..7 are still limited; client 0 was forgotten and starts
	 * afresh (evicting client 1, now the least recently seen). */
	for (unsigned i = 2; i < 8; i++)
		assert_refused(rl, SA(c[i]), T0 + 20000, 1);
	assert_int_equal(take(rl, SA(c[0]), T0 + 20000, 5), 2);
	ratelimit_stats(rl, &st);
	assert_int_equal(st.evictions, 2);
	assert_int_equal(take(rl, SA(c[1]), T0 + 20000, 5), 2); /* forgotten too */
	ratelimit_free(rl);
}

/* ---- threads ---- */

struct hammer {
	struct ratelimit *rl;
	struct sockaddr_storage peer;
	unsigned granted;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	/* The clock stands still: only the burst can be granted, whatever
	 * the interleaving. */
	h->granted = take(h->rl, SA(h->peer), T0, 5000);
	return NULL;
}

static void test_threads_share_one_bucket(void **state)
{
	struct ratelimit *rl = make(1, 1000, 1024, 64);
	struct hammer h[4];
	pthread_t t[4];
	unsigned total = 0;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		h[i].rl = rl;
		h[i].peer = v4("192.0.2.1");
		h[i].granted = 0;
		assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += h[i].granted;
	}
	assert_int_equal(total, 1000);
	ratelimit_free(rl);
}

/* ---- allocation failure ---- */

/* Creation under the hook (the instance, its slots, its locks), then one
 * request through the instance made, and the free. */
static int create_and_use(void *ud)
{
	struct ratelimit *rl = (struct ratelimit *)(uintptr_t)1;
	struct sockaddr_storage a = v4("192.0.2.1");
	unsigned retry = 0;
	int rc;

	(void)ud;
	rc = ratelimit_new(5, 5, 1024, 64, &rl);
	if (rc != NP_OK) {
		assert_null(rl);
		return rc;
	}
	assert_int_equal(ratelimit_allow(rl, SA(a), T0, &retry), 1);
	ratelimit_free(rl);
	return rc;
}

static void test_new_out_of_memory(void **state)
{
	(void)state;
	assert_int_equal(alloc_fail_sweep(create_and_use, NULL, NP_OK, NP_ENOMEM), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_reference_vector),
		cmocka_unit_test(test_client_keys),
		cmocka_unit_test(test_client_text),
		cmocka_unit_test(test_new_rejects_bad_arguments),
		cmocka_unit_test(test_burst_then_refused),
		cmocka_unit_test(test_refill_is_exact),
		cmocka_unit_test(test_refill_stops_at_burst),
		cmocka_unit_test(test_retry_after_rounds_up),
		cmocka_unit_test(test_clock_read_late_by_another_thread),
		cmocka_unit_test(test_large_values_do_not_overflow),
		cmocka_unit_test(test_clients_are_isolated),
		cmocka_unit_test(test_v4_mapped_is_the_ipv4_client),
		cmocka_unit_test(test_ipv6_networks),
		cmocka_unit_test(test_peers_without_address_are_allowed),
		cmocka_unit_test(test_table_size_is_fixed),
		cmocka_unit_test(test_eviction_prefers_full_buckets),
		cmocka_unit_test(test_eviction_of_least_recently_seen),
		cmocka_unit_test(test_threads_share_one_bucket),
		cmocka_unit_test(test_new_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
