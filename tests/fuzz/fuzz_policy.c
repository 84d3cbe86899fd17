/*
 * fuzz_policy.c - libFuzzer target for the target policy's parsers: the
 * CIDR parser, the address parser behind policy_check_ip, and the list
 * parser of policy_new (the input as an allow and as a deny list).
 *
 * Besides memory safety it checks properties that must hold for any input:
 * whatever parses, formats to text that parses back to the same value, and
 * a refused check never allows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "np.h"
#include "policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built once and only read afterwards, as the workers do. */
static struct policy *policies[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (policy_new(POLICY_PRESET_DEFAULT, NULL, NULL, &policies[0], NULL, 0) != NP_OK ||
	    policy_new(POLICY_PRESET_PUBLIC_ONLY, "169.254.169.254,10.9.0.0/16,2001:db8::/48",
		       "8.8.8.0/24,2606:4700::/32", &policies[1], NULL, 0) != NP_OK)
		abort();
	return 0;
}

static void same_cidr_or_abort(const struct policy_cidr *a, const struct policy_cidr *b)
{
	if (a->net.family != b->net.family || a->prefix != b->prefix ||
	    memcmp(a->net.bytes, b->net.bytes, sizeof a->net.bytes) != 0)
		abort();
}

static void fuzz_cidr(const char *s)
{
	struct policy_cidr c, again;
	char err[160];
	char text[POLICY_RULE_MAX];

	if (policy_parse_cidr(s, &c, err, sizeof err) != NP_OK)
		return;
	policy_cidr_format(&c, text, sizeof text);
	if (policy_parse_cidr(text, &again, err, sizeof err) != NP_OK)
		abort();
	same_cidr_or_abort(&c, &again);
}

static void fuzz_check_ip(const char *s)
{
	struct policy_decision d;
	struct policy_addr a, again;
	char text[POLICY_ADDR_TEXT_MAX];
	size_t i;
	int valid;

	for (i = 0; i < NP_ARRAY_LEN(policies); i++) {
		policy_check_ip(policies[i], s, &d, &valid);
		if (!valid && d.verdict != POLICY_DENY)
			abort();
		if (memchr(d.rule, '\0', sizeof d.rule) == NULL || !d.reason)
			abort();
	}
	if (policy_addr_parse(s, &a) != NP_OK)
		return;
	policy_addr_format(&a, text, sizeof text);
	if (policy_addr_parse(text, &again) != NP_OK || again.family != a.family ||
	    memcmp(again.bytes, a.bytes, sizeof a.bytes) != 0)
		abort();
}

static void fuzz_lists(const char *s)
{
	struct policy *p = NULL;
	struct policy_decision d;
	char err[256];

	if (policy_new(POLICY_PRESET_DEFAULT, s, NULL, &p, err, sizeof err) == NP_OK) {
		/* Built-in denies stay in force unless the allow list names them. */
		policy_check_ip(p, "169.254.169.254", &d, NULL);
		policy_check_ip(p, "::ffff:127.0.0.1", &d, NULL);
		policy_free(p);
	} else if (p != NULL) {
		abort(); /* *out is set only on success */
	}
	p = NULL;
	if (policy_new(POLICY_PRESET_PUBLIC_ONLY, NULL, s, &p, err, sizeof err) == NP_OK) {
		policy_check_ip(p, "8.8.8.8", &d, NULL);
		policy_free(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	/* Keep runs fast: a longer input only exercises the same paths. */
	if (size > 64 * 1024)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_cidr(s);
	fuzz_check_ip(s);
	fuzz_lists(s);
	free(s);
	return 0;
}
