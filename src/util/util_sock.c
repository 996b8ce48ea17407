/*
 * Unix stream sockets: the control socket, the XenStore socket and the
 * `xenkvm irq serve` socket all listen the same way (0600, stale file
 * replaced, a live server left alone), and the line protocol of the
 * control socket reads and writes with bounded waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenkvm/util.h"

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!path || !*path)
        return -EINVAL;
    size_t len = strlen(path);
    if (len >= sizeof(sa->sun_path))
        return -ENAMETOOLONG;
    memcpy(sa->sun_path, path, len + 1);
    return 0;
}

int util_unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int rc = fill_addr(&sa, path);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

bool util_unix_in_use(const char *path)
{
    int fd = util_unix_connect(path);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int util_unix_listen(const char *path, int backlog, unsigned int flags)
{
    struct sockaddr_un sa;
    int rc = fill_addr(&sa, path);
    if (rc < 0)
        return rc;
    struct stat st;
    if (lstat(path, &st) == 0) {
        /* Never remove a file that is not a socket; a socket that answers
         * belongs to a running server. */
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST;
        if (util_unix_in_use(path))
            return -EADDRINUSE;
        unlink(path);
    }
    int type = SOCK_STREAM | SOCK_CLOEXEC |
               ((flags & UTIL_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0)
        return -errno;
    /* Linux creates the socket file with the inode's mode less the umask:
     * 0600 before bind leaves no moment at which another user may connect;
     * the umask covers kernels that ignore the inode's mode. */
    (void)fchmod(fd, 0600);
    mode_t old = umask(077);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(fd, backlog) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int util_read_line(int fd, char *buf, size_t n, int timeout_ms)
{
    if (!n)
        return -EINVAL;
    size_t len = 0;
    while (len + 1 < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : -errno;
        ssize_t got = read(fd, buf + len, 1);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (got == 0 || buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    if (len && buf[len - 1] == '\r')
        buf[len - 1] = '\0';
    return 0;
}

int util_write_all(int fd, const void *buf, size_t n, int timeout_ms)
{
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -errno;
            struct pollfd pw = { .fd = fd, .events = POLLOUT };
            int r = poll(&pw, 1, timeout_ms);
            if (r == 0)
                return -ETIMEDOUT;
            if (r < 0 && errno != EINTR)
                return -errno;
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
