/* body_fields.c - strict JSON bodies of the probe endpoints (see body_fields.h). */
#include "body_fields.h"
#include "base64.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int body_fields_known(struct http_req *r, json_t *body, const char *const *known, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		size_t i = 0;

		(void)v;
		while (i < n && strcmp(key, known[i]) != 0)
			i++;
		if (i == n) {
			char name[64];

			snprintf(name, sizeof(name), "%s", key);
			http_reply_problem(r, 400, name, "unknown field '%s' for POST %s", name,
					   http_req_path(r));
			return -1;
		}
	}
	return 0;
}

int body_field_uint(struct http_req *r, json_t *body, const char *key, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	json_t *v = json_object_get(body, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    json_integer_value(v) > (json_int_t)max) {
		http_reply_problem(r, 400, key, "%s must be an integer from %lu to %lu", key, min,
				   max);
		return -1;
	}
	*out = (unsigned long)json_integer_value(v);
	return 0;
}

json_t *body_bytes_json(const unsigned char *p, size_t n, int truncated)
{
	json_t *o = json_object();
	/* jansson refuses bytes that are not UTF-8: those go as base64. */
	json_t *text = json_stringn(n > 0 ? (const char *)p : "", n);

	json_object_set_new(o, "bytes", json_integer((json_int_t)n));
	if (text != NULL) {
		json_object_set_new(o, "encoding", json_string("text"));
		json_object_set_new(o, "data", text);
	} else {
		char *b64 = malloc(base64_encoded_len(n) + 1);

		json_object_set_new(o, "encoding", json_string("base64"));
		if (b64 != NULL) {
			base64_encode(p, n, b64);
			json_object_set_new(o, "data", json_string(b64));
			free(b64);
		}
	}
	json_object_set_new(o, "truncated", json_boolean(truncated));
	return o;
}
