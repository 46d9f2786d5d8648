// The effective security settings of one container: pod + container securityContext merged as kubelet does
// (`determineEffectiveSecurityContext`, container values override pod values), the image user resolved as
// containerd's CRI plugin does, and the result mapped onto an OCI spec (runtime.md §2.4).
//
// Decisions (see also the module report in PodSecurity.swift)
// - The image user's group part (`USER 1000:2000`) is ignored, as in kubelet + containerd: kubelet sends only the
//   uid (or the name) over CRI and containerd takes the primary gid from the image's /etc/passwd (0 if absent).
// - The primary gid is also the first additional gid (containerd's fix for CVE-2023-25173), followed by fsGroup
//   and supplementalGroups (kubelet's order), without duplicates. /etc/group memberships are not added.
// - `--seccomp-default` defaults to true here (issue 6: RuntimeDefault is the project default); false gives
//   kubelet's stock behaviour (unset → Unconfined).
import Foundation
import KubeAPI
import OCISpec
import RuntimeSecurity

/// Node-level settings that shape every container's security (kubelet flags).
public struct SecurityOptions: Sendable, Equatable {
    /// `--seccomp-default`: an unset seccompProfile means RuntimeDefault (true) or Unconfined (false).
    public var seccompDefault: Bool
    /// The agent's root directory; Localhost seccomp profiles live in `<root>/seccomp/`.
    public var root: String
    /// `--allowed-unsafe-sysctls`: extra sysctl names, or prefixes ending in `*`.
    public var allowedUnsafeSysctls: [String]
    /// Give privileged containers the host's devices (containerd's default; false = `privileged_without_host_devices`).
    public var privilegedHostDevices: Bool
    /// Where host devices are listed from (tests may point this elsewhere).
    public var hostDeviceDirectory: String

    public init(
        seccompDefault: Bool = true, root: String = "/var/lib/minikubelet", allowedUnsafeSysctls: [String] = [],
        privilegedHostDevices: Bool = true, hostDeviceDirectory: String = "/dev"
    ) {
        self.seccompDefault = seccompDefault
        self.root = root
        self.allowedUnsafeSysctls = allowedUnsafeSysctls
        self.privilegedHostDevices = privilegedHostDevices
        self.hostDeviceDirectory = hostDeviceDirectory
    }

    /// `<root>/seccomp`.
    public var seccompDirectory: String { root.hasSuffix("/") ? root + "seccomp" : root + "/seccomp" }
}

/// Which seccomp filter a container gets.
public enum SeccompSelection: Sendable, Equatable, CustomStringConvertible {
    case unconfined
    case runtimeDefault
    /// A Localhost profile: the absolute path under `<root>/seccomp/`.
    case localhost(path: String)

    public var description: String {
        switch self {
        case .unconfined: return "Unconfined"
        case .runtimeDefault: return "RuntimeDefault"
        case .localhost(let path): return "Localhost (\(path))"
        }
    }
}

/// The /proc masking Kubernetes asks for (`procMount`).
public enum ProcMountType: String, Sendable, Equatable {
    case `default` = "Default"
    case unmasked = "Unmasked"
}

/// Paths Kubernetes sends in CRI for `procMount: Default` (pkg/securitycontext/util.go; runtime.md §1.8).
public enum ProcPaths {
    public static let masked: [String] = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    public static let readonly: [String] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
}

/// Looks up a user in the image's /etc/passwd: called with a user name, or with a decimal uid to find that uid's
/// primary group. Nil when there is no such entry.
public typealias ImageUserLookup = (String) -> (uid: UInt32, gid: UInt32)?

/// Everything the runtime needs from a container's security settings; `apply(to:)` writes it into an OCI spec.
public struct EffectiveSecurity: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    /// Primary gid, fsGroup, supplementalGroups (deduplicated, in that order).
    public var additionalGids: [UInt32]
    public var runAsNonRoot: Bool
    public var readOnlyRootFilesystem: Bool
    public var noNewPrivileges: Bool
    public var privileged: Bool
    /// Bounding = effective = permitted, runtime-spec spelling (`CAP_CHOWN`), number order.
    public var capabilities: [String]
    public var seccomp: SeccompSelection
    /// The profile to put in `linux.seccomp` (nil for Unconfined).
    public var seccompProfile: OCI.Seccomp?
    public var procMount: ProcMountType
    public var maskedPaths: [String]
    public var readonlyPaths: [String]
    /// Pod sysctls (already admitted), for `linux.sysctl`.
    public var sysctls: [String: String]
    public var hostNetwork: Bool
    public var hostPID: Bool
    public var hostIPC: Bool
    /// Host devices for a privileged container (empty otherwise).
    public var hostDevices: [OCI.Device]
    /// Fields set but not honoured on this node.
    public var warnings: [SecurityWarning]

    /// Merges pod and container settings for `container` of `pod`.
    /// - Parameters:
    ///   - imageUser: the image config's `User` (`""`, `"1000"`, `"1000:1000"`, `"nginx"`, `"nginx:nginx"`).
    ///   - lookupUser: the image's /etc/passwd (see `ImageUserLookup`).
    /// - Throws: `PodSecurityError` with kubelet's reason and message.
    public static func resolve(
        pod: Pod, container: Container, imageUser: String, options: SecurityOptions = SecurityOptions(),
        lookupUser: ImageUserLookup
    ) throws(PodSecurityError) -> EffectiveSecurity {
        let podSC = pod.spec.securityContext
        let sc = container.securityContext
        let path = containerPath(pod: pod, container: container)

        // User: runAsUser over the image's uid / name (kubelet determineEffectiveSecurityContext).
        let runAsUser = sc?.runAsUser ?? podSC?.runAsUser
        let runAsGroup = sc?.runAsGroup ?? podSC?.runAsGroup
        let runAsNonRoot = sc?.runAsNonRoot ?? podSC?.runAsNonRoot ?? false
        let image = ImageUser(imageUser)
        try verifyRunAsNonRoot(pod: pod, container: container, runAsNonRoot: runAsNonRoot, runAsUser: runAsUser, image: image)

        let uid: UInt32
        var primaryGid: UInt32
        if let runAsUser {
            uid = try id(runAsUser, field: path + ".securityContext.runAsUser")
            primaryGid = lookupUser(String(uid))?.gid ?? 0
        } else {
            switch image {
            case .numeric(let value):
                uid = value
                primaryGid = lookupUser(String(value))?.gid ?? 0
            case .name(let name):
                guard let entry = lookupUser(name) else {
                    throw PodSecurityError(
                        .unknownUser, reason: SecurityReason.createContainerError,
                        message: "failed to generate container spec: unable to find user \(name): no matching entries in passwd file")
                }
                uid = entry.uid
                primaryGid = entry.gid
            }
        }
        if let runAsGroup { primaryGid = try id(runAsGroup, field: path + ".securityContext.runAsGroup") }
        var groups: [UInt32] = [primaryGid]
        if let fsGroup = podSC?.fsGroup { groups.append(try id(fsGroup, field: "spec.securityContext.fsGroup")) }
        for (i, g) in (podSC?.supplementalGroups ?? []).enumerated() {
            groups.append(try id(g, field: "spec.securityContext.supplementalGroups[\(i)]"))
        }
        var seen = Set<UInt32>()
        let additionalGids = groups.filter { seen.insert($0).inserted }

        let privileged = sc?.privileged ?? false
        let capabilities = try resolveCapabilities(sc?.capabilities, privileged: privileged, field: path + ".securityContext.capabilities")

        // procMount (container only).
        let procMount: ProcMountType
        switch sc?.procMount {
        case nil, "", "Default": procMount = .default
        case "Unmasked": procMount = .unmasked
        case let other?:
            throw PodSecurityError(
                .unsupportedValue, reason: SecurityReason.createContainerConfigError,
                message: "\(path).securityContext.procMount: Unsupported value: \(goQuote(other)): supported values: \"Default\", \"Unmasked\"")
        }
        let unmasked = privileged || procMount == .unmasked

        // seccomp: privileged containers get none (containerd), else container over pod over the node default.
        let (selection, profileField) = try selectSeccomp(
            container: sc?.seccompProfile, pod: podSC?.seccompProfile, containerPath: path, options: options)
        let seccomp: SeccompSelection = privileged ? .unconfined : selection
        let profile: OCI.Seccomp?
        switch seccomp {
        case .unconfined: profile = nil
        case .runtimeDefault: profile = DefaultProfiles.seccomp(capabilities: capabilities)
        case .localhost(let file): profile = try loadLocalhostProfile(file, directory: options.seccompDirectory, field: profileField)
        }

        // Pod sysctls: the kubelet admission check (again, so that a caller cannot skip it).
        try Sysctls.admit(pod: pod, allowedUnsafe: options.allowedUnsafeSysctls)
        var sysctls: [String: String] = [:]
        for s in pod.spec.securityContext?.sysctls ?? [] { sysctls[Sysctls.normalize(s.name)] = s.value }

        let devices = privileged && options.privilegedHostDevices ? HostDevices.list(options.hostDeviceDirectory) : []

        return EffectiveSecurity(
            uid: uid, gid: primaryGid, additionalGids: additionalGids, runAsNonRoot: runAsNonRoot,
            readOnlyRootFilesystem: sc?.readOnlyRootFilesystem ?? false,
            noNewPrivileges: sc?.allowPrivilegeEscalation.map { !$0 } ?? false, privileged: privileged,
            capabilities: capabilities, seccomp: seccomp, seccompProfile: profile, procMount: procMount,
            maskedPaths: unmasked ? [] : ProcPaths.masked, readonlyPaths: unmasked ? [] : ProcPaths.readonly,
            sysctls: sysctls, hostNetwork: pod.spec.hostNetwork ?? false, hostPID: pod.spec.hostPID ?? false,
            hostIPC: pod.spec.hostIPC ?? false, hostDevices: devices, warnings: unhonouredFields(pod: pod, container: container, path: path))
    }

    /// Writes the settings into `spec` (typically the agent's default spec for the container): user, groups,
    /// capabilities (ambient and inheritable cleared), no_new_privs, read-only root, seccomp, masked/readonly paths,
    /// sysctls, host namespaces (their namespace entries removed; hostNetwork also shares the host's UTS namespace,
    /// as containerd does), and for privileged containers writable /sys and
    /// /sys/fs/cgroup, no cgroup namespace, host devices and an allow-all device cgroup.
    public func apply(to spec: inout OCI.Spec) {
        var process = spec.process ?? OCI.Process()
        process.user.uid = uid
        process.user.gid = gid
        process.user.additionalGids = additionalGids
        process.user.username = nil
        process.noNewPrivileges = noNewPrivileges
        process.capabilities = OCI.Capabilities(
            bounding: capabilities, effective: capabilities, inheritable: [], permitted: capabilities, ambient: [])
        if privileged {
            process.apparmorProfile = nil
            process.selinuxLabel = nil
        }
        spec.process = process

        if var root = spec.root {
            root.readonly = readOnlyRootFilesystem
            spec.root = root
        }

        var linux = spec.linux ?? OCI.Linux()
        linux.seccomp = seccompProfile
        linux.maskedPaths = maskedPaths
        linux.readonlyPaths = readonlyPaths
        if !sysctls.isEmpty { linux.sysctl = (linux.sysctl ?? [:]).merging(sysctls) { _, new in new } }
        var dropped: Set<String> = []
        if hostNetwork { dropped.formUnion(["network", "uts"]) }  // containerd: host network also means host UTS
        if hostPID { dropped.insert("pid") }
        if hostIPC { dropped.insert("ipc") }
        if privileged { dropped.insert("cgroup") }
        linux.namespaces = linux.namespaces?.filter { !dropped.contains($0.type) }
        if privileged {
            let existing = Set((linux.devices ?? []).map(\.path))
            let extra = hostDevices.filter { !existing.contains($0.path) }
            if !extra.isEmpty { linux.devices = (linux.devices ?? []) + extra }
            var resources = linux.resources ?? OCI.Resources()
            resources.devices = [OCI.DeviceCgroup(allow: true, access: "rwm")]
            linux.resources = resources
        }
        spec.linux = linux

        if privileged, let mounts = spec.mounts {
            spec.mounts = mounts.map { mount in
                guard mount.destination == "/sys" || mount.destination == "/sys/fs/cgroup" else { return mount }
                var writable = mount
                writable.options = (mount.options ?? []).map { $0 == "ro" ? "rw" : $0 }
                return writable
            }
        }
    }
}

// MARK: - user

/// The image config's `User`, as kubelet sees it over CRI: a uid, or a name (the group part is not passed on).
enum ImageUser: Equatable {
    case numeric(UInt32)
    case name(String)

    init(_ user: String) {
        let userPart = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if userPart.isEmpty {
            self = .numeric(0)  // no USER: kubelet treats the image as running as uid 0
        } else if let value = UInt32(userPart) {
            self = .numeric(value)
        } else {
            self = .name(userPart)
        }
    }
}

/// `name_namespace(uid)`, kubelet's `format.Pod`.
func formatPod(_ pod: Pod) -> String {
    "\(pod.metadata.name ?? "")_\(pod.metadata.namespace ?? "default")(\(pod.metadata.uid ?? ""))"
}

/// kubelet `verifyRunAsNonRoot` (security_context_others.go), messages verbatim (kubelet.md §4.2).
func verifyRunAsNonRoot(pod: Pod, container: Container, runAsNonRoot: Bool, runAsUser: Int64?, image: ImageUser) throws(PodSecurityError) {
    guard runAsNonRoot else { return }
    let suffix = "(pod: \(goQuote(formatPod(pod))), container: \(container.name))"
    if let runAsUser {
        if runAsUser == 0 {
            throw PodSecurityError(
                .runAsUserBreaksNonRoot, reason: SecurityReason.createContainerConfigError,
                message: "container's runAsUser breaks non-root policy \(suffix)")
        }
        return
    }
    switch image {
    case .numeric(0):
        throw PodSecurityError(
            .imageRunsAsRoot, reason: SecurityReason.createContainerConfigError,
            message: "container has runAsNonRoot and image will run as root \(suffix)")
    case .name(let name):
        throw PodSecurityError(
            .imageNonNumericUser, reason: SecurityReason.createContainerConfigError,
            message: "container has runAsNonRoot and image has non-numeric user (\(name)), cannot verify user is non-root \(suffix)")
    case .numeric:
        return
    }
}

private func id(_ value: Int64, field: String) throws(PodSecurityError) -> UInt32 {
    guard value >= 0, value <= Int64(Int32.max) else {
        throw PodSecurityError(
            .unsupportedValue, reason: SecurityReason.createContainerConfigError,
            message: "\(field): Invalid value: \(value): must be between 0 and 2147483647, inclusive")
    }
    return UInt32(value)
}

/// `spec.containers[i]` / `spec.initContainers[i]` of `container` (by name).
func containerPath(pod: Pod, container: Container) -> String {
    if let i = pod.spec.containers.firstIndex(where: { $0.name == container.name }) { return "spec.containers[\(i)]" }
    if let i = pod.spec.initContainers?.firstIndex(where: { $0.name == container.name }) { return "spec.initContainers[\(i)]" }
    return "spec.containers[\(container.name)]"
}

// MARK: - capabilities

/// "All capabilities" for `privileged` and `add: [ALL]`: every capability the agent itself holds, as containerd's
/// `WithAllCurrentCapabilities` does (the agent cannot grant what it lacks; capset would fail with EPERM).
public enum CurrentCapabilities {
    /// The names of the capabilities in this process's effective set (/proc/self/status `CapEff`), limited to
    /// the kernel's `lastCap`; every known capability if the file cannot be read.
    public static var all: [String] {
        let known = CapabilityName.all.filter { $0.value <= RuntimeSecurity.Capabilities.lastCap }
        guard let mask = effectiveMask else { return known.map(\.rawValue) }
        return known.filter { mask & $0.bit != 0 }.map(\.rawValue)
    }

    static var effectiveMask: UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        }
        return nil
    }
}

func resolveCapabilities(_ caps: KubeAPI.Capabilities?, privileged: Bool, field: String) throws(PodSecurityError) -> [String] {
    let current = CurrentCapabilities.all
    if privileged { return current }
    for (list, name) in [(caps?.add ?? [], "add"), (caps?.drop ?? [], "drop")] {
        for (i, cap) in list.enumerated() where cap.uppercased() != "ALL" && CapabilityName(rawValue: cap) == nil {
            throw PodSecurityError(
                .unknownCapability, reason: SecurityReason.createContainerError,
                message: "\(field).\(name)[\(i)]: unknown capability \(goQuote(cap))")
        }
    }
    let resolved = RuntimeSecurity.Capabilities.resolveKubernetes(add: caps?.add ?? [], drop: caps?.drop ?? [], defaults: DefaultProfiles.capabilities)
    // `add: [ALL]` means the current set too; individually named capabilities are passed on as asked.
    guard (caps?.add ?? []).contains(where: { $0.uppercased() == "ALL" }) else { return resolved }
    let allowed = Set(current)
    let named = Set((caps?.add ?? []).compactMap { CapabilityName(rawValue: $0)?.rawValue })
    return resolved.filter { allowed.contains($0) || named.contains($0) }
}

// MARK: - seccomp

/// Container profile over pod profile over the node default. Returns the selection and the API field it came from.
func selectSeccomp(
    container: SeccompProfile?, pod: SeccompProfile?, containerPath: String, options: SecurityOptions
) throws(PodSecurityError) -> (SeccompSelection, String) {
    let field: String
    let profile: SeccompProfile
    if let container {
        profile = container
        field = containerPath + ".securityContext.seccompProfile"
    } else if let pod {
        profile = pod
        field = "spec.securityContext.seccompProfile"
    } else {
        return (options.seccompDefault ? .runtimeDefault : .unconfined, "")
    }
    switch profile.type {
    case "RuntimeDefault": return (.runtimeDefault, field)
    case "Unconfined": return (.unconfined, field)
    case "Localhost":
        let name = profile.localhostProfile ?? ""
        let here = field + ".localhostProfile"
        guard !name.isEmpty else {
            throw PodSecurityError(
                .seccompProfile, reason: SecurityReason.createContainerConfigError,
                message: "\(here): Required value: must be set when seccomp type is Localhost")
        }
        if name.hasPrefix("/") {
            throw PodSecurityError(
                .seccompProfile, reason: SecurityReason.createContainerConfigError,
                message: "\(here): Invalid value: \(goQuote(name)): must be a relative path")
        }
        if name.split(separator: "/", omittingEmptySubsequences: false).contains("..") {
            throw PodSecurityError(
                .seccompProfile, reason: SecurityReason.createContainerConfigError,
                message: "\(here): Invalid value: \(goQuote(name)): must not contain '..'")
        }
        return (.localhost(path: options.seccompDirectory + "/" + name), here)
    default:
        throw PodSecurityError(
            .unsupportedValue, reason: SecurityReason.createContainerConfigError,
            message: "\(field).type: Unsupported value: \(goQuote(profile.type)): supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\"")
    }
}

/// Reads a Localhost profile (OCI `linux.seccomp` JSON). The resolved path (symlinks followed) must stay inside
/// `directory`: a symlink pointing out of it is refused like a `..`.
func loadLocalhostProfile(_ path: String, directory: String, field: String) throws(PodSecurityError) -> OCI.Seccomp {
    func fail(_ why: String) -> PodSecurityError {
        PodSecurityError(
            .seccompProfile, reason: SecurityReason.createContainerError,
            message: "failed to generate seccomp spec opts: cannot load seccomp profile \(goQuote(path)): \(why)")
    }
    let base = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
    let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    guard real.hasPrefix(base + "/") else {
        throw PodSecurityError(
            .seccompProfile, reason: SecurityReason.createContainerConfigError,
            message: "\(field): Invalid value: \(goQuote(path)): resolves outside \(directory)")
    }
    guard let data = FileManager.default.contents(atPath: real) else { throw fail("open \(path): no such file or directory or not readable") }
    do {
        return try JSONDecoder().decode(OCI.Seccomp.self, from: data)
    } catch {
        throw fail("decoding seccomp profile failed: \(error)")
    }
}

// MARK: - warnings

func unhonouredFields(pod: Pod, container: Container, path: String) -> [SecurityWarning] {
    var out: [SecurityWarning] = []
    let podSC = pod.spec.securityContext
    let sc = container.securityContext
    func add(_ field: String, _ why: String) { out.append(SecurityWarning(field: field, message: "cannot be honoured here (\(why)); ignored")) }
    if podSC?.seLinuxOptions != nil { add("spec.securityContext.seLinuxOptions", "SELinux is not supported by this node") }
    if sc?.seLinuxOptions != nil { add(path + ".securityContext.seLinuxOptions", "SELinux is not supported by this node") }
    if podSC?.appArmorProfile != nil { add("spec.securityContext.appArmorProfile", "AppArmor is not supported by this node") }
    if sc?.appArmorProfile != nil { add(path + ".securityContext.appArmorProfile", "AppArmor is not supported by this node") }
    if podSC?.windowsOptions != nil { add("spec.securityContext.windowsOptions", "this is a Linux node") }
    if sc?.windowsOptions != nil { add(path + ".securityContext.windowsOptions", "this is a Linux node") }
    if pod.spec.hostUsers == false { add("spec.hostUsers", "user namespaces are not supported; the pod uses the host user namespace") }
    return out
}
