/*
 * wasi_stdio.c: an ordinary C program, no Palisade SDK: stdin to stdout through stdio, plus argv,
 * getenv, clock_gettime, getentropy and exit codes. Run under Palisade's WASI preview1 profile,
 * it shows what a plain `wasm32-wasi` binary sees there (docs/WASI.md).
 *
 * Built by guests/artifacts/build.rs with clang and Debian's wasi-libc:
 *   clang --target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi \
 *         -L/usr/lib/wasm32-wasi -O2 -o wasi_stdio.wasm wasi_stdio.c
 *
 * Output on stdout, in this order (every line ends with '\n'):
 *   args: N                  N = argc - 1, then one line per argument after argv[0]:
 *   arg[i]: TEXT
 *   env GREETING: VALUE      or `env GREETING: (unset)`
 *   stdin: N bytes           then the input, upper-cased (ASCII letters only), as-is otherwise
 *                            (no newline is added after it)
 *   clock: ok                two CLOCK_MONOTONIC readings, the second not before the first
 *   random: ok               getentropy filled 32 bytes that are not all zero
 *   done
 * Exit status 0. Failure paths (a message on stderr, nothing more on stdout):
 *   first argument `exit` and a second N: writes `exiting with N` to stderr, exits with N
 *   the clock is refused:       `clock_gettime failed: ...` on stderr, exit status 5
 *   randomness is refused:      `getentropy failed: ...` on stderr, exit status 6
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("args: %d\n", argc > 0 ? argc - 1 : 0);
    for (int i = 1; i < argc; i++) {
        printf("arg[%d]: %s\n", i, argv[i]);
    }
    if (argc == 3 && strcmp(argv[1], "exit") == 0) {
        int code = atoi(argv[2]);
        fflush(stdout);
        fprintf(stderr, "exiting with %d\n", code);
        return code;
    }

    const char *greeting = getenv("GREETING");
    printf("env GREETING: %s\n", greeting ? greeting : "(unset)");

    static char buf[4096];
    size_t total = 0;
    size_t n;
    /* Read everything first, so the count comes before the text. */
    static char input[65536];
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        size_t room = sizeof input - total;
        size_t take = n < room ? n : room;
        memcpy(input + total, buf, take);
        total += take;
    }
    printf("stdin: %zu bytes\n", total);
    for (size_t i = 0; i < total; i++) {
        char c = input[i];
        putchar(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    }

    struct timespec a, b;
    if (clock_gettime(CLOCK_MONOTONIC, &a) != 0 || clock_gettime(CLOCK_MONOTONIC, &b) != 0) {
        fflush(stdout);
        fprintf(stderr, "clock_gettime failed: %s\n", strerror(errno));
        return 5;
    }
    int ordered = b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec);
    printf("clock: %s\n", ordered ? "ok" : "went backwards");

    unsigned char random[32] = {0};
    if (getentropy(random, sizeof random) != 0) {
        fflush(stdout);
        fprintf(stderr, "getentropy failed: %s\n", strerror(errno));
        return 6;
    }
    int any = 0;
    for (size_t i = 0; i < sizeof random; i++) {
        any |= random[i];
    }
    printf("random: %s\n", any ? "ok" : "all zero");
    printf("done\n");
    return 0;
}
