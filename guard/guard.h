/*
 * guard: the address guard against server-side request forgery. It
 * decides whether harvestd may connect to an address: loopback, private,
 * link-local (cloud metadata), CGNAT, unspecified, multicast and reserved
 * ranges are refused, IPv4-mapped and NAT64 forms included, unless an
 * allowed network covers the address. The fetcher asks it for every
 * socket it opens, so the check is on the address actually connected to.
 */
#ifndef HARVESTD_GUARD_H
#define HARVESTD_GUARD_H

#include <sys/socket.h>

#include <curl/curl.h>

struct guard;

/*
 * allowed: comma-separated CIDRs ("10.1.0.0/16, fd00::/8") exempt from the
 * guard; may be empty. NULL with *cause on a bad list.
 */
struct guard	*guard_create(const char *allowed, char **cause);
void		 guard_free(struct guard *g);
/* NULL when sa may be connected to, else why not ("loopback address"). */
const char	*guard_check(const struct guard *g, const struct sockaddr *sa);

/*
 * What one transfer's connection checks need: the guard (borrowed; NULL
 * allows everything) and, when it refused a connection, why.
 */
struct guard_conn {
	const struct guard	*guard;
	char			 why[192];
};

/*
 * CURLOPT_OPENSOCKETFUNCTION for fetches and callbacks alike, clientp a
 * struct guard_conn: every connection libcurl opens, after DNS, for the
 * first request and every redirect, is judged on the address connected
 * to, so DNS rebinding cannot pass.
 */
curl_socket_t	 guard_opensocket_cb(void *clientp, curlsocktype purpose,
		    struct curl_sockaddr *addr);
/*
 * CURLOPT_PREREQFUNCTION, clientp a struct guard_conn: judges the address
 * of the connection a request is about to be sent on, new or reused, so
 * a guard that a reload turned on holds for pooled connections too.
 */
int		 guard_prereq_cb(void *clientp, char *primary_ip,
		    char *local_ip, int primary_port, int local_port);

#endif
