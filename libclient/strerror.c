/* SPDX-License-Identifier: MIT */
/*
 * Error descriptions worded for this library, and the version string.
 *
 * Errors the API documents get a message about what went wrong with the
 * broker or the call ("message too large for the channel"), not the
 * generic libc text ("Message too long"). Everything is a string constant:
 * ipc_strerror() writes nothing, so it is safe from any thread.
 */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "client-internal.h"

struct error_text {
        int code;
        const char *text;
};

static const struct error_text error_texts[] = {
        {0, "success"},
        {EAGAIN, "not ready: no message waiting, or no room to publish within the timeout"},
        {ETIMEDOUT, "timed out waiting for the broker"},
        {EMSGSIZE, "message too large for the channel"},
        {ENOENT, "no such broker socket or channel"},
        {ECONNREFUSED, "no broker is listening at the address"},
        {EACCES, "permission denied by the broker (access rules, TLS client certificate or "
                 "token) or on its socket"},
        {EKEYREJECTED, "the broker's TLS certificate failed verification (CA, host name or "
                       "validity)"},
        {EPERM, "operation not permitted by the broker"},
        {ECONNRESET, "broker closed the connection"},
        {EPIPE, "connection to the broker is broken"},
        {EPROTO, "protocol error: the broker sent something invalid or reported an error"},
        {EPROTONOSUPPORT, "broker speaks no common protocol version"},
        {EINVAL, "invalid argument (bad channel name, pattern, address or parameter)"},
        {ENOMEM, "out of memory"},
        {EDQUOT, "over a per-user quota of the broker (connections or rings of this user)"},
        {EMFILE, "too many subscriptions or publishers on this connection (or open files)"},
        {ENFILE, "the broker is at its limit of connections or channels"},
        {EHOSTUNREACH, "broker host not found or unreachable"},
        {ENXIO, "no broker address known: set IPC_BROKER_ADDRESS"},
        {ENAMETOOLONG, "broker address too long"},
        {EOPNOTSUPP, "operation not supported by the broker"},
        {EBADMSG, "malformed protocol frame, or corrupt record in a shared-memory ring"},
        {ESTALE, "message overwritten by a publisher while it was being read"},
        {EBUSY, "a claim is already open on this publisher"},
        {EBADF, "unknown publisher or subscription"},
        {ENOTCONN, "not connected to the broker"},
};

IPC_EXPORT const char *ipc_strerror(int error) {
        const char *s;

        if (error == INT_MIN)
                return "unknown error";
        if (error < 0)
                error = -error;
        for (size_t i = 0; i < sizeof(error_texts) / sizeof(error_texts[0]); i++)
                if (error_texts[i].code == error)
                        return error_texts[i].text;
        /* glibc's table of constant descriptions: no buffer, thread-safe. */
        s = strerrordesc_np(error);
        return s ? s : "unknown error";
}

IPC_EXPORT const char *ipc_version(void) {
        return PACKAGE_VERSION;
}
