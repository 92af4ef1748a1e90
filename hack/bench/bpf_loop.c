// SPDX-License-Identifier: Apache-2.0
/*
 * The reference for the addon benchmark: N bpf(BPF_MAP_UPDATE_ELEM) calls in a plain C loop,
 * on a map of the given type and sizes. Prints updates per second.
 *   bpf_loop TYPE KEY_SIZE VALUE_SIZE N
 * TYPE: hash | lpm (an LPM trie keyed like the policy map: u32 prefixlen + data)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s hash|lpm KEY_SIZE VALUE_SIZE N\n", argv[0]);
		return 2;
	}
	int lpm = !strcmp(argv[1], "lpm");
	unsigned ks = atoi(argv[2]), vs = atoi(argv[3]), n = atoi(argv[4]);
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = lpm ? 1 /* BPF_F_NO_PREALLOC */ : 0);
	int fd = bpf_map_create(lpm ? BPF_MAP_TYPE_LPM_TRIE : BPF_MAP_TYPE_HASH, "bench_c", ks, vs, n, &opts);
	if (fd < 0) {
		perror("bpf_map_create");
		return 1;
	}
	unsigned char *key = calloc(1, ks), *val = calloc(1, vs);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned i = 0; i < n; i++) {
		if (lpm)
			*(unsigned *)key = (ks - 4) * 8; /* full prefix */
		memcpy(key + (lpm ? 4 : 0), &i, sizeof(i));
		memcpy(val, &i, sizeof(i) < vs ? sizeof(i) : vs);
		if (bpf_map_update_elem(fd, key, val, 0) < 0) {
			perror("bpf_map_update_elem");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.0f\n", n / s);
	return 0;
}
