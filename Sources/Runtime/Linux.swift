// Thin, errno-capturing wrappers over the libc calls the lifecycle code uses.
import CShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum Linux {
    /// A SOCK_SEQPACKET pair by default: message boundaries keep the sync protocol simple.
    static func socketPair(type: Int32 = Int32(SOCK_SEQPACKET.rawValue)) throws(RuntimeError) -> (parent: Int32, child: Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw .system("socketpair", errno: currentErrno())
        }
        return (fds[0], fds[1])
    }

    /// Connects to a unix socket path (the --console-socket).
    static func connectUnix(_ path: String) throws(RuntimeError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno: currentErrno()) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw RuntimeError("console socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let code = currentErrno()
            close(fd)
            throw .system("connect console socket", path, errno: code)
        }
        return fd
    }

    static func openReadOnly(_ path: String) throws(RuntimeError) -> Int32 {
        let fd = mk_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .system("open", path, errno: currentErrno()) }
        return fd
    }

    /// Sends one sync message. A peer that already exited is not an error (`receive` then reads its report or
    /// EOF): MSG_NOSIGNAL instead of SIGPIPE, EPIPE ignored.
    static func send(_ fd: Int32, kind: Int32) throws(RuntimeError) {
        var message = mk_sync_msg()
        message.kind = kind
        let written = withUnsafeBytes(of: &message) { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard written == MemoryLayout<mk_sync_msg>.size else {
            let code = currentErrno()
            if code == EPIPE || code == ECONNRESET { return }
            throw .system("write sync socket", errno: code)
        }
    }

    /// Receives one sync message; nil on EOF (the child exited).
    static func receive(_ fd: Int32) throws(RuntimeError) -> mk_sync_msg? {
        var message = mk_sync_msg()
        while true {
            let count = withUnsafeMutableBytes(of: &message) { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw .system("read sync socket", errno: currentErrno()) }
            if count == 0 { return nil }
            return message
        }
    }

    static func stage(of message: mk_sync_msg) -> String {
        withUnsafeBytes(of: message.stage) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Waits for a child; returns the shell-style exit code (128+signal when killed).
    static func wait(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 255 }
        }
        if mk_wifexited(status) != 0 { return mk_wexitstatus(status) }
        if mk_wifsignaled(status) != 0 { return 128 + mk_wtermsig(status) }
        return 255
    }

    /// Waits up to `timeout` seconds for `condition`, polling every 10 ms.
    static func poll(timeout: Double, _ condition: () -> Bool) -> Bool {
        var waited = 0.0
        while !condition() {
            if waited >= timeout { return false }
            usleep(10_000)
            waited += 0.01
        }
        return true
    }
}
