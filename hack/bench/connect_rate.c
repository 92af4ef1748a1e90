// SPDX-License-Identifier: Apache-2.0
/*
 * New TCP connections per second, without an application protocol on top: the client keeps
 * CONCURRENCY non-blocking connects in flight; each counts when the handshake completes, then waits
 * for the server's FIN and closes. The server accepts and closes at once (so TIME_WAIT stays on the
 * server side, as with an HTTP server answering `Connection: close`). What is left per connection
 * is the kernel's work: the handshake, conntrack and NAT, routing and whatever rules the first
 * packet walks — the cost a Service implementation adds, not diluted by request parsing.
 *
 *   connect_rate serve ADDR PORT
 *   connect_rate client ADDR PORT SECONDS CONCURRENCY [SRC]   → prints "connects/s: N"
 *
 * SRC binds the client's sockets to one source address (the port still chosen at connect), so that
 * variants measured one after the other from one pod do not share conntrack tuples: a NAT'd
 * connection whose reply tuple is still held by an earlier variant's TIME_WAIT entry would pay for
 * the clash (a new source port), which a client talking to one Service does not.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in address(const char *ip, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		fprintf(stderr, "connect_rate: not an IPv4 address: %s\n", ip);
		exit(2);
	}
	return sa;
}

static int serve(struct sockaddr_in sa)
{
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4096)) {
		perror("connect_rate serve");
		return 1;
	}
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c >= 0)
			close(c);
	}
}

static struct sockaddr_in source = { .sin_family = AF_INET };

static int start(int ep, struct sockaddr_in *sa)
{
	int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	if (source.sin_addr.s_addr) {
		/* the port is picked by connect() against the full 4-tuple, not reserved by bind() */
		setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&source, sizeof(source))) {
			close(s);
			return -1;
		}
	}
	if (connect(s, (struct sockaddr *)sa, sizeof(*sa)) && errno != EINPROGRESS) {
		close(s);
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.fd = s };
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	return s;
}

static int client(struct sockaddr_in sa, double seconds, int concurrency)
{
	int ep = epoll_create1(0);
	/* per fd: 0 = connecting, 1 = connected (counted), waiting for the server's FIN */
	static unsigned char connected[1 << 20];
	long connects = 0, failures = 0;
	for (int i = 0; i < concurrency; i++)
		if (start(ep, &sa) < 0)
			failures++;
	double end = now() + seconds;
	struct epoll_event evs[256];
	while (now() < end) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			int s = evs[i].data.fd;
			int err = 0;
			socklen_t len = sizeof(err);
			getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err) {
				failures++;
			} else if (!connected[s] && (evs[i].events & EPOLLOUT)) {
				connected[s] = 1;
				connects++;
				struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = s };
				epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
				if (!(evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
					continue;
			} else if (!(evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
				continue;
			}
			connected[s] = 0;
			close(s);
			if (start(ep, &sa) < 0)
				failures++;
		}
	}
	printf("connects/s: %.0f\nfailures: %ld\n", connects / seconds, failures);
	return failures > connects / 100 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(address(argv[2], argv[3]));
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "client")) {
		if (argc == 7)
			source = address(argv[6], "0");
		return client(address(argv[2], argv[3]), atof(argv[4]), atoi(argv[5]));
	}
	fprintf(stderr, "usage: connect_rate serve ADDR PORT | client ADDR PORT SECONDS CONCURRENCY [SRC]\n");
	return 2;
}
