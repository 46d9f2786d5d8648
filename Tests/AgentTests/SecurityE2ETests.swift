// Issue 6 end to end: securityContext, the RuntimeDefault seccomp profile, Pod Security levels, pod sysctls and
// the pod pids limit, through a real agent (AgentHarness) with real containers. Pods are batched (several
// containers per pod, several pods per agent) to keep the suite short on a loaded machine.
//
// Host safety: every pod has the agent's pinned namespaces inside the harness's network namespace (the only
// address added is on the pod's own `lo`); the fork bomb is bounded by the pod's pids limit; hostPID/hostIPC pods
// only read their namespace links; the runc runs of the differential check use their own relative cgroups.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

/// `key=value` lines of a log (the last value of a key wins).
func keyValues(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let equals = line.firstIndex(of: "=") else { continue }
        out[String(line[..<equals])] = String(line[line.index(after: equals)...])
    }
    return out
}

/// A shell script for a YAML block scalar interpolated at `spaces` columns: the first line takes its indentation
/// from the surrounding literal, the others get it here.
func yamlBlock(_ script: String, spaces: Int) -> String {
    script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).joined(separator: "\n" + String(repeating: " ", count: spaces))
}

/// Capability numbers (capability.h) for the expectation table, so the test does not reuse the code under test.
let capabilityNumbers: [String: Int] = [
    "CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10,
    "NET_ADMIN": 12, "NET_RAW": 13, "SYS_CHROOT": 18, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31,
]

/// The 14 containerd/Docker defaults.
let defaultCapabilityNames = [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
    "AUDIT_WRITE",
]

func capMask(_ names: [String]) -> String {
    let mask = names.reduce(UInt64(0)) { $0 | (UInt64(1) << UInt64(capabilityNumbers[$1] ?? 63)) }
    let hex = String(mask, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// This process's own capability set (privileged containers get what the agent, started by this test, holds).
func ownStatusField(_ field: String) -> String {
    let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    return statusOf(text)[field] ?? ""
}

let securityStatusFields = ["Uid", "Gid", "Groups", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp"]

/// The compared fields of a /proc/<pid>/status text, whitespace normalised.
func statusOf(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let key = String(line[..<colon])
        guard securityStatusFields.contains(key) else { continue }
        out[key] = line[line.index(after: colon)...].split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ")
    }
    return out
}

func expectedStatus(
    uid: UInt32 = 0, gid: UInt32 = 0, groups: String = "0", capEff: String = capMask(defaultCapabilityNames),
    capBnd: String = capMask(defaultCapabilityNames), nnp: Int = 0, seccomp: Int = 2
) -> [String: String] {
    [
        "Uid": "\(uid) \(uid) \(uid) \(uid)", "Gid": "\(gid) \(gid) \(gid) \(gid)", "Groups": groups, "CapEff": capEff, "CapBnd": capBnd,
        "NoNewPrivs": "\(nnp)", "Seccomp": "\(seccomp)",
    ]
}

/// Compiles `source` statically into `path`; false without a C compiler.
func compileStatic(_ source: String, to path: String) throws -> Bool {
    let file = path + ".c"
    try source.write(toFile: file, atomically: true, encoding: .utf8)
    guard let result = try? run(["cc", "-static", "-O1", "-o", path, file], timeout: .seconds(120)) else { return false }
    return result.succeeded
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct SecurityE2ETests {
    /// Acceptance 1 and 2: the attack suite in pods with the defaults, the setuid helper with and without
    /// allowPrivilegeEscalation, the hostPath `..` escapes, the fork bomb at the pod pids limit, and what
    /// `privileged` and `NET_ADMIN` grant. Level privileged: the tools come in through a hostPath volume.
    @Test func attacksAreRefusedAndPrivilegesGranted() throws {
        let agent = try AgentHarness(extraArgs: ["--pod-security=privileged", "--pod-max-pids=96"])
        defer { agent.cleanUp() }
        let tools = agent.dir + "/tools"
        let escape = agent.dir + "/escape"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: escape + "/inner", withIntermediateDirectories: true)
        try "host-secret\n".write(toFile: escape + "/secret", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: escape + "/inner/up", withDestinationPath: "../secret")
        try FileManager.default.createSymbolicLink(atPath: escape + "/inner/abs", withDestinationPath: escape + "/secret")
        let suid = try compileStatic(
            "#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf(\"euid=%u\\n\", (unsigned)geteuid()); return 0; }\n", to: tools + "/suid-id")
        try #require(suid, "no C compiler for the setuid helper")
        #expect(chown(tools + "/suid-id", 0, 0) == 0 && chmod(tools + "/suid-id", 0o4755) == 0)
        // The errno of syscalls busybox has no applet for (keyring, reboot): EPERM (1) from the seccomp profile.
        let probe = try compileStatic(
            """
            #include <errno.h>
            #include <stdio.h>
            #include <sys/syscall.h>
            #include <unistd.h>
            static int e(long r) { return r < 0 ? errno : 0; }
            int main(void) {
                int add = e(syscall(SYS_add_key, "user", "podsec", "v", 1, -2));
                int ctl = e(syscall(SYS_keyctl, 0, -3, 0));
                int rb = e(syscall(SYS_reboot, 0xfee1dead, 672274793, 0, 0));
                printf("probe add_key=%d keyctl=%d reboot=%d\\n", add, ctl, rb);
                return 0;
            }
            """, to: tools + "/syscall-probe")
        try #require(probe, "no C compiler for the syscall probe")

        let attacks = """
            mkdir -p /mnt
            mount -t tmpfs t /mnt 2>/dev/null; echo mount=$?
            unshare -m true 2>/dev/null; echo unshare=$?
            swapon /dev/null 2>/dev/null; echo swapon=$?
            (echo h > /proc/sysrq-trigger) 2>/dev/null; echo sysrq=$?
            echo kcore=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)
            mknod /tmp/blk b 7 0 2>/dev/null; head -c1 /tmp/blk >/dev/null 2>&1; echo blockdev=$?
            /tools/syscall-probe
            cat /vol/../secret /vol/up /vol/abs 2>/dev/null; echo escape=$?
            reboot -f 2>/dev/null; echo rebootcmd=$?
            """
        try agent.write(
            "attacks.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: attacks}
            spec:
              restartPolicy: Never
              terminationGracePeriodSeconds: 2
              volumes:
              - {name: tools, hostPath: {path: \(tools)}}
              - {name: inner, hostPath: {path: \(escape)/inner}}
              containers:
              - name: defaults
                image: \(testImage)
                command:
                - sh
                - -c
                - |
                  \(yamlBlock(attacks, spaces: 6))
                volumeMounts: [{name: tools, mountPath: /tools, readOnly: true}, {name: inner, mountPath: /vol}]
              - name: nonetraw
                image: \(testImage)
                securityContext: {capabilities: {drop: [NET_RAW]}}
                command: [sh, -c, "ping -c1 -W1 127.0.0.1 2>&1; echo ping=$?"]
              - name: nochown
                image: \(testImage)
                securityContext: {capabilities: {drop: [CHOWN]}}
                command: [sh, -c, "touch /tmp/f && chown 1000 /tmp/f 2>&1; echo chown=$?"]
              - name: nomknod
                image: \(testImage)
                securityContext: {capabilities: {drop: [MKNOD]}}
                command: [sh, -c, "mknod /tmp/null c 1 3 2>&1; echo mknod=$?"]
              - name: rootcontrol
                image: \(testImage)
                command: [sh, -c, "ping -c1 -W1 127.0.0.1 >/dev/null 2>&1; echo ping=$?; touch /tmp/f && chown 1000 /tmp/f; echo chown=$?; mknod /tmp/null c 1 3; echo mknod=$?"]
              - name: nnp
                image: \(testImage)
                securityContext: {runAsUser: 1000, allowPrivilegeEscalation: false}
                command: [/tools/suid-id]
                volumeMounts: [{name: tools, mountPath: /tools, readOnly: true}]
              - name: suidcontrol
                image: \(testImage)
                securityContext: {runAsUser: 1000}
                command: [/tools/suid-id]
                volumeMounts: [{name: tools, mountPath: /tools, readOnly: true}]
            """)
        // `..` in a hostPath path or a subPath never reaches a container: the manifest is refused.
        try agent.write(
            "dotdot.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: dotdot-hostpath}
            spec:
              volumes: [{name: up, hostPath: {path: \(escape)/inner/..}}]
              containers:
              - {name: c, image: \(testImage), command: [cat, /up/secret], volumeMounts: [{name: up, mountPath: /up}]}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: dotdot-subpath}
            spec:
              volumes: [{name: inner, hostPath: {path: \(escape)/inner}}]
              containers:
              - {name: c, image: \(testImage), command: [cat, /x], volumeMounts: [{name: inner, mountPath: /x, subPath: ../secret}]}
            """)
        let done = try agent.waitForPod("attacks", timeout: .seconds(120)) { $0.status?.phase == "Succeeded" || $0.status?.phase == "Failed" }
        #expect(done != nil, "attacks did not finish: \(String(describing: try? agent.pod("attacks")?.status)); log:\n\(agent.log())")
        func logs(_ container: String) throws -> String { try agent.agentctl(["logs", "attacks", "-c", container]).stdout }

        let defaults = try logs("defaults")
        print("attacks with the defaults:\n\(defaults)")
        let found = keyValues(defaults)
        for key in ["mount", "unshare", "swapon", "sysrq", "blockdev", "escape", "rebootcmd"] {
            #expect(found[key] != nil && found[key] != "0", "\(key) was not refused: \(defaults)")
        }
        #expect(found["kcore"] == "0", "/proc/kcore readable: \(defaults)")
        #expect(defaults.contains("probe add_key=1 keyctl=1 reboot=1"), "keyring/reboot syscalls: \(defaults)")
        #expect(!defaults.contains("host-secret"), "a hostPath escape read the host file: \(defaults)")
        let nonetraw = try logs("nonetraw")
        #expect(nonetraw.contains("permission denied") && !nonetraw.contains("ping=0"), "raw socket without NET_RAW: \(nonetraw)")
        let nochown = try logs("nochown")
        #expect(nochown.contains("Operation not permitted") && !nochown.contains("chown=0"), "chown without CHOWN: \(nochown)")
        let nomknod = try logs("nomknod")
        #expect(nomknod.contains("Operation not permitted") && !nomknod.contains("mknod=0"), "mknod without MKNOD: \(nomknod)")
        // Controls: with the capabilities the same operations work, so the refusals above are the drops.
        let control = keyValues(try logs("rootcontrol"))
        #expect(control == ["ping": "0", "chown": "0", "mknod": "0"], "controls: \(control)")
        #expect(try logs("nnp") == "euid=1000\n", "setuid-root helper with allowPrivilegeEscalation: false")
        #expect(try logs("suidcontrol") == "euid=0\n", "setuid-root helper without no_new_privs (control)")

        let events = try agent.events()
        #expect(events.contains("must not contain '..'"), "events: \(events)")
        #expect(try agent.pod("dotdot-hostpath") == nil && agent.pod("dotdot-subpath") == nil, "a `..` manifest became a pod")
        try agent.remove("attacks.yaml")
        try agent.remove("dotdot.yaml")

        try forkBombStopsAtThePodLimit(agent)
        try privilegedAndNetAdmin(agent)
    }

    /// One container holds 40 processes, the other forks until it cannot: the limit (96) is the pod's, shared.
    /// The bomb gives up at 400 so that a missing limit fails the test instead of loading the machine.
    func forkBombStopsAtThePodLimit(_ agent: AgentHarness) throws {
        try agent.write(
            "bomb.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: bomb}
            spec:
              terminationGracePeriodSeconds: 2
              volumes: [{name: shared, emptyDir: {}}]
              containers:
              - name: holder
                image: \(testImage)
                command: [sh, -c, "i=0; while [ $i -lt 40 ]; do sleep 3600 & i=$((i+1)); done; touch /shared/ready; echo held=$i; exec sleep 3600"]
                volumeMounts: [{name: shared, mountPath: /shared}]
              - name: bomb
                image: \(testImage)
                command:
                - sh
                - -c
                - |
                  until [ -f /shared/ready ]; do sleep 1; done
                  ( n=0; while [ $n -lt 400 ]; do sleep 3600 & n=$((n+1)); echo $n > /shared/n; done ) 2>/dev/null
                  read n < /shared/n
                  echo "forked=$n"
                  exec sleep 3600
                volumeMounts: [{name: shared, mountPath: /shared}]
            """)
        var forked: Int?
        let stopped = waitUntil(timeout: .seconds(120), interval: .milliseconds(500)) {
            forked = (try? agent.agentctl(["logs", "bomb", "-c", "bomb"])).flatMap { keyValues($0.stdout)["forked"] }.flatMap { Int($0) }
            return forked != nil
        }
        #expect(stopped, "the fork bomb never stopped: \(String(describing: try? agent.pod("bomb")?.status)); log:\n\(agent.log())")
        print("fork bomb: \(forked.map(String.init) ?? "-") processes forked under a pod limit of 96 with 40 held")
        if let forked {
            // 96 minus the holder's 41 and the bomb's own shells: at most 55, and it did fork.
            #expect(forked > 0 && forked <= 55, "forked \(forked) processes under a pod limit of 96 with 40 held")
        }
        let uid = try agent.pod("bomb")?.metadata.uid ?? ""
        let pidsDirectory = agent.podCgroupDirectories(uid: uid).first { $0.contains("/pids/") }
        if let pidsDirectory {
            let limit = try String(contentsOfFile: pidsDirectory + "/pids.max", encoding: .utf8)
            #expect(limit == "96\n", "pod pids.max: \(limit)")
        } else {
            Issue.record("no pids controller directory for pod \(uid)")
        }
        // The agent is unaffected: it answers and runs another pod.
        try agent.write("after.yaml", sleeperPod(name: "after-bomb"))
        #expect(try agent.waitForPod("after-bomb", isRunningAndReady) != nil, "log:\n\(agent.log())")
        try agent.remove("bomb.yaml")
        try agent.remove("after.yaml")
        #expect(waitUntil(timeout: .seconds(60)) { ((try? agent.pods()) ?? [Pod()]).isEmpty }, "pods left after the bomb: \(agent.log())")
    }

    func privilegedAndNetAdmin(_ agent: AgentHarness) throws {
        try agent.write(
            "powers.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: powers}
            spec:
              restartPolicy: Never
              terminationGracePeriodSeconds: 2
              containers:
              - name: priv
                image: \(testImage)
                securityContext: {privileged: true}
                command: [sh, -c, "mkdir -p /mnt; mount -t tmpfs t /mnt; echo mount=$?; echo devices=$(ls /dev | tr '\\\\n' ' ')"]
              - name: netadmin
                image: \(testImage)
                securityContext: {capabilities: {add: [NET_ADMIN]}}
                command: [sh, -c, "ip addr add 10.213.0.1/32 dev lo; echo addr=$?; ip -4 addr show dev lo"]
              - name: plain
                image: \(testImage)
                command: [sh, -c, "mkdir -p /mnt; mount -t tmpfs t /mnt 2>/dev/null; echo mount=$?; ip addr add 10.213.0.2/32 dev lo 2>/dev/null; echo addr=$?; echo devices=$(ls /dev | tr '\\\\n' ' ')"]
            """)
        let done = try agent.waitForPod("powers", timeout: .seconds(90)) { $0.status?.phase == "Succeeded" || $0.status?.phase == "Failed" }
        #expect(done?.status?.phase == "Succeeded", "powers: \(String(describing: try? agent.pod("powers")?.status)); log:\n\(agent.log())")
        func logs(_ container: String) throws -> String { try agent.agentctl(["logs", "powers", "-c", container]).stdout }
        let privileged = keyValues(try logs("priv"))
        let plain = keyValues(try logs("plain"))
        #expect(privileged["mount"] == "0", "privileged mount: \(privileged)")
        #expect(plain["mount"] != nil && plain["mount"] != "0", "unprivileged mount: \(plain)")
        // A host device outside the runtime's default set (null, zero, full, random, urandom, tty, ptmx, console).
        let standard: Set<String> = [
            "null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts", "shm", "mqueue", "fd", "stdin", "stdout",
            "stderr", "core",
        ]
        let hostDevices = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter { name in
            var st = stat()
            guard !standard.contains(name), lstat("/dev/" + name, &st) == 0 else { return false }
            return st.st_mode & S_IFMT == S_IFCHR || st.st_mode & S_IFMT == S_IFBLK
        }.sorted()
        if let device = hostDevices.first {
            print("privileged: mount=\(privileged["mount"] ?? "-"), host device \(device); netadmin: \(try logs("netadmin"))")
            let privilegedDevices = Set((privileged["devices"] ?? "").split(separator: " ").map(String.init))
            let plainDevices = Set((plain["devices"] ?? "").split(separator: " ").map(String.init))
            #expect(privilegedDevices.contains(device), "host device \(device) missing in the privileged container: \(privilegedDevices.sorted())")
            #expect(!plainDevices.contains(device), "the unprivileged container sees host device \(device)")
        } else {
            Issue.record("the host has no device outside the default set to look for")
        }
        let netadmin = try logs("netadmin")
        #expect(netadmin.contains("addr=0") && netadmin.contains("10.213.0.1"), "NET_ADMIN: \(netadmin)")
        #expect(plain["addr"] != nil && plain["addr"] != "0", "ip addr add without NET_ADMIN: \(plain)")
    }
}

/// One row of the /proc/self/status expectation table: a container of `pod` with `securityContext`.
struct StatusExpectation {
    var pod: String
    var container: String
    var securityContext: String
    var expected: [String: String]
}

extension SecurityE2ETests {
    static var statusTable: [StatusExpectation] {
        let none = capMask([])
        let withoutRaw = defaultCapabilityNames.filter { $0 != "NET_RAW" } + ["NET_ADMIN"]
        return [
            StatusExpectation(pod: "st-plain", container: "defaults", securityContext: "{}", expected: expectedStatus()),
            StatusExpectation(
                pod: "st-plain", container: "uid1000", securityContext: "{runAsUser: 1000}",
                expected: expectedStatus(uid: 1000, gid: 1000, groups: "1000", capEff: none)),
            StatusExpectation(
                pod: "st-plain", container: "nnp", securityContext: "{allowPrivilegeEscalation: false}", expected: expectedStatus(nnp: 1)),
            StatusExpectation(
                pod: "st-plain", container: "bindonly", securityContext: "{capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}",
                expected: expectedStatus(capEff: capMask(["NET_BIND_SERVICE"]), capBnd: capMask(["NET_BIND_SERVICE"]))),
            StatusExpectation(
                pod: "st-plain", container: "netadmin", securityContext: "{capabilities: {add: [NET_ADMIN], drop: [NET_RAW]}}",
                expected: expectedStatus(capEff: capMask(withoutRaw), capBnd: capMask(withoutRaw))),
            StatusExpectation(
                pod: "st-plain", container: "privileged", securityContext: "{privileged: true}",
                expected: expectedStatus(capEff: ownStatusField("CapEff"), capBnd: ownStatusField("CapEff"), seccomp: 0)),
            StatusExpectation(
                pod: "st-plain", container: "unconfined", securityContext: "{seccompProfile: {type: Unconfined}}", expected: expectedStatus(seccomp: 0)),
            StatusExpectation(
                pod: "st-groups", container: "groups", securityContext: "{}",
                expected: expectedStatus(uid: 1000, gid: 3000, groups: "2000 3000 4000", capEff: none)),
            StatusExpectation(
                pod: "st-groups", container: "override", securityContext: "{runAsUser: 2000, runAsGroup: 5000}",
                expected: expectedStatus(uid: 2000, gid: 5000, groups: "2000 4000 5000", capEff: none)),
            StatusExpectation(
                pod: "st-restricted", container: "restricted", securityContext: "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}",
                expected: expectedStatus(uid: 1000, gid: 1000, groups: "1000", capEff: none, capBnd: none, nnp: 1)),
        ]
    }

    static let podSecurityContexts = [
        "st-plain": "{}",
        "st-groups": "{runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}",
        "st-restricted": "{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}",
    ]

    /// Acceptance 3: /proc/self/status of each field's container matches the table, and runc given the agent's
    /// generated config.json (same rootfs, namespaces, seccomp profile) shows the same. Also fsGroup on an emptyDir,
    /// pod sysctls (safe and operator-allowed), hostPID/hostIPC, and the kubelet sysctl refusals (acceptance 4).
    @Test func procSelfStatusMatchesTableAndRunc() throws {
        let agent = try AgentHarness(extraArgs: ["--pod-security=privileged", "--allowed-unsafe-sysctls=kernel.msgmax"])
        defer { agent.cleanUp() }
        let show =
            "cat /proc/self/status; if [ -d /data ]; then touch /data/f; echo fsgroup=$(stat -c '%g %a' /data) file=$(stat -c %g /data/f); fi; exec sleep 3600"
        for (pod, podContext) in Self.podSecurityContexts {
            let containers = Self.statusTable.filter { $0.pod == pod }.map { row in
                """
                  - name: \(row.container)
                    image: \(testImage)
                    securityContext: \(row.securityContext)
                    command: [sh, -c, "\(show)"]
                    volumeMounts: [{name: data, mountPath: /data}]
                """
            }
            try agent.write(
                "\(pod).yaml",
                """
                apiVersion: v1
                kind: Pod
                metadata: {name: \(pod)}
                spec:
                  terminationGracePeriodSeconds: 1
                  securityContext: \(podContext)
                  volumes: [{name: data, emptyDir: {}}]
                  containers:
                \(containers.joined(separator: "\n"))
                """)
        }
        try agent.write(
            "sysctls.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: st-sysctl}
            spec:
              terminationGracePeriodSeconds: 1
              securityContext:
                sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "80"}, {name: kernel.msgmax, value: "12345"}]
              containers:
              - name: c
                image: \(testImage)
                command: [sh, -c, "echo port=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start) msgmax=$(cat /proc/sys/kernel/msgmax); exec sleep 3600"]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: st-hostns}
            spec:
              terminationGracePeriodSeconds: 1
              hostPID: true
              hostIPC: true
              containers:
              - name: c
                image: \(testImage)
                command: [sh, -c, "echo pid=$(readlink /proc/self/ns/pid) ipc=$(readlink /proc/self/ns/ipc); exec sleep 3600"]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: sysctl-unsafe}
            spec:
              securityContext:
                sysctls: [{name: net.core.somaxconn, value: "1024"}]
              containers: [{name: c, image: \(testImage)}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: sysctl-hostipc}
            spec:
              hostIPC: true
              securityContext:
                sysctls: [{name: kernel.shm_rmid_forced, value: "1"}]
              containers: [{name: c, image: \(testImage)}]
            """)
        for pod in Self.podSecurityContexts.keys.sorted() + ["st-sysctl", "st-hostns"] {
            let running = try agent.waitForPod(pod, timeout: .seconds(120), isRunningAndReady)
            #expect(running != nil, "\(pod): \(String(describing: try? agent.pod(pod)?.status)); log:\n\(agent.log())")
        }

        // The table, then runc on the same generated bundle.
        let runc = "/usr/sbin/runc"
        let hasRunc = access(runc, X_OK) == 0
        let state = agent.dir + "/runc-state"
        var table = ["| pod/container | " + securityStatusFields.joined(separator: " | ") + " |"]
        for (index, row) in Self.statusTable.enumerated() {
            let log = try agent.agentctl(["logs", row.pod, "-c", row.container]).stdout
            let seen = statusOf(log)
            for field in securityStatusFields {
                #expect(seen[field] == row.expected[field], "\(row.pod)/\(row.container) \(field): \(seen[field] ?? "-") != \(row.expected[field] ?? "-")")
            }
            table.append("| \(row.pod)/\(row.container) | " + securityStatusFields.map { seen[$0] ?? "-" }.joined(separator: " | ") + " |")
            if row.pod == "st-groups" {
                // fsGroup: the emptyDir is group 2000 with setgid (kubelet's SetVolumeOwnership), new files inherit it.
                #expect(keyValues(log)["fsgroup"] == "2000 2777 file=2000", "fsGroup on the emptyDir and a new file in it: \(log)")
            }
            guard hasRunc else { continue }
            let uid = try agent.pod(row.pod)?.metadata.uid ?? ""
            let source = agent.root + "/pods/\(uid)/containers/\(uid.prefix(12))-\(row.container)-0/config.json"
            let data = try #require(FileManager.default.contents(atPath: source), "no generated config at \(source)")
            var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            var process = config["process"] as? [String: Any] ?? [:]
            process["args"] = ["cat", "/proc/self/status"]
            config["process"] = process
            var linux = config["linux"] as? [String: Any] ?? [:]
            // Its own cgroup beside the agent's: the agent's container still runs in the generated one.
            linux["cgroupsPath"] = "mk-podsec-runc-\(getpid())-\(index)"
            config["linux"] = linux
            let bundle = agent.dir + "/runc-\(index)"
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: bundle + "/config.json"))
            let id = "mk-podsec-\(getpid())-\(index)"
            let result = try run([runc, "--root", state, "run", "--bundle", bundle, id], timeout: .seconds(60))
            _ = try? run([runc, "--root", state, "delete", "--force", id], timeout: .seconds(30))
            #expect(result.succeeded, "runc on \(row.pod)/\(row.container): \(result)")
            let reference = statusOf(result.stdout)
            for field in securityStatusFields {
                #expect(reference[field] == seen[field], "\(row.pod)/\(row.container) \(field): runc \(reference[field] ?? "-"), agent \(seen[field] ?? "-")")
            }
        }
        print(table.joined(separator: "\n"))

        let sysctls = keyValues(try agent.agentctl(["logs", "st-sysctl"]).stdout)
        #expect(sysctls["port"] == "80 msgmax=12345", "pod sysctls: \(sysctls)")
        let hostns = try agent.agentctl(["logs", "st-hostns"]).stdout
        let ownPid = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? "?"
        let ownIpc = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/ipc")) ?? "?"
        #expect(hostns == "pid=\(ownPid) ipc=\(ownIpc)\n", "hostPID/hostIPC: \(hostns)")

        // Acceptance 4 (kubelet's sysctl admission): rejected before anything runs, with kubelet's reason and message.
        for (pod, message) in [
            ("sysctl-unsafe", "Pod was rejected: forbidden sysctl: \"net.core.somaxconn\" not allowlisted"),
            ("sysctl-hostipc", "Pod was rejected: forbidden sysctl: \"kernel.shm_rmid_forced\" not allowed with host ipc enabled"),
        ] {
            let rejected = try agent.waitForPod(pod) { $0.status?.phase == "Failed" }
            #expect(rejected?.status?.reason == "SysctlForbidden", "\(pod): \(String(describing: rejected?.status))")
            #expect(rejected?.status?.message == message, "\(pod): \(String(describing: rejected?.status?.message))")
            #expect(agent.runtimeContainers().allSatisfy { !$0.hasPrefix(String((rejected?.metadata.uid ?? "-").prefix(12))) })
        }
        let events = try agent.events()
        #expect(events.contains("SysctlForbidden") && events.contains("forbidden sysctl: \"net.core.somaxconn\" not allowlisted"), "events: \(events)")
    }
}

extension SecurityE2ETests {
    /// Acceptance 4 at the default level (baseline) with `--seccomp-default=false`: a baseline violation is
    /// rejected with the admission message listing each violation; runAsNonRoot refusals are kubelet's
    /// CreateContainerConfigError; unset seccomp means Unconfined; describe shows the effective settings; diagnose
    /// explains the refusals; a field not honoured here is a Warning event; a Localhost profile from <root>/seccomp/
    /// and readOnlyRootFilesystem apply.
    @Test func baselineLevelRunAsNonRootAndDescribe() throws {
        let agent = try AgentHarness(extraArgs: ["--seccomp-default=false"])
        defer { agent.cleanUp() }
        // A Localhost profile under <root>/seccomp/: everything allowed but mkdir.
        try FileManager.default.createDirectory(atPath: agent.root + "/seccomp/profiles", withIntermediateDirectories: true)
        try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#
            .write(toFile: agent.root + "/seccomp/profiles/nomkdir.json", atomically: true, encoding: .utf8)
        try agent.write(
            "pods.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: bad-baseline}
            spec:
              hostPID: true
              volumes: [{name: host, hostPath: {path: /tmp}}]
              securityContext:
                sysctls: [{name: net.core.somaxconn, value: "1024"}]
              containers:
              - name: c1
                image: \(testImage)
                securityContext: {privileged: true, capabilities: {add: [NET_ADMIN]}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: nonroot-image}
            spec:
              containers:
              - {name: c, image: \(testImage), command: [sleep, "3600"], securityContext: {runAsNonRoot: true}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: nonroot-uid0}
            spec:
              containers:
              - {name: c, image: \(testImage), command: [sleep, "3600"], securityContext: {runAsNonRoot: true, runAsUser: 0}}
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: seccomp-off}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - {name: plain, image: \(testImage), command: [sh, -c, "grep Seccomp: /proc/self/status; exec sleep 3600"]}
              - name: runtimedefault
                image: \(testImage)
                command: [sh, -c, "grep Seccomp: /proc/self/status; exec sleep 3600"]
                securityContext: {seccompProfile: {type: RuntimeDefault}, seLinuxOptions: {level: "s0:c123,c456"}}
              - name: localhost
                image: \(testImage)
                command: [sh, -c, "mkdir /dev/shm/d 2>/dev/null; echo mkdir=$?; touch /dev/shm/f; echo shm=$?; touch /x 2>/dev/null; echo root=$?; exec sleep 3600"]
                securityContext:
                  readOnlyRootFilesystem: true
                  seccompProfile: {type: Localhost, localhostProfile: profiles/nomkdir.json}
            """)
        let rejected = try agent.waitForPod("bad-baseline") { $0.status?.phase == "Failed" }
        #expect(rejected?.status?.reason == "Forbidden", "\(String(describing: rejected?.status))")
        let baselineMessage =
            "violates PodSecurity \"baseline:latest\": non-default capabilities (container \"c1\" must not include \"NET_ADMIN\" in "
            + "securityContext.capabilities.add), host namespaces (hostPID=true), hostPath volumes (volume \"host\"), privileged "
            + "(container \"c1\" must not set securityContext.privileged=true), forbidden sysctls (net.core.somaxconn)"
        #expect(rejected?.status?.message == "Pod was rejected: " + baselineMessage, "\(String(describing: rejected?.status?.message))")

        for (pod, text) in [
            ("nonroot-image", "container has runAsNonRoot and image will run as root"), ("nonroot-uid0", "container's runAsUser breaks non-root policy"),
        ] {
            let waiting = try agent.waitForPod(pod) { $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CreateContainerConfigError" }
            let uid = waiting?.metadata.uid ?? "?"
            let message = "\(text) (pod: \"\(pod)_default(\(uid))\", container: c)"
            #expect(waiting?.status?.containerStatuses?.first?.state?.waiting?.message == message, "\(pod): \(String(describing: waiting?.status))")
            #expect(try agent.events().contains("Error: " + message), "\(pod): no Failed event with the message")
        }

        #expect(try agent.waitForPod("seccomp-off", isRunningAndReady) != nil, "log:\n\(agent.log())")
        #expect(try agent.agentctl(["logs", "seccomp-off", "-c", "plain"]).stdout == "Seccomp:\t0\n")
        #expect(try agent.agentctl(["logs", "seccomp-off", "-c", "runtimedefault"]).stdout == "Seccomp:\t2\n")
        // Localhost profile (mkdir refused, other writes fine) and readOnlyRootFilesystem.
        let localhost = keyValues(try agent.agentctl(["logs", "seccomp-off", "-c", "localhost"]).stdout)
        #expect(localhost == ["mkdir": "1", "shm": "0", "root": "1"], "Localhost profile / read-only root: \(localhost)")
        let events = try agent.events()
        #expect(events.contains("spec.containers[1].securityContext.seLinuxOptions: cannot be honoured here"), "events: \(events)")
        #expect(events.contains("Forbidden") && events.contains(baselineMessage), "events: \(events)")

        let describe = try agent.agentctl(["describe", "pod", "seccomp-off"]).check().stdout
        for row in ["Security:", "User:", "0:0", "Seccomp:", "Unconfined", "RuntimeDefault", "NoNewPrivileges:", "Capabilities:", "AUDIT_WRITE"] {
            #expect(describe.contains(row), "describe lacks \(row): \(describe)")
        }
        let diagnoseBaseline = try agent.agentctl(["diagnose", "bad-baseline"]).stdout
        print("describe pod seccomp-off:\n\(describe)\ndiagnose bad-baseline:\n\(diagnoseBaseline)")
        #expect(diagnoseBaseline.contains("why: The pod does not meet the Pod Security Standards level"), "diagnose: \(diagnoseBaseline)")
        #expect(diagnoseBaseline.contains(baselineMessage), "diagnose: \(diagnoseBaseline)")
        let diagnoseNonRoot = try agent.agentctl(["diagnose", "nonroot-image"]).stdout
        #expect(diagnoseNonRoot.contains("why: runAsNonRoot is true and the image runs as root"), "diagnose: \(diagnoseNonRoot)")
        #expect(diagnoseNonRoot.contains("fix: Set securityContext.runAsUser to a non-zero uid"), "diagnose: \(diagnoseNonRoot)")
    }

    /// Acceptance 4 at `--pod-security=restricted`: every restricted violation listed; a compliant pod runs.
    @Test func restrictedLevel() throws {
        let agent = try AgentHarness(extraArgs: ["--pod-security=restricted"])
        defer { agent.cleanUp() }
        try agent.write(
            "pods.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: bad-restricted}
            spec:
              containers: [{name: c, image: \(testImage), command: [sleep, "3600"]}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: good-restricted}
            spec:
              terminationGracePeriodSeconds: 1
              securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
              containers:
              - name: c
                image: \(testImage)
                command: [sh, -c, "id -u; exec sleep 3600"]
                securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
            """)
        let rejected = try agent.waitForPod("bad-restricted") { $0.status?.phase == "Failed" }
        #expect(rejected?.status?.reason == "Forbidden")
        #expect(
            rejected?.status?.message
                == "Pod was rejected: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"c\" must set "
                + "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"c\" must set "
                + "securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"c\" must set "
                + "securityContext.runAsNonRoot=true), seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to "
                + "\"RuntimeDefault\" or \"Localhost\")",
            "\(String(describing: rejected?.status?.message))")
        #expect(try agent.waitForPod("good-restricted", isRunningAndReady) != nil, "log:\n\(agent.log())")
        #expect(try agent.agentctl(["logs", "good-restricted"]).stdout == "1000\n")
    }
}
