import Foundation
import KubeAPI
import OCISpec
import RuntimeSecurity
import Testing

@testable import PodSecurity

struct UserCase: CustomTestStringConvertible, Sendable {
    var name: String
    var pod: PodSecurityContext?
    var container: SecurityContext?
    var image: String
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]
    var testDescription: String { name }
}

@Suite struct MergeTests {
    static let cases: [UserCase] = [
        UserCase(name: "no USER, nothing set: root", pod: nil, container: nil, image: "", uid: 0, gid: 0, groups: [0]),
        UserCase(name: "image numeric uid, gid from passwd", pod: nil, container: nil, image: "1000", uid: 1000, gid: 1000, groups: [1000]),
        UserCase(name: "image uid without passwd entry: gid 0", pod: nil, container: nil, image: "4242", uid: 4242, gid: 0, groups: [0]),
        UserCase(
            name: "image uid:gid, group part ignored (kubelet+containerd)", pod: nil, container: nil, image: "1000:5", uid: 1000, gid: 1000, groups: [1000]),
        UserCase(name: "image user name resolved", pod: nil, container: nil, image: "nobody", uid: 65534, gid: 65534, groups: [65534]),
        UserCase(name: "pod runAsUser over image", pod: podSC(runAsUser: 1000), container: nil, image: "nobody", uid: 1000, gid: 1000, groups: [1000]),
        UserCase(
            name: "container runAsUser over pod", pod: podSC(runAsUser: 1000), container: sc(runAsUser: 2000), image: "", uid: 2000, gid: 0,
            groups: [0]),
        UserCase(
            name: "pod runAsGroup", pod: podSC(runAsUser: 1000, runAsGroup: 3000), container: nil, image: "", uid: 1000, gid: 3000,
            groups: [3000]),
        UserCase(
            name: "container runAsGroup over pod", pod: podSC(runAsGroup: 3000), container: sc(runAsGroup: 4000), image: "app", uid: 1000,
            gid: 4000, groups: [4000]),
        UserCase(
            name: "fsGroup then supplementalGroups, deduplicated",
            pod: podSC(runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000, 3000, 5000]), container: nil,
            image: "", uid: 1000, gid: 3000, groups: [3000, 2000, 4000, 5000]),
    ]

    @Test(arguments: cases)
    func user(_ c: UserCase) throws {
        let pod = makePod(c.container, pod: c.pod)
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: c.image, lookupUser: lookup)
        #expect(eff.uid == c.uid)
        #expect(eff.gid == c.gid)
        #expect(eff.additionalGids == c.groups)
        var spec = OCI.Spec(process: OCI.Process(), root: OCI.Root(path: "rootfs"))
        eff.apply(to: &spec)
        #expect(spec.process?.user.uid == c.uid)
        #expect(spec.process?.user.gid == c.gid)
        #expect(spec.process?.user.additionalGids == c.groups)
    }

    @Test func unknownImageUser() {
        let pod = makePod()
        #expect(throws: PodSecurityError.self) {
            _ = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "ghost", lookupUser: lookup)
        }
        do {
            _ = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "ghost", lookupUser: lookup)
        } catch {
            #expect(error.reason == "CreateContainerError")
            #expect(error.message == "failed to generate container spec: unable to find user ghost: no matching entries in passwd file")
        }
    }

    struct FlagCase: Sendable, CustomTestStringConvertible {
        var name: String
        var sc: SecurityContext?
        var nnp: Bool
        var readonly: Bool
        var testDescription: String { name }
    }

    @Test(arguments: [
        FlagCase(name: "defaults", sc: nil, nnp: false, readonly: false),
        FlagCase(name: "allowPrivilegeEscalation nil → NNP false", sc: sc(runAsUser: 1), nnp: false, readonly: false),
        FlagCase(name: "allowPrivilegeEscalation false → NNP", sc: sc(allowPrivilegeEscalation: false), nnp: true, readonly: false),
        FlagCase(name: "allowPrivilegeEscalation true", sc: sc(allowPrivilegeEscalation: true), nnp: false, readonly: false),
        FlagCase(name: "readOnlyRootFilesystem", sc: sc(readOnlyRootFilesystem: true), nnp: false, readonly: true),
    ])
    func flags(_ c: FlagCase) throws {
        let pod = makePod(c.sc)
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        var spec = OCI.Spec(process: OCI.Process(noNewPrivileges: true), root: OCI.Root(path: "rootfs", readonly: true))
        eff.apply(to: &spec)
        #expect(spec.process?.noNewPrivileges == c.nnp)
        #expect(spec.root?.readonly == c.readonly)
    }
}

@Suite struct RunAsNonRootTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var pod: PodSecurityContext?
        var container: SecurityContext?
        var image: String
        var message: String?
        var kind: PodSecurityError.Kind?
        var testDescription: String { name }
    }

    static let suffix = "(pod: \"web_ns(1234)\", container: app)"
    static let cases: [Case] = [
        Case(
            name: "image root", pod: podSC(runAsNonRoot: true), container: nil, image: "0",
            message: "container has runAsNonRoot and image will run as root \(suffix)", kind: .imageRunsAsRoot),
        Case(
            name: "image without USER", pod: nil, container: sc(runAsNonRoot: true), image: "",
            message: "container has runAsNonRoot and image will run as root \(suffix)", kind: .imageRunsAsRoot),
        Case(
            name: "runAsUser 0", pod: podSC(runAsUser: 0, runAsNonRoot: true), container: nil, image: "1000",
            message: "container's runAsUser breaks non-root policy \(suffix)", kind: .runAsUserBreaksNonRoot),
        Case(
            name: "container runAsUser 0 over pod 1000", pod: podSC(runAsUser: 1000, runAsNonRoot: true), container: sc(runAsUser: 0),
            image: "1000", message: "container's runAsUser breaks non-root policy \(suffix)", kind: .runAsUserBreaksNonRoot),
        Case(
            name: "non-numeric image user", pod: podSC(runAsNonRoot: true), container: nil, image: "app",
            message: "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root \(suffix)",
            kind: .imageNonNumericUser),
        Case(name: "non-numeric image user with runAsUser", pod: podSC(runAsUser: 1000, runAsNonRoot: true), container: nil, image: "app"),
        Case(name: "image uid 1000", pod: podSC(runAsNonRoot: true), container: nil, image: "1000"),
        Case(name: "container opts out", pod: podSC(runAsNonRoot: true), container: sc(runAsNonRoot: false), image: "0"),
    ]

    @Test(arguments: cases)
    func verify(_ c: Case) {
        let pod = makePod(c.container, pod: c.pod)
        do {
            _ = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: c.image, lookupUser: lookup)
            #expect(c.message == nil)
        } catch {
            #expect(error.message == c.message)
            #expect(error.reason == "CreateContainerConfigError")
            #expect(error.kind == c.kind)
        }
    }
}

@Suite struct SysctlTests {
    @Test(
        arguments: [
            ("kernel.shm_rmid_forced", false, false, nil),
            ("net.ipv4.ip_local_port_range", false, false, nil),
            ("net/ipv4/tcp_syncookies", false, false, nil),
            ("net.ipv4.tcp_keepalive_probes", false, false, nil),
            ("kernel.msgmax", false, false, #"forbidden sysctl: "kernel.msgmax" not allowlisted"#),
            ("net.core.somaxconn", false, false, #"forbidden sysctl: "net.core.somaxconn" not allowlisted"#),
            ("vm.swappiness", false, false, #"forbidden sysctl: "vm.swappiness" not allowlisted"#),
            ("net.ipv4.tcp_syncookies", true, false, #"forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled"#),
            ("kernel.shm_rmid_forced", false, true, #"forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host ipc enabled"#),
        ] as [(String, Bool, Bool, String?)])
    func admit(_ name: String, _ hostNetwork: Bool, _ hostIPC: Bool, _ message: String?) {
        let pod = makePod(pod: podSC(sysctls: [name]), hostNetwork: hostNetwork, hostIPC: hostIPC)
        do {
            try Sysctls.admit(pod: pod)
            #expect(message == nil)
        } catch {
            #expect(error.reason == "SysctlForbidden")
            #expect(error.message == message)
        }
    }

    @Test func unsafeAllowedByOperator() throws {
        let pod = makePod(pod: podSC(sysctls: ["net.core.somaxconn", "kernel.msgmax"]))
        try Sysctls.admit(pod: pod, allowedUnsafe: ["net.core.*", "kernel.msgmax"])
        let eff = try EffectiveSecurity.resolve(
            pod: pod, container: pod.spec.containers[0], imageUser: "", options: SecurityOptions(allowedUnsafeSysctls: ["net.core.*", "kernel.msgmax"]),
            lookupUser: lookup)
        #expect(eff.sysctls == ["net.core.somaxconn": "1", "kernel.msgmax": "1"])
        var spec = OCI.Spec()
        eff.apply(to: &spec)
        #expect(spec.linux?.sysctl == ["net.core.somaxconn": "1", "kernel.msgmax": "1"])
    }

    @Test func resolveRefusesForbidden() {
        let pod = makePod(pod: podSC(sysctls: ["vm.swappiness"]))
        #expect(throws: PodSecurityError(.sysctlForbidden, reason: "SysctlForbidden", message: #"forbidden sysctl: "vm.swappiness" not allowlisted"#)) {
            _ = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        }
    }
}

@Suite struct CapabilityTests {
    static let defaults14 = DefaultProfiles.capabilities

    static func sorted(_ names: [String]) -> [String] {
        names.sorted { (CapabilityName(rawValue: $0)?.value ?? 99) < (CapabilityName(rawValue: $1)?.value ?? 99) }
    }

    @Test(
        arguments: [
            ([], [], sorted(defaults14)),
            (["NET_ADMIN"], [], sorted(defaults14 + ["CAP_NET_ADMIN"])),
            ([], ["NET_RAW"], sorted(defaults14.filter { $0 != "CAP_NET_RAW" })),
            ([], ["ALL"], []),
            (["NET_BIND_SERVICE"], ["ALL"], ["CAP_NET_BIND_SERVICE"]),
            (["CHOWN", "SYS_TIME"], ["ALL", "CHOWN"], ["CAP_SYS_TIME"]),
            (["ALL"], ["SYS_ADMIN"], CurrentCapabilities.all.filter { $0 != "CAP_SYS_ADMIN" }),
            (["cap_sys_ptrace"], ["chown"], sorted(defaults14.filter { $0 != "CAP_CHOWN" } + ["CAP_SYS_PTRACE"])),
        ] as [([String], [String], [String])])
    func addDrop(_ add: [String], _ drop: [String], _ expected: [String]) throws {
        let pod = makePod(sc(add: add, drop: drop))
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        #expect(eff.capabilities == expected)
        var spec = OCI.Spec(process: OCI.Process(capabilities: OCI.Capabilities(ambient: ["CAP_KILL"])))
        eff.apply(to: &spec)
        #expect(spec.process?.capabilities == OCI.Capabilities(bounding: expected, effective: expected, inheritable: [], permitted: expected, ambient: []))
    }

    @Test func unknownCapability() {
        let pod = makePod(sc(add: ["NET_FLY"]))
        #expect(
            throws: PodSecurityError(
                .unknownCapability, reason: "CreateContainerError",
                message: #"spec.containers[0].securityContext.capabilities.add[0]: unknown capability "NET_FLY""#)
        ) {
            _ = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        }
    }
}

@Suite struct SeccompTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var pod: String?
        var container: String?
        var seccompDefault: Bool
        var expected: SeccompSelection
        var testDescription: String { name }
    }

    @Test(arguments: [
        Case(name: "unset, --seccomp-default=true", pod: nil, container: nil, seccompDefault: true, expected: .runtimeDefault),
        Case(name: "unset, --seccomp-default=false (kubelet)", pod: nil, container: nil, seccompDefault: false, expected: .unconfined),
        Case(name: "pod RuntimeDefault", pod: "RuntimeDefault", container: nil, seccompDefault: false, expected: .runtimeDefault),
        Case(name: "pod Unconfined", pod: "Unconfined", container: nil, seccompDefault: true, expected: .unconfined),
        Case(name: "container over pod", pod: "Unconfined", container: "RuntimeDefault", seccompDefault: false, expected: .runtimeDefault),
        Case(name: "container Unconfined over pod", pod: "RuntimeDefault", container: "Unconfined", seccompDefault: true, expected: .unconfined),
    ])
    func selection(_ c: Case) throws {
        let pod = makePod(c.container.map { sc(seccomp: $0) }, pod: c.pod.map { podSC(seccomp: $0) })
        let eff = try EffectiveSecurity.resolve(
            pod: pod, container: pod.spec.containers[0], imageUser: "", options: SecurityOptions(seccompDefault: c.seccompDefault),
            lookupUser: lookup)
        #expect(eff.seccomp == c.expected)
        var spec = OCI.Spec(linux: OCI.Linux(seccomp: OCI.Seccomp(defaultAction: "SCMP_ACT_KILL")))
        eff.apply(to: &spec)
        if c.expected == .runtimeDefault {
            #expect(spec.linux?.seccomp == DefaultProfiles.seccomp(capabilities: eff.capabilities))
            #expect(spec.linux?.seccomp?.defaultAction == "SCMP_ACT_ERRNO")
        } else {
            #expect(spec.linux?.seccomp == nil)
        }
    }

    @Test func runtimeDefaultFollowsCapabilities() throws {
        let pod = makePod(sc(add: ["SYS_ADMIN"], seccomp: "RuntimeDefault"))
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        let names = Set((eff.seccompProfile?.syscalls ?? []).filter { $0.action == "SCMP_ACT_ALLOW" }.flatMap(\.names))
        #expect(names.contains("mount"))
    }

    @Test func localhost() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("podsec-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/seccomp/profiles", withIntermediateDirectories: true)
        let profile = #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#
        try profile.write(toFile: root + "/seccomp/profiles/nomkdir.json", atomically: true, encoding: .utf8)
        try "{}".write(toFile: root + "/outside.json", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/seccomp/escape.json", withDestinationPath: root + "/outside.json")
        let options = SecurityOptions(root: root)

        func resolve(_ name: String?) throws(PodSecurityError) -> EffectiveSecurity {
            let pod = makePod(sc(seccomp: "Localhost", localhostProfile: name))
            return try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", options: options, lookupUser: lookup)
        }
        let eff = try resolve("profiles/nomkdir.json")
        #expect(eff.seccomp == .localhost(path: root + "/seccomp/profiles/nomkdir.json"))
        #expect(eff.seccompProfile?.defaultAction == "SCMP_ACT_ALLOW")
        #expect(eff.seccompProfile?.syscalls?.first?.names == ["mkdir", "mkdirat"])

        let field = "spec.containers[0].securityContext.seccompProfile.localhostProfile"
        let refusals: [(String?, String)] = [
            ("../outside.json", "\(field): Invalid value: \"../outside.json\": must not contain '..'"),
            ("profiles/../../outside.json", "\(field): Invalid value: \"profiles/../../outside.json\": must not contain '..'"),
            ("/etc/passwd", "\(field): Invalid value: \"/etc/passwd\": must be a relative path"),
            (nil, "\(field): Required value: must be set when seccomp type is Localhost"),
            ("escape.json", "\(field): Invalid value: \"\(root)/seccomp/escape.json\": resolves outside \(root)/seccomp"),
        ]
        for (name, message) in refusals {
            do {
                _ = try resolve(name)
                Issue.record("\(String(describing: name)) accepted")
            } catch {
                #expect(error.message == message)
                #expect(error.reason == "CreateContainerConfigError")
                #expect(error.kind == .seccompProfile)
            }
        }
        do {
            _ = try resolve("missing.json")
            Issue.record("missing profile accepted")
        } catch {
            #expect(error.reason == "CreateContainerError")
            #expect(error.message.hasPrefix("failed to generate seccomp spec opts: cannot load seccomp profile \"\(root)/seccomp/missing.json\""))
        }
    }

    @Test func unknownType() {
        let pod = makePod(sc(seccomp: "Strict"))
        #expect(throws: PodSecurityError.self) {
            _ = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        }
    }
}

@Suite struct ProcMountAndPrivilegedTests {
    static let masked = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
        "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    static let readonly = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    @Test(
        arguments: [
            (nil, masked, readonly), ("Default", masked, readonly), ("Unmasked", [], []),
        ] as [(String?, [String], [String])])
    func procMount(_ value: String?, _ masked: [String], _ readonly: [String]) throws {
        let pod = makePod(sc(procMount: value))
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        var spec = OCI.Spec(linux: OCI.Linux(maskedPaths: ["/x"], readonlyPaths: ["/y"]))
        eff.apply(to: &spec)
        #expect(spec.linux?.maskedPaths == masked)
        #expect(spec.linux?.readonlyPaths == readonly)
    }

    static func baseSpec() -> OCI.Spec {
        OCI.Spec(
            process: OCI.Process(), root: OCI.Root(path: "rootfs"),
            mounts: [
                OCI.Mount(destination: "/proc", type: "proc", source: "proc"),
                OCI.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
                OCI.Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "ro"]),
            ],
            linux: OCI.Linux(
                namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { OCI.Namespace(type: $0) },
                devices: [OCI.Device(path: "/dev/null", type: "c", major: 1, minor: 3)],
                seccomp: OCI.Seccomp(defaultAction: "SCMP_ACT_ERRNO"), maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys"]))
    }

    @Test func privileged() throws {
        let pod = makePod(sc(privileged: true, drop: ["ALL"], seccomp: "RuntimeDefault"))
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        var spec = Self.baseSpec()
        eff.apply(to: &spec)
        let all = CurrentCapabilities.all
        #expect(all.count >= 14)
        #expect(spec.process?.capabilities?.bounding == all)
        #expect(spec.process?.capabilities?.effective == all)
        #expect(spec.linux?.seccomp == nil)
        #expect(spec.linux?.maskedPaths == [])
        #expect(spec.linux?.readonlyPaths == [])
        #expect(spec.mounts?[1].options == ["nosuid", "noexec", "nodev", "rw"])
        #expect(spec.mounts?[2].options == ["nosuid", "rw"])
        #expect(spec.linux?.namespaces?.map(\.type) == ["pid", "network", "ipc", "uts", "mount"])
        #expect(spec.linux?.resources?.devices == [OCI.DeviceCgroup(allow: true, access: "rwm")])
        let paths = Set((spec.linux?.devices ?? []).map(\.path))
        #expect(paths.contains("/dev/null"))
        #expect(paths.contains("/dev/zero"))  // from the host's /dev
        #expect((spec.linux?.devices ?? []).filter { $0.path == "/dev/null" }.count == 1)
        #expect(!paths.contains("/dev/console"))
        #expect(!paths.contains { $0.hasPrefix("/dev/pts/") })
    }

    @Test func hostNamespaces() throws {
        let pod = makePod(hostNetwork: true, hostPID: true, hostIPC: true)
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        var spec = Self.baseSpec()
        eff.apply(to: &spec)
        #expect(spec.linux?.namespaces?.map(\.type) == ["mount", "cgroup"])
        #expect(eff.hostDevices.isEmpty)
    }

    @Test func warnings() throws {
        var pod = makePod(sc())
        pod.spec.securityContext = PodSecurityContext()
        pod.spec.securityContext?.seLinuxOptions = SELinuxOptions()
        pod.spec.containers[0].securityContext?.appArmorProfile = AppArmorProfile(type: "RuntimeDefault")
        pod.spec.containers[0].securityContext?.windowsOptions = WindowsSecurityContextOptions()
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        #expect(
            eff.warnings.map(\.field) == [
                "spec.securityContext.seLinuxOptions", "spec.containers[0].securityContext.appArmorProfile",
                "spec.containers[0].securityContext.windowsOptions",
            ])
        #expect(eff.warnings.allSatisfy { $0.message.hasPrefix("cannot be honoured here") })
    }

    @Test func diagnosis() {
        let error = PodSecurityError(.imageRunsAsRoot, reason: "CreateContainerConfigError", message: "m")
        let d = Diagnosis(error)
        #expect(d.reason == "CreateContainerConfigError")
        #expect(d.suggestedFix.contains("runAsUser"))
    }

    /// A refusal known only by the reason and message stored in a pod's status is classified as the error was.
    @Test(arguments: [
        ("SysctlForbidden", "forbidden sysctl: \"net.core.somaxconn\" not allowlisted", PodSecurityError.Kind.sysctlForbidden),
        (
            "Forbidden", "violates PodSecurity \"baseline:latest\": privileged (container \"c\" must not set securityContext.privileged=true)",
            .podSecurityStandards
        ),
        ("CreateContainerConfigError", "container's runAsUser breaks non-root policy (pod: \"p_default(u)\", container: c)", .runAsUserBreaksNonRoot),
        ("CreateContainerConfigError", "container has runAsNonRoot and image will run as root (pod: \"p_default(u)\", container: c)", .imageRunsAsRoot),
        (
            "CreateContainerConfigError", "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root",
            .imageNonNumericUser
        ),
        ("CreateContainerError", "failed to generate container spec: unable to find user x: no matching entries in passwd file", .unknownUser),
        ("CreateContainerError", "spec.containers[0].securityContext.capabilities.add[0]: unknown capability \"FOO\"", .unknownCapability),
        ("CreateContainerConfigError", "spec.containers[0].securityContext.procMount: Unsupported value: \"x\"", .unsupportedValue),
        ("CreateContainerConfigError", "spec.securityContext.seccompProfile.localhostProfile: Invalid value: \"/a\": must be a relative path", .seccompProfile),
    ])
    func diagnosisFromStoredStatus(reason: String, message: String, kind: PodSecurityError.Kind) throws {
        let stored = try #require(Diagnosis(reason: reason, message: message))
        #expect(stored == Diagnosis(PodSecurityError(kind, reason: reason, message: message)))
    }

    @Test func nonSecurityRefusalsHaveNoDiagnosis() {
        #expect(Diagnosis(reason: "CreateContainerConfigError", message: "configmap \"x\" not found") == nil)
        #expect(Diagnosis(reason: "OutOfcpu", message: "Node didn't have enough resource: cpu") == nil)
        #expect(Diagnosis(reason: "Forbidden", message: "something else") == nil)
    }
}

@Suite struct DescribeTests {
    @Test func rows() throws {
        let pod = makePod(
            sc(allowPrivilegeEscalation: false, add: ["NET_BIND_SERVICE"], drop: ["ALL"]), pod: podSC(runAsUser: 1000, runAsNonRoot: true, fsGroup: 2000))
        let eff = try EffectiveSecurity.resolve(pod: pod, container: pod.spec.containers[0], imageUser: "", lookupUser: lookup)
        let rows = Dictionary(uniqueKeysWithValues: eff.describeRows.map { ($0.key, $0.value) })
        #expect(rows["User"] == "1000:1000")
        #expect(rows["Groups"] == "1000,2000")
        #expect(rows["Capabilities"] == "NET_BIND_SERVICE")
        #expect(rows["NoNewPrivileges"] == "true")
        #expect(rows["Seccomp"] == "RuntimeDefault")
        #expect(rows["HostNamespaces"] == "<none>")
    }
}
