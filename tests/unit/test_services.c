/*
 * test_services.c - service/services.c: /etc/services lines read into the
 * TCP name table (first name wins, UDP-only lines and comments ignored,
 * odd lines skipped), a missing file giving no names, and every allocation
 * of a load failing in turn.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "np.h"
#include "services.h"
#include "support/alloc_fail.h"

static const char sample[] =
	"# comment line\n"
	"tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer\n"
	"ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol\n"
	"domain\t\t53/tcp\t\t\t\t# Domain Name Server\n"
	"domain\t\t53/udp\n"
	"bootps\t\t67/udp\n"
	"http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP\n"
	"www-again\t80/tcp\n"
	"bogus\t\tx80/tcp\n"
	"toobig\t\t70000/tcp\n"
	"noproto\t\t81\n"
	"   \n"
	"http-alt\t8080/tcp\twebcache\n";

static char path[64];

static void write_sample(void)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/np-services-%d", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(sample, 1, sizeof(sample) - 1, f), sizeof(sample) - 1);
	fclose(f);
}

static void test_names(void **state)
{
	(void)state;
	write_sample();
	assert_int_equal(services_load(path), NP_OK);
	assert_string_equal(services_tcp_name(1), "tcpmux");
	assert_string_equal(services_tcp_name(22), "ssh");
	assert_string_equal(services_tcp_name(53), "domain");
	assert_string_equal(services_tcp_name(80), "http"); /* the first line wins */
	assert_string_equal(services_tcp_name(8080), "http-alt");
	assert_null(services_tcp_name(67)); /* UDP only */
	assert_null(services_tcp_name(81)); /* no protocol */
	assert_null(services_tcp_name(0));
	assert_null(services_tcp_name(65535));
	assert_null(services_tcp_name(70000));
	services_free();
	assert_null(services_tcp_name(22));
	unlink(path);
}

static void test_missing_file_means_no_names(void **state)
{
	(void)state;
	assert_int_equal(services_load("/nonexistent/np-services"), NP_OK);
	assert_null(services_tcp_name(22));
	services_free();
}

static int load_once(void *ud)
{
	int rc = services_load(ud);

	services_free();
	return rc;
}

static void test_out_of_memory_everywhere(void **state)
{
	(void)state;
	write_sample();
	assert_true(alloc_fail_sweep(load_once, path, NP_OK, NP_ENOMEM) >= 2);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_missing_file_means_no_names),
		cmocka_unit_test(test_out_of_memory_everywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
