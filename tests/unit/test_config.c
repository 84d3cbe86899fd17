/*
 * test_config.c - unit tests of the settings (service/config.c): defaults
 * against the --help text, every kind of bad value and the message naming
 * the flag, the two flag forms and --no-FLAG, the environment fallback and
 * its precedence, --help and --version output, config_free, and each
 * allocation of the defaults and of a load failing in turn.
 *
 * Each test starts and ends with no NETPROBE_* variable of the option table
 * set.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "np.h"
#include "support/alloc_fail.h"

/* Every entry of the option table in config.c, in order. */
static const char *const all_flags[] = {
	"bind", "port", "workers", "max-connections", "connection-timeout", "max-body",
	"cors-origin", "tls-cert", "tls-key", "doh-port", "auth-token", "debug-endpoints",
	"shutdown-grace", "max-inflight", "rate-limit", "rate-burst", "rate-limit-clients",
	"rate-limit-ipv6-prefix", "default-timeout-ms", "max-timeout-ms",
	"target-policy", "allow-cidr", "deny-cidr", "dns-server", "dns-batch-max",
	"listeners", "listener-bind", "listener-tcp-port", "listener-udp-port",
	"listener-mode", "greeting", "listener-max-conns", "listener-idle-ms",
	"log-level", "log-format", "access-log",
};

static void env_of(const char *flag, char *buf, size_t len)
{
	size_t i = 0;

	for (const char *p = "NETPROBE_"; *p && i + 1 < len; p++)
		buf[i++] = *p;
	for (const char *p = flag; *p && i + 1 < len; p++)
		buf[i++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	buf[i] = '\0';
}

static void clear_env(void)
{
	for (size_t i = 0; i < NP_ARRAY_LEN(all_flags); i++) {
		char env[64];

		env_of(all_flags[i], env, sizeof(env));
		unsetenv(env);
	}
}

static int setup(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/* Loads argv (NULL-terminated, without argv[0]) over the defaults. */
struct loaded {
	struct config c;
	enum config_result res;
	char err[256];
	char *out;        /* what went to the FILE */
	size_t outlen;
};

static void load_v(struct loaded *ld, const char *const *args)
{
	char *argv[32];
	int argc = 0;
	FILE *f;

	argv[argc++] = (char *)(uintptr_t)"netprobe";
	for (; *args != NULL; args++) {
		assert_true(argc < 31);
		argv[argc++] = (char *)(uintptr_t)*args;
	}
	argv[argc] = NULL;
	config_defaults(&ld->c);
	memset(ld->err, 0, sizeof(ld->err));
	ld->out = NULL;
	ld->outlen = 0;
	f = open_memstream(&ld->out, &ld->outlen);
	assert_non_null(f);
	ld->res = config_load(&ld->c, argc, argv, f, ld->err, sizeof(ld->err));
	assert_int_equal(fclose(f), 0);
	assert_non_null(ld->out);
}

#define LOAD(ld, ...) load_v((ld), (const char *const[]){__VA_ARGS__, NULL})

static void unload(struct loaded *ld)
{
	config_free(&ld->c);
	free(ld->out);
	ld->out = NULL;
}

/* Asserts the load fails with exactly this message and writes nothing. */
static void expect_error(const char *const *args, const char *msg)
{
	struct loaded ld;

	load_v(&ld, args);
	if (ld.res != CONFIG_ERROR)
		print_error("args starting '%s': expected CONFIG_ERROR, got %d\n", args[0],
			    (int)ld.res);
	assert_int_equal(ld.res, CONFIG_ERROR);
	assert_string_equal(ld.err, msg);
	assert_int_equal(ld.outlen, 0);
	unload(&ld);
}

#define EXPECT_ERROR(msg, ...) expect_error((const char *const[]){__VA_ARGS__, NULL}, (msg))

static void expect_ok(struct loaded *ld, const char *const *args)
{
	load_v(ld, args);
	if (ld->res != CONFIG_OK)
		print_error("unexpected error: %s\n", ld->err);
	assert_int_equal(ld->res, CONFIG_OK);
}

#define EXPECT_OK(ld, ...) expect_ok((ld), (const char *const[]){__VA_ARGS__, NULL})

/* The "default: X;" text that --help prints under the line of `arg`. */
static void help_default(const char *help, const char *arg, char *buf, size_t len)
{
	char needle[80];
	const char *p, *d, *semi;

	snprintf(needle, sizeof(needle), "  %s ", arg);
	p = strstr(help, needle);
	if (p == NULL)
		print_error("no '%s' in --help\n", arg);
	assert_non_null(p);
	d = strstr(p, "default: ");
	assert_non_null(d);
	d += strlen("default: ");
	semi = strchr(d, ';');
	assert_non_null(semi);
	assert_true((size_t)(semi - d) < len);
	memcpy(buf, d, (size_t)(semi - d));
	buf[semi - d] = '\0';
}

static char *help_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_print_help(f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(c.port, 8080);
	assert_non_null(c.bind);
	assert_string_equal(c.bind, "127.0.0.1");
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.max_connections, 4096);
	assert_int_equal(c.conn_timeout_s, 30);
	assert_int_equal(c.max_body, 1048576);
	assert_null(c.cors_origin);
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_null(c.auth_tokens);
	assert_int_equal(c.debug_endpoints, 0);
	assert_int_equal(c.shutdown_grace_ms, 10000);
	assert_int_equal(c.max_inflight, 10000);
	assert_int_equal(c.rate_limit, 0);
	assert_int_equal(c.rate_burst, 0);
	assert_int_equal(c.rate_limit_clients, 65536);
	assert_int_equal(c.rate_limit_ipv6_prefix, 64);
	assert_int_equal(c.doh_port, 0);
	assert_int_equal(c.default_timeout_ms, 5000);
	assert_int_equal(c.max_timeout_ms, 30000);
	assert_int_equal(c.policy_preset, POLICY_PRESET_DEFAULT);
	assert_null(c.allow_cidrs);
	assert_null(c.deny_cidrs);
	assert_null(c.dns_servers);
	assert_int_equal(c.dns_batch_max, 1000);
	assert_int_equal(c.listeners, 1);
	assert_null(c.listener_bind);
	assert_int_equal(c.listener_tcp_port, 8888);
	assert_int_equal(c.listener_udp_port, 8888);
	assert_int_equal(c.listener_mode, LISTENER_GREETING);
	assert_non_null(c.greeting);
	assert_string_equal(c.greeting, "Hello from server");
	assert_int_equal(c.listener_max_conns, 256);
	assert_int_equal(c.listener_idle_ms, 10000);
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.log_format, LOG_FORMAT_TEXT);
	assert_int_equal(c.access_log, 1);
	config_free(&c);
	assert_null(c.bind);
	assert_null(c.greeting);
}

static void test_defaults_match_help(void **state)
{
	struct config c;
	char *help = help_text();
	char d[128], num[32];

	(void)state;
	config_defaults(&c);

	help_default(help, "--port=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%u", c.port);
	assert_string_equal(d, num);
	assert_string_equal(d, "8080");

	help_default(help, "--bind=TEXT", d, sizeof(d));
	assert_string_equal(d, c.bind);
	assert_string_equal(d, "127.0.0.1");

	help_default(help, "--greeting=TEXT", d, sizeof(d));
	assert_string_equal(d, c.greeting);
	assert_string_equal(d, "Hello from server");

	help_default(help, "--listeners[=BOOL]", d, sizeof(d));
	assert_string_equal(d, "true");
	assert_int_equal(c.listeners, 1);

	help_default(help, "--max-body=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%zu", c.max_body);
	assert_string_equal(d, num);
	assert_string_equal(d, "1048576");

	help_default(help, "--default-timeout-ms=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%u", c.default_timeout_ms);
	assert_string_equal(d, num);

	help_default(help, "--max-timeout-ms=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%u", c.max_timeout_ms);
	assert_string_equal(d, num);

	help_default(help, "--listener-tcp-port=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%u", c.listener_tcp_port);
	assert_string_equal(d, num);

	help_default(help, "--debug-endpoints[=BOOL]", d, sizeof(d));
	assert_string_equal(d, "false");
	assert_int_equal(c.debug_endpoints, 0);

	help_default(help, "--log-format=text|json", d, sizeof(d));
	assert_string_equal(d, "text");
	assert_int_equal(c.log_format, LOG_FORMAT_TEXT);

	help_default(help, "--log-level=error|warn|info|debug", d, sizeof(d));
	assert_string_equal(d, "info");
	assert_int_equal(c.log_level, LOG_INFO);

	help_default(help, "--listener-mode=greeting|echo", d, sizeof(d));
	assert_string_equal(d, "greeting");
	assert_int_equal(c.listener_mode, LISTENER_GREETING);

	help_default(help, "--rate-limit=N", d, sizeof(d));
	assert_string_equal(d, "0");
	assert_int_equal(c.rate_limit, 0);
	help_default(help, "--rate-burst=N", d, sizeof(d));
	assert_string_equal(d, "(2 x --rate-limit)");
	help_default(help, "--rate-limit-clients=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%u", c.rate_limit_clients);
	assert_string_equal(d, num);
	help_default(help, "--rate-limit-ipv6-prefix=N", d, sizeof(d));
	snprintf(num, sizeof(num), "%u", c.rate_limit_ipv6_prefix);
	assert_string_equal(d, num);

	help_default(help, "--tls-cert=TEXT", d, sizeof(d));
	assert_string_equal(d, "(none)");
	assert_null(c.tls_cert);

	config_free(&c);
	free(help);
}

/* ---- errors ---- */

static void test_error_unknown_flag(void **state)
{
	(void)state;
	EXPECT_ERROR("--frobnicate: unknown option (see --help)", "--frobnicate");
	EXPECT_ERROR("--frobnicate: unknown option (see --help)", "--frobnicate=1");
	EXPECT_ERROR("--frobnicate: unknown option (see --help)", "--port", "1", "--frobnicate");
	/* --no- only for booleans, and never with a value */
	EXPECT_ERROR("--no-port: unknown option (see --help)", "--no-port");
	EXPECT_ERROR("--no-listeners: unknown option (see --help)", "--no-listeners=true");
	EXPECT_ERROR("unexpected argument 'extra' (options start with --)", "extra");
	EXPECT_ERROR("unexpected argument '-p' (options start with --)", "-p", "1");
}

static void test_error_missing_value(void **state)
{
	(void)state;
	EXPECT_ERROR("--port: missing value", "--port");
	EXPECT_ERROR("--greeting: missing value", "--workers", "2", "--greeting");
	EXPECT_ERROR("--log-format: missing value", "--log-format");
}

static void test_error_out_of_range(void **state)
{
	(void)state;
	EXPECT_ERROR("--port: 70000 is out of range [0, 65535]", "--port", "70000");
	EXPECT_ERROR("--port: 65536 is out of range [0, 65535]", "--port=65536");
	EXPECT_ERROR("--max-body: 63 is out of range [64, 67108864]", "--max-body=63");
	EXPECT_ERROR("--max-body: 67108865 is out of range [64, 67108864]", "--max-body",
		     "67108865");
	EXPECT_ERROR("--max-connections: 0 is out of range [1, 1000000]", "--max-connections",
		     "0");
	EXPECT_ERROR("--listener-idle-ms: 9 is out of range [10, 3600000]",
		     "--listener-idle-ms=9");
	EXPECT_ERROR("--workers: 257 is out of range [0, 256]", "--workers", "257");
}

static void test_error_not_numeric(void **state)
{
	(void)state;
	EXPECT_ERROR("--port: 'abc' is not a non-negative integer", "--port", "abc");
	EXPECT_ERROR("--port: '-1' is not a non-negative integer", "--port", "-1");
	EXPECT_ERROR("--port: '+80' is not a non-negative integer", "--port", "+80");
	EXPECT_ERROR("--port: '80x' is not a non-negative integer", "--port=80x");
	EXPECT_ERROR("--port: ' 80' is not a non-negative integer", "--port= 80");
	EXPECT_ERROR("--port: '' is not a non-negative integer", "--port=");
	EXPECT_ERROR("--max-body: '99999999999999999999999' is not a non-negative integer",
		     "--max-body", "99999999999999999999999");
}

static void test_error_bad_enum(void **state)
{
	(void)state;
	EXPECT_ERROR("--log-format: 'xml' is not one of: text, json", "--log-format", "xml");
	EXPECT_ERROR("--log-level: 'trace' is not one of: error, warn, info, debug",
		     "--log-level=trace");
	EXPECT_ERROR("--listener-mode: 'chargen' is not one of: greeting, echo",
		     "--listener-mode", "chargen");
	EXPECT_ERROR("--target-policy: 'strict' is not one of: default, public-only",
		     "--target-policy=strict");
}

static void test_error_bad_bool(void **state)
{
	(void)state;
	EXPECT_ERROR("--listeners: 'maybe' is not a boolean (true/false/1/0/on/off)",
		     "--listeners=maybe");
	EXPECT_ERROR("--access-log: '' is not a boolean (true/false/1/0/on/off)",
		     "--access-log=");
	EXPECT_ERROR("--debug-endpoints: '2' is not a boolean (true/false/1/0/on/off)",
		     "--debug-endpoints=2");
}

static void test_error_tls_pair(void **state)
{
	(void)state;
	/* the message names the flag that is missing */
	EXPECT_ERROR("--tls-key: --tls-cert and --tls-key must be given together", "--tls-cert",
		     "/x/cert.pem");
	EXPECT_ERROR("--tls-cert: --tls-cert and --tls-key must be given together", "--tls-key",
		     "/x/key.pem");
}

static void test_error_timeouts(void **state)
{
	(void)state;
	EXPECT_ERROR("--default-timeout-ms: 40000 is above --max-timeout-ms (30000)",
		     "--default-timeout-ms", "40000");
	EXPECT_ERROR("--default-timeout-ms: 5000 is above --max-timeout-ms (4999)",
		     "--max-timeout-ms=4999");
	EXPECT_ERROR("--default-timeout-ms: 2001 is above --max-timeout-ms (2000)",
		     "--max-timeout-ms", "2000", "--default-timeout-ms", "2001");
}

static void test_error_bind(void **state)
{
	(void)state;
	EXPECT_ERROR("--bind: 'localhost' is not an IPv4 or IPv6 address", "--bind", "localhost");
	EXPECT_ERROR("--bind: '127.0.0.256' is not an IPv4 or IPv6 address", "--bind=127.0.0.256");
	EXPECT_ERROR("--bind: '' is not an IPv4 or IPv6 address", "--bind=");
	EXPECT_ERROR("--listener-bind: 'any' is not an IPv4 or IPv6 address", "--listener-bind",
		     "any");
}

static void test_error_doh_port(void **state)
{
	(void)state;
	EXPECT_ERROR("--doh-port: DNS over HTTPS needs TLS: give --tls-cert and --tls-key too",
		     "--doh-port", "8443");
	EXPECT_ERROR("--doh-port: 8080 is also the --port of the HTTP API", "--doh-port=8080",
		     "--tls-cert", "c.pem", "--tls-key", "k.pem");
	EXPECT_ERROR("--doh-port: 8888 is also the --listener-tcp-port", "--doh-port=8888",
		     "--tls-cert", "c.pem", "--tls-key", "k.pem");
}

static void test_error_other_validation(void **state)
{
	(void)state;
	EXPECT_ERROR("--auth-token: empty token list", "--auth-token=");
}

static void test_rate_limit_settings(void **state)
{
	struct loaded ld;

	(void)state;
	/* The burst defaults to twice the rate, from flags or environment. */
	EXPECT_OK(&ld, "--rate-limit", "5");
	assert_int_equal(ld.c.rate_limit, 5);
	assert_int_equal(ld.c.rate_burst, 10);
	unload(&ld);
	EXPECT_OK(&ld, "--rate-limit=1000000");
	assert_int_equal(ld.c.rate_burst, 2000000);
	unload(&ld);
	EXPECT_OK(&ld, "--rate-limit", "5", "--rate-burst", "3", "--rate-limit-clients=64",
		  "--rate-limit-ipv6-prefix", "128");
	assert_int_equal(ld.c.rate_burst, 3);
	assert_int_equal(ld.c.rate_limit_clients, 64);
	assert_int_equal(ld.c.rate_limit_ipv6_prefix, 128);
	unload(&ld);
	assert_int_equal(setenv("NETPROBE_RATE_LIMIT", "7", 1), 0);
	EXPECT_OK(&ld, "--port", "1");
	assert_int_equal(ld.c.rate_limit, 7);
	assert_int_equal(ld.c.rate_burst, 14);
	unload(&ld);
	clear_env();
	/* Off: a burst is accepted and unused; none stays 0. */
	EXPECT_OK(&ld, "--rate-burst", "4");
	assert_int_equal(ld.c.rate_limit, 0);
	assert_int_equal(ld.c.rate_burst, 4);
	unload(&ld);
	EXPECT_OK(&ld, "--port", "1");
	assert_int_equal(ld.c.rate_burst, 0);
	unload(&ld);

	EXPECT_ERROR("--rate-burst: 0 is out of range [1, 10000000]", "--rate-limit", "5",
		     "--rate-burst", "0");
	EXPECT_ERROR("--rate-limit: 1000001 is out of range [0, 1000000]", "--rate-limit=1000001");
	EXPECT_ERROR("--rate-limit: '5/s' is not a non-negative integer", "--rate-limit=5/s");
	EXPECT_ERROR("--rate-limit-clients: 63 is out of range [64, 16777216]",
		     "--rate-limit-clients", "63");
	EXPECT_ERROR("--rate-limit-ipv6-prefix: 0 is out of range [1, 128]",
		     "--rate-limit-ipv6-prefix=0");
	EXPECT_ERROR("--rate-limit-ipv6-prefix: 129 is out of range [1, 128]",
		     "--rate-limit-ipv6-prefix=129");
	assert_int_equal(setenv("NETPROBE_RATE_BURST", "0", 1), 0);
	EXPECT_ERROR("NETPROBE_RATE_BURST: 0 is out of range [1, 10000000]", "--rate-limit", "5");
	clear_env();
}

/* ---- accepted forms ---- */

static void test_flag_forms(void **state)
{
	struct loaded ld;

	(void)state;
	EXPECT_OK(&ld, "--port=9001", "--workers", "3", "--greeting=hi there", "--bind", "::1",
		  "--max-body=64", "--log-format", "JSON", "--log-level=debug",
		  "--listener-mode=echo", "--target-policy", "public-only", "--cors-origin", "*",
		  "--debug-endpoints", "--access-log=off", "--tls-cert", "c.pem",
		  "--tls-key=k.pem", "--doh-port", "8443", "--dns-server=127.0.0.1:53");
	assert_int_equal(ld.c.port, 9001);
	assert_int_equal(ld.c.workers, 3);
	assert_string_equal(ld.c.greeting, "hi there");
	assert_string_equal(ld.c.bind, "::1");
	assert_int_equal(ld.c.max_body, 64);
	assert_int_equal(ld.c.log_format, LOG_FORMAT_JSON);
	assert_int_equal(ld.c.log_level, LOG_DEBUG);
	assert_int_equal(ld.c.listener_mode, LISTENER_ECHO);
	assert_int_equal(ld.c.policy_preset, POLICY_PRESET_PUBLIC_ONLY);
	assert_string_equal(ld.c.cors_origin, "*");
	assert_int_equal(ld.c.debug_endpoints, 1);
	assert_int_equal(ld.c.access_log, 0);
	assert_string_equal(ld.c.tls_cert, "c.pem");
	assert_string_equal(ld.c.tls_key, "k.pem");
	assert_int_equal(ld.c.doh_port, 8443);
	assert_string_equal(ld.c.dns_servers, "127.0.0.1:53");
	assert_int_equal(ld.outlen, 0);
	unload(&ld);

	/* a value may contain '=' and may look like a flag after a space */
	EXPECT_OK(&ld, "--greeting==a=b", "--cors-origin", "--not-a-flag");
	assert_string_equal(ld.c.greeting, "=a=b");
	assert_string_equal(ld.c.cors_origin, "--not-a-flag");
	unload(&ld);

	/* edges of a range are accepted; the last of a repeated flag wins */
	EXPECT_OK(&ld, "--port=0", "--port", "65535", "--greeting", "one", "--greeting", "two");
	assert_int_equal(ld.c.port, 65535);
	assert_string_equal(ld.c.greeting, "two");
	unload(&ld);

	/* no arguments at all: the defaults */
	{
		char *argv[] = {(char *)(uintptr_t)"netprobe", NULL};
		char err[64] = "";
		struct config c;

		config_defaults(&c);
		assert_int_equal(config_load(&c, 1, argv, stdout, err, sizeof(err)), CONFIG_OK);
		assert_int_equal(c.port, 8080);
		assert_string_equal(err, "");
		config_free(&c);
	}
}

static void test_bools(void **state)
{
	struct loaded ld;

	(void)state;
	EXPECT_OK(&ld, "--no-listeners");
	assert_int_equal(ld.c.listeners, 0);
	unload(&ld);

	EXPECT_OK(&ld, "--no-listeners", "--listeners");
	assert_int_equal(ld.c.listeners, 1);
	unload(&ld);

	EXPECT_OK(&ld, "--listeners=false", "--no-access-log", "--debug-endpoints=YES");
	assert_int_equal(ld.c.listeners, 0);
	assert_int_equal(ld.c.access_log, 0);
	assert_int_equal(ld.c.debug_endpoints, 1);
	unload(&ld);

	{
		static const char *const yes[] = {"1", "true", "yes", "on", "TRUE", "On"};
		static const char *const no[] = {"0", "false", "no", "off", "FALSE", "Off"};

		for (size_t i = 0; i < NP_ARRAY_LEN(yes); i++) {
			char a[64], b[64];

			snprintf(a, sizeof(a), "--debug-endpoints=%s", yes[i]);
			snprintf(b, sizeof(b), "--listeners=%s", no[i]);
			EXPECT_OK(&ld, a, b);
			assert_int_equal(ld.c.debug_endpoints, 1);
			assert_int_equal(ld.c.listeners, 0);
			unload(&ld);
		}
	}

	/* the demo listeners off: a --doh-port equal to their port is fine */
	EXPECT_OK(&ld, "--no-listeners", "--doh-port=8888", "--tls-cert=c", "--tls-key=k");
	assert_int_equal(ld.c.doh_port, 8888);
	unload(&ld);
}

/* ---- environment ---- */

static void test_env_fallback(void **state)
{
	struct loaded ld;

	(void)state;
	assert_int_equal(setenv("NETPROBE_PORT", "9000", 1), 0);
	assert_int_equal(setenv("NETPROBE_GREETING", "from env", 1), 0);
	assert_int_equal(setenv("NETPROBE_LISTENERS", "off", 1), 0);
	assert_int_equal(setenv("NETPROBE_LOG_FORMAT", "json", 1), 0);
	assert_int_equal(setenv("NETPROBE_DEFAULT_TIMEOUT_MS", "1234", 1), 0);
	assert_int_equal(setenv("NETPROBE_MAX_BODY", "4096", 1), 0);
	load_v(&ld, (const char *const[]){NULL});
	assert_int_equal(ld.res, CONFIG_OK);
	assert_int_equal(ld.c.port, 9000);
	assert_string_equal(ld.c.greeting, "from env");
	assert_int_equal(ld.c.listeners, 0);
	assert_int_equal(ld.c.log_format, LOG_FORMAT_JSON);
	assert_int_equal(ld.c.default_timeout_ms, 1234);
	assert_int_equal(ld.c.max_body, 4096);
	unload(&ld);

	/* the environment and the flags combine before validation */
	clear_env();
	assert_int_equal(setenv("NETPROBE_TLS_CERT", "c.pem", 1), 0);
	EXPECT_OK(&ld, "--tls-key", "k.pem");
	assert_string_equal(ld.c.tls_cert, "c.pem");
	assert_string_equal(ld.c.tls_key, "k.pem");
	unload(&ld);
	clear_env();
}

static void test_flag_beats_env(void **state)
{
	struct loaded ld;

	(void)state;
	assert_int_equal(setenv("NETPROBE_PORT", "9000", 1), 0);
	assert_int_equal(setenv("NETPROBE_GREETING", "from env", 1), 0);
	assert_int_equal(setenv("NETPROBE_LISTENERS", "on", 1), 0);
	EXPECT_OK(&ld, "--port", "9001", "--greeting=from flag", "--no-listeners");
	assert_int_equal(ld.c.port, 9001);
	assert_string_equal(ld.c.greeting, "from flag");
	assert_int_equal(ld.c.listeners, 0);
	unload(&ld);
	clear_env();
}

static void test_bad_env_overridden_by_flag(void **state)
{
	struct loaded ld;

	(void)state;
	assert_int_equal(setenv("NETPROBE_PORT", "abc", 1), 0);
	assert_int_equal(setenv("NETPROBE_LISTENERS", "maybe", 1), 0);
	assert_int_equal(setenv("NETPROBE_LOG_FORMAT", "xml", 1), 0);
	EXPECT_OK(&ld, "--port", "9001", "--no-listeners", "--log-format=json");
	assert_int_equal(ld.c.port, 9001);
	assert_int_equal(ld.c.listeners, 0);
	assert_int_equal(ld.c.log_format, LOG_FORMAT_JSON);
	unload(&ld);
	clear_env();
}

static void test_env_value_failing_validation_names_the_variable(void **state)
{
	(void)state;
	assert_int_equal(setenv("NETPROBE_BIND", "localhost", 1), 0);
	EXPECT_ERROR("NETPROBE_BIND: 'localhost' is not an IPv4 or IPv6 address", "--workers",
		     "1");
	clear_env();
	/* The same value from the flag is named by the flag. */
	EXPECT_ERROR("--bind: 'localhost' is not an IPv4 or IPv6 address", "--bind", "localhost");
	/* A flag overriding a good env value keeps the flag's name. */
	assert_int_equal(setenv("NETPROBE_BIND", "127.0.0.1", 1), 0);
	EXPECT_ERROR("--bind: 'x' is not an IPv4 or IPv6 address", "--bind", "x");
	clear_env();
}

static void test_bad_env_is_error(void **state)
{
	(void)state;
	assert_int_equal(setenv("NETPROBE_PORT", "abc", 1), 0);
	EXPECT_ERROR("NETPROBE_PORT: 'abc' is not a non-negative integer", "--workers", "1");
	clear_env();

	assert_int_equal(setenv("NETPROBE_PORT", "70000", 1), 0);
	EXPECT_ERROR("NETPROBE_PORT: 70000 is out of range [0, 65535]", "--workers", "1");
	clear_env();

	assert_int_equal(setenv("NETPROBE_LOG_FORMAT", "xml", 1), 0);
	EXPECT_ERROR("NETPROBE_LOG_FORMAT: 'xml' is not one of: text, json", "--port", "1");
	clear_env();

	assert_int_equal(setenv("NETPROBE_LISTENERS", "maybe", 1), 0);
	EXPECT_ERROR("NETPROBE_LISTENERS: 'maybe' is not a boolean (true/false/1/0/on/off)",
		     "--port", "1");
	clear_env();

	assert_int_equal(setenv("NETPROBE_LISTENER_IDLE_MS", "5", 1), 0);
	EXPECT_ERROR("NETPROBE_LISTENER_IDLE_MS: 5 is out of range [10, 3600000]", "--port", "1");
	clear_env();
}

/* ---- --help and --version ---- */

static void test_help(void **state)
{
	struct loaded ld;
	struct config before;

	(void)state;
	LOAD(&ld, "--help");
	assert_int_equal(ld.res, CONFIG_EXIT_HELP);
	assert_true(ld.outlen > 0);
	assert_int_equal(strlen(ld.out), ld.outlen);
	assert_non_null(strstr(ld.out, "Usage: netprobe [options]"));
	for (size_t i = 0; i < NP_ARRAY_LEN(all_flags); i++) {
		char flag[64], env[64], envtxt[80];

		snprintf(flag, sizeof(flag), "  --%s", all_flags[i]);
		if (strstr(ld.out, flag) == NULL)
			print_error("--help lacks %s\n", flag);
		assert_non_null(strstr(ld.out, flag));
		env_of(all_flags[i], env, sizeof(env));
		snprintf(envtxt, sizeof(envtxt), "; env %s\n", env);
		if (strstr(ld.out, envtxt) == NULL)
			print_error("--help lacks '%s'\n", envtxt);
		assert_non_null(strstr(ld.out, envtxt));
	}
	assert_non_null(strstr(ld.out, "  --list-routes"));
	assert_non_null(strstr(ld.out, "  --version"));
	assert_non_null(strstr(ld.out, "  --help"));
	assert_non_null(strstr(ld.out, "default: 8080; env NETPROBE_PORT\n"));
	/* the help text on the FILE is exactly config_print_help's */
	{
		char *direct = help_text();

		assert_string_equal(ld.out, direct);
		free(direct);
	}
	/* nothing of --help went to err, and the settings are untouched */
	assert_string_equal(ld.err, "");
	config_defaults(&before);
	assert_int_equal(ld.c.port, before.port);
	config_free(&before);
	unload(&ld);

	/* -h is the same; --help wins over bad values that come after it */
	LOAD(&ld, "-h");
	assert_int_equal(ld.res, CONFIG_EXIT_HELP);
	assert_non_null(strstr(ld.out, "  --port=N"));
	unload(&ld);
	LOAD(&ld, "--help", "--port", "70000");
	assert_int_equal(ld.res, CONFIG_EXIT_HELP);
	unload(&ld);

	/* to a tmpfile as well */
	{
		char *argv[] = {(char *)(uintptr_t)"netprobe", (char *)(uintptr_t)"--help", NULL};
		char err[64] = "";
		char line[256];
		struct config c;
		FILE *f = tmpfile();
		int found = 0;

		assert_non_null(f);
		config_defaults(&c);
		assert_int_equal(config_load(&c, 2, argv, f, err, sizeof(err)), CONFIG_EXIT_HELP);
		rewind(f);
		while (fgets(line, sizeof(line), f) != NULL)
			if (strstr(line, "--max-body=N") != NULL)
				found = 1;
		assert_true(found);
		fclose(f);
		config_free(&c);
	}
}

static void test_version(void **state)
{
	struct loaded ld;
	unsigned x, y, z;
	char nl = 0;
	char want[64];

	(void)state;
	LOAD(&ld, "--version");
	assert_int_equal(ld.res, CONFIG_EXIT_VERSION);
	assert_int_equal(sscanf(ld.out, "netprobe %u.%u.%u%c", &x, &y, &z, &nl), 4);
	assert_int_equal(nl, '\n');
	snprintf(want, sizeof(want), "netprobe %s\n", NETPROBE_VERSION);
	assert_string_equal(ld.out, want);
	assert_string_equal(ld.err, "");
	unload(&ld);
}

/* ---- config_free ---- */

static void test_config_free(void **state)
{
	struct loaded ld;

	(void)state;
	assert_int_equal(setenv("NETPROBE_DENY_CIDR", "10.0.0.0/8", 1), 0);
	EXPECT_OK(&ld, "--cors-origin", "a", "--cors-origin", "b", "--tls-cert=c", "--tls-key=k",
		  "--auth-token=t1,t2", "--allow-cidr=192.0.2.0/24", "--dns-server=127.0.0.1",
		  "--listener-bind=127.0.0.2", "--greeting=g", "--bind=127.0.0.1");
	assert_string_equal(ld.c.deny_cidrs, "10.0.0.0/8");
	assert_string_equal(ld.c.cors_origin, "b");
	config_free(&ld.c);
	assert_null(ld.c.bind);
	assert_null(ld.c.cors_origin);
	assert_null(ld.c.tls_cert);
	assert_null(ld.c.tls_key);
	assert_null(ld.c.auth_tokens);
	assert_null(ld.c.allow_cidrs);
	assert_null(ld.c.deny_cidrs);
	assert_null(ld.c.dns_servers);
	assert_null(ld.c.listener_bind);
	assert_null(ld.c.greeting);
	config_free(&ld.c); /* twice: harmless */
	unload(&ld);
	clear_env();

	/* a failed load leaves strings the caller frees the same way */
	EXPECT_ERROR("--port: 'x' is not a non-negative integer", "--greeting=leak?", "--port=x");
}

/* ---- allocation failure ---- */

/* Defaults, then flags that replace strings: out of memory is NP_ENOMEM
 * from config_defaults() or a CONFIG_ERROR saying so, never an abort, and
 * config_free() releases what was made either way. */
static int defaults_and_load(void *ud)
{
	static const char *const args[] = {
	    "netprobe", "--bind=127.0.0.2", "--greeting=hi", "--dns-server=127.0.0.1",
	    "--listener-bind=127.0.0.1", "--allow-cidr=10.0.0.0/8", NULL};
	struct config c;
	char err[256];
	enum config_result res;
	int rc;

	(void)ud;
	rc = config_defaults(&c);
	if (rc != NP_OK) {
		assert_null(c.bind);
		assert_null(c.greeting);
		config_free(&c);
		return rc;
	}
	res = config_load(&c, (int)NP_ARRAY_LEN(args) - 1, (char **)(uintptr_t)args, stdout, err,
			  sizeof(err));
	if (res != CONFIG_OK) {
		assert_int_equal(res, CONFIG_ERROR);
		assert_non_null(strstr(err, "out of memory"));
		config_free(&c);
		return NP_ENOMEM;
	}
	assert_string_equal(c.greeting, "hi");
	assert_string_equal(c.allow_cidrs, "10.0.0.0/8");
	config_free(&c);
	return NP_OK;
}

static void test_out_of_memory(void **state)
{
	long points;

	(void)state;
	points = alloc_fail_sweep(defaults_and_load, NULL, NP_OK, NP_ENOMEM);
	print_message("defaults and load: %ld allocations\n", points);
	assert_true(points >= 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_match_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_unknown_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_missing_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_not_numeric, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_bad_enum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_bad_bool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_tls_pair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_timeouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_doh_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_other_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flag_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flag_beats_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_env_overridden_by_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_env_is_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_value_failing_validation_names_the_variable,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
