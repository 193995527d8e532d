/* SPDX-License-Identifier: MIT */
/*
 * Intrusive circular doubly linked lists (the c-list / Linux list shape).
 *
 * The broker links the same object into several lists at once (a
 * subscription link sits in its channel's list and in its subscription's
 * list), so nodes are embedded and removal is O(1) without a search. A
 * node that is not linked points to itself, which makes list_unlink() on
 * an unlinked node harmless and lets destructors unlink unconditionally.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct list_node {
        struct list_node *prev;
        struct list_node *next;
};

#define LIST_INIT(name)                                                                            \
        { .prev = &(name), .next = &(name) }

/* Through void *: the member's address is suitably aligned for its container. */
#define list_entry(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Iterates over the entries of @head; @pos may be unlinked (and freed) inside the loop. */
#define list_for_each_safe(pos, tmp, head, member)                                                 \
        for (pos = list_entry((head)->next, __typeof__(*pos), member),                             \
            tmp = list_entry(pos->member.next, __typeof__(*pos), member);                          \
             &pos->member != (head);                                                               \
             pos = tmp, tmp = list_entry(tmp->member.next, __typeof__(*tmp), member))

#define list_for_each(pos, head, member)                                                           \
        for (pos = list_entry((head)->next, __typeof__(*pos), member); &pos->member != (head);     \
             pos = list_entry(pos->member.next, __typeof__(*pos), member))

static inline void list_init(struct list_node *n) {
        n->prev = n;
        n->next = n;
}

static inline bool list_is_empty(const struct list_node *head) {
        return head->next == head;
}

/* Whether @n is linked into some list (false for a list_init()ed node). */
static inline bool list_is_linked(const struct list_node *n) {
        return n->next != n;
}

static inline void list_append(struct list_node *head, struct list_node *n) {
        n->prev = head->prev;
        n->next = head;
        head->prev->next = n;
        head->prev = n;
}

static inline void list_unlink(struct list_node *n) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        list_init(n);
}

static inline struct list_node *list_first(const struct list_node *head) {
        return list_is_empty(head) ? NULL : head->next;
}
