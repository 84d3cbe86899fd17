/*
 * mhd_hello.c - the bare libmicrohttpd ceiling for bench/http/run.sh.
 *
 * The smallest server built on the same library and the same process
 * shape as netprobe: two MHD daemons, each with its own epoll thread
 * (MHD_USE_EPOLL_INTERNAL_THREAD), both bound to one port with
 * SO_REUSEPORT (MHD_OPTION_LISTENING_ADDRESS_REUSE), so the kernel spreads
 * connections over the two threads as it does over netprobe's workers.
 *
 * Every request, whatever its method or path, gets the same answer as
 * netprobe's GET /healthz: 200, Content-Type: application/json, body
 * {"status":"ok"}. The response object is created once and reused
 * (MHD_RESPMEM_PERSISTENT), and it is queued on the SECOND call of the
 * access handler: a response queued on the first call (before MHD has
 * seen the end of the request) makes MHD close the keep-alive connection,
 * which would measure connection set-up instead of requests.
 *
 * Nothing else happens per request: no routing, no logging, no allocation.
 * Whatever netprobe does on top of this is what the ratio in run.sh shows.
 *
 *   usage: bench_mhd_hello PORT
 *
 * Listens on 127.0.0.1:PORT until SIGINT or SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NDAEMONS 2

static const char body[] = "{\"status\":\"ok\"}";

/* The first call only marks the request as seen; the second answers. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	static int seen; /* any non-NULL address will do */
	struct MHD_Response *resp = cls;

	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* a body is read and ignored */
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d[NDAEMONS] = {NULL};
	struct MHD_Response *resp;
	struct sockaddr_in sin;
	sigset_t sigs;
	char *end = NULL;
	unsigned long port;
	int sig = 0;
	int status = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	errno = 0;
	port = strtoul(argv[1], &end, 10);
	if (errno != 0 || end == argv[1] || *end != '\0' || port == 0 || port > 65535) {
		fprintf(stderr, "bench_mhd_hello: '%s' is not a port number\n", argv[1]);
		return 2;
	}

	/* Block the stop signals before any MHD thread exists, so that they
	 * inherit the mask and only sigwait() below takes them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)(uintptr_t)body,
					       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") !=
		    MHD_YES) {
		fprintf(stderr, "bench_mhd_hello: cannot create the response\n");
		goto done;
	}

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < NDAEMONS; i++) {
		d[i] = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
					(uint16_t)port, NULL, NULL, on_request, resp,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
					MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
					MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
					MHD_OPTION_END);
		if (d[i] == NULL) {
			fprintf(stderr, "bench_mhd_hello: cannot start daemon %d on 127.0.0.1:%lu\n",
				i, port);
			goto done;
		}
	}
	fprintf(stderr, "bench_mhd_hello: %d daemons on http://127.0.0.1:%lu/\n", NDAEMONS, port);
	while (sigwait(&sigs, &sig) != 0)
		;
	status = 0;
done:
	for (int i = 0; i < NDAEMONS; i++) {
		if (d[i] != NULL)
			MHD_stop_daemon(d[i]);
	}
	if (resp != NULL)
		MHD_destroy_response(resp);
	return status;
}
