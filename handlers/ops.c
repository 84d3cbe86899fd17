/*
 * ops.c - operational endpoints: health, readiness, version, metrics, the
 * embedded contract and dashboard, and the /debug/delay test endpoint.
 */
#include "handlers.h"
#include "config.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"
#include "np.h"
#include "worker.h"

#include <ares.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char embedded_openapi_yaml[];
extern const size_t embedded_openapi_yaml_len;
extern const unsigned char embedded_dashboard_html[];
extern const size_t embedded_dashboard_html_len;
extern const unsigned char embedded_dashboard_js[];
extern const size_t embedded_dashboard_js_len;
extern const unsigned char embedded_dashboard_css[];
extern const size_t embedded_dashboard_css_len;

/* Health checks run often: answer from static bytes, no JSON building. */
static const char healthz_body[] = "{\"status\":\"ok\"}";
static const char readyz_body[] = "{\"status\":\"ready\"}";

void handle_healthz(struct http_req *r)
{
	http_reply_static(r, 200, "application/json", healthz_body, sizeof(healthz_body) - 1);
}

void handle_readyz(struct http_req *r)
{
	if (!worker_ready(http_req_worker(r))) {
		http_reply_header(r, "Retry-After", "1");
		http_reply_problem(r, 503, NULL, "the service is shutting down");
		return;
	}
	http_reply_static(r, 200, "application/json", readyz_body, sizeof(readyz_body) - 1);
}

void handle_version(struct http_req *r)
{
	curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	http_reply_json(r, 200,
			json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "name", "netprobe",
				  "version", NETPROBE_VERSION, "libraries", "libmicrohttpd",
				  MHD_get_version(), "c-ares", ares_version(NULL), "libcurl",
				  cv->version, "jansson", jansson_version_str(), "tls",
				  cv->ssl_version ? cv->ssl_version : "none"));
}

void handle_metrics(struct http_req *r)
{
	unsigned n;
	struct metrics *const *all = worker_all_metrics(http_req_worker(r), &n);
	char *text = metrics_render(all, n, worker_ratelimit(http_req_worker(r)));

	if (text == NULL) {
		http_reply_problem(r, 500, NULL, "could not render metrics");
		return;
	}
	http_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);
}

void handle_openapi(struct http_req *r)
{
	http_reply_static(r, 200, "application/yaml", embedded_openapi_yaml,
			  embedded_openapi_yaml_len);
}

/*
 * The dashboard: web/index.html, web/dashboard.js and web/dashboard.css,
 * embedded at build time. The page loads only these two files and talks
 * only to this origin; it runs no inline script or style, and the policy
 * says so, so that an answer that smuggled markup into the page still
 * could not run.
 */
#define DASHBOARD_CSP                                                                  \
	"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " \
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

void handle_dashboard(struct http_req *r)
{
	http_reply_header(r, "Content-Security-Policy", DASHBOARD_CSP);
	http_reply_header(r, "Cache-Control", "no-cache");
	http_reply_static(r, 200, "text/html; charset=utf-8", embedded_dashboard_html,
			  embedded_dashboard_html_len);
}

void handle_dashboard_js(struct http_req *r)
{
	http_reply_header(r, "Cache-Control", "no-cache");
	http_reply_static(r, 200, "text/javascript; charset=utf-8", embedded_dashboard_js,
			  embedded_dashboard_js_len);
}

void handle_dashboard_css(struct http_req *r)
{
	http_reply_header(r, "Cache-Control", "no-cache");
	http_reply_static(r, 200, "text/css; charset=utf-8", embedded_dashboard_css,
			  embedded_dashboard_css_len);
}

/* ---- /debug/delay: holds a request suspended on a loop timer ---- */

struct delay {
	struct http_req *req;
	struct loop_timer *timer;
	unsigned long ms;
};

static void delay_fire(void *ud)
{
	struct delay *d = ud;

	http_reply_json(d->req, 200, json_pack("{s:i}", "delayed_ms", (json_int_t)d->ms));
	loop_timer_free(d->timer);
	free(d);
}

static void delay_cancel(void *ud)
{
	struct delay *d = ud;

	loop_timer_free(d->timer);
	free(d);
}

void handle_debug_delay(struct http_req *r)
{
	const struct config *c = worker_config(http_req_worker(r));
	unsigned long ms;
	struct delay *d;

	if (http_query_uint(r, "ms", 0, 0, c->max_timeout_ms, &ms) != 0)
		return;
	d = calloc(1, sizeof(*d));
	if (d == NULL || loop_timer_new(worker_loop(http_req_worker(r)), delay_fire, d,
					&d->timer) != NP_OK) {
		free(d);
		http_reply_problem(r, 503, NULL, "out of memory");
		return;
	}
	d->req = r;
	d->ms = ms;
	http_req_on_cancel(r, delay_cancel, d);
	loop_timer_arm(d->timer, ms);
}
