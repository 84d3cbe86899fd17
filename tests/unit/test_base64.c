/*
 * test_base64.c - service/base64.c: the RFC 4648 section 10 test vectors
 * both ways, every byte value through a round trip, and the inputs the
 * decoder must refuse (bad characters, misplaced padding, a lone last
 * character, non-zero leftover bits), and the URL-safe alphabet.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base64.h"

static const struct {
	const char *plain, *coded;
} vectors[] = {
	{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
	{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_vectors(void **state)
{
	char out[32];
	unsigned char back[32];

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t n = strlen(vectors[i].plain);

		assert_int_equal(base64_encoded_len(n), strlen(vectors[i].coded));
		assert_int_equal(base64_encode((const unsigned char *)vectors[i].plain, n, out),
				 strlen(vectors[i].coded));
		assert_string_equal(out, vectors[i].coded);
		assert_int_equal(base64_decode(vectors[i].coded, strlen(vectors[i].coded), back),
				 (long)n);
		assert_memory_equal(back, vectors[i].plain, n);
	}
}

static void test_unpadded_accepted(void **state)
{
	unsigned char back[8];

	(void)state;
	assert_int_equal(base64_decode("Zg", 2, back), 1);
	assert_memory_equal(back, "f", 1);
	assert_int_equal(base64_decode("Zm8", 3, back), 2);
	assert_memory_equal(back, "fo", 2);
}

static void test_every_byte_round_trips(void **state)
{
	unsigned char in[256], back[256];
	char coded[400];

	(void)state;
	for (int i = 0; i < 256; i++)
		in[i] = (unsigned char)i;
	for (size_t n = 0; n <= 256; n += 1) {
		size_t len = base64_encode(in, n, coded);

		assert_true(base64_decoded_max(len) >= n);
		assert_int_equal(base64_decode(coded, len, back), (long)n);
		assert_memory_equal(back, in, n);
	}
	/* "+" and "/" are the alphabet's last two (not "-" and "_") */
	assert_int_equal(base64_encode((const unsigned char *)"\xfb\xff", 2, coded), 4);
	assert_string_equal(coded, "+/8=");
}

static void test_url_alphabet(void **state)
{
	unsigned char back[8];

	(void)state;
	/* 0xfb 0xff is "+/8" in the standard alphabet, "-_8" in the URL-safe one */
	assert_int_equal(base64url_decode("-_8", 3, back), 2);
	assert_memory_equal(back, "\xfb\xff", 2);
	assert_int_equal(base64url_decode("-_8=", 4, back), 2);
	assert_int_equal(base64url_decode("+/8=", 4, back), -1);
	assert_int_equal(base64_decode("-_8=", 4, back), -1);
	assert_int_equal(base64url_decode("Zh", 2, back), -1); /* leftover bits */
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"Zg=",      /* padding not completing a group of four */
		"Z===",     /* three pad characters */
		"Zm9v=",    /* padding after a full group */
		"Zg==Zg==", /* padding in the middle */
		"Z=g=",     /* pad before data */
		"Z",        /* one character holds no byte */
		"Zm9vY",    /* the same after a group */
		"Zh==",     /* leftover bits not zero (RFC 4648 section 3.5) */
		"Zm9=",
		"Zm 9v",    /* whitespace */
		"Zm9v\n",
		"Zm-v",     /* base64url's characters */
		"Zm_v",
		"Zm9\x80",
	};
	unsigned char back[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), back), -1);
	/* an embedded NUL is not base64 either */
	assert_int_equal(base64_decode("Zm\0v", 4, back), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_unpadded_accepted),
		cmocka_unit_test(test_every_byte_round_trips),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
