/*
 * nodeshim: the LD_PRELOAD shim behind rpochaos's node-level faults io_stall and clock_skew.
 * Each part is inert unless its environment variable names a control file.
 *
 * io_stall (RPOCHAOS_IOSTALL_FILE=/path/to/switch):
 * Preloaded into every process of one node (with RPOCHAOS_IOSTALL_FILE=/path/to/switch), it
 * wraps write, pwrite, pwritev, writev, fsync, fdatasync and sync_file_range. While the switch
 * file exists, every such call on a REGULAR FILE waits (polling every millisecond) until it is
 * removed; calls on sockets and pipes pass straight through, so the node keeps answering on
 * the network. That is what a stalled disk looks like to PostgreSQL: commits that must flush
 * WAL hang, everything else runs. Reads are not stalled, and the page cache is not involved.
 *
 * clock_skew (RPOCHAOS_CLOCK_FILE=/path/to/clock, 32 bytes, little endian):
 *   int64 offset_ns, int64 drift_ppb, int64 anchor_ns, uint64 seq
 * The wall clock this process sees (gettimeofday, time, clock_gettime on the REALTIME clocks)
 * is real + offset + (real - anchor) * drift_ppb / 1e9. The file is mapped once and read on
 * every call (no system call), so the harness changes the skew while the node runs by
 * rewriting it (seq odd while writing, even when done). Monotonic clocks are never touched:
 * clock skew is a wall-clock fault, as with a misbehaving NTP.
 *
 * Why not libfaketime: it keeps a thread-local "don't fake" flag set while it runs the real
 * select()/poll(); PostgreSQL 15's postmaster forks the walreceiver (and autovacuum and
 * background workers) inside its SIGUSR1 handler, i.e. while blocked in select(), so those
 * children inherit the flag and see the real clock. This shim has no such state.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char *switch_path(void) {
    static const char *p = (const char *)-1;
    if (p == (const char *)-1) p = getenv("RPOCHAOS_IOSTALL_FILE");
    return p;
}

static void wait_if_stalled(int fd) {
    const char *p = switch_path();
    struct stat st;
    if (p == NULL || *p == '\0') return;
    int saved = errno;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        struct timespec ms = {0, 1000000};
        while (access(p, F_OK) == 0) nanosleep(&ms, NULL);
    }
    errno = saved;
}

#define REAL(name, ret, ...) \
    static ret (*real_##name)(__VA_ARGS__) = NULL; \
    if (!real_##name) real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write, ssize_t, int, const void *, size_t);
    wait_if_stalled(fd);
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite, ssize_t, int, const void *, size_t, off_t);
    wait_if_stalled(fd);
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite64, ssize_t, int, const void *, size_t, off_t);
    wait_if_stalled(fd);
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(writev, ssize_t, int, const struct iovec *, int);
    wait_if_stalled(fd);
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t);
    wait_if_stalled(fd);
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) {
    REAL(pwritev64, ssize_t, int, const struct iovec *, int, off_t);
    wait_if_stalled(fd);
    return real_pwritev64(fd, iov, cnt, off);
}

int fsync(int fd) {
    REAL(fsync, int, int);
    wait_if_stalled(fd);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync, int, int);
    wait_if_stalled(fd);
    return real_fdatasync(fd);
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags) {
    REAL(sync_file_range, int, int, off_t, off_t, unsigned int);
    wait_if_stalled(fd);
    return real_sync_file_range(fd, off, n, flags);
}

/* ---- clock_skew ---------------------------------------------------------------------- */

struct clock_ctl {
    volatile int64_t offset_ns;
    volatile int64_t drift_ppb;
    volatile int64_t anchor_ns;
    volatile uint64_t seq;
};

static struct clock_ctl *clock_map(void) {
    static struct clock_ctl *m = (struct clock_ctl *)-1;
    if (m == (struct clock_ctl *)-1) {
        m = NULL;
        const char *p = getenv("RPOCHAOS_CLOCK_FILE");
        if (p != NULL && *p != '\0') {
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                void *a = mmap(NULL, sizeof(struct clock_ctl), PROT_READ, MAP_SHARED, fd, 0);
                close(fd);
                if (a != MAP_FAILED) m = (struct clock_ctl *)a;
            }
        }
    }
    return m;
}

/* nanoseconds to add to a real wall-clock reading of real_ns */
static int64_t skew_ns(int64_t real_ns) {
    struct clock_ctl *m = clock_map();
    if (m == NULL) return 0;
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t s1 = __atomic_load_n(&m->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) continue;
        int64_t off = m->offset_ns, drift = m->drift_ppb, anchor = m->anchor_ns;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&m->seq, __ATOMIC_ACQUIRE) != s1) continue;
        return off + (int64_t)((double)(real_ns - anchor) * (double)drift / 1e9);
    }
    return 0;
}

static int is_wall_clock(clockid_t c) {
    return c == CLOCK_REALTIME || c == CLOCK_REALTIME_COARSE
#ifdef CLOCK_TAI
           || c == CLOCK_TAI
#endif
        ;
}

int clock_gettime(clockid_t c, struct timespec *tp) {
    REAL(clock_gettime, int, clockid_t, struct timespec *);
    int r = real_clock_gettime(c, tp);
    if (r == 0 && tp != NULL && is_wall_clock(c) && clock_map() != NULL) {
        int64_t ns = (int64_t)tp->tv_sec * 1000000000LL + tp->tv_nsec;
        ns += skew_ns(ns);
        tp->tv_sec = ns / 1000000000LL;
        tp->tv_nsec = ns % 1000000000LL;
        if (tp->tv_nsec < 0) { tp->tv_nsec += 1000000000LL; tp->tv_sec -= 1; }
    }
    return r;
}

int gettimeofday(struct timeval *tv, void *tz) {
    REAL(gettimeofday, int, struct timeval *, void *);
    int r = real_gettimeofday(tv, tz);
    if (r == 0 && tv != NULL && clock_map() != NULL) {
        int64_t us = (int64_t)tv->tv_sec * 1000000LL + tv->tv_usec;
        us += skew_ns(us * 1000LL) / 1000LL;
        tv->tv_sec = us / 1000000LL;
        tv->tv_usec = us % 1000000LL;
        if (tv->tv_usec < 0) { tv->tv_usec += 1000000LL; tv->tv_sec -= 1; }
    }
    return r;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL) *out = ts.tv_sec;
    return ts.tv_sec;
}
