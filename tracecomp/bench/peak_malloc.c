/* Heap bytes in use and their peak, for tracecomp/bench/peak.py: preloaded (LD_PRELOAD)
 * into a process, it wraps glibc's allocation functions, counting each block's usable size,
 * so numpy's arrays and torch's CPU tensors are measured the same way. Python reads the
 * counts through ctypes: tracecomp_heap_now, tracecomp_heap_peak, tracecomp_heap_reset
 * (the peak starts again from what is in use now). Linux with glibc only. */
#define _GNU_SOURCE
#include <stddef.h>
#include <malloc.h>
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static long long current_bytes, peak_bytes;

static void grew(void *p) {
    if (!p) return;
    long long now = __atomic_add_fetch(&current_bytes, (long long)malloc_usable_size(p), __ATOMIC_RELAXED);
    long long peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&peak_bytes, &peak, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}
static void shrank(void *p) {
    if (p) __atomic_sub_fetch(&current_bytes, (long long)malloc_usable_size(p), __ATOMIC_RELAXED);
}
void *malloc(size_t n) { void *p = __libc_malloc(n); grew(p); return p; }
void *calloc(size_t a, size_t b) { void *p = __libc_calloc(a, b); grew(p); return p; }
void *realloc(void *q, size_t n) { shrank(q); void *p = __libc_realloc(q, n); grew(p ? p : (n ? q : 0)); return p; }
void free(void *p) { shrank(p); __libc_free(p); }
void *memalign(size_t a, size_t n) { void *p = __libc_memalign(a, n); grew(p); return p; }
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) { void *p = memalign(a, n); if (!p) return ENOMEM; *out = p; return 0; }
void *valloc(size_t n) { return memalign(4096, n); }

long long tracecomp_heap_now(void) { return __atomic_load_n(&current_bytes, __ATOMIC_RELAXED); }
long long tracecomp_heap_peak(void) { return __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED); }
void tracecomp_heap_reset(void) { __atomic_store_n(&peak_bytes, __atomic_load_n(&current_bytes, __ATOMIC_RELAXED), __ATOMIC_RELAXED); }
