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
 * with your own lock). Separate trees are independent, also when they map
 * the same channel's ring: the ring is built for many processes and
 * threads at once. There is no global state and no library initialisation.
 *
 * Transports: on a local (UNIX socket) connection, publishers and exact
 * channel subscriptions use the channel's shared-memory ring when the
 * broker grants one: messages then go from publisher to subscriber without
 * the broker and, while subscribers keep up, without system calls.
 * Everything else (TCP and TLS, wildcard patterns, channels or brokers that refuse
 * rings, IPC_TRANSPORT_SOCKET) uses the socket. The API is the same for
 * both; ipc_pub_get_transport() and ipc_sub_get_transport() tell which one
 * is in use.
 *
 * Timeouts are relative, in microseconds: IPC_USEC_INFINITY waits forever,
 * 0 tries once without blocking.
 *
 * Event loops (sd-bus style): ipc_client_get_fd() returns one fd that is
 * readable (level-triggered) whenever ipc_client_process() has work to do;
 * poll it for the events ipc_client_get_events() returns, with the timeout
 * from ipc_client_get_timeout(), then call ipc_client_process() and drain
 * messages with ipc_client_receive(..., 0, ...) until -EAGAIN (which also
 * arms the ring subscriptions' wake-ups, so the fd turns readable when
 * they get data). The fd is owned by the client: never read, write or
 * close it. It stays the same across reconnects.
 *
 * Reconnecting (see ipc_options_set_reconnect()): when the connection to
 * the broker breaks after the handshake (a crash, a restart, the broker
 * closing this client), the client does not die. It hands out the socket
 * messages read before the loss, then ipc_client_receive() and
 * ipc_client_process() return -ENOTCONN once (not fatal: keep calling
 * them), and those calls reconnect with exponential backoff, without a
 * thread: an attempt is made from within them when its time has come (the
 * fd turns readable then, and ipc_client_get_timeout() tells the time). A
 * reconnect says HELLO again with the same options and opens every pub
 * and sub the application holds again; the handles stay valid. Messages
 * published while the client was away are missed: the first message of
 * each subscription afterwards carries IPC_MSG_RESUMED, with the number of
 * messages missed in ipc_msg_get_lost() when the channel's sequence
 * numbers continued, or IPC_MSG_GAP_UNKNOWN when they cannot tell (see
 * ipc_msg_get_flags()). An exact-name subscription that has received a
 * message asks the broker to resume after the last one: a broker that kept
 * the channel continues a ring subscription at that record (no gap), and
 * counts for a socket subscription what it cannot replay (in
 * ipc_msg_get_lost() and ipc_sub_get_missed(), once). Patterns do not
 * resume. Rings keep working while the broker is away:
 * publishers and subscribers already attached go on exchanging messages
 * through the shared memory; after the reconnect each moves to the ring the
 * broker grants then, a subscriber only after reading what is left in the
 * old one. Socket publishers fail fast or wait while the client is down
 * (ipc_options_set_publish_wait()). The client notices a lost broker when
 * it next does I/O on the socket: a process that only publishes on rings
 * calls ipc_client_process() now and then (or watches the fd).
 */
#ifndef IPCCLIENT_H
#define IPCCLIENT_H

#include <stdbool.h>
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
        /* The first message of its subscription after a reconnect: messages
         * published meanwhile were missed. ipc_msg_get_lost() counts them when
         * the channel's sequence numbers continued (the broker kept the channel
         * across its restart, or only this client's connection broke)... */
        IPC_MSG_RESUMED = 1u << 1,
        /* ...and this flag says instead that the count is unknown: the numbering
         * went back (a broker that started afresh counts from 1 again), the
         * subscription is a pattern spanning channels, or the subscription moved
         * to another ring. Only ever set together with IPC_MSG_RESUMED. */
        IPC_MSG_GAP_UNKNOWN = 1u << 2,
};

/* Transports (ipc_options_set_transport(), ipc_pub_get_transport()). */
enum ipc_transport {
        /* Options: the ring when the broker is local and grants it, else the socket. */
        IPC_TRANSPORT_AUTO = 0,
        /* Options: never map rings. Pub/sub: it uses the socket. */
        IPC_TRANSPORT_SOCKET = 1,
        /* Pub/sub: it uses the channel's shared-memory ring. */
        IPC_TRANSPORT_RING = 2,
};

/* Environment variable that, set to "socket", makes IPC_TRANSPORT_AUTO use the socket. */
#define IPC_TRANSPORT_ENV "IPC_TRANSPORT"

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
 * Defaults: connect timeout 5 s, client name "" (the broker shows the pid),
 * transport IPC_TRANSPORT_AUTO, spin 0, reconnect after 100 ms doubling to
 * 5000 ms, publish while disconnected fails fast.
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

/**
 * ipc_options_set_transport() - choose how publishers and subscriptions of
 * the client move messages.
 * @transport: IPC_TRANSPORT_AUTO (the default): a channel's shared-memory
 *             ring when the connection is local and the broker grants it,
 *             else the socket; the environment variable IPC_TRANSPORT set
 *             to "socket" turns AUTO into SOCKET. IPC_TRANSPORT_SOCKET: the
 *             socket only.
 * Return: 0; -EINVAL (NULL, or another value such as IPC_TRANSPORT_RING,
 * which cannot be forced).
 */
IPC_EXPORT int ipc_options_set_transport(ipc_options *opts, int transport);

/**
 * ipc_options_set_spin() - how long blocking calls on rings busy-wait
 * before they sleep: ipc_client_receive() with a timeout for a ring
 * message, ipc_publish() and ipc_pub_claim() for ring space. Spinning
 * trades CPU time for latency (a wake-up costs tens of microseconds); it
 * pays off only with a CPU to spare. Socket messages are noticed at the
 * end of the spin at the latest.
 * @spin_usec: the budget per wait in microseconds; 0 (the default) sleeps
 *             at once.
 * Return: 0; -EINVAL.
 */
IPC_EXPORT int ipc_options_set_spin(ipc_options *opts, uint64_t spin_usec);

/**
 * ipc_options_set_error_buffer() - where ipc_client_connect() with these
 * options writes why it failed, since a failed connect returns no client
 * to ask ipc_client_get_error(). The text is the broker's when it refused
 * the connection, e.g. "uid 1000: too many connections
 * (max_connections_per_uid 128)", else the library's, or empty;
 * NUL-terminated and truncated to @size bytes. Left empty on success.
 * @buf: the caller's; it must stay valid while the options are used.
 * @size: its size in bytes; 0 (with any @buf) turns the reporting off.
 * Return: 0; -EINVAL (NULL @opts, or NULL @buf with a non-zero @size).
 */
IPC_EXPORT int ipc_options_set_error_buffer(ipc_options *opts, char *buf, size_t size);

/**
 * ipc_options_set_tls() - TLS settings for "tls:HOST:PORT" addresses. The
 * broker's certificate must verify against @ca_file and name the host of
 * the address (a DNS name, or an IP address for a numeric host).
 * @ca_file: PEM file of the CA certificates to trust, or NULL for the
 *           system's default trust store.
 * @cert_file: PEM client certificate (chain) for a broker listener with
 *             "auth": "certificate", or NULL (for "auth": "token").
 * @key_file: PEM private key of @cert_file; NULL exactly when @cert_file is.
 *
 * The files are read during this call (not at connect time) into a context
 * the options keep and every connection made with them shares; a later
 * call replaces it. Setting TLS and connecting to anything but a "tls:"
 * address is an error (-EINVAL from ipc_client_connect()).
 *
 * Return: 0; -EINVAL (NULL @opts, only one of @cert_file and @key_file, a
 * file that is not PEM, or a key that does not match the certificate);
 * -ENOENT, -EACCES or another negative errno from opening a file; -ENOMEM.
 */
IPC_EXPORT int ipc_options_set_tls(ipc_options *opts, const char *ca_file, const char *cert_file,
                                   const char *key_file);

/**
 * ipc_options_set_token() - a token to authenticate with on a broker
 * listener with "auth": "token" (sent in HELLO, only over TLS).
 * @token: 1 to 255 bytes, NUL-terminated; copied, and the copy is wiped
 *         when replaced or when the options are freed. NULL removes it.
 *
 * Connecting with a token to anything but a "tls:" address is an error
 * (-EINVAL from ipc_client_connect()): the token never travels in clear.
 *
 * Return: 0; -EINVAL (NULL @opts, empty or longer than 255 bytes).
 */
IPC_EXPORT int ipc_options_set_token(ipc_options *opts, const char *token);

/**
 * ipc_options_set_reconnect() - reconnect when the connection to the
 * broker breaks after the handshake (see "Reconnecting" at the top).
 * @initial_ms: delay before the first attempt; each failed attempt doubles
 *              it, up to @max_ms. Each delay varies by up to 25 % either
 *              way (jitter), so the clients of a restarted broker do not all
 *              come back at once. A successful reconnect starts over at
 *              @initial_ms.
 * @max_ms: the longest delay. 0 and 0 turn reconnecting off: then a broken
 *          connection makes the client dead, every call returning the
 *          error (-ECONNRESET, -EPIPE or -EPROTO), as with no reconnecting.
 *
 * An attempt blocks the call making it for at most the connect timeout.
 * Default: 100 ms, 5000 ms.
 *
 * Return: 0; -EINVAL (NULL @opts, only one of the two 0, or
 * @initial_ms > @max_ms).
 */
IPC_EXPORT int ipc_options_set_reconnect(ipc_options *opts, uint32_t initial_ms, uint32_t max_ms);

/**
 * ipc_options_set_publish_wait() - what a socket publish does while the
 * client is disconnected (reconnecting): false (the default): fail at once
 * with -ENOTCONN; true: wait up to its timeout for the reconnect, making
 * attempts as they fall due, then publish, or fail with -ETIMEDOUT. The
 * same holds for ipc_pub_claim(). Ring publishers are not affected: they go
 * on publishing into their ring.
 * Return: 0; -EINVAL.
 */
IPC_EXPORT int ipc_options_set_publish_wait(ipc_options *opts, bool wait);

/* ---- Client ----------------------------------------------------------- */

/**
 * ipc_client_connect() - connect to a broker and complete the handshake.
 * @address: "unix:/path", "tcp:HOST:PORT", "tcp:[V6]:PORT", "tls:HOST:PORT",
 *           "tls:[V6]:PORT" or a bare path; NULL uses $IPC_BROKER_ADDRESS,
 *           else the per-user socket
 *           ($XDG_RUNTIME_DIR/ipc-broker/ipc-brokerd.sock) if it exists,
 *           else /run/ipc-broker/ipc-brokerd.sock.
 * @opts: options, or NULL for defaults; not retained after the call.
 * @ret: the connected client; free with ipc_client_free().
 *
 * Blocks up to the connect timeout, which covers the TLS handshake too.
 * "tls:" connects over TCP with TLS 1.2 or 1.3 (ipc_options_set_tls(),
 * ipc_options_set_token()); "tcp:" is plain TCP, which a broker offers
 * only on a loopback address.
 *
 * Return: 0; -EINVAL (bad address, or TLS settings or a token with an
 * address that is not "tls:"); -ENOENT, -ECONNREFUSED (socket missing,
 * nobody listening); -EACCES (no permission on the socket, or the broker
 * refused our TLS client certificate or token); -EKEYREJECTED (the broker's
 * TLS certificate failed verification: unknown CA, wrong host, expired);
 * -ETIMEDOUT; -EPROTONOSUPPORT (no common protocol version); -ENFILE (the
 * broker is at its connection limit, limits.max_connections); -EDQUOT
 * (this user has as many connections as the broker allows one user,
 * limits.max_connections_per_uid); -EPROTO (the broker answered with
 * something else, e.g. plain TCP to a "tls:" address); -ECONNRESET (broker
 * closed the connection, also a TLS refusal it gave no reason for, as TLS
 * 1.2 does for a missing client certificate); -ENOMEM. The broker's reason
 * for a refusal goes to the buffer of ipc_options_set_error_buffer().
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
 * ipc_client_get_address() - the address connected to, as "unix:/path",
 * "tcp:HOST:PORT" or "tls:HOST:PORT". Return: a string owned by the client.
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
 * output and held-back ring wake-ups, read what has arrived, consume the
 * ring subscriptions' wake-ups. Afterwards, drain messages with
 * ipc_client_receive(client, 0, &msg) until it returns -EAGAIN.
 * Releases the message last returned by ipc_client_receive().
 *
 * While the client is disconnected it makes a reconnect attempt when one
 * is due (see ipc_options_set_reconnect()).
 *
 * Return: 1 if messages are ready to receive, 0 if not; -ENOTCONN once
 * when the connection was lost and reconnecting is on (not fatal: the
 * client reconnects; call on); -ECONNRESET or -EPIPE (broker gone, and
 * reconnecting is off); -EPROTO (broker sent a malformed frame, or closed
 * the connection with an error: see ipc_client_get_error()); -ENOMEM.
 */
IPC_EXPORT int ipc_client_process(ipc_client *client);

/**
 * ipc_client_is_connected() - whether the client is connected now.
 * Return: 1; 0 (disconnected: reconnecting, or dead); -EINVAL.
 */
IPC_EXPORT int ipc_client_is_connected(const ipc_client *client);

/**
 * ipc_client_get_reconnects() - how many times the client reconnected.
 * Return: the count; 0 for NULL.
 */
IPC_EXPORT uint64_t ipc_client_get_reconnects(const ipc_client *client);

/**
 * ipc_client_flush() - send the wake-ups ring publishers held back
 * (IPC_PUBLISH_MORE), then wait until all buffered output is written to the
 * socket. Return: 0; -ETIMEDOUT (some output still buffered); -ENOTCONN
 * (disconnected, reconnecting); -ECONNRESET; -EPIPE.
 */
IPC_EXPORT int ipc_client_flush(ipc_client *client, uint64_t timeout_usec);

/**
 * ipc_client_receive() - the next message of any of the client's
 * subscriptions: socket messages in the order the broker sent them, each
 * ring subscription's in its channel's order, the sources taking turns in
 * batches so none starves the others.
 * @timeout_usec: how long to wait; 0 returns -EAGAIN at once when none
 *       (and arms the wake-ups of ring subscriptions, see
 *       ipc_client_get_fd()).
 * @ret: the message, owned by the client and valid until the next call of
 *       ipc_client_receive() or ipc_client_process() on this client, until
 *       ipc_msg_release(), or until its subscription is freed. Copy what
 *       you keep. A ring message is a view into the shared memory itself
 *       (zero-copy): holding it holds back publishers under the "block"
 *       policy, and under "drop" a publisher may overwrite it meanwhile
 *       (see ipc_msg_release()).
 *
 * Messages of a subscription freed meanwhile are skipped. While the client
 * is disconnected, ring subscriptions go on receiving, and the call makes
 * the reconnect attempts that fall due within @timeout_usec.
 *
 * Return: 0; -EAGAIN (timeout 0, none ready); -ETIMEDOUT; -ENOTCONN once
 * per loss of the connection, after the socket messages read before it
 * (not fatal: the client reconnects; call again; see IPC_MSG_RESUMED for
 * what was missed); -EBADMSG (a ring subscription met a corrupt record: it
 * is counted and skipped, the client stays usable,
 * ipc_client_get_error() names the channel; call again); -ECONNRESET (the
 * broker went away and reconnecting is off); -EPROTO; -ENOMEM; -EINVAL.
 */
IPC_EXPORT int ipc_client_receive(ipc_client *client, uint64_t timeout_usec, const ipc_msg **ret);

/**
 * ipc_client_ping() - round trip to the broker.
 * @ret_rtt_usec: the measured round-trip time; may be NULL.
 * Return: 0; -ETIMEDOUT; -ENOTCONN (disconnected, reconnecting: as for
 * every request to the broker); -ECONNRESET; -EPROTO.
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
 * Return: 0; -EINVAL (bad name); -EACCES (the broker's access rules do
 * not let this client publish on the channel, whether over the socket or
 * the shared-memory ring; ipc_client_get_error() names the channel and the
 * right); -ETIMEDOUT; -ECONNRESET; -EPROTO; -ENOMEM; -EMFILE (the
 * connection holds as many publishers as the broker allows one connection,
 * its max_subscriptions); -ENFILE (the channel does not exist and the
 * broker holds as many channels as it allows, its max_channels). A ring
 * the broker refuses (e.g. over the user's max_rings_per_uid) is no error:
 * the publisher uses the socket. -ENOTCONN: the client is disconnected
 * (reconnecting), unless an attempt made now succeeds.
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
 * ipc_pub_get_transport() - IPC_TRANSPORT_RING or IPC_TRANSPORT_SOCKET;
 * -EINVAL.
 */
IPC_EXPORT int ipc_pub_get_transport(const ipc_pub *pub);

/**
 * ipc_publish() - publish one message (copied; binary-safe).
 * @data: the payload; may be NULL when @size is 0.
 * @flags: IPC_PUBLISH_RETAIN, IPC_PUBLISH_MORE, or 0.
 * @timeout_usec: how long to wait when the connection cannot take more
 *                (the broker slowing a publisher under the "block" policy).
 *
 * The message is sent in publish order with this client's other messages
 * (on a ring: in this publisher's order). On a ring, the block and
 * disconnect policies wait here while the slowest ring subscriber is a
 * ring's length behind; IPC_PUBLISH_MORE holds back the wake-ups of
 * sleeping subscribers until a publish without it or ipc_client_flush().
 * While the client is disconnected, a ring publisher goes on publishing
 * into its ring (its subscribers still read it); a socket publisher fails
 * with -ENOTCONN or waits for the reconnect (ipc_options_set_publish_wait()).
 * Messages buffered but not yet written when the connection broke are lost.
 * Return: 0; -EMSGSIZE (larger than the channel's limit); -EAGAIN (no room
 * within the timeout: under "drop", another publisher's claim a whole ring
 * behind was not committed in time); -EBUSY (a claim is open on @pub); -EBADMSG (the
 * channel's ring is corrupt: its tail is no valid position); -ENOTCONN
 * (disconnected, publish wait off); -ETIMEDOUT (disconnected, publish wait
 * on, no reconnect within the timeout); -EACCES or another refusal of the
 * broker to open the publisher again after a reconnect; -ECONNRESET;
 * -EPIPE; -EINVAL.
 */
IPC_EXPORT int ipc_publish(ipc_pub *pub, const void *data, size_t size, unsigned flags,
                           uint64_t timeout_usec);

/**
 * ipc_pub_claim() - reserve room for a message of @size bytes and return
 * where to write it (zero-copy publishing on a ring; a buffer of the
 * publisher's on the socket). Finish with ipc_pub_commit() or
 * ipc_pub_abort(), soon: on a ring an open claim holds back every
 * subscriber at that point of the stream. One claim at a time per
 * publisher; other calls on the client may come in between.
 * @timeout_usec: how long to wait for room, as ipc_publish().
 * @ret_buf: @size writable bytes, valid until commit or abort.
 * Return: 0; -EMSGSIZE; -EAGAIN; -EBUSY (a claim is open already);
 * -EBADMSG (a corrupt ring, as ipc_publish()); -ENOTCONN, -ETIMEDOUT (as
 * ipc_publish()); -ECONNRESET; -EPIPE; -ENOMEM; -EINVAL.
 */
IPC_EXPORT int ipc_pub_claim(ipc_pub *pub, size_t size, uint64_t timeout_usec, void **ret_buf);

/**
 * ipc_pub_commit() - publish the claimed message.
 * @flags: IPC_PUBLISH_RETAIN, IPC_PUBLISH_MORE, or 0, as for ipc_publish().
 * Return: 0; -EINVAL (no claim open, or unknown flags: the claim stays
 * open); -ENOMEM (a retained ring message could not be queued for the
 * broker: the claim is aborted); -ECONNRESET; -EPIPE.
 */
IPC_EXPORT int ipc_pub_commit(ipc_pub *pub, unsigned flags);

/**
 * ipc_pub_abort() - give the claim up; nothing is published (on a ring the
 * claimed room is skipped by subscribers, its sequence number unused).
 * Return: 0; -EINVAL (no claim open).
 */
IPC_EXPORT int ipc_pub_abort(ipc_pub *pub);

/* ---- Subscribing ------------------------------------------------------ */

/**
 * ipc_sub_new() - subscribe to a channel or a wildcard pattern ("a.*" one
 * token, "a.>" one or more trailing tokens). Retained values of matching
 * channels arrive first.
 * @ret: the subscription; free with ipc_sub_free() to unsubscribe.
 *
 * A pattern is refused with -EACCES only when the access rules let the
 * client subscribe to none of the channels it matches; otherwise it
 * delivers the matching channels the client may subscribe to and silently
 * leaves out the others (see ipc-broker(7)).
 *
 * Return: as ipc_pub_new(): -EMFILE when the connection holds the broker's
 * maximum number of subscriptions (a ring subscription counts as one), and
 * -ENFILE for an exact name whose channel would be one too many (a
 * pattern never creates channels).
 */
IPC_EXPORT int ipc_sub_new(ipc_client *client, const char *pattern, uint64_t timeout_usec,
                           ipc_sub **ret);

/** ipc_sub_free() - unsubscribe; later messages of it are discarded. Accepts NULL. Return: NULL. */
IPC_EXPORT ipc_sub *ipc_sub_free(ipc_sub *sub);

/**
 * ipc_sub_get_transport() - IPC_TRANSPORT_RING or IPC_TRANSPORT_SOCKET;
 * -EINVAL.
 */
IPC_EXPORT int ipc_sub_get_transport(const ipc_sub *sub);

/** ipc_sub_get_pattern() - the channel name or pattern subscribed to. */
IPC_EXPORT const char *ipc_sub_get_pattern(const ipc_sub *sub);

/**
 * ipc_sub_get_lost() - messages the broker dropped for this subscription
 * so far (channels with the "drop" policy, when this client fell behind;
 * on a ring: messages publishers overwrote before they were read,
 * including those overwritten while viewed, see ipc_msg_release()).
 */
IPC_EXPORT uint64_t ipc_sub_get_lost(const ipc_sub *sub);

/**
 * ipc_sub_get_missed() - messages known to have been missed across
 * reconnects so far (the sum of ipc_msg_get_lost() of the messages flagged
 * IPC_MSG_RESUMED without IPC_MSG_GAP_UNKNOWN); not part of
 * ipc_sub_get_lost().
 */
IPC_EXPORT uint64_t ipc_sub_get_missed(const ipc_sub *sub);

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

/**
 * ipc_msg_get_flags() - IPC_MSG_RETAINED, IPC_MSG_RESUMED,
 * IPC_MSG_GAP_UNKNOWN, or 0.
 */
IPC_EXPORT unsigned ipc_msg_get_flags(const ipc_msg *msg);

/**
 * ipc_msg_get_lost() - messages the broker dropped for this subscription
 * immediately before this one (0 normally); on a ring, messages
 * overwritten before they were read; on the first message after a
 * reconnect (IPC_MSG_RESUMED), also those missed while disconnected, when
 * known.
 */
IPC_EXPORT uint64_t ipc_msg_get_lost(const ipc_msg *msg);

/**
 * ipc_msg_release() - done with the message: its memory may be reused (on
 * a ring, its room given back to publishers). Optional: the next
 * ipc_client_receive() or ipc_client_process() releases it anyway; calling
 * it earlier frees the ring sooner and tells whether the payload stayed
 * intact. Afterwards the payload must not be touched; releasing twice is
 * harmless.
 * Return: 0; -ESTALE (a ring message of a "drop" channel that a publisher
 * overwrote while it was viewed: discard what was read from it; it is
 * counted as lost); -EINVAL.
 */
IPC_EXPORT int ipc_msg_release(const ipc_msg *msg);

#ifdef __cplusplus
}
#endif

#endif
