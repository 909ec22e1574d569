/* runtime/atomic.h - the few atomic operations the runtime uses.
 *
 * Production builds use Concurrency Kit's ck_pr (inline, per-architecture,
 * fences that vanish on TSO machines).  ThreadSanitizer cannot see ck_pr's
 * inline assembly, so under ACTO_TSAN the same operations map to the
 * compiler's __atomic builtins with the orders named here, which TSan
 * understands.  Every lock-free algorithm in the runtime is written against
 * these names only, so the code TSan checks is the code that ships.
 *
 * Orders: _acq loads acquire, _rel stores release, RMW ops are sequentially
 * consistent (x86 lock-prefixed instructions), at_fence is a full fence. */
#ifndef ACTO_ATOMIC_H
#define ACTO_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#ifndef ACTO_TSAN
#include <ck_pr.h>

static inline void *at_load_ptr(void *const *p) { void *v = ck_pr_load_ptr(p); ck_pr_fence_load(); return v; }
static inline void *at_load_ptr_rlx(void *const *p) { return ck_pr_load_ptr(p); }
static inline void at_store_ptr(void **p, void *v) { ck_pr_fence_store(); ck_pr_store_ptr(p, v); }
static inline void *at_xchg_ptr(void **p, void *v) { return ck_pr_fas_ptr(p, v); }
static inline bool at_cas_ptr(void **p, void *old, void *nv) { return ck_pr_cas_ptr(p, old, nv); }

static inline uint64_t at_load_u64(const uint64_t *p) { uint64_t v = ck_pr_load_64(p); ck_pr_fence_load(); return v; }
static inline uint64_t at_load_u64_rlx(const uint64_t *p) { return ck_pr_load_64(p); }
static inline void at_store_u64(uint64_t *p, uint64_t v) { ck_pr_fence_store(); ck_pr_store_64(p, v); }
static inline void at_store_u64_rlx(uint64_t *p, uint64_t v) { ck_pr_store_64(p, v); }
static inline uint64_t at_faa_u64(uint64_t *p, uint64_t d) { return ck_pr_faa_64(p, d); }
static inline bool at_cas_u64(uint64_t *p, uint64_t old, uint64_t nv) { return ck_pr_cas_64(p, old, nv); }

static inline uint32_t at_load_u32(const uint32_t *p) { uint32_t v = ck_pr_load_32(p); ck_pr_fence_load(); return v; }
static inline void at_store_u32(uint32_t *p, uint32_t v) { ck_pr_fence_store(); ck_pr_store_32(p, v); }
static inline uint32_t at_faa_u32(uint32_t *p, uint32_t d) { return ck_pr_faa_32(p, d); }
static inline bool at_cas_u32(uint32_t *p, uint32_t old, uint32_t nv) { return ck_pr_cas_32(p, old, nv); }
static inline uint32_t at_xchg_u32(uint32_t *p, uint32_t v) { return ck_pr_fas_32(p, v); }

static inline void at_fence(void) { ck_pr_fence_memory(); }
static inline void at_pause(void) { ck_pr_stall(); }

#else /* ACTO_TSAN */

#define AT_SC __ATOMIC_SEQ_CST
static inline void *at_load_ptr(void *const *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void *at_load_ptr_rlx(void *const *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void at_store_ptr(void **p, void *v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void *at_xchg_ptr(void **p, void *v) { return __atomic_exchange_n(p, v, AT_SC); }
static inline bool at_cas_ptr(void **p, void *old, void *nv) { return __atomic_compare_exchange_n(p, &old, nv, false, AT_SC, AT_SC); }

static inline uint64_t at_load_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint64_t at_load_u64_rlx(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void at_store_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void at_store_u64_rlx(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline uint64_t at_faa_u64(uint64_t *p, uint64_t d) { return __atomic_fetch_add(p, d, AT_SC); }
static inline bool at_cas_u64(uint64_t *p, uint64_t old, uint64_t nv) { return __atomic_compare_exchange_n(p, &old, nv, false, AT_SC, AT_SC); }

static inline uint32_t at_load_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void at_store_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t at_faa_u32(uint32_t *p, uint32_t d) { return __atomic_fetch_add(p, d, AT_SC); }
static inline bool at_cas_u32(uint32_t *p, uint32_t old, uint32_t nv) { return __atomic_compare_exchange_n(p, &old, nv, false, AT_SC, AT_SC); }
static inline uint32_t at_xchg_u32(uint32_t *p, uint32_t v) { return __atomic_exchange_n(p, v, AT_SC); }

/* GCC rejects standalone fences under TSan.  A locked RMW on a
 * thread-private word is a full barrier on x86 and, being private, adds no
 * happens-before edge that could hide a real race from TSan. */
static inline void at_fence(void)
{
    static __thread uint32_t fence_word;
    __atomic_fetch_add(&fence_word, 0, AT_SC);
}
static inline void at_pause(void) { __builtin_ia32_pause(); }
#endif

#endif
