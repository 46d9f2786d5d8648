import CSeccomp
import Glibc
import OCISpec
import RuntimeSecurity
import Testing

/// Real enforcement without the runtime: `csec_spawn_filtered` (C, in CSeccomp's shim.h) forks, sets
/// NO_NEW_PRIVS, loads the compiled BPF with seccomp(2) and execs busybox. Only async-signal-safe C runs between
/// fork and execve. The test process is root with all capabilities, so any EPERM seen here comes from the filter.
struct EnforcementTests {
    static let busybox = "/usr/bin/busybox"

    struct Result {
        var exitCode: Int32
        var output: String
    }

    /// Runs `busybox sh -c script` (stdout+stderr captured) under `program`, or unfiltered when nil.
    static func run(_ script: String, under program: SeccompProgram?, in dir: String) throws -> Result {
        let outPath = dir + "/out.\(UInt32.random(in: 0...UInt32.max))"
        let argv: [UnsafeMutablePointer<CChar>?] = ([busybox, "sh", "-c", "exec >\(outPath) 2>&1; \(script)"] as [String]).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = (["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/"] as [String]).map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let pid: pid_t
        if let program {
            pid = program.filter.withUnsafeBytes { raw in
                csec_spawn_filtered(busybox, argv, envp, raw.baseAddress, UInt16(program.instructionCount), program.flags)
            }
        } else {
            pid = csec_spawn_filtered(busybox, argv, envp, nil, 0, 0)
        }
        try #require(pid > 0, "spawn failed: \(pid)")
        // Reap with a deadline so that a hung child fails the test instead of hanging it.
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                Issue.record("child timed out: \(script)")
                break
            }
            usleep(5000)
        }
        let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(exitCode: code, output: readFile(outPath))
    }

    static func readFile(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }

    static let defaultProgram: SeccompProgram? = try? Seccomp.compile(
        DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities), ignoringUnknownSyscalls: true)

    @Test func customProfileDeniesMkdir() throws {
        let dir = makeTempDirectory("enforce-mkdir")
        defer { removeTree(dir) }
        let profile = OCI.Seccomp(
            defaultAction: "SCMP_ACT_ALLOW", syscalls: [OCI.Syscall(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO")])
        let program = try Seccomp.compile(profile)
        let denied = try Self.run("busybox mkdir \(dir)/x", under: program, in: dir)
        #expect(denied.exitCode == 1)
        #expect(denied.output.contains("Operation not permitted"), "\(denied.output)")
        #expect(access(dir + "/x", F_OK) != 0)
        // Other syscalls still work under the same filter.
        let ok = try Self.run("busybox touch \(dir)/y && busybox cat \(dir)/y && echo done", under: program, in: dir)
        #expect(ok.exitCode == 0)
        #expect(ok.output == "done\n")
    }

    @Test func defaultProfileRunsOrdinaryPrograms() throws {
        let dir = makeTempDirectory("enforce-ok")
        defer { removeTree(dir) }
        let program = try #require(Self.defaultProgram)
        let port = Int.random(in: 20000...40000)
        let script = """
            set -e
            busybox ls / >/dev/null
            /usr/bin/ls -la / >/dev/null
            busybox ps >/dev/null
            echo hello | busybox cat >/dev/null
            busybox dd if=/dev/zero of=\(dir)/zero bs=4k count=4 2>/dev/null
            busybox sleep 0.05
            busybox mkdir \(dir)/d && busybox rmdir \(dir)/d
            busybox sh -c 'exit 0' &
            wait
            echo page > \(dir)/index.html
            busybox httpd -f -p 127.0.0.1:\(port) -h \(dir) &
            h=$!
            trap 'kill $h' EXIT
            busybox sleep 0.3
            busybox wget -q -O \(dir)/got http://127.0.0.1:\(port)/index.html
            busybox cat \(dir)/got
            busybox id -u
            """
        let result = try Self.run(script, under: program, in: dir)
        #expect(result.exitCode == 0, "\(result.output)")
        #expect(result.output == "page\n0\n", "\(result.output)")
    }

    /// unshare, mount, swapon, swapoff fail with EPERM under the default profile; as a control, the same command
    /// without the filter succeeds or fails differently (the test runs as root with all capabilities). `swapon` and
    /// `swapoff` use a zero-filled file, which the kernel refuses with EINVAL when the call is not filtered. keyctl and
    /// reboot have no safe busybox applet; DefaultProfileTests covers them on the BPF.
    @Test(arguments: [
        ("busybox unshare -m true", "Operation not permitted"),
        ("busybox unshare -n true", "Operation not permitted"),
        // busybox mount turns EPERM into this message.
        ("busybox mount -t tmpfs none /nonexistent-minikubelet", "permission denied (are you root?)"),
        ("busybox dd if=/dev/zero of=swapfile bs=64k count=1 2>/dev/null; busybox swapon swapfile", "Operation not permitted"),
        ("busybox dd if=/dev/zero of=swapfile bs=64k count=1 2>/dev/null; busybox swapoff swapfile", "Operation not permitted"),
    ])
    func defaultProfileBlocks(command: String, message: String) throws {
        let dir = makeTempDirectory("enforce-deny")
        defer { removeTree(dir) }
        let program = try #require(Self.defaultProgram)
        let denied = try Self.run("cd \(dir) && \(command)", under: program, in: dir)
        #expect(denied.exitCode != 0)
        #expect(denied.output.contains(message), "\(denied.output)")
        let control = try Self.run("cd \(dir) && \(command)", under: nil, in: dir)
        #expect(!control.output.contains(message), "control run: \(control.output)")
    }
}
