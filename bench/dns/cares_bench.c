/*
 * cares_bench.c - the plain c-ares baseline of bench/dns/run.sh: resolves
 * nK.ZONE (K = 0 .. N-1, type A, class IN) against one server with at most
 * C queries in flight, and prints how long that took.
 *
 *   cares_bench -s 127.0.0.1:5353 [-n 10000] [-c 100] [-z bench.test]
 *               [-t TIMEOUT_MS] [-r TRIES]
 *
 * It is the straightforward c-ares program: one channel, ares_query(),
 * sockets reported through ARES_OPT_SOCK_STATE_CB and waited on with
 * poll(), ares_process_fd() when one is ready or the c-ares timeout passes.
 * Each answer is parsed (ares_parse_a_reply) and its address compared with
 * the one bench/dns/run.sh put in the zone for that name: 10.a.b.c with
 * a.b.c the three low bytes of K. A new query starts from the callback of
 * the one that finished, so C stay in flight until the names run out.
 *
 * Like netprobe (service/dns.c), UDP sockets get a 4 MB receive buffer
 * (SO_RCVBUFFORCE, else SO_RCVBUF capped at net.core.rmem_max): with a
 * thousand queries in flight the default buffer overflows, answers are
 * dropped and the query stalls until c-ares retries it.
 *
 * Prints one line of key=value pairs on stdout:
 *   names ok failed retried inflight seconds names_per_s cpu_s rcvbuf
 * (cpu_s: user+system CPU time of this process during the run; retried: queries that needed more than one try; rcvbuf: what the kernel
 * granted, as getsockopt reports it, i.e. twice the usable size).
 * Exit status 0 when every name resolved to its expected address, 1 when
 * some did not, 2 on bad usage or setup failure.
 */
#define _GNU_SOURCE /* SO_RCVBUFFORCE, fd_set for ares.h */

#include <sys/select.h>
#include <sys/time.h>

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKS 64
#define UDP_RCVBUF (4 << 20)
#define NAME_MAX_LEN 256
#define RUN_LIMIT_S 120.0 /* a run that takes longer is a failure */

static struct {
	ares_channel ch;
	const char *zone;
	long n, next, done, ok, failed, retried, inflight, inflight_max;
	int rcvbuf;
	int first_errors; /* failures printed so far */
	struct pollfd socks[MAX_SOCKS];
	unsigned nsocks;
	int sock_overflow;
} B;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	short events = (short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
	unsigned i;

	(void)data;
	for (i = 0; i < B.nsocks; i++) {
		if (B.socks[i].fd == fd)
			break;
	}
	if (events == 0) {
		if (i < B.nsocks)
			B.socks[i] = B.socks[--B.nsocks];
		return;
	}
	if (i == B.nsocks) {
		if (B.nsocks == MAX_SOCKS) {
			B.sock_overflow = 1;
			return;
		}
		B.nsocks++;
	}
	B.socks[i].fd = fd;
	B.socks[i].events = events;
	B.socks[i].revents = 0;
}

static int on_sock_config(ares_socket_t fd, int type, void *data)
{
	int size = UDP_RCVBUF;
	socklen_t len = sizeof(size);

	(void)data;
	if (type != SOCK_DGRAM)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len) == 0)
		B.rcvbuf = size;
	return 0;
}

static void name_of(long k, char *buf, size_t len)
{
	snprintf(buf, len, "n%ld.%s", k, B.zone);
}

static uint32_t expected_addr(long k)
{
	return (10u << 24) | ((uint32_t)k & 0xffffffu);
}

static void fail(long k, const char *why)
{
	char name[NAME_MAX_LEN];

	B.failed++;
	if (B.first_errors++ < 5) {
		name_of(k, name, sizeof(name));
		fprintf(stderr, "cares_bench: %s: %s\n", name, why);
	}
}

static void start_next(void);

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	long k = (long)(intptr_t)arg;
	struct ares_addrttl addrs[4];
	int naddrs = 4;

	B.inflight--;
	B.done++;
	if (timeouts > 0)
		B.retried++;
	if (status != ARES_SUCCESS) {
		fail(k, ares_strerror(status));
	} else {
		int rc = ares_parse_a_reply(abuf, alen, NULL, addrs, &naddrs);

		if (rc != ARES_SUCCESS)
			fail(k, ares_strerror(rc));
		else if (naddrs != 1 || ntohl(addrs[0].ipaddr.s_addr) != expected_addr(k))
			fail(k, "unexpected answer");
		else
			B.ok++;
	}
	if (status != ARES_EDESTRUCTION)
		start_next();
}

static void start_next(void)
{
	char name[NAME_MAX_LEN];
	long k;

	if (B.next >= B.n)
		return;
	k = B.next++;
	name_of(k, name, sizeof(name));
	B.inflight++;
	if (B.inflight > B.inflight_max)
		B.inflight_max = B.inflight;
	/* C_IN = 1, T_A = 1 (arpa/nameser.h). */
	ares_query(B.ch, name, 1, 1, on_answer, (void *)(intptr_t)k);
}

static long parse_long(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *v == '\0' || *end != '\0' || n < min || n > max) {
		fprintf(stderr, "cares_bench: %s: '%s' is not an integer in [%ld, %ld]\n", opt, v,
			min, max);
		exit(2);
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: cares_bench -s IP:PORT [-n NAMES] [-c IN_FLIGHT] [-z ZONE] "
			"[-t TIMEOUT_MS] [-r TRIES]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct ares_options o;
	const char *server = NULL;
	long concurrency = 100, timeout_ms = 2000, tries = 2;
	double t0, t1, cpu0, cpu1, deadline;
	int opt, rc;

	B.n = 10000;
	B.zone = "bench.test";
	while ((opt = getopt(argc, argv, "s:n:c:z:t:r:h")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'n': B.n = parse_long("-n", optarg, 1, 10000000); break;
		case 'c': concurrency = parse_long("-c", optarg, 1, 65535); break;
		case 'z': B.zone = optarg; break;
		case 't': timeout_ms = parse_long("-t", optarg, 1, 60000); break;
		case 'r': tries = parse_long("-r", optarg, 1, 10); break;
		default: usage();
		}
	}
	if (server == NULL || optind != argc || strlen(B.zone) > 200)
		usage();

	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "cares_bench: ares_library_init: %s\n", ares_strerror(rc));
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_STAYOPEN;
	o.timeout = (int)timeout_ms;
	o.tries = (int)tries;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = NULL;
	rc = ares_init_options(&B.ch, &o,
			       ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
				       ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "cares_bench: ares_init_options: %s\n", ares_strerror(rc));
		return 2;
	}
	ares_set_socket_configure_callback(B.ch, on_sock_config, NULL);
	rc = ares_set_servers_ports_csv(B.ch, server);
	if (rc != ARES_SUCCESS) {
		fprintf(stderr, "cares_bench: server '%s': %s\n", server, ares_strerror(rc));
		return 2;
	}

	cpu0 = cpu_s();
	t0 = now_s();
	deadline = t0 + RUN_LIMIT_S;
	for (long i = 0; i < concurrency && i < B.n; i++)
		start_next();
	while (B.done < B.n) {
		struct timeval tv, *tvp;
		int ms, nready;
		unsigned nfds = B.nsocks;
		struct pollfd fds[MAX_SOCKS];

		if (B.sock_overflow) {
			fprintf(stderr, "cares_bench: more than %d sockets\n", MAX_SOCKS);
			return 2;
		}
		if (now_s() > deadline) {
			fprintf(stderr, "cares_bench: not done after %.0f s (%ld of %ld answered)\n",
				RUN_LIMIT_S, B.done, B.n);
			break;
		}
		tvp = ares_timeout(B.ch, NULL, &tv);
		ms = tvp != NULL ? (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : 1000;
		/* c-ares may change the set while processing: work on a copy. */
		memcpy(fds, B.socks, nfds * sizeof(fds[0]));
		nready = poll(fds, nfds, ms);
		if (nready < 0) {
			if (errno == EINTR)
				continue;
			perror("cares_bench: poll");
			return 2;
		}
		if (nready == 0) {
			ares_process_fd(B.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (unsigned i = 0; i < nfds; i++) {
			short ev = fds[i].revents;

			if (ev == 0)
				continue;
			ares_process_fd(B.ch,
					(ev & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
					(ev & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
		}
	}
	t1 = now_s();
	cpu1 = cpu_s();

	printf("names=%ld ok=%ld failed=%ld retried=%ld inflight=%ld seconds=%.6f "
	       "names_per_s=%.0f cpu_s=%.6f rcvbuf=%d\n",
	       B.n, B.ok, B.failed + (B.n - B.done), B.retried, B.inflight_max, t1 - t0,
	       (double)B.done / (t1 - t0), cpu1 - cpu0, B.rcvbuf);
	ares_destroy(B.ch);
	ares_library_cleanup();
	return B.ok == B.n ? 0 : 1;
}
