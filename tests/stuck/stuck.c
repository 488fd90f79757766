/* Models of code stuck where Python cannot reach it (see tests/apps/stuckapp.py). */
#include <errno.h>
#include <sys/socket.h>
#include <time.h>

static volatile unsigned long counter;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Spin for `seconds`, checking nothing: no signal handler of Python runs. */
int spin(double seconds) {
    double start = now();
    for (;;) {
        for (int i = 0; i < 1000000; i++) counter++;
        if (now() - start > seconds) return 0;
    }
}

/* Wait for a byte that never comes; retry when a signal interrupts. */
int block_recv(int fd) {
    char byte;
    for (;;) {
        ssize_t got = recv(fd, &byte, 1, 0);
        if (got < 0 && errno == EINTR) continue;
        return (int)got;
    }
}
