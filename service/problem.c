/* problem.c - RFC 9457 problem documents (see problem.h). */
#include "problem.h"

#include <stdio.h>

static const struct {
	unsigned status;
	const char *title;
	const char *slug; /* the last part of the type URI */
} kinds[] = {
	{400, "Bad Request", "invalid-parameter"},
	{401, "Unauthorized", "unauthorized"},
	{403, "Forbidden", "target-denied"},
	{404, "Not Found", "not-found"},
	{405, "Method Not Allowed", "method-not-allowed"},
	{406, "Not Acceptable", "not-acceptable"},
	{413, "Content Too Large", "body-too-large"},
	{414, "URI Too Long", "uri-too-long"},
	{415, "Unsupported Media Type", "unsupported-media-type"},
	{429, "Too Many Requests", "rate-limited"},
	{500, "Internal Server Error", "internal-error"},
	{503, "Service Unavailable", "unavailable"},
	{504, "Gateway Timeout", "deadline-exceeded"},
};

const char *problem_title(unsigned status)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].status == status)
			return kinds[i].title;
	}
	return "Error";
}

static const char *problem_slug(unsigned status)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].status == status)
			return kinds[i].slug;
	}
	return "internal-error";
}

/*
 * A JSON string of text; text that is not UTF-8 (a request path, or a
 * detail quoting one) has every byte outside printable ASCII shown as '?'.
 */
static json_t *safe_string(const char *text)
{
	char buf[1024];
	size_t i;
	json_t *v = json_string(text);

	if (v != NULL)
		return v;
	for (i = 0; text[i] != '\0' && i + 1 < sizeof(buf); i++) {
		unsigned char ch = (unsigned char)text[i];

		buf[i] = ch < 0x20 || ch > 0x7e ? '?' : (char)ch;
	}
	buf[i] = '\0';
	return json_string(buf);
}

json_t *problem_new(unsigned status, const char *instance, const char *param,
		    const char *request_id, const char *detail)
{
	char type[128];
	json_t *doc;

	snprintf(type, sizeof(type), "https://netprobe.dev/problems/%s", problem_slug(status));
	doc = json_pack("{s:s, s:s, s:i}", "type", type, "title", problem_title(status), "status",
			(int)status);
	if (doc == NULL)
		return NULL;
	if (json_object_set_new(doc, "detail", safe_string(detail)) != 0 ||
	    json_object_set_new(doc, "instance", safe_string(instance != NULL ? instance : "")) != 0 ||
	    (param != NULL && json_object_set_new(doc, "parameter", json_string(param)) != 0) ||
	    json_object_set_new(doc, "request_id", json_string(request_id)) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
