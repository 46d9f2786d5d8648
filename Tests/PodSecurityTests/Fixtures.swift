// Builders for pods and security contexts used by the tables.
import KubeAPI
import OCISpec

func sc(
    runAsUser: Int64? = nil, runAsGroup: Int64? = nil, runAsNonRoot: Bool? = nil, privileged: Bool? = nil,
    allowPrivilegeEscalation: Bool? = nil, readOnlyRootFilesystem: Bool? = nil, add: [String]? = nil, drop: [String]? = nil,
    seccomp: String? = nil, localhostProfile: String? = nil, procMount: String? = nil
) -> SecurityContext {
    var s = SecurityContext()
    s.runAsUser = runAsUser
    s.runAsGroup = runAsGroup
    s.runAsNonRoot = runAsNonRoot
    s.privileged = privileged
    s.allowPrivilegeEscalation = allowPrivilegeEscalation
    s.readOnlyRootFilesystem = readOnlyRootFilesystem
    if add != nil || drop != nil { s.capabilities = Capabilities(add: add, drop: drop) }
    if let seccomp { s.seccompProfile = SeccompProfile(type: seccomp, localhostProfile: localhostProfile) }
    s.procMount = procMount
    return s
}

func podSC(
    runAsUser: Int64? = nil, runAsGroup: Int64? = nil, runAsNonRoot: Bool? = nil, fsGroup: Int64? = nil,
    supplementalGroups: [Int64]? = nil, seccomp: String? = nil, sysctls: [String] = []
) -> PodSecurityContext {
    var s = PodSecurityContext()
    s.runAsUser = runAsUser
    s.runAsGroup = runAsGroup
    s.runAsNonRoot = runAsNonRoot
    s.fsGroup = fsGroup
    s.supplementalGroups = supplementalGroups
    if let seccomp { s.seccompProfile = SeccompProfile(type: seccomp) }
    if !sysctls.isEmpty { s.sysctls = sysctls.map { Sysctl(name: $0, value: "1") } }
    return s
}

func makePod(
    _ containerSC: SecurityContext? = nil, pod: PodSecurityContext? = nil, name: String = "web", containerName: String = "app",
    hostNetwork: Bool? = nil, hostPID: Bool? = nil, hostIPC: Bool? = nil
) -> Pod {
    var c = Container(name: containerName, image: "busybox")
    c.securityContext = containerSC
    var p = Pod(metadata: ObjectMeta(name: name, namespace: "ns"), spec: PodSpec(containers: [c]))
    p.metadata.uid = "1234"
    p.spec.securityContext = pod
    p.spec.hostNetwork = hostNetwork
    p.spec.hostPID = hostPID
    p.spec.hostIPC = hostIPC
    return p
}

/// The busybox rootfs' /etc/passwd (scripts/make-busybox-rootfs.sh).
let busyboxPasswd: [String: (uid: UInt32, gid: UInt32)] = [
    "root": (0, 0), "0": (0, 0), "daemon": (1, 1), "1": (1, 1), "nobody": (65534, 65534), "65534": (65534, 65534),
    "app": (1000, 1000), "1000": (1000, 1000),
]

func lookup(_ name: String) -> (uid: UInt32, gid: UInt32)? { busyboxPasswd[name] }
