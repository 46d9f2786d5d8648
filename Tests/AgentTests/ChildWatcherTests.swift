// The exit descriptor's fallback for kernels without pidfd_open: an eventfd a thread signals once the child exited.
import Glibc
import Testing

@testable import Kubelet

@Suite struct ChildWatcherTests {
    @Test func withoutPidfdOpenAnEventfdSignalsTheExitAndLeavesTheChildToReap() throws {
        var pid: pid_t = 0
        let argv = ["/bin/sh", "-c", "sleep 0.3; exit 7"]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        try #require(posix_spawn(&pid, "/bin/sh", nil, nil, &cArgs, environ) == 0)
        let fd = ChildWatcher.exitDescriptor(pid) { _ in
            errno = ENOSYS
            return -1
        }
        try #require(fd >= 0)
        defer { close(fd) }
        // Not readable while the child runs.
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(Glibc.poll(&poll, 1, 0) == 0)
        // Readable once it exited (generous: the machine may be loaded).
        #expect(Glibc.poll(&poll, 1, 30_000) == 1)
        // The waiter used WNOWAIT: the exit status is still there to collect.
        var raw: Int32 = 0
        #expect(waitpid(pid, &raw, WNOHANG) == pid)
        #expect((raw >> 8) & 0xff == 7)
    }

    @Test func pidfdOpenIsUsedWhenTheKernelHasIt() throws {
        let fd = ChildWatcher.exitDescriptor(getpid())
        try #require(fd >= 0)
        defer { close(fd) }
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        // Our own process is alive: a pidfd of it is not readable (an eventfd fallback would be too, so also check
        // it is a pidfd by its /proc link).
        #expect(Glibc.poll(&poll, 1, 0) == 0)
        var link = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(fd)", &link, link.count)
        let target = String(decoding: link.prefix(max(0, n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(target.contains("pidfd"))
    }
}
