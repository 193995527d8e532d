/* SPDX-License-Identifier: MIT */
/*
 * Corpus replayer: feeds files to one fuzz target's LLVMFuzzerTestOneInput()
 * without libFuzzer, so every build (gcc included, under the sanitizers when
 * configured) runs the corpora in `make check`. Built once per target with
 * FUZZ_TARGET (its name) and FUZZ_CORPUS (its corpus directory) defined.
 *
 *   replay-TARGET              every file of FUZZ_CORPUS, in name order
 *   replay-TARGET PATH...      those files, or every file of those directories
 *
 * Prints TAP: one test per target, which passes when every input ran. A
 * crash, a sanitizer report or a failed FUZZ_CHECK aborts the run (so the
 * test fails); the last "replaying" line on stderr names the input. Each
 * input gets REPLAY_TIMEOUT_SEC before SIGALRM ends the run, so a hang
 * fails the test instead of stalling the suite.
 */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define REPLAY_TIMEOUT_SEC 60

struct file_list {
        char **paths;
        size_t n;
        size_t cap;
};

_Noreturn static void die(const char *what, const char *path) {
        printf("Bail out! %s %s: %s\n", what, path, strerror(errno));
        exit(99);
}

static void list_add(struct file_list *l, const char *dir, const char *name) {
        size_t len = strlen(dir) + strlen(name) + 2;
        char *path = malloc(len);

        if (!path)
                die("out of memory for", name);
        (void)snprintf(path, len, "%s%s%s", dir, *dir ? "/" : "", name);
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 64;
                char **p = realloc(l->paths, cap * sizeof(*p));

                if (!p)
                        die("out of memory for", name);
                l->paths = p;
                l->cap = cap;
        }
        l->paths[l->n++] = path;
}

/* Regular files of @dir in name order (alphasort: the same order on every machine). */
static void list_dir(struct file_list *l, const char *dir) {
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort);

        if (n < 0)
                die("cannot read directory", dir);
        for (int i = 0; i < n; i++) {
                if (names[i]->d_name[0] != '.')
                        list_add(l, dir, names[i]->d_name);
                free(names[i]);
        }
        free(names);
}

static void list_path(struct file_list *l, const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                die("cannot find", path);
        if (S_ISDIR(st.st_mode))
                list_dir(l, path);
        else
                list_add(l, "", path);
}

/* The whole file in a buffer of exactly its size, so ASan sees any read past the input. */
static uint8_t *read_file(const char *path, size_t *ret_size) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf;
        long size;

        if (!f || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
                die("cannot read", path);
        buf = malloc(size > 0 ? (size_t)size : 1);
        if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
                die("cannot read", path);
        (void)fclose(f);
        *ret_size = (size_t)size;
        return buf;
}

int main(int argc, char **argv) {
        struct file_list l = {0};
        size_t bytes = 0;

        if (argc > 1)
                for (int i = 1; i < argc; i++)
                        list_path(&l, argv[i]);
        else
                list_dir(&l, FUZZ_CORPUS);
        (void)LLVMFuzzerInitialize(&argc, &argv);
        printf("1..1\n");
        if (l.n == 0) {
                /* An empty corpus replays nothing: that is a broken tree, not a pass. */
                printf("not ok 1 - %s: no inputs to replay\n", FUZZ_TARGET);
                return 1;
        }
        for (size_t i = 0; i < l.n; i++) {
                size_t size;
                uint8_t *data = read_file(l.paths[i], &size);

                fprintf(stderr, "replaying %s (%zu bytes)\n", l.paths[i], size);
                (void)alarm(REPLAY_TIMEOUT_SEC);
                (void)LLVMFuzzerTestOneInput(data, size);
                (void)alarm(0);
                bytes += size;
                free(data);
                free(l.paths[i]);
        }
        printf("ok 1 - %s: %zu inputs (%zu bytes) replayed\n", FUZZ_TARGET, l.n, bytes);
        free(l.paths);
        return 0;
}
