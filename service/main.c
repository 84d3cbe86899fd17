/*
 * main.c - start-up and shutdown. Reads the configuration, builds the
 * shared state (policy and TLS material, read-only; the rate limiter),
 * creates one worker per core (all serving the same port through
 * SO_REUSEPORT), then waits for SIGTERM/SIGINT and drains the workers
 * within --shutdown-grace.
 */
#include "config.h"
#include "log.h"
#include "np.h"
#include "policy.h"
#include "ratelimit.h"
#include "routes.h"
#include "services.h"
#include "worker_int.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEM_MAX (1u << 20)

/* Reads a whole PEM file into a NUL-terminated buffer (caller frees). */
static char *read_pem(const char *path, const char *flag, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open '%s': %s", flag, path, strerror(errno));
		return NULL;
	}
	buf = malloc(PEM_MAX + 1);
	if (buf == NULL) {
		snprintf(err, errlen, "%s: out of memory", flag);
		goto done;
	}
	n = fread(buf, 1, PEM_MAX + 1, f);
	if (n == 0 || n > PEM_MAX || strstr(buf, "-----BEGIN") == NULL) {
		buf[n > PEM_MAX ? PEM_MAX : n] = '\0';
		if (n == 0 || n > PEM_MAX || strstr(buf, "-----BEGIN") == NULL) {
			snprintf(err, errlen, "%s: '%s' is not a PEM file of at most %u bytes",
				 flag, path, PEM_MAX);
			free(buf);
			buf = NULL;
			goto done;
		}
	}
	buf[n] = '\0';
done:
	fclose(f);
	return buf;
}

/*
 * Workers bind with SO_REUSEPORT so that the kernel spreads connections
 * over them; but then another process of the same user binding the same
 * way would silently share our ports. A plain bind first (no REUSEPORT)
 * fails if anyone holds the port, which is what a user expects.
 */
static int port_free(const char *ip, unsigned port, int type, const char *flag, char *err,
		     size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1, rc = 0;

	if (port == 0)
		return 0;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		len = sizeof(*in);
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		len = sizeof(*in6);
	} else {
		return 0; /* config validation reports bad addresses */
	}
	fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	/* SO_REUSEADDR: a port in TIME_WAIT is free for us. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
		snprintf(err, errlen, "%s: cannot use %s%s%s:%u (%s): %s", flag,
			 ss.ss_family == AF_INET6 ? "[" : "", ip, ss.ss_family == AF_INET6 ? "]" : "",
			 port, type == SOCK_STREAM ? "tcp" : "udp", strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

static int ports_free(const struct config *c, char *err, size_t errlen)
{
	const char *lb = c->listener_bind ? c->listener_bind : c->bind;

	if (port_free(c->bind, c->port, SOCK_STREAM, "--port", err, errlen) != 0)
		return -1;
	if (port_free(c->bind, c->doh_port, SOCK_STREAM, "--doh-port", err, errlen) != 0)
		return -1;
	if (!c->listeners)
		return 0;
	if (port_free(lb, c->listener_tcp_port, SOCK_STREAM, "--listener-tcp-port", err,
		      errlen) != 0)
		return -1;
	return port_free(lb, c->listener_udp_port, SOCK_DGRAM, "--listener-udp-port", err, errlen);
}

static void list_routes(void)
{
	for (unsigned i = 0; i < routes_count; i++)
		printf("%s %s%s\n", routes_table[i].method, routes_table[i].path,
		       (routes_table[i].flags & ROUTE_DEBUG) ? " debug" : "");
}

/*
 * Every probe in flight holds a socket (a scan up to its concurrency), and
 * so does every client connection: take the whole hard limit of open
 * files, as nginx's worker_rlimit_nofile does, instead of the soft 1024
 * many systems start processes with. Failure only costs capacity.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		LOG(LOG_WARN, "cannot raise the open-file limit: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct worker_shared sh;
	struct worker **workers = NULL;
	struct policy *policy = NULL;
	struct ratelimit *ratelimit = NULL;
	char *cert = NULL, *key = NULL;
	char err[512] = "";
	sigset_t sigs;
	unsigned port, nworkers = 0;
	int sig = 0;
	int status = 1;

	memset(&sh, 0, sizeof(sh));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list-routes") == 0) {
			list_routes();
			return 0;
		}
	}
	if (config_defaults(&cfg) != NP_OK) {
		fprintf(stderr, "netprobe: %s\n", np_strerror(NP_ENOMEM));
		return 2;
	}
	switch (config_load(&cfg, argc, argv, stdout, err, sizeof(err))) {
	case CONFIG_OK:
		break;
	case CONFIG_EXIT_HELP:
	case CONFIG_EXIT_VERSION:
		config_free(&cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "netprobe: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	log_setup(cfg.log_level, cfg.log_format);
	raise_nofile();
	if (cfg.workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		cfg.workers = n > 0 ? (unsigned)(n > 256 ? 256 : n) : 1;
	}
	if (policy_new(cfg.policy_preset, cfg.allow_cidrs, cfg.deny_cidrs, &policy, err,
		       sizeof(err)) != NP_OK) {
		/* The policy names its list ("allow list: ..."); name the flag. */
		fprintf(stderr, "netprobe: %s: %s\n",
			strncmp(err, "allow", 5) == 0 ? "--allow-cidr" : "--deny-cidr", err);
		status = 2;
		goto done;
	}
	if (cfg.tls_cert != NULL) {
		cert = read_pem(cfg.tls_cert, "--tls-cert", err, sizeof(err));
		key = cert ? read_pem(cfg.tls_key, "--tls-key", err, sizeof(err)) : NULL;
		if (key == NULL) {
			fprintf(stderr, "netprobe: %s\n", err);
			status = 2;
			goto done;
		}
	}
	if (cfg.rate_limit != 0 &&
	    ratelimit_new(cfg.rate_limit, cfg.rate_burst, cfg.rate_limit_clients,
			  cfg.rate_limit_ipv6_prefix, &ratelimit) != NP_OK) {
		fprintf(stderr, "netprobe: --rate-limit-clients: cannot allocate a table for %u "
				"clients\n", cfg.rate_limit_clients);
		goto done;
	}
	if (ports_free(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "netprobe: %s\n", err);
		goto done;
	}
	/* /scan names open ports; read once, before any worker reads it. */
	if (services_load("/etc/services") != NP_OK) {
		fprintf(stderr, "netprobe: out of memory reading /etc/services\n");
		goto done;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
		fprintf(stderr, "netprobe: cannot initialise libcurl / c-ares\n");
		goto done;
	}

	/* Threads inherit this mask: only main() takes the signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	sh.cfg = &cfg;
	sh.policy = policy;
	sh.ratelimit = ratelimit;
	sh.tls_cert = cert;
	sh.tls_key = key;
	sh.nworkers = cfg.workers;
	sh.all_metrics = calloc(cfg.workers, sizeof(*sh.all_metrics));
	workers = calloc(cfg.workers, sizeof(*workers));
	if (sh.all_metrics == NULL || workers == NULL) {
		fprintf(stderr, "netprobe: out of memory\n");
		goto done;
	}
	port = cfg.port;
	for (unsigned i = 0; i < cfg.workers; i++) {
		unsigned got = 0;

		if (worker_new(i, &sh, port, &got, &workers[i], err, sizeof(err)) != NP_OK) {
			fprintf(stderr, "netprobe: %s\n", err);
			goto stop;
		}
		port = got; /* later workers join the port the first one bound */
		nworkers++;
	}
	for (unsigned i = 0; i < nworkers; i++) {
		if (worker_start(workers[i]) != NP_OK) {
			fprintf(stderr, "netprobe: cannot start worker thread %u\n", i);
			goto stop;
		}
	}
	LOG(LOG_INFO, "netprobe %s listening on %s://%s%s%s:%u with %u worker(s)",
	    NETPROBE_VERSION, cert ? "https" : "http", strchr(cfg.bind, ':') ? "[" : "", cfg.bind,
	    strchr(cfg.bind, ':') ? "]" : "", port, nworkers);
	if (ratelimit != NULL)
		LOG(LOG_INFO, "rate limit: %u probe requests/s per client, bursts of %u, "
			      "%u clients tracked, IPv6 per /%u",
		    cfg.rate_limit, cfg.rate_burst, cfg.rate_limit_clients,
		    cfg.rate_limit_ipv6_prefix);
	if (cfg.listeners)
		LOG(LOG_INFO, "demo listeners on %s tcp/%u udp/%u (%s mode)",
		    cfg.listener_bind ? cfg.listener_bind : cfg.bind, cfg.listener_tcp_port,
		    cfg.listener_udp_port, cfg.listener_mode == LISTENER_ECHO ? "echo" : "greeting");
	while (sigwait(&sigs, &sig) != 0)
		;
	LOG(LOG_INFO, "signal %d: draining (grace %u ms)", sig, cfg.shutdown_grace_ms);
	status = 0;
stop:
	for (unsigned i = 0; i < nworkers; i++)
		worker_drain(workers[i]);
	for (unsigned i = 0; i < nworkers; i++)
		worker_join(workers[i]);
	for (unsigned i = 0; i < nworkers; i++)
		worker_free(workers[i]);
	if (status == 0)
		LOG(LOG_INFO, "stopped");
	ares_library_cleanup();
	curl_global_cleanup();
done:
	free(workers);
	free(sh.all_metrics);
	free(cert);
	free(key);
	policy_free(policy);
	ratelimit_free(ratelimit);
	services_free();
	config_free(&cfg);
	return status;
}
