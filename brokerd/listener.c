/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets (see listener.h).
 *
 * Accepting is done by hand rather than with evconnlistener so that
 * running out of file descriptors can pause the listener: a listening
 * socket with a pending connection stays readable, and retrying accept()
 * at once would spin the CPU.
 */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker.h"
#include "listener.h"
#include "log.h"
#include "platform.h"
#include "tls.h"

#define LISTEN_BACKLOG 128
/* Connections accepted per wake-up, so one listener cannot starve the loop. */
#define ACCEPT_BATCH      64
#define ACCEPT_PAUSE_USEC (1 * USEC_PER_SEC)

static bool accept_error_is_transient(int err) {
        switch (err) {
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM:
        case ENETDOWN:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
                return true;
        default:
                return false;
        }
}

/* Out of descriptors or memory: stop accepting for a while instead of spinning. */
static void listener_pause(struct listener *l, int err) {
        struct timeval tv = {.tv_sec = ACCEPT_PAUSE_USEC / USEC_PER_SEC};

        (void)log_rl(&l->broker->rl_accept, LOG_WARNING, "cannot accept on %s: %s; pausing for 1 s",
                     l->name, strerror(err));
        (void)event_del(l->accept_ev);
        (void)evtimer_add(l->retry_ev, &tv);
}

static void listener_accept_cb(evutil_socket_t fd, short what, void *userdata) {
        struct listener *l = userdata;
        enum peer_transport t =
                l->address.kind == ADDRESS_UNIX ? PEER_TRANSPORT_UNIX : PEER_TRANSPORT_TCP;

        for (int i = 0; i < ACCEPT_BATCH; i++) {
                int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (c >= 0) {
                        broker_accept(l->broker, c, t, l->tls);
                        continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return;
                if (accept_error_is_transient(errno))
                        continue;
                listener_pause(l, errno);
                return;
        }
}

static void listener_retry_cb(evutil_socket_t fd, short what, void *userdata) {
        struct listener *l = userdata;

        (void)event_add(l->accept_ev, NULL);
}

/* A TCP port 0 means "any": report what the kernel picked, as a numeric address. */
static int listener_resolve_bound(struct listener *l) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int r;

        if (l->address.kind != ADDRESS_TCP)
                return 0;
        if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
                return -errno;
        r = getnameinfo((struct sockaddr *)&ss, len, l->address.host, sizeof(l->address.host),
                        l->address.port, sizeof(l->address.port), NI_NUMERICHOST | NI_NUMERICSERV);
        return r == 0 ? 0 : -EINVAL;
}

/*
 * Records the node we bound, so shutdown removes ours and nothing else, and
 * gives it the configured mode and group. chmod() rather than a umask
 * around bind(): a default ACL on the directory overrides the umask anyway.
 */
static int listener_own_node(struct listener *l) {
        const struct config *c = l->broker->config;
        struct stat st;

        if (l->address.kind != ADDRESS_UNIX)
                return 0;
        if (stat(l->address.path, &st) < 0)
                return -errno;
        l->created_node = true;
        l->node_dev = st.st_dev;
        l->node_ino = st.st_ino;
        if (c->unix_group_set && chown(l->address.path, (uid_t)-1, c->unix_gid) < 0)
                return log_errno(LOG_ERR, -errno, "cannot give %s to group %u: %m",
                                 l->address.path, (unsigned)c->unix_gid);
        return chmod(l->address.path, (mode_t)c->unix_mode) < 0 ? -errno : 0;
}

/*
 * Creates the socket's directory when missing: 0750, in listen.unix_group
 * when set, so only the owner and that group can reach the node (the mode
 * of the node alone does not stop a lookup in a world-searchable
 * directory from revealing it). An existing directory is left as it is:
 * systemd's RuntimeDirectory= or tmpfiles.d made it on purpose.
 */
static int listener_make_dir(struct listener *l) {
        const struct config *c = l->broker->config;
        char dir[ADDRESS_PATH_MAX];
        char *slash;

        if (l->address.kind != ADDRESS_UNIX)
                return 0;
        strcpy(dir, l->address.path);
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = '\0';
        if (mkdir(dir, 0750) < 0)
                return errno == EEXIST ? 0 : -errno;
        if (c->unix_group_set && chown(dir, (uid_t)-1, c->unix_gid) < 0)
                return log_errno(LOG_ERR, -errno, "cannot give %s to group %u: %m", dir,
                                 (unsigned)c->unix_gid);
        return 0;
}

static struct listener *listener_alloc(struct broker *b) {
        struct listener *l = calloc(1, sizeof(*l));

        if (!l)
                return NULL;
        l->broker = b;
        l->fd = -1;
        list_init(&l->node);
        return l;
}

/* Names the listener and starts accepting on the loop. */
static int listener_start(struct listener *l) {
        struct event_base *base = l->broker->base;
        int r;

        r = listener_resolve_bound(l);
        if (r < 0)
                return r;
        l->address.tls = l->tls != NULL; /* named "tls:HOST:PORT" in the log and status */
        address_format(&l->address, l->name, sizeof(l->name));
        l->accept_ev = event_new(base, l->fd, EV_READ | EV_PERSIST, listener_accept_cb, l);
        l->retry_ev = evtimer_new(base, listener_retry_cb, l);
        if (!l->accept_ev || !l->retry_ev || event_add(l->accept_ev, NULL) < 0)
                return -ENOMEM;
        return 0;
}

int listener_new(struct broker *b, const struct listen_spec *spec, struct listener **ret) {
        struct listener *l;
        int r;

        l = listener_alloc(b);
        if (!l)
                return -ENOMEM;
        l->address = spec->address;
        l->tls = spec->tls ? tls_server_ref(spec->tls) : NULL;
        r = listener_make_dir(l);
        if (r >= 0)
                r = plat_listen(&l->address, LISTEN_BACKLOG, &l->fd);
        if (r >= 0)
                r = listener_own_node(l);
        if (r >= 0)
                r = listener_start(l);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

/* The address of a passed UNIX socket; an abstract one is shown as "@name". */
static int listener_unix_address(struct listener *l) {
        struct sockaddr_un sun;
        socklen_t len = sizeof(sun);
        size_t n;

        memset(&sun, 0, sizeof(sun));
        if (getsockname(l->fd, (struct sockaddr *)&sun, &len) < 0)
                return -errno;
        l->address = (struct address){.kind = ADDRESS_UNIX};
        n = len > offsetof(struct sockaddr_un, sun_path)
                    ? len - offsetof(struct sockaddr_un, sun_path)
                    : 0;
        /* Zeroed above and at most size - 1 bytes copied: always terminated. */
        memcpy(l->address.path, sun.sun_path, MIN(n, sizeof(l->address.path) - 1));
        if (n > 0 && sun.sun_path[0] == '\0')
                l->address.path[0] = '@';
        return 0;
}

int listener_adopt(struct broker *b, int fd, enum address_kind kind, struct tls_server *tls,
                   struct listener **ret) {
        struct listener *l;
        int flags, r;

        l = listener_alloc(b);
        if (!l) {
                plat_sock_close(fd);
                return -ENOMEM;
        }
        l->fd = fd;
        l->address.kind = kind;
        l->tls = tls ? tls_server_ref(tls) : NULL;
        /* systemd passes blocking sockets; the accept loop relies on EAGAIN. */
        flags = fcntl(fd, F_GETFL);
        r = flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0;
        if (r >= 0 && kind == ADDRESS_UNIX)
                r = listener_unix_address(l);
        if (r >= 0)
                r = listener_start(l);
        if (r < 0) {
                listener_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void listener_unlink_node(struct listener *l) {
        struct stat st;

        if (!l->created_node)
                return;
        if (stat(l->address.path, &st) < 0 || st.st_dev != l->node_dev || st.st_ino != l->node_ino)
                return;
        if (unlink(l->address.path) < 0)
                log_errno(LOG_WARNING, -errno, "cannot remove %s: %m", l->address.path);
}

struct listener *listener_free(struct listener *l) {
        if (!l)
                return NULL;
        list_unlink(&l->node);
        if (l->accept_ev)
                event_free(l->accept_ev);
        if (l->retry_ev)
                event_free(l->retry_ev);
        plat_sock_close(l->fd);
        listener_unlink_node(l);
        tls_server_unref(l->tls);
        free(l);
        return NULL;
}
