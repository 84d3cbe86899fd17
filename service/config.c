/*
 * config.c - every setting in one table: flag, environment variable, type,
 * bounds, default and help. Loading applies defaults, then NETPROBE_*
 * variables, then flags, and validates the combination once; the first bad
 * value stops the start with a message naming the flag and the problem.
 */
#include "config.h"
#include "log.h"
#include "np.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

enum opt_type { OPT_STR, OPT_UINT, OPT_SIZE, OPT_BOOL, OPT_ENUM };

struct opt {
	const char *flag;         /* without the leading "--" */
	enum opt_type type;
	size_t offset;            /* into struct config */
	unsigned long min, max;   /* OPT_UINT / OPT_SIZE bounds */
	const char *const *choices; /* OPT_ENUM: NULL-terminated, index = value */
	const char *def;          /* shown in --help */
	const char *help;
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const modes[] = {"greeting", "echo", NULL};
static const char *const presets[] = {"default", "public-only", NULL};

#define OFF(field) offsetof(struct config, field)

static const struct opt options[] = {
	{"bind", OPT_STR, OFF(bind), 0, 0, NULL, "127.0.0.1",
	 "address the HTTP API listens on (IPv4 or IPv6 literal)"},
	{"port", OPT_UINT, OFF(port), 0, 65535, NULL, "8080", "HTTP API port (0: any free port)"},
	{"workers", OPT_UINT, OFF(workers), 0, 256, NULL, "0",
	 "worker threads, each with its own event loop (0: one per core)"},
	{"max-connections", OPT_UINT, OFF(max_connections), 1, 1000000, NULL, "4096",
	 "HTTP connections held at once, over all workers"},
	{"connection-timeout", OPT_UINT, OFF(conn_timeout_s), 1, 3600, NULL, "30",
	 "seconds an idle HTTP connection is kept"},
	{"max-body", OPT_SIZE, OFF(max_body), 64, 64u << 20, NULL, "1048576",
	 "largest request body in bytes; larger ones get 413"},
	{"cors-origin", OPT_STR, OFF(cors_origin), 0, 0, NULL, "(none)",
	 "origins allowed by CORS: comma-separated list, or *"},
	{"tls-cert", OPT_STR, OFF(tls_cert), 0, 0, NULL, "(none)",
	 "PEM certificate file: serve HTTPS instead of HTTP (needs --tls-key)"},
	{"tls-key", OPT_STR, OFF(tls_key), 0, 0, NULL, "(none)", "PEM private key file for --tls-cert"},
	{"doh-port", OPT_UINT, OFF(doh_port), 0, 65535, NULL, "0",
	 "DNS-over-HTTPS over HTTP/2 port, on --bind (needs --tls-cert and --tls-key; 0: off)"},
	{"auth-token", OPT_STR, OFF(auth_tokens), 0, 0, NULL, "(none)",
	 "bearer tokens, comma-separated; when set, probe endpoints need one"},
	{"debug-endpoints", OPT_BOOL, OFF(debug_endpoints), 0, 1, NULL, "false",
	 "expose /debug/* endpoints (testing only)"},
	{"shutdown-grace", OPT_UINT, OFF(shutdown_grace_ms), 0, 600000, NULL, "10000",
	 "milliseconds in-flight requests may take to finish after SIGTERM/SIGINT"},
	{"max-inflight", OPT_UINT, OFF(max_inflight), 1, 1000000, NULL, "10000",
	 "probe requests in progress per worker; more get 503 with Retry-After"},
	{"rate-limit", OPT_UINT, OFF(rate_limit), 0, 1000000, NULL, "0",
	 "probe requests per second per client address (0: off); more get 429 with Retry-After"},
	{"rate-burst", OPT_UINT, OFF(rate_burst), 1, 10000000, NULL, "(2 x --rate-limit)",
	 "probe requests a client may send at once before --rate-limit paces it"},
	{"rate-limit-clients", OPT_UINT, OFF(rate_limit_clients), 64, 16777216, NULL, "65536",
	 "client addresses --rate-limit tracks (32 bytes each, allocated at start)"},
	{"rate-limit-ipv6-prefix", OPT_UINT, OFF(rate_limit_ipv6_prefix), 1, 128, NULL, "64",
	 "--rate-limit counts IPv6 clients per network of this many bits (128: per address)"},
	{"default-timeout-ms", OPT_UINT, OFF(default_timeout_ms), 1, 600000, NULL, "5000",
	 "probe timeout when a request gives no timeout_ms"},
	{"max-timeout-ms", OPT_UINT, OFF(max_timeout_ms), 1, 600000, NULL, "30000",
	 "largest timeout_ms a request may ask for"},
	{"target-policy", OPT_ENUM, OFF(policy_preset), 0, 0, presets, "default",
	 "default: deny link-local/metadata/multicast; public-only: also loopback and private ranges"},
	{"allow-cidr", OPT_STR, OFF(allow_cidrs), 0, 0, NULL, "(none)",
	 "comma-separated CIDRs always allowed as probe targets (wins over every deny)"},
	{"deny-cidr", OPT_STR, OFF(deny_cidrs), 0, 0, NULL, "(none)",
	 "comma-separated CIDRs denied as probe targets"},
	{"dns-server", OPT_STR, OFF(dns_servers), 0, 0, NULL, "(system resolv.conf)",
	 "resolvers to use, comma-separated ip[:port] or [ipv6]:port"},
	{"dns-batch-max", OPT_UINT, OFF(dns_batch_max), 1, 100000, NULL, "1000",
	 "most queries in one POST /dns batch"},
	{"fetch-ca-file", OPT_STR, OFF(fetch_ca_file), 0, 0, NULL, "(system CAs only)",
	 "PEM file of CAs /fetch trusts besides the system's (/etc/ssl/certs)"},
	{"scan-max-ports", OPT_UINT, OFF(scan_max_ports), 1, 65535, NULL, "65535",
	 "most ports in one /scan"},
	{"scan-concurrency-max", OPT_UINT, OFF(scan_concurrency_max), 1, 4096, NULL, "512",
	 "most connects one /scan may have in flight (its concurrency parameter's cap)"},
	{"listeners", OPT_BOOL, OFF(listeners), 0, 1, NULL, "true",
	 "run the demo TCP and UDP listeners"},
	{"listener-bind", OPT_STR, OFF(listener_bind), 0, 0, NULL, "(same as --bind)",
	 "address of the demo listeners"},
	{"listener-tcp-port", OPT_UINT, OFF(listener_tcp_port), 1, 65535, NULL, "8888",
	 "demo TCP listener port"},
	{"listener-udp-port", OPT_UINT, OFF(listener_udp_port), 1, 65535, NULL, "8888",
	 "demo UDP listener port"},
	{"listener-mode", OPT_ENUM, OFF(listener_mode), 0, 0, modes, "greeting",
	 "greeting: answer with --greeting and close; echo: send back what arrives"},
	{"greeting", OPT_STR, OFF(greeting), 0, 0, NULL, "Hello from server",
	 "what the demo listeners answer in greeting mode"},
	{"listener-max-conns", OPT_UINT, OFF(listener_max_conns), 1, 100000, NULL, "256",
	 "open demo TCP connections per worker; more are closed at once"},
	{"listener-idle-ms", OPT_UINT, OFF(listener_idle_ms), 10, 3600000, NULL, "10000",
	 "a demo TCP client silent this long is disconnected"},
	{"log-level", OPT_ENUM, OFF(log_level), 0, 0, log_levels, "info", "error, warn, info or debug"},
	{"log-format", OPT_ENUM, OFF(log_format), 0, 0, log_formats, "text",
	 "text, or json (one JSON object per line)"},
	{"access-log", OPT_BOOL, OFF(access_log), 0, 1, NULL, "true",
	 "log one line per HTTP request"},
};

static char **str_field(struct config *c, const struct opt *o)
{
	return (char **)(void *)((char *)c + o->offset);
}

static unsigned *uint_field(struct config *c, const struct opt *o)
{
	return (unsigned *)(void *)((char *)c + o->offset);
}

static int *int_field(struct config *c, const struct opt *o)
{
	return (int *)(void *)((char *)c + o->offset);
}

static size_t *size_field(struct config *c, const struct opt *o)
{
	return (size_t *)(void *)((char *)c + o->offset);
}

/* Applies one value; `source` is "--flag" or "NETPROBE_FLAG" for messages. */
static int apply(struct config *c, const struct opt *o, const char *v, const char *source,
		 char *err, size_t errlen)
{
	switch (o->type) {
	case OPT_STR: {
		char *copy = strdup(v);

		if (copy == NULL) {
			np_set_err(err, errlen, "%s: out of memory", source);
			return -1;
		}
		free(*str_field(c, o));
		*str_field(c, o) = copy;
		return 0;
	}
	case OPT_UINT:
	case OPT_SIZE: {
		char *end = NULL;
		unsigned long long n;

		errno = 0;
		if (*v == '\0' || !isdigit((unsigned char)*v)) {
			np_set_err(err, errlen, "%s: '%s' is not a non-negative integer", source, v);
			return -1;
		}
		n = strtoull(v, &end, 10);
		if (errno != 0 || *end != '\0') {
			np_set_err(err, errlen, "%s: '%s' is not a non-negative integer", source, v);
			return -1;
		}
		if (n < o->min || n > o->max) {
			np_set_err(err, errlen, "%s: %llu is out of range [%lu, %lu]", source, n, o->min,
				o->max);
			return -1;
		}
		if (o->type == OPT_UINT)
			*uint_field(c, o) = (unsigned)n;
		else
			*size_field(c, o) = (size_t)n;
		return 0;
	}
	case OPT_BOOL:
		if (np_parse_bool(v, int_field(c, o)) != 0) {
			np_set_err(err, errlen, "%s: '%s' is not a boolean (true/false/1/0/on/off)",
				source, v);
			return -1;
		}
		return 0;
	case OPT_ENUM:
		for (int i = 0; o->choices[i] != NULL; i++) {
			if (strcasecmp(v, o->choices[i]) == 0) {
				*int_field(c, o) = i;
				return 0;
			}
		}
		{
			char list[128] = "";

			for (int i = 0; o->choices[i] != NULL; i++) {
				strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, o->choices[i], sizeof(list) - strlen(list) - 1);
			}
			np_set_err(err, errlen, "%s: '%s' is not one of: %s", source, v, list);
		}
		return -1;
	}
	return -1;
}

static void env_name(const struct opt *o, char *buf, size_t len)
{
	size_t i = 0;
	const char *prefix = "NETPROBE_";

	for (const char *p = prefix; *p && i + 1 < len; p++)
		buf[i++] = *p;
	for (const char *p = o->flag; *p && i + 1 < len; p++)
		buf[i++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	buf[i] = '\0';
}

int config_defaults(struct config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NP_ARRAY_LEN(options); i++) {
		const struct opt *o = &options[i];

		if (o->def[0] == '(')
			continue; /* "(none)"-style: stays NULL / 0 */
		/* Defaults are in range by construction (a failure there is a
		 * table bug); what can fail is a string's copy. */
		if (apply(c, o, o->def, o->flag, err, sizeof(err)) != 0) {
			assert(o->type == OPT_STR);
			config_free(c);
			return NP_ENOMEM;
		}
	}
	return NP_OK;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < NP_ARRAY_LEN(options); i++) {
		if (options[i].type == OPT_STR) {
			free(*str_field(c, &options[i]));
			*str_field(c, &options[i]) = NULL;
		}
	}
}

void config_print_help(FILE *f)
{
	fprintf(f, "Usage: netprobe [options]\n\n"
		   "A network-diagnostics REST service: DNS, reverse DNS, DNS-over-HTTPS,\n"
		   "HTTP/HTTPS fetches, TCP port scans, raw TCP/UDP exchanges, target policy\n"
		   "checks, and demo TCP/UDP listeners. See openapi.yaml\n"
		   "(served at /openapi.yaml) for the API; a browser dashboard is at /.\n\n"
		   "Every option can also be set through the environment variable shown;\n"
		   "flags win over the environment. Forms: --flag=value or --flag value;\n"
		   "boolean flags alone mean true (--no-FLAG means false).\n\n");
	for (size_t i = 0; i < NP_ARRAY_LEN(options); i++) {
		const struct opt *o = &options[i];
		char env[64];
		char arg[64];

		env_name(o, env, sizeof(env));
		switch (o->type) {
		case OPT_BOOL:
			snprintf(arg, sizeof(arg), "--%s[=BOOL]", o->flag);
			break;
		case OPT_ENUM: {
			size_t n = (size_t)snprintf(arg, sizeof(arg), "--%s=", o->flag);

			for (int k = 0; o->choices[k] != NULL && n < sizeof(arg); k++)
				n += (size_t)snprintf(arg + n, sizeof(arg) - n, "%s%s", k ? "|" : "",
						      o->choices[k]);
			break;
		}
		case OPT_UINT:
		case OPT_SIZE:
			snprintf(arg, sizeof(arg), "--%s=N", o->flag);
			break;
		default:
			snprintf(arg, sizeof(arg), "--%s=TEXT", o->flag);
		}
		fprintf(f, "  %-36s %s\n  %-36s default: %s; env %s\n", arg, o->help, "", o->def,
			env);
	}
	fprintf(f, "  %-36s %s\n  %-36s %s\n  %-36s %s\n", "--list-routes",
		"print the route table (method path) and exit", "--version",
		"print the version and exit", "--help", "print this help and exit");
}

static const struct opt *find_opt(const char *name, size_t len)
{
	for (size_t i = 0; i < NP_ARRAY_LEN(options); i++) {
		if (strlen(options[i].flag) == len && strncmp(options[i].flag, name, len) == 0)
			return &options[i];
	}
	return NULL;
}

static int valid_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int validate(struct config *c, char *err, size_t errlen)
{
	if (!valid_ip(c->bind)) {
		np_set_err(err, errlen, "--bind: '%s' is not an IPv4 or IPv6 address", c->bind);
		return -1;
	}
	if (c->listener_bind != NULL && !valid_ip(c->listener_bind)) {
		np_set_err(err, errlen, "--listener-bind: '%s' is not an IPv4 or IPv6 address",
			c->listener_bind);
		return -1;
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		np_set_err(err, errlen, "%s: --tls-cert and --tls-key must be given together",
			c->tls_cert == NULL ? "--tls-cert" : "--tls-key");
		return -1;
	}
	if (c->doh_port != 0 && c->tls_cert == NULL) {
		np_set_err(err, errlen,
			"--doh-port: DNS over HTTPS needs TLS: give --tls-cert and --tls-key too");
		return -1;
	}
	if (c->doh_port != 0 && c->doh_port == c->port) {
		np_set_err(err, errlen, "--doh-port: %u is also the --port of the HTTP API",
			c->doh_port);
		return -1;
	}
	if (c->doh_port != 0 && c->listeners && c->doh_port == c->listener_tcp_port &&
	    (c->listener_bind == NULL || strcmp(c->listener_bind, c->bind) == 0)) {
		np_set_err(err, errlen, "--doh-port: %u is also the --listener-tcp-port",
			c->doh_port);
		return -1;
	}
	/* The burst defaults to two seconds' worth of requests. */
	if (c->rate_limit != 0 && c->rate_burst == 0)
		c->rate_burst = 2 * c->rate_limit;
	if (c->default_timeout_ms > c->max_timeout_ms) {
		np_set_err(err, errlen,
			"--default-timeout-ms: %u is above --max-timeout-ms (%u)",
			c->default_timeout_ms, c->max_timeout_ms);
		return -1;
	}
	if (c->greeting == NULL || strlen(c->greeting) > 4096) {
		np_set_err(err, errlen, "--greeting: must be 0..4096 bytes");
		return -1;
	}
	if (c->auth_tokens != NULL && c->auth_tokens[0] == '\0') {
		np_set_err(err, errlen, "--auth-token: empty token list");
		return -1;
	}
	return 0;
}

/*
 * validate() names settings by flag ("--bind: ..."); when the value came
 * from the environment, name the variable the user actually set.
 */
static void rename_env_source(char *err, size_t errlen, const int *from_env)
{
	const char *colon = strchr(err, ':');
	const struct opt *o;
	char env[64], rest[512];

	if (strncmp(err, "--", 2) != 0 || colon == NULL)
		return;
	o = find_opt(err + 2, (size_t)(colon - err - 2));
	if (o == NULL || !from_env[o - options])
		return;
	env_name(o, env, sizeof(env));
	snprintf(rest, sizeof(rest), "%s", colon);
	snprintf(err, errlen, "%s%s", env, rest);
}

enum config_result config_load(struct config *c, int argc, char **argv, FILE *out, char *err,
			       size_t errlen)
{
	/* Flags are read first, so that a bad environment value for a setting
	 * the command line overrides does not matter; they are applied last,
	 * so that they win. */
	struct given {
		const struct opt *o;
		const char *value;
	} *flags = NULL;
	int given[NP_ARRAY_LEN(options)] = {0};
	int from_env[NP_ARRAY_LEN(options)] = {0};
	size_t nflags = 0;
	enum config_result res = CONFIG_ERROR;

	flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
	if (flags == NULL) {
		np_set_err(err, errlen, "out of memory");
		return CONFIG_ERROR;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *name, *eq, *value = NULL;
		const struct opt *o;
		size_t nlen;
		int negated = 0;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			config_print_help(out);
			res = CONFIG_EXIT_HELP;
			goto done;
		}
		if (strcmp(a, "--version") == 0) {
			fprintf(out, "netprobe %s\n", NETPROBE_VERSION);
			res = CONFIG_EXIT_VERSION;
			goto done;
		}
		if (strncmp(a, "--", 2) != 0) {
			np_set_err(err, errlen, "unexpected argument '%s' (options start with --)", a);
			goto done;
		}
		name = a + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		o = find_opt(name, nlen);
		if (o == NULL && nlen > 3 && strncmp(name, "no-", 3) == 0) {
			o = find_opt(name + 3, nlen - 3);
			if (o != NULL && o->type == OPT_BOOL && eq == NULL)
				negated = 1;
			else
				o = NULL;
		}
		if (o == NULL) {
			np_set_err(err, errlen, "--%.*s: unknown option (see --help)", (int)nlen, name);
			goto done;
		}
		if (eq != NULL) {
			value = eq + 1;
		} else if (o->type == OPT_BOOL) {
			value = negated ? "false" : "true";
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			np_set_err(err, errlen, "--%s: missing value", o->flag);
			goto done;
		}
		flags[nflags].o = o;
		flags[nflags].value = value;
		nflags++;
		given[o - options] = 1;
	}
	for (size_t i = 0; i < NP_ARRAY_LEN(options); i++) {
		char env[64];
		const char *v;

		if (given[i])
			continue;
		env_name(&options[i], env, sizeof(env));
		v = getenv(env);
		if (v != NULL && apply(c, &options[i], v, env, err, errlen) != 0)
			goto done;
		from_env[i] = v != NULL;
	}
	for (size_t i = 0; i < nflags; i++) {
		char source[80];

		snprintf(source, sizeof(source), "--%s", flags[i].o->flag);
		if (apply(c, flags[i].o, flags[i].value, source, err, errlen) != 0)
			goto done;
	}
	if (validate(c, err, errlen) != 0) {
		rename_env_source(err, errlen, from_env);
		goto done;
	}
	res = CONFIG_OK;
done:
	free(flags);
	return res;
}
