/*
 * palisade.h: the Palisade guest SDK for C, header only (guest ABI v1, docs/ABI.md).
 *
 * Build a guest with clang and lld, no C library:
 *
 *   clang --target=wasm32 -nostdlib -O2 -Wl,--no-entry -I guests/c -o rule.wasm rule.c
 *
 * (Debian: `apt-get install clang lld`.) Only `<stdint.h>` and `<stddef.h>` are used, which
 * clang ships itself. The header gives you:
 *
 *   - the `palisade` imports (docs/ABI.md §4) as `palisade_output`, `palisade_log`, ...,
 *   - the `palisade.abi` custom section declaring ABI version 1,
 *   - the allocator export `palisade_alloc` the host writes the input through (a bump allocator
 *     over the memory after the program's data; it never frees, which is right for Palisade:
 *     every call runs in a fresh instance, so the heap starts empty each time),
 *   - the log levels `PALISADE_LOG_*`, the capability error codes `PALISADE_E*`, the guest
 *     error codes the Rust SDK uses (`PALISADE_BAD_INPUT`, ...),
 *   - `PALISADE_ENTRY(name)`, which exports a function as an entry point.
 *
 * One translation unit: include it and write your rule. Several: `#define PALISADE_NO_DEFINITIONS`
 * before including it in every file but one, so the ABI section and the allocator exist once (a
 * second `palisade.abi` section would make the module's declaration malformed; a second
 * `palisade_alloc` is a link error).
 *
 * Why inline assembly for the ABI section: clang's `__attribute__((section("palisade.abi")))`
 * puts the bytes in a data segment, not in a custom section, and wasm-ld has no flag to add one.
 * The assembler directive `.section .custom_section.<name>,"",@` is how the WebAssembly object
 * format marks a custom section; wasm-ld copies such sections into the module under `<name>`
 * (LLVM's own `target_features` and `producers` sections are made the same way).
 */
#ifndef PALISADE_H
#define PALISADE_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__wasm32__)
#error "palisade.h is for wasm32 guests: compile with clang --target=wasm32"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header implements (the payload of the `palisade.abi` section). */
#define PALISADE_ABI_VERSION 1

/* Log levels: the `level` argument of `palisade_log`. Any other value returns PALISADE_EINVALID. */
#define PALISADE_LOG_ERROR 0
#define PALISADE_LOG_WARN 1
#define PALISADE_LOG_INFO 2
#define PALISADE_LOG_DEBUG 3
#define PALISADE_LOG_TRACE 4

/* Error codes returned by capability functions (docs/ABI.md §4). */
#define PALISADE_ENOT_FOUND (-1) /* the key does not exist */
#define PALISADE_ETOO_LARGE (-2) /* a key, value or buffer is over its limit */
#define PALISADE_EQUOTA (-3)     /* a per-call or per-tenant budget is spent */
#define PALISADE_EINVALID (-4)   /* an argument is out of range */
#define PALISADE_EDENIED (-5)    /* the resource exists but this guest may not use it */
#define PALISADE_EHOST (-6)      /* the host backend failed; retrying later may work */

/* Guest error codes the Rust SDK uses; a guest may return any other non-zero code. */
#define PALISADE_FAILED 1     /* a generic failure */
#define PALISADE_BAD_INPUT 2  /* the input could not be decoded */
#define PALISADE_BAD_OUTPUT 3 /* the output could not be encoded */

/* Longest kv key the host accepts, in bytes. */
#define PALISADE_MAX_KEY_BYTES 256
/* Most bytes `palisade_random_fill` fills per call. */
#define PALISADE_MAX_RANDOM_CHUNK 4096

#define PALISADE_IMPORT(name) __attribute__((import_module("palisade"), import_name(name)))

/* Capability `core` (always granted). */
/* Names the output (or, with a non-zero return, the error message) region. */
PALISADE_IMPORT("output") void palisade_output(const void *ptr, size_t len);
/* Ends the call at once with guest error `code` and `message`. */
PALISADE_IMPORT("fail")
__attribute__((noreturn)) void palisade_fail(int32_t code, const void *message, size_t len);

/* Capability `log`: 0, PALISADE_EQUOTA (line dropped) or PALISADE_EINVALID (unknown level). */
PALISADE_IMPORT("log") int32_t palisade_log(int32_t level, const void *message, size_t len);
/* Capability `clock`: monotonic nanoseconds since a host-chosen origin. */
PALISADE_IMPORT("clock_now") int64_t palisade_clock_now(void);
/* Capability `random`: 0, PALISADE_ETOO_LARGE above 4096 bytes, PALISADE_EHOST. */
PALISADE_IMPORT("random_fill") int32_t palisade_random_fill(void *buf, size_t len);
/* Capability `kv.read`: the value's full length (min(len, cap) bytes written), or
 * PALISADE_ENOT_FOUND. */
PALISADE_IMPORT("kv_get")
int32_t palisade_kv_get(const void *key, size_t key_len, void *val, size_t val_cap);
/* Capability `kv.write`: 0, PALISADE_ETOO_LARGE, PALISADE_EQUOTA. */
PALISADE_IMPORT("kv_set")
int32_t palisade_kv_set(const void *key, size_t key_len, const void *val, size_t val_len);
/* Capability `kv.write`: 0 or PALISADE_ENOT_FOUND. */
PALISADE_IMPORT("kv_delete") int32_t palisade_kv_delete(const void *key, size_t key_len);
/* Capability `gpio` (boards): 0, PALISADE_EDENIED, PALISADE_EINVALID. */
PALISADE_IMPORT("gpio_write") int32_t palisade_gpio_write(int32_t pin, int32_t level);
/* Capability `gpio` (boards): 0/1, PALISADE_EDENIED, PALISADE_EINVALID. */
PALISADE_IMPORT("gpio_read") int32_t palisade_gpio_read(int32_t pin);
/* Capability `sensor` (boards): 0 and a milli-unit reading at `out`, PALISADE_EINVALID,
 * PALISADE_EHOST. */
PALISADE_IMPORT("sensor_read") int32_t palisade_sensor_read(int32_t channel, int32_t *out);

/*
 * Exports `name` as an entry point: declare it as
 *
 *   PALISADE_ENTRY(decide)(const uint8_t *in, size_t len) { ... return 0; }
 *
 * Return 0 for success (the output is the region last named with palisade_output), any other
 * value for a guest error with that code (the region last named is the message).
 */
#define PALISADE_ENTRY(name) __attribute__((export_name(#name))) int32_t name

/* A short description of a capability error code (the Rust SDK's `CapError::as_str`). */
static inline const char *palisade_strerror(int32_t code) {
    switch (code) {
    case PALISADE_ENOT_FOUND: return "not found";
    case PALISADE_ETOO_LARGE: return "too large";
    case PALISADE_EQUOTA: return "quota exceeded";
    case PALISADE_EINVALID: return "invalid argument";
    case PALISADE_EDENIED: return "denied";
    case PALISADE_EHOST: return "host failure";
    default: return "unknown capability error";
    }
}

/* Length of a NUL-terminated string (no C library here). */
static inline size_t palisade_strlen(const char *s) {
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

/* Logs a NUL-terminated line at `level`. */
static inline int32_t palisade_log_str(int32_t level, const char *message) {
    return palisade_log(level, message, palisade_strlen(message));
}

/* Names a NUL-terminated string as the output and returns `code`: `return palisade_error(2, "...")`
 * from an entry point reports a guest error with that message. */
static inline int32_t palisade_error(int32_t code, const char *message) {
    palisade_output(message, palisade_strlen(message));
    return code;
}

/* `len` bytes from the bump heap (8-byte aligned), or NULL when memory cannot grow. */
void *palisade_malloc(size_t len);

#ifndef PALISADE_NO_DEFINITIONS

/* The ABI declaration: a custom section `palisade.abi` holding the version as a u32 LE. */
__asm__(".section .custom_section.palisade.abi,\"\",@\n"
        ".int32 1\n"
        ".text\n");

/* The first byte after the program's static data and stack (set by wasm-ld). */
extern unsigned char __heap_base;

static uintptr_t palisade_heap_next;

void *palisade_malloc(size_t len) {
    if (palisade_heap_next == 0) {
        palisade_heap_next = (uintptr_t)&__heap_base;
    }
    uintptr_t start = (palisade_heap_next + 7u) & ~(uintptr_t)7u;
    if (start < palisade_heap_next || len > UINTPTR_MAX - start) {
        return NULL;
    }
    uintptr_t end = start + len;
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        size_t pages = (size_t)(((uint64_t)end - have + 65535u) / 65536u);
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) {
            return NULL;
        }
    }
    palisade_heap_next = end;
    return (void *)start;
}

/* The allocator the host writes the input through: a pointer to `len` bytes, or 0. */
__attribute__((export_name("palisade_alloc"))) int32_t palisade_alloc(int32_t len) {
    return (int32_t)(uintptr_t)palisade_malloc((size_t)(uint32_t)len);
}

#endif /* PALISADE_NO_DEFINITIONS */

#ifdef __cplusplus
}
#endif

#endif /* PALISADE_H */
