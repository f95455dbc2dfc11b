/* epoll-bits.h - an epoll event mask as text ("IN|RDNORM|ET", unknown bits in hex, "0"
 * for none), for the reports of conformance.c and difftest.c. */
#ifndef EPOLL_BITS_H
#define EPOLL_BITS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>

/* Writes the names into buf (cut short at len) and returns buf. */
static inline const char *bits(uint32_t ev, char *buf, size_t len)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { EPOLLIN, "IN" }, { EPOLLPRI, "PRI" }, { EPOLLOUT, "OUT" },
        { EPOLLERR, "ERR" }, { EPOLLHUP, "HUP" }, { EPOLLRDNORM, "RDNORM" },
        { EPOLLRDBAND, "RDBAND" }, { EPOLLWRNORM, "WRNORM" },
        { EPOLLWRBAND, "WRBAND" }, { EPOLLMSG, "MSG" }, { EPOLLRDHUP, "RDHUP" },
        { EPOLLEXCLUSIVE, "EXCLUSIVE" }, { EPOLLWAKEUP, "WAKEUP" },
        { EPOLLONESHOT, "ONESHOT" }, { EPOLLET, "ET" },
    };
    size_t off = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (ev & names[i].bit) {
            off += snprintf(buf + off, len - off, "%s%s", off ? "|" : "", names[i].name);
            ev &= ~names[i].bit;
            if (off >= len)
                return buf;
        }
    }
    if (ev && off < len)
        off += snprintf(buf + off, len - off, "%s0x%x", off ? "|" : "", ev);
    if (off == 0)
        snprintf(buf, len, "0");
    return buf;
}

#endif
