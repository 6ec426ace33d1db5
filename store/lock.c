/*
 * store/lock: one daemon per database. An advisory lock (flock) on the
 * database file itself, held for the daemon's lifetime: a second daemon
 * is refused and told which process holds it, while SQLite's own locks
 * (fcntl byte ranges, which flock does not touch on Linux) let the
 * sqlite3 shell and other readers go on. The same open descriptor tells
 * when the file is deleted or replaced under the daemon.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store/store.h"
#include "util/util.h"

struct store_lock {
	int	 fd;
	char	*path;
};

/*
 * The pid holding a flock on the file st describes, from /proc/locks
 * ("1: FLOCK  ADVISORY  WRITE 2936 fe:00:10953592 0 EOF"); 0 if unknown.
 */
static long
store_lock_holder(const struct stat *st)
{
	char line[256], kind[16], dev[64];
	unsigned maj, min;
	unsigned long long ino;
	long pid, found = 0;
	FILE *fp;

	if ((fp = fopen("/proc/locks", "r")) == NULL)
		return 0;
	while (found == 0 && fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%*s %15s %*s %*s %ld %63s", kind, &pid,
		    dev) != 3 || strcmp(kind, "FLOCK") != 0 ||
		    sscanf(dev, "%x:%x:%llu", &maj, &min, &ino) != 3)
			continue;
		if (ino == (unsigned long long)st->st_ino &&
		    maj == major(st->st_dev) && min == minor(st->st_dev))
			found = pid;
	}
	fclose(fp);
	return found;
}

struct store_lock *
store_lock(const char *path, char **cause)
{
	struct store_lock *l;
	struct stat st;
	long pid;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->path = strdup(path)) == NULL) {
		free(l);
		*cause = util_asprintf("out of memory");
		return NULL;
	}
	l->fd = -1;
	/* SQLite takes an empty file for a new database. */
	if ((l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1) {
		*cause = util_asprintf("%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) == 0)
		return l;
	if (errno != EWOULDBLOCK) {
		*cause = util_asprintf("%s: lock: %s", path, strerror(errno));
		goto fail;
	}
	pid = fstat(l->fd, &st) == 0 ? store_lock_holder(&st) : 0;
	if (pid > 0)
		*cause = util_asprintf("database %s is in use by another "
		    "harvestd (pid %ld); one daemon per database", path, pid);
	else
		*cause = util_asprintf("database %s is in use by another "
		    "harvestd; one daemon per database", path);
fail:
	store_unlock(l);
	return NULL;
}

int
store_lock_check(const struct store_lock *l, char **cause)
{
	struct stat held, now;

	if (fstat(l->fd, &held) == -1) {
		*cause = util_asprintf("%s: %s", l->path, strerror(errno));
		return -1;
	}
	if (held.st_nlink == 0) {
		*cause = util_asprintf("database %s was deleted", l->path);
		return -1;
	}
	if (stat(l->path, &now) == -1 || now.st_ino != held.st_ino ||
	    now.st_dev != held.st_dev) {
		*cause = util_asprintf("database %s was replaced or moved "
		    "away", l->path);
		return -1;
	}
	return 0;
}

void
store_unlock(struct store_lock *l)
{
	if (l == NULL)
		return;
	/* Closing the descriptor drops the flock; SQLite's fcntl locks
	 * live on its own descriptors, which are closed before this. */
	if (l->fd != -1)
		close(l->fd);
	free(l->path);
	free(l);
}
