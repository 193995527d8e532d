/* SPDX-License-Identifier: MIT */
/*
 * libipcclient: publish and subscribe to ipc-broker channels.
 *
 * Return values: >= 0 is success, < 0 is a negative errno (see
 * ipc_strerror()). No function sets errno as its way of reporting; no
 * function aborts on bad arguments (they give -EINVAL); the library never
 * prints.
 *
 * Thread rules: a client and every pub, sub and message obtained from it
 * form one handle tree; use a tree from one thread at a time (or serialise
 * with your own lock). Separate trees are independent. There is no global
 * state and no library initialisation.
 *
 * Timeouts are relative, in microseconds: IPC_USEC_INFINITY waits forever,
 * 0 tries once without blocking.
 *
 * Event loops (sd-bus style): ipc_client_get_fd() returns one fd that is
 * readable (level-triggered) whenever ipc_client_process() has work to do;
 * poll it for the events ipc_client_get_events() returns, with the timeout
 * from ipc_client_get_timeout(), then call ipc_client_process() and drain
 * messages with ipc_client_receive(..., 0, ...). The fd is owned by the
 * client: never read, write or close it.
 */
#ifndef IPCCLIENT_H
#define IPCCLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(_WIN32)
#define IPC_EXPORT __attribute__((visibility("default")))
#else
#define IPC_EXPORT
#endif

typedef struct ipc_client ipc_client;
typedef struct ipc_options ipc_options;
typedef struct ipc_pub ipc_pub;
typedef struct ipc_sub ipc_sub;
typedef struct ipc_msg ipc_msg;

/* The pollable handle type: an fd on POSIX systems. */
typedef int ipc_fd_t;

#define IPC_USEC_INFINITY UINT64_MAX

/* Longest channel name or pattern, in bytes. */
#define IPC_CHANNEL_NAME_MAX 255

/* Environment variable naming the broker address used when none is given. */
#define IPC_BROKER_ADDRESS_ENV "IPC_BROKER_ADDRESS"

/* Flags for ipc_publish(). */
enum {
        /* Keep this message as the channel's retained value, delivered first
         * to every new subscriber. An empty retained message clears it. */
        IPC_PUBLISH_RETAIN = 1u << 0,
        /* More messages follow at once: the library may hold this one in its
         * buffer to send several in one write. ipc_client_flush() or a
         * publish without this flag sends everything held. */
        IPC_PUBLISH_MORE = 1u << 1,
};

/* Flags of a received message (ipc_msg_get_flags()). */
enum {
        /* The channel's retained value, delivered on subscribe. */
        IPC_MSG_RETAINED = 1u << 0,
};

/* Overflow policy of a channel (ipc_pub_get_overflow()). */
enum ipc_overflow {
        IPC_OVERFLOW_BLOCK = 0,
        IPC_OVERFLOW_DROP = 1,
        IPC_OVERFLOW_DISCONNECT = 2,
};

/**
 * ipc_strerror() - describe an error code.
 * @error: a negative (or positive) errno as returned by this library.
 *
 * Return: a static string; never NULL.
 */
IPC_EXPORT const char *ipc_strerror(int error);

/**
 * ipc_version() - the library version.
 *
 * Return: a static string such as "0.1.0".
 */
IPC_EXPORT const char *ipc_version(void);

/* ---- Options ---------------------------------------------------------- */

/**
 * ipc_options_new() - create connection options with defaults.
 * @ret: the new options; free with ipc_options_free().
 *
 * Defaults: connect timeout 5 s, client name "" (the broker shows the pid).
 *
 * Return: 0; -ENOMEM; -EINVAL when @ret is NULL.
 */
IPC_EXPORT int ipc_options_new(ipc_options **ret);

/** ipc_options_free() - free options; accepts NULL. Return: NULL. */
IPC_EXPORT ipc_options *ipc_options_free(ipc_options *opts);

/**
 * ipc_options_set_connect_timeout() - limit the time ipc_client_connect()
 * spends connecting and completing the handshake.
 * Return: 0; -EINVAL.
 */
IPC_EXPORT int ipc_options_set_connect_timeout(ipc_options *opts, uint64_t timeout_usec);

/**
 * ipc_options_set_name() - a name for this client, shown in broker stats.
 * @name: up to 255 bytes; copied.
 * Return: 0; -EINVAL (NULL or too long); -ENOMEM.
 */
IPC_EXPORT int ipc_options_set_name(ipc_options *opts, const char *name);

/* ---- Client ----------------------------------------------------------- */

/**
 * ipc_client_connect() - connect to a broker and complete the handshake.
 * @address: "unix:/path", "tcp:HOST:PORT", "tcp:[V6]:PORT" or a bare path;
 *           NULL uses $IPC_BROKER_ADDRESS, else the per-user socket
 *           ($XDG_RUNTIME_DIR/ipc-broker/ipc-brokerd.sock) if it exists,
 *           else /run/ipc-broker/ipc-brokerd.sock.
 * @opts: options, or NULL for defaults; not retained after the call.
 * @ret: the connected client; free with ipc_client_free().
 *
 * Blocks up to the connect timeout.
 *
 * Return: 0; -EINVAL (bad address); -ENOENT, -ECONNREFUSED, -EACCES
 * (socket missing, nobody listening, no permission); -ETIMEDOUT;
 * -EPROTONOSUPPORT (no common protocol version); -EMFILE (the broker is at
 * its connection limit); -EPROTO (the broker answered with something else);
 * -ECONNRESET (broker closed the connection); -ENOMEM.
 */
IPC_EXPORT int ipc_client_connect(const char *address, const ipc_options *opts, ipc_client **ret);

/**
 * ipc_client_free() - flush pending output (for at most one second), close
 * the connection and free the client. Every pub and sub of the client must
 * have been freed before; messages obtained from it become invalid.
 * Accepts NULL. Return: NULL.
 */
IPC_EXPORT ipc_client *ipc_client_free(ipc_client *client);

/**
 * ipc_client_get_address() - the address connected to, as "unix:/path" or
 * "tcp:HOST:PORT". Return: a string owned by the client.
 */
IPC_EXPORT const char *ipc_client_get_address(const ipc_client *client);

/**
 * ipc_client_get_server() - the broker's identification from the handshake,
 * e.g. "ipc-brokerd 0.1.0". Return: a string owned by the client.
 */
IPC_EXPORT const char *ipc_client_get_server(const ipc_client *client);

/**
 * ipc_client_get_max_message_size() - the broker-wide message size limit in
 * bytes (a channel may have a lower one: ipc_pub_get_max_message_size()).
 */
IPC_EXPORT size_t ipc_client_get_max_message_size(const ipc_client *client);

/**
 * ipc_client_get_fd() - the pollable fd for event loops: readable-only,
 * level-triggered, owned by the client. No data passes through it.
 * Return: the fd (>= 0), or -EINVAL.
 */
IPC_EXPORT ipc_fd_t ipc_client_get_fd(const ipc_client *client);

/**
 * ipc_client_get_events() - the poll(2) events to wait for on the fd.
 * Return: POLLIN; or -EINVAL.
 */
IPC_EXPORT int ipc_client_get_events(const ipc_client *client);

/**
 * ipc_client_get_timeout() - when ipc_client_process() next needs calling
 * even if the fd stays quiet.
 * @ret_usec: an absolute CLOCK_MONOTONIC time in microseconds, or
 *            IPC_USEC_INFINITY for none.
 * Return: 0; -EINVAL.
 */
IPC_EXPORT int ipc_client_get_timeout(const ipc_client *client, uint64_t *ret_usec);

/**
 * ipc_client_process() - do pending I/O without blocking: send buffered
 * output, read what has arrived. Afterwards, drain messages with
 * ipc_client_receive(client, 0, &msg) until it returns -EAGAIN.
 * Invalidates the message last returned by ipc_client_receive().
 *
 * Return: 1 if messages are ready to receive, 0 if not; -ECONNRESET or
 * -EPIPE (broker gone); -EPROTO (broker sent a malformed frame, or closed
 * the connection with an error: see ipc_client_get_error()); -ENOMEM.
 */
IPC_EXPORT int ipc_client_process(ipc_client *client);

/**
 * ipc_client_flush() - wait until all buffered output is written to the
 * socket. Return: 0; -ETIMEDOUT (some output still buffered); -ECONNRESET;
 * -EPIPE.
 */
IPC_EXPORT int ipc_client_flush(ipc_client *client, uint64_t timeout_usec);

/**
 * ipc_client_receive() - the next message of any of the client's
 * subscriptions, in the order the broker sent them.
 * @timeout_usec: how long to wait; 0 returns -EAGAIN at once when none.
 * @ret: the message, owned by the client and valid until the next call of
 *       ipc_client_receive() or ipc_client_process() on this client, or
 *       until its subscription is freed. Copy what you keep.
 *
 * Messages of a subscription freed meanwhile are skipped.
 *
 * Return: 0; -EAGAIN (timeout 0, none ready); -ETIMEDOUT; -ECONNRESET;
 * -EPROTO; -ENOMEM; -EINVAL.
 */
IPC_EXPORT int ipc_client_receive(ipc_client *client, uint64_t timeout_usec, const ipc_msg **ret);

/**
 * ipc_client_ping() - round trip to the broker.
 * @ret_rtt_usec: the measured round-trip time; may be NULL.
 * Return: 0; -ETIMEDOUT; -ECONNRESET; -EPROTO.
 */
IPC_EXPORT int ipc_client_ping(ipc_client *client, uint64_t timeout_usec, uint64_t *ret_rtt_usec);

/**
 * ipc_client_list_channels() - the broker's channels as a JSON array of
 * objects {"name", "publishers", "subscribers", "published", "retained",
 * "overflow", "max_message_bytes"}.
 * @ret_json: a NUL-terminated string; free it with ipc_free().
 * Return: 0; -ETIMEDOUT; -ECONNRESET; -EPROTO; -ENOMEM.
 */
IPC_EXPORT int ipc_client_list_channels(ipc_client *client, uint64_t timeout_usec, char **ret_json);

/**
 * ipc_client_stats() - broker statistics as a JSON object (see ipcctl(1)
 * "stats" for the fields).
 * @ret_json: a NUL-terminated string; free it with ipc_free().
 * Return: as ipc_client_list_channels().
 */
IPC_EXPORT int ipc_client_stats(ipc_client *client, uint64_t timeout_usec, char **ret_json);

/**
 * ipc_client_get_error() - a text describing the last failure: the
 * broker's own words where it gave some (a refused open, the ERROR frame
 * it sent before closing), else the library's ("connection closed by
 * broker"). Return: a string owned by the client, "" when none.
 */
IPC_EXPORT const char *ipc_client_get_error(const ipc_client *client);

/** ipc_free() - free memory the library handed over (JSON strings). Accepts NULL. */
IPC_EXPORT void ipc_free(void *p);

/* ---- Publishing ------------------------------------------------------- */

/**
 * ipc_pub_new() - open a channel for publishing; the broker creates the
 * channel on first use.
 * @channel: a channel name (no wildcards), see ipc-broker(7).
 * @timeout_usec: how long to wait for the broker's answer.
 * @ret: the publisher; free with ipc_pub_free().
 *
 * Return: 0; -EINVAL (bad name); -EACCES (denied); -ETIMEDOUT;
 * -ECONNRESET; -EPROTO; -ENOMEM.
 */
IPC_EXPORT int ipc_pub_new(ipc_client *client, const char *channel, uint64_t timeout_usec,
                           ipc_pub **ret);

/** ipc_pub_free() - close the publisher; buffered messages are still sent. Accepts NULL. Return: NULL. */
IPC_EXPORT ipc_pub *ipc_pub_free(ipc_pub *pub);

/** ipc_pub_get_channel() - the channel name. */
IPC_EXPORT const char *ipc_pub_get_channel(const ipc_pub *pub);

/** ipc_pub_get_max_message_size() - the channel's message size limit in bytes. */
IPC_EXPORT size_t ipc_pub_get_max_message_size(const ipc_pub *pub);

/** ipc_pub_get_overflow() - the channel's overflow policy (enum ipc_overflow). */
IPC_EXPORT int ipc_pub_get_overflow(const ipc_pub *pub);

/**
 * ipc_publish() - publish one message (copied; binary-safe).
 * @data: the payload; may be NULL when @size is 0.
 * @flags: IPC_PUBLISH_RETAIN, IPC_PUBLISH_MORE, or 0.
 * @timeout_usec: how long to wait when the connection cannot take more
 *                (the broker slowing a publisher under the "block" policy).
 *
 * The message is sent in publish order with this client's other messages.
 * Return: 0; -EMSGSIZE (larger than the channel's limit); -EAGAIN (no room
 * within the timeout); -ECONNRESET; -EPIPE; -EINVAL.
 */
IPC_EXPORT int ipc_publish(ipc_pub *pub, const void *data, size_t size, unsigned flags,
                           uint64_t timeout_usec);

/* ---- Subscribing ------------------------------------------------------ */

/**
 * ipc_sub_new() - subscribe to a channel or a wildcard pattern ("a.*" one
 * token, "a.>" one or more trailing tokens). Retained values of matching
 * channels arrive first.
 * @ret: the subscription; free with ipc_sub_free() to unsubscribe.
 *
 * Return: as ipc_pub_new(), and -EDQUOT when the connection holds the
 * broker's maximum number of subscriptions.
 */
IPC_EXPORT int ipc_sub_new(ipc_client *client, const char *pattern, uint64_t timeout_usec,
                           ipc_sub **ret);

/** ipc_sub_free() - unsubscribe; later messages of it are discarded. Accepts NULL. Return: NULL. */
IPC_EXPORT ipc_sub *ipc_sub_free(ipc_sub *sub);

/** ipc_sub_get_pattern() - the channel name or pattern subscribed to. */
IPC_EXPORT const char *ipc_sub_get_pattern(const ipc_sub *sub);

/**
 * ipc_sub_get_lost() - messages the broker dropped for this subscription
 * so far (channels with the "drop" policy, when this client fell behind).
 */
IPC_EXPORT uint64_t ipc_sub_get_lost(const ipc_sub *sub);

/** ipc_sub_set_userdata() / ipc_sub_get_userdata() - an application pointer. */
IPC_EXPORT void ipc_sub_set_userdata(ipc_sub *sub, void *userdata);
IPC_EXPORT void *ipc_sub_get_userdata(const ipc_sub *sub);

/* ---- Messages --------------------------------------------------------- */

/** ipc_msg_get_sub() - the subscription the message arrived on. */
IPC_EXPORT ipc_sub *ipc_msg_get_sub(const ipc_msg *msg);

/** ipc_msg_get_channel() - the channel it was published on (NUL-terminated). */
IPC_EXPORT const char *ipc_msg_get_channel(const ipc_msg *msg);

/** ipc_msg_get_data() - the payload (may contain NUL bytes); size via @ret_size. */
IPC_EXPORT const void *ipc_msg_get_data(const ipc_msg *msg, size_t *ret_size);

/** ipc_msg_get_size() - payload size in bytes. */
IPC_EXPORT size_t ipc_msg_get_size(const ipc_msg *msg);

/** ipc_msg_get_sequence() - per-channel sequence number (first is 1). */
IPC_EXPORT uint64_t ipc_msg_get_sequence(const ipc_msg *msg);

/** ipc_msg_get_timestamp() - when the broker accepted it, ns since the epoch. */
IPC_EXPORT uint64_t ipc_msg_get_timestamp(const ipc_msg *msg);

/** ipc_msg_get_flags() - IPC_MSG_RETAINED or 0. */
IPC_EXPORT unsigned ipc_msg_get_flags(const ipc_msg *msg);

/**
 * ipc_msg_get_lost() - messages the broker dropped for this subscription
 * immediately before this one (0 normally).
 */
IPC_EXPORT uint64_t ipc_msg_get_lost(const ipc_msg *msg);

#ifdef __cplusplus
}
#endif

#endif
