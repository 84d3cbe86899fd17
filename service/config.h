/*
 * config.h - the service's settings: defaults, then NETPROBE_* environment
 * variables, then command-line flags, validated once at start. Every setting
 * is described in one table in config.c, from which --help is printed.
 *
 * The struct is plain data, filled once in main() and passed around as
 * `const struct config *`; nothing changes it afterwards.
 */
#ifndef NP_CONFIG_H
#define NP_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum listener_mode { LISTENER_GREETING, LISTENER_ECHO };
enum policy_preset { POLICY_PRESET_DEFAULT, POLICY_PRESET_PUBLIC_ONLY };

struct config {
	/* HTTP API */
	char *bind;                 /* address to serve on */
	unsigned port;
	unsigned workers;           /* 0 in input means "one per core" */
	unsigned max_connections;   /* total over all workers */
	unsigned conn_timeout_s;    /* idle HTTP connection timeout */
	size_t max_body;            /* request body cap in bytes */
	char *cors_origin;          /* comma-separated list, "*" or NULL */
	char *tls_cert;             /* PEM file paths; both or neither */
	char *tls_key;
	char *auth_tokens;          /* comma-separated bearer tokens, or NULL */
	int debug_endpoints;
	unsigned shutdown_grace_ms;
	unsigned max_inflight;      /* requests waiting on the network, per worker */
	unsigned doh_port;          /* DNS-over-HTTPS over HTTP/2 (TLS) port; 0: off */

	/* per-client rate limit of probe requests (ops endpoints are exempt) */
	unsigned rate_limit;        /* requests per second per client; 0: off */
	unsigned rate_burst;        /* bucket size; 0 in input means 2 x rate_limit */
	unsigned rate_limit_clients;      /* clients tracked at most */
	unsigned rate_limit_ipv6_prefix;  /* IPv6 clients are /N networks */

	/* probes */
	unsigned default_timeout_ms;
	unsigned max_timeout_ms;

	/* target policy */
	enum policy_preset policy_preset;
	char *allow_cidrs;          /* comma-separated CIDRs, or NULL */
	char *deny_cidrs;

	/* DNS */
	char *dns_servers;          /* comma-separated ip[:port], or NULL: system */
	unsigned dns_batch_max;

	/* fetch */
	char *fetch_ca_file;        /* extra trusted CAs for /fetch (PEM), or NULL */

	/* scans */
	unsigned scan_max_ports;    /* most ports in one scan */
	unsigned scan_concurrency_max; /* most connects one scan may have in flight */

	/* demo listeners */
	int listeners;              /* on/off */
	char *listener_bind;        /* NULL: same as bind */
	unsigned listener_tcp_port;
	unsigned listener_udp_port;
	enum listener_mode listener_mode;
	char *greeting;
	unsigned listener_max_conns; /* per worker */
	unsigned listener_idle_ms;

	/* logging */
	int log_level;              /* LOG_ERROR..LOG_DEBUG from log.h */
	enum log_format log_format;
	int access_log;
};

enum config_result {
	CONFIG_OK = 0,
	CONFIG_ERROR,      /* message in err */
	CONFIG_EXIT_HELP,  /* --help printed */
	CONFIG_EXIT_VERSION,
};

/* Fills c with the defaults. NP_OK, or NP_ENOMEM with every string
 * released (c then as after config_free()). */
int config_defaults(struct config *c);
/*
 * Applies environment then argv, then validates. On CONFIG_ERROR err holds
 * a one-line message naming the flag and the problem. `out` receives --help
 * and --version text.
 */
enum config_result config_load(struct config *c, int argc, char **argv,
			       FILE *out, char *err, size_t errlen);
void config_print_help(FILE *f);
/* Frees the strings; the struct itself is the caller's. */
void config_free(struct config *c);

#endif
