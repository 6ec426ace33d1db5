/*
 * guard: owns the table of blocked ranges and the operator's allowed
 * networks. Everything is compared as IPv6: an IPv4 address a.b.c.d is
 * checked as ::ffff:a.b.c.d, so mapped forms cannot slip through.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard.h"

struct net {
	unsigned char	addr[16];
	unsigned	prefix;		/* bits, over the IPv6 form */
};

struct guard {
	struct net	*allowed;
	size_t		 nallowed;
};

struct blocked {
	const char	*cidr;
	const char	*why;
};

/* Checked in order; IPv4 ranges are written as IPv4 and mapped. */
static const struct blocked blocked_ranges[] = {
	{ "0.0.0.0/8", "\"this network\" address" },
	{ "10.0.0.0/8", "private address (RFC 1918)" },
	{ "100.64.0.0/10", "shared address (CGNAT)" },
	{ "127.0.0.0/8", "loopback address" },
	{ "169.254.0.0/16", "link-local address (cloud metadata)" },
	{ "172.16.0.0/12", "private address (RFC 1918)" },
	{ "192.0.0.0/24", "IETF protocol assignment" },
	{ "192.0.2.0/24", "documentation address" },
	{ "192.168.0.0/16", "private address (RFC 1918)" },
	{ "198.18.0.0/15", "benchmarking address" },
	{ "198.51.100.0/24", "documentation address" },
	{ "203.0.113.0/24", "documentation address" },
	{ "224.0.0.0/4", "multicast address" },
	{ "240.0.0.0/4", "reserved address" },
	{ "::/128", "unspecified address" },
	{ "::1/128", "loopback address" },
	{ "::/96", "IPv4-compatible address" },
	{ "64:ff9b::/96", "NAT64 address" },	/* embeds IPv4: see below */
	{ "64:ff9b:1::/48", "NAT64 address" },
	{ "100::/64", "discard-only address" },
	{ "2001:db8::/32", "documentation address" },
	{ "fc00::/7", "unique local address" },
	{ "fe80::/10", "link-local address" },
	{ "fec0::/10", "site-local address" },
	{ "ff00::/8", "multicast address" },
};

/* Parses "a.b.c.d/n" or "x::y/n" into its IPv6 form; -1 if malformed. */
static int
net_parse(const char *text, size_t len, struct net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	struct in_addr v4;
	unsigned long bits;
	int is4;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(n, 0, sizeof(*n));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		is4 = 1;
		n->addr[10] = n->addr[11] = 0xff;
		memcpy(n->addr + 12, &v4, 4);
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1)
		is4 = 0;
	else
		return -1;
	bits = is4 ? 32 : 128;
	if (slash != NULL) {
		bits = strtoul(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || bits > (is4 ? 32u : 128u))
			return -1;
	}
	n->prefix = (unsigned)bits + (is4 ? 96 : 0);
	return 0;
}

static int
net_contains(const struct net *n, const unsigned char a[16])
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;
	unsigned char mask;

	if (memcmp(n->addr, a, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (n->addr[full] & mask) == (a[full] & mask);
}

struct guard *
guard_create(const char *allowed, char **cause)
{
	struct guard *g;
	const char *p = allowed != NULL ? allowed : "", *e;
	struct net *v;
	size_t len;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto nomem;
	while (*p != '\0') {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		for (e = p; *e != '\0' && *e != ','; e++)
			;
		len = (size_t)(e - p);
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == 0)
			break;
		if ((v = realloc(g->allowed, (g->nallowed + 1) *
		    sizeof(*v))) == NULL)
			goto nomem;
		g->allowed = v;
		if (net_parse(p, len, &g->allowed[g->nallowed]) != 0) {
			if (asprintf(cause, "allowed_networks: \"%.*s\" is not "
			    "a CIDR", (int)len, p) < 0)
				*cause = NULL;
			guard_free(g);
			return NULL;
		}
		g->nallowed++;
		p = e;
	}
	return g;
nomem:
	*cause = strdup("out of memory");
	guard_free(g);
	return NULL;
}

void
guard_free(struct guard *g)
{
	if (g == NULL)
		return;
	free(g->allowed);
	free(g);
}

/* The blocked-range verdict for an address in IPv6 form, or NULL. */
static const char *
guard_blocked(const unsigned char a[16])
{
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	struct net n;
	unsigned char v4[16] = { [10] = 0xff, [11] = 0xff };
	size_t i;

	/* NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one. */
	if (memcmp(a, nat64, 12) == 0) {
		memcpy(v4 + 12, a + 12, 4);
		return guard_blocked(v4);
	}
	for (i = 0; i < sizeof(blocked_ranges) / sizeof(blocked_ranges[0]);
	    i++) {
		if (net_parse(blocked_ranges[i].cidr,
		    strlen(blocked_ranges[i].cidr), &n) == 0 &&
		    net_contains(&n, a))
			return blocked_ranges[i].why;
	}
	return NULL;
}

const char *
guard_check(const struct guard *g, const struct sockaddr *sa)
{
	unsigned char a[16] = { [10] = 0xff, [11] = 0xff };
	const char *why;
	size_t i;

	if (sa->sa_family == AF_INET)
		memcpy(a + 12, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->
		    sin6_addr, 16);
	else
		return "not an internet address";
	if ((why = guard_blocked(a)) == NULL)
		return NULL;
	for (i = 0; i < g->nallowed; i++)
		if (net_contains(&g->allowed[i], a))
			return NULL;
	return why;
}

int
guard_prereq_cb(void *clientp, char *primary_ip, char *local_ip,
    int primary_port, int local_port)
{
	struct guard_conn *gc = clientp;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const char *why;

	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (gc->guard == NULL)
		return CURL_PREREQFUNC_OK;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, primary_ip, &sin->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, primary_ip, &sin6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		ss.ss_family = AF_UNSPEC;	/* refused below */
	if ((why = guard_check(gc->guard, (struct sockaddr *)&ss)) == NULL)
		return CURL_PREREQFUNC_OK;
	snprintf(gc->why, sizeof(gc->why), "request to %s refused: %s "
	    "(block_private_addresses)", primary_ip, why);
	return CURL_PREREQFUNC_ABORT;
}

curl_socket_t
guard_opensocket_cb(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *addr)
{
	struct guard_conn *gc = clientp;
	char ip[INET6_ADDRSTRLEN] = "?";
	const char *why;
	const void *a;

	if (purpose == CURLSOCKTYPE_IPCXN && gc->guard != NULL &&
	    (why = guard_check(gc->guard, &addr->addr)) != NULL) {
		a = addr->family == AF_INET6 ?
		    (const void *)&((const struct sockaddr_in6 *)(const void *)
		    &addr->addr)->sin6_addr :
		    (const void *)&((const struct sockaddr_in *)(const void *)
		    &addr->addr)->sin_addr;
		inet_ntop(addr->family, a, ip, sizeof(ip));
		snprintf(gc->why, sizeof(gc->why), "connection to %s refused: "
		    "%s (block_private_addresses)", ip, why);
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC,
	    addr->protocol);
}
