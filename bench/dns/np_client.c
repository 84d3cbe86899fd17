/*
 * np_client.c - the HTTP client of bench/dns/run.sh: resolves nK.ZONE
 * (K = 0 .. N-1, type A) through netprobe's POST /dns in batches of B
 * names, with at most P batches in flight, and prints how long that took.
 *
 *   np_client -u http://127.0.0.1:8080/dns [-n 10000] [-b 100] [-p 1]
 *             [-z bench.test] [-w SERVER_WORKERS] [-o SAMPLE_FILE]
 *
 * P threads, each with its own libcurl easy handle and so its own
 * keep-alive connection, take the next batch from a shared counter, POST
 * it and keep the response body. Each connection is opened (GET /healthz)
 * before the clock starts, so the timed part is the batches only. With
 * -w N the connections are spread evenly over netprobe's N workers (see
 * claim() below); -o writes the first answer body to a file.
 *
 * Why C and not python: the timed part should cost the client next to
 * nothing. With P=1 the client's work is serial with the server's, and
 * decoding the ~9 MB of JSON that 10,000 answers make costs python's json
 * module a large fraction of what netprobe needs to resolve them (run.sh
 * measures it and prints it). So bodies are built before the clock starts
 * and the answers are checked after it stops; both times are printed
 * (build_s, verify_s) and are not part of `seconds`.
 *
 * The check, for every name: HTTP 200, "count" equal to the batch size,
 * and in results[i] (in order): query.name the name asked, status "ok",
 * rcode "NOERROR", and one A record in "answer" whose data is the address
 * run.sh put in the zone for it (10.a.b.c with a.b.c the low bytes of K).
 * With -f doh ("format":"doh", the Google/Cloudflare DNS JSON shape):
 * Question[0].name, Status 0 and one Answer of type 1 with that address.
 *
 * Prints one line of key=value pairs on stdout:
 *   names ok failed batches batch parallel seconds names_per_s build_s
 *   verify_s bytes_out bytes_in workers (batches served per worker,
 *   from the X-Request-Id header: "w0:50,w1:50")
 * Exit status 0 when every name checked out, 1 when some did not, 2 on bad
 * usage or setup failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARALLEL 64
#define MAX_WORKER_ID 256
#define REQUEST_TIMEOUT_MS 60000L
/* libcurl's receive buffer (CURLOPT_BUFFERSIZE; 512 kB is its maximum). */
#define RECV_BUFFER (512L << 10)
/* Answer bytes reserved per name before the clock starts (an A answer is
 * about 900 bytes in netprobe's native shape); more grows the buffer. */
#define RESP_PER_NAME 1024

struct buf {
	char *data;
	size_t len, cap;
};

struct batch {
	long first, count;     /* names first .. first+count-1 */
	struct buf body;       /* request */
	struct buf resp;       /* response body */
	long http_status;
	int worker;            /* from X-Request-Id, -1 if unknown */
	char error[CURL_ERROR_SIZE];
};

static struct {
	const char *url;
	const char *zone;
	int doh;               /* -f doh: ask for the Google/Cloudflare JSON shape */
	long n, per_batch, parallel, nbatches;
	struct batch *batches;
	long next;             /* next batch to send (atomic) */
	pthread_barrier_t ready;
	int setup_failed;      /* a thread could not open its connection */
	long spread;           /* -w: server workers to spread connections over */
	pthread_mutex_t claim_lock;
	long claims[MAX_WORKER_ID];
	long failed_printed;
} C;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the whole process (every thread), user + system. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp))
		return -1;
	return buf_add(b, tmp, (size_t)k);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct batch *b = ud;

	return buf_add(&b->resp, p, size * nmemb) == 0 ? size * nmemb : 0;
}

/* X-Request-Id: PPPPPPPP-WW-NNNNNNNNNN (service/server.c); WW is the worker. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct batch *b = ud;
	size_t n = size * nmemb;
	static const char key[] = "x-request-id:";

	if (n > sizeof(key) && strncasecmp(p, key, sizeof(key) - 1) == 0) {
		const char *v = p + sizeof(key) - 1;
		const char *dash = memchr(v, '-', n - (size_t)(v - p));

		if (dash != NULL && (size_t)(dash - p) + 3 < n) {
			int w = atoi(dash + 1);

			if (w >= 0 && w < MAX_WORKER_ID)
				b->worker = w;
		}
	}
	return n;
}

static CURL *new_handle(struct curl_slist *hdrs)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	/* One read for a whole answer where the kernel has it (default 16 kB). */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	return h;
}

/* GET /healthz on a fresh connection; returns the handle (connection kept
 * alive) and the worker that answered in *worker, or NULL. */
static CURL *connect_one(struct curl_slist *hdrs, const char *base, int *worker)
{
	struct batch warm = {.worker = -1};
	CURL *h = new_handle(hdrs);
	int ok;

	*worker = -1;
	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, base);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &warm);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &warm);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, warm.error);
	ok = curl_easy_perform(h) == CURLE_OK;
	if (ok)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &warm.http_status);
	free(warm.resp.data);
	if (!ok || warm.http_status != 200) {
		fprintf(stderr, "np_client: GET %s: %s (HTTP %ld)\n", base,
			warm.error[0] ? warm.error : "failed", warm.http_status);
		curl_easy_cleanup(h);
		return NULL;
	}
	*worker = warm.worker;
	return h;
}

/*
 * With -w N the P connections are spread over the server's N workers:
 * the kernel picks a SO_REUSEPORT listener per connection by hashing its
 * addresses, so two connections land on the same worker half the time.
 * A connection that lands on a worker which already has its share is
 * closed and opened again (new source port, new hash), at most
 * SPREAD_TRIES times.
 */
#define SPREAD_TRIES 32

static int claim(int worker)
{
	long share = (C.parallel + C.spread - 1) / C.spread;
	int ok = 0;

	pthread_mutex_lock(&C.claim_lock);
	if (worker >= 0 && worker < MAX_WORKER_ID && C.claims[worker] < share) {
		C.claims[worker]++;
		ok = 1;
	}
	pthread_mutex_unlock(&C.claim_lock);
	return ok;
}

static void *worker_main(void *arg)
{
	struct curl_slist *hdrs = NULL;
	char base[1024];
	const char *slash = strstr(C.url, "://");
	CURL *h = NULL;
	long i;
	int worker = -1;

	(void)arg;
	/* No "Expect: 100-continue" round trip for bodies over 1 kB. */
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	slash = slash != NULL ? strchr(slash + 3, '/') : NULL;
	snprintf(base, sizeof(base), "%.*s/healthz",
		 (int)(slash != NULL ? slash - C.url : (long)strlen(C.url)), C.url);
	/* Open the keep-alive connection before the clock starts. */
	for (int t = 0; hdrs != NULL && t < (C.spread > 0 ? SPREAD_TRIES : 1); t++) {
		h = connect_one(hdrs, base, &worker);
		if (h == NULL || C.spread == 0 || claim(worker) || t == SPREAD_TRIES - 1)
			break;
		curl_easy_cleanup(h);
		h = NULL;
	}
	if (h == NULL)
		__atomic_store_n(&C.setup_failed, 1, __ATOMIC_SEQ_CST);
	pthread_barrier_wait(&C.ready); /* everyone connected: clock starts */
	pthread_barrier_wait(&C.ready); /* main thread read the clock */
	if (h != NULL && !__atomic_load_n(&C.setup_failed, __ATOMIC_SEQ_CST)) {
		curl_easy_setopt(h, CURLOPT_URL, C.url);
		while ((i = __atomic_fetch_add(&C.next, 1, __ATOMIC_SEQ_CST)) < C.nbatches) {
			struct batch *b = &C.batches[i];

			curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->body.data);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)b->body.len);
			curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
			curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
			curl_easy_setopt(h, CURLOPT_ERRORBUFFER, b->error);
			if (curl_easy_perform(h) == CURLE_OK)
				curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &b->http_status);
		}
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return NULL;
}

static void name_of(long k, char *buf, size_t len)
{
	snprintf(buf, len, "n%ld.%s", k, C.zone);
}

static long report(long k, const char *why)
{
	char name[300];

	if (C.failed_printed++ < 5) {
		name_of(k, name, sizeof(name));
		fprintf(stderr, "np_client: %s: %s\n", name, why);
	}
	return 0;
}

/* Same name, a trailing dot aside. */
static int same_name(const char *got, const char *want)
{
	size_t n = strlen(want);

	return got != NULL && strncmp(got, want, n) == 0 &&
	       (got[n] == '\0' || (got[n] == '.' && got[n + 1] == '\0'));
}

/* Returns how many names of the batch checked out. */
static long verify(const struct batch *b)
{
	json_error_t jerr;
	json_t *doc, *results;
	long ok = 0;

	if (b->http_status != 200) {
		char why[CURL_ERROR_SIZE + 64];

		snprintf(why, sizeof(why), "(batch) HTTP status %ld %s", b->http_status, b->error);
		return report(b->first, why);
	}
	doc = json_loadb(b->resp.data, b->resp.len, 0, &jerr);
	if (doc == NULL)
		return report(b->first, "(batch) response is not JSON");
	results = json_object_get(doc, "results");
	if (json_integer_value(json_object_get(doc, "count")) != b->count ||
	    json_array_size(results) != (size_t)b->count) {
		json_decref(doc);
		return report(b->first, "(batch) count or results size differs from the batch");
	}
	for (long i = 0; C.doh && i < b->count; i++) {
		long k = b->first + i;
		json_t *r = json_array_get(results, (size_t)i);
		json_t *rr = json_array_get(json_object_get(r, "Answer"), 0);
		const char *qname = json_string_value(
			json_object_get(json_array_get(json_object_get(r, "Question"), 0), "name"));
		const char *data = json_string_value(json_object_get(rr, "data"));
		char name[300], addr[32];

		name_of(k, name, sizeof(name));
		snprintf(addr, sizeof(addr), "10.%ld.%ld.%ld", (k >> 16) & 255, (k >> 8) & 255,
			 k & 255);
		if (!same_name(qname, name))
			report(k, "results are not in the order of the queries");
		else if (!json_is_integer(json_object_get(r, "Status")) ||
			 json_integer_value(json_object_get(r, "Status")) != 0)
			report(k, "Status is not 0 (NOERROR)");
		else if (json_array_size(json_object_get(r, "Answer")) != 1 ||
			 json_integer_value(json_object_get(rr, "type")) != 1 || data == NULL ||
			 strcmp(data, addr) != 0)
			report(k, "Answer is not the one A record expected");
		else
			ok++;
	}
	for (long i = 0; !C.doh && i < b->count; i++) {
		long k = b->first + i;
		json_t *r = json_array_get(results, (size_t)i);
		json_t *answer = json_object_get(r, "answer");
		json_t *rr = json_array_get(answer, 0);
		const char *status = json_string_value(json_object_get(r, "status"));
		const char *rcode = json_string_value(json_object_get(r, "rcode"));
		const char *qname =
			json_string_value(json_object_get(json_object_get(r, "query"), "name"));
		char name[300], addr[32];

		name_of(k, name, sizeof(name));
		snprintf(addr, sizeof(addr), "10.%ld.%ld.%ld", (k >> 16) & 255, (k >> 8) & 255,
			 k & 255);
		if (!same_name(qname, name))
			report(k, "results are not in the order of the queries");
		else if (status == NULL || strcmp(status, "ok") != 0)
			report(k, "status is not ok");
		else if (rcode == NULL || strcmp(rcode, "NOERROR") != 0)
			report(k, "rcode is not NOERROR");
		else if (json_array_size(answer) != 1 ||
			 !json_is_string(json_object_get(rr, "type")) ||
			 strcmp(json_string_value(json_object_get(rr, "type")), "A") != 0 ||
			 !json_is_string(json_object_get(rr, "data")) ||
			 strcmp(json_string_value(json_object_get(rr, "data")), addr) != 0)
			report(k, "answer is not the one A record expected");
		else
			ok++;
	}
	json_decref(doc);
	return ok;
}

static long parse_long(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *v == '\0' || *end != '\0' || n < min || n > max) {
		fprintf(stderr, "np_client: %s: '%s' is not an integer in [%ld, %ld]\n", opt, v, min,
			max);
		exit(2);
	}
	return n;
}

static void usage(void)
{
	fprintf(stderr, "usage: np_client -u URL [-n NAMES] [-b BATCH] [-p PARALLEL] [-z ZONE] "
			"[-w SERVER_WORKERS] [-f native|doh] [-o SAMPLE_FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_PARALLEL];
	long per_worker[MAX_WORKER_ID] = {0};
	const char *sample = NULL;
	double t0, t1, t2, t3, t4, c2, c3;
	long ok = 0, out = 0, in = 0;
	char workers[512] = "";
	size_t wl = 0;
	int opt;

	C.n = 10000;
	C.per_batch = 100;
	C.parallel = 1;
	C.zone = "bench.test";
	pthread_mutex_init(&C.claim_lock, NULL);
	while ((opt = getopt(argc, argv, "u:n:b:p:z:o:w:f:h")) != -1) {
		switch (opt) {
		case 'u': C.url = optarg; break;
		case 'n': C.n = parse_long("-n", optarg, 1, 10000000); break;
		case 'b': C.per_batch = parse_long("-b", optarg, 1, 100000); break;
		case 'p': C.parallel = parse_long("-p", optarg, 1, MAX_PARALLEL); break;
		case 'z': C.zone = optarg; break;
		case 'o': sample = optarg; break;
		case 'f':
			if (strcmp(optarg, "doh") == 0)
				C.doh = 1;
			else if (strcmp(optarg, "native") != 0)
				usage();
			break;
		case 'w': C.spread = parse_long("-w", optarg, 0, MAX_WORKER_ID); break;
		default: usage();
		}
	}
	if (C.url == NULL || optind != argc || strlen(C.zone) > 200)
		usage();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "np_client: curl_global_init failed\n");
		return 2;
	}

	/* Request bodies: {"type":"A","queries":["n0.bench.test",...]}. */
	t0 = now_s();
	C.nbatches = (C.n + C.per_batch - 1) / C.per_batch;
	C.batches = calloc((size_t)C.nbatches, sizeof(*C.batches));
	if (C.batches == NULL)
		return 2;
	for (long i = 0; i < C.nbatches; i++) {
		struct batch *b = &C.batches[i];
		int err = 0;

		b->first = i * C.per_batch;
		b->count = C.n - b->first < C.per_batch ? C.n - b->first : C.per_batch;
		b->worker = -1;
		err |= buf_printf(&b->body, "{\"type\":\"A\",%s\"queries\":[",
				  C.doh ? "\"format\":\"doh\"," : "");
		for (long k = b->first; k < b->first + b->count; k++)
			err |= buf_printf(&b->body, "%s\"n%ld.%s\"", k > b->first ? "," : "", k,
					  C.zone);
		err |= buf_printf(&b->body, "]}");
		if (err)
			return 2;
		/* The answer's buffer, allocated and touched now, so that the
		 * timed part neither grows it nor faults its pages in. */
		b->resp.cap = (size_t)b->count * RESP_PER_NAME + 4096;
		b->resp.data = malloc(b->resp.cap);
		if (b->resp.data == NULL)
			return 2;
		memset(b->resp.data, 0, b->resp.cap);
		out += (long)b->body.len;
	}
	t1 = now_s();

	if (pthread_barrier_init(&C.ready, NULL, (unsigned)C.parallel + 1) != 0)
		return 2;
	for (long i = 0; i < C.parallel; i++) {
		if (pthread_create(&threads[i], NULL, worker_main, NULL) != 0) {
			fprintf(stderr, "np_client: cannot start thread %ld\n", i);
			return 2;
		}
	}
	pthread_barrier_wait(&C.ready);
	t2 = now_s();
	c2 = cpu_s();
	pthread_barrier_wait(&C.ready);
	for (long i = 0; i < C.parallel; i++)
		pthread_join(threads[i], NULL);
	t3 = now_s();
	c3 = cpu_s();
	if (C.setup_failed)
		return 2;

	for (long i = 0; i < C.nbatches; i++) {
		ok += verify(&C.batches[i]);
		in += (long)C.batches[i].resp.len;
		if (C.batches[i].worker >= 0)
			per_worker[C.batches[i].worker]++;
	}
	t4 = now_s();
	for (int w = 0; w < MAX_WORKER_ID; w++) {
		if (per_worker[w] > 0 && wl < sizeof(workers) - 32)
			wl += (size_t)snprintf(workers + wl, sizeof(workers) - wl, "%sw%d:%ld",
					       wl ? "," : "", w, per_worker[w]);
	}
	if (sample != NULL && C.batches[0].resp.len > 0) {
		FILE *f = fopen(sample, "w");

		if (f == NULL || fwrite(C.batches[0].resp.data, 1, C.batches[0].resp.len, f) !=
					 C.batches[0].resp.len) {
			perror(sample);
			return 2;
		}
		fclose(f);
	}

	printf("names=%ld ok=%ld failed=%ld batches=%ld batch=%ld parallel=%ld seconds=%.6f "
	       "names_per_s=%.0f build_s=%.6f verify_s=%.6f bytes_out=%ld bytes_in=%ld "
	       "workers=%s cpu_s=%.6f\n",
	       C.n, ok, C.n - ok, C.nbatches, C.per_batch, C.parallel, t3 - t2,
	       (double)C.n / (t3 - t2), t1 - t0, t4 - t3, out, in, wl ? workers : "unknown",
	       c3 - c2);
	for (long i = 0; i < C.nbatches; i++) {
		free(C.batches[i].body.data);
		free(C.batches[i].resp.data);
	}
	free(C.batches);
	curl_global_cleanup();
	return ok == C.n ? 0 : 1;
}
