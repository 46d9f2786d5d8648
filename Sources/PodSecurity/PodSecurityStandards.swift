// Pod Security Standards (`--pod-security=privileged|baseline|restricted`, default baseline), checked before a
// pod runs, as the pod-security-admission plugin does (runtime.md §2.5): each check gives a forbidden reason and
// a detail; the message is `violates PodSecurity "<level>:latest": reason (detail), reason (detail)`, with the
// baseline checks first and the restricted ones after, each group in check-ID order (the admission's sort), and
// the baseline checks a restricted one replaces left out (capabilities, seccompProfile, hostPathVolumes).
// Written for minikubelet from the standard's rules; checks that do not apply to the fields this node models
// (Windows hostProcess pods are refused anyway) are kept where the API has the field.
import KubeAPI

/// A Pod Security Standards level.
public enum PodSecurityLevel: String, Sendable, CaseIterable, Comparable {
    case privileged
    case baseline
    case restricted

    public static func < (a: PodSecurityLevel, b: PodSecurityLevel) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }
}

/// One failed check.
public struct PodSecurityViolation: Sendable, Equatable, CustomStringConvertible {
    /// The admission check ID (`allowPrivilegeEscalation`, `capabilities_restricted`, ...).
    public var check: String
    /// e.g. `allowPrivilegeEscalation != false`.
    public var reason: String
    /// e.g. `container "x" must set securityContext.allowPrivilegeEscalation=false`; may be empty.
    public var detail: String

    public var description: String { detail.isEmpty ? reason : "\(reason) (\(detail))" }
}

public enum PodSecurityStandards {
    /// The namespace label that overrides the node level (`pod-security.kubernetes.io/enforce`).
    public static let enforceLabel = "pod-security.kubernetes.io/enforce"

    /// The level that applies to `pod`: the enforce label of its namespace if `namespaceLabels` knows the
    /// namespace and the label holds a valid level, else `defaultLevel` (the `--pod-security` flag).
    public static func level(
        for pod: Pod, defaultLevel: PodSecurityLevel, namespaceLabels: (String) -> [String: String]? = { _ in nil }
    ) -> PodSecurityLevel {
        let namespace = pod.metadata.namespace ?? "default"
        guard let value = namespaceLabels(namespace)?[enforceLabel], let level = PodSecurityLevel(rawValue: value) else { return defaultLevel }
        return level
    }

    /// Every violation of `level`, in the admission's order.
    public static func violations(of pod: Pod, level: PodSecurityLevel) -> [PodSecurityViolation] {
        guard level != .privileged else { return [] }
        var baseline: [(String, Check)] = [
            ("appArmorProfile", appArmorProfile), ("capabilities_baseline", capabilitiesBaseline),
            ("hostNamespaces", hostNamespaces), ("hostPathVolumes", hostPathVolumes), ("hostPorts", hostPorts),
            ("hostProbesAndHostLifecycle", hostProbesAndHostLifecycle), ("privileged", privileged),
            ("procMount", procMount), ("seLinuxOptions", seLinuxOptions), ("seccompProfile_baseline", seccompBaseline),
            ("sysctls", sysctls), ("windowsHostProcess", windowsHostProcess),
        ]
        var restricted: [(String, Check)] = []
        if level == .restricted {
            let overridden: Set<String> = ["capabilities_baseline", "seccompProfile_baseline", "hostPathVolumes"]
            baseline.removeAll { overridden.contains($0.0) }
            restricted = [
                ("allowPrivilegeEscalation", allowPrivilegeEscalation), ("capabilities_restricted", capabilitiesRestricted),
                ("restrictedVolumes", restrictedVolumes), ("runAsNonRoot", runAsNonRoot), ("runAsUser", runAsUser),
                ("seccompProfile_restricted", seccompRestricted),
            ]
        }
        return (baseline + restricted).compactMap { id, check in
            check(pod.spec).map { PodSecurityViolation(check: id, reason: $0.reason, detail: $0.detail) }
        }
    }

    /// Throws a `Forbidden` error listing every violation, or returns if `pod` meets `level`.
    public static func check(_ pod: Pod, level: PodSecurityLevel) throws(PodSecurityError) {
        let found = violations(of: pod, level: level)
        guard !found.isEmpty else { return }
        throw PodSecurityError(
            .podSecurityStandards, reason: SecurityReason.forbidden,
            message: "violates PodSecurity \(goQuote(level.rawValue + ":latest")): " + found.map(\.description).joined(separator: ", "))
    }

    // MARK: - checks

    typealias Check = @Sendable (PodSpec) -> (reason: String, detail: String)?

    /// Init containers first, then app containers (the admission's `visitContainers`).
    static func containers(_ spec: PodSpec) -> [Container] { (spec.initContainers ?? []) + spec.containers }

    static func plural(_ one: String, _ many: String, _ n: Int) -> String { n == 1 ? one : many }
    static func joinQuote(_ items: [String]) -> String { items.map(goQuote).joined(separator: ", ") }
    /// Sorted unique strings (Go `sets.String.List()`).
    static func sortedSet(_ items: [String]) -> [String] { Array(Set(items)).sorted() }
    /// `container "a"` / `containers "a", "b"`.
    static func named(_ names: [String]) -> String { "\(plural("container", "containers", names.count)) \(joinQuote(names))" }

    static let privileged: Check = { spec in
        let bad = containers(spec).filter { $0.securityContext?.privileged == true }.map(\.name)
        guard !bad.isEmpty else { return nil }
        return ("privileged", "\(named(bad)) must not set securityContext.privileged=true")
    }

    static let baselineCapabilities: Set<String> = [
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
        "SETPCAP", "SETUID", "SYS_CHROOT",
    ]

    static let capabilitiesBaseline: Check = { spec in
        var bad: [String] = []
        var caps: [String] = []
        for c in containers(spec) {
            let forbidden = (c.securityContext?.capabilities?.add ?? []).filter { !baselineCapabilities.contains($0) }
            if !forbidden.isEmpty {
                bad.append(c.name)
                caps += forbidden
            }
        }
        guard !bad.isEmpty else { return nil }
        return ("non-default capabilities", "\(named(bad)) must not include \(joinQuote(sortedSet(caps))) in securityContext.capabilities.add")
    }

    static let hostNamespaces: Check = { spec in
        var found: [String] = []
        if spec.hostNetwork == true { found.append("hostNetwork=true") }
        if spec.hostPID == true { found.append("hostPID=true") }
        if spec.hostIPC == true { found.append("hostIPC=true") }
        return found.isEmpty ? nil : ("host namespaces", found.joined(separator: ", "))
    }

    static let hostPathVolumes: Check = { spec in
        let bad = (spec.volumes ?? []).filter { $0.hostPath != nil }.map(\.name)
        guard !bad.isEmpty else { return nil }
        return ("hostPath volumes", "\(plural("volume", "volumes", bad.count)) \(joinQuote(bad))")
    }

    static let hostPorts: Check = { spec in
        var bad: [String] = []
        var ports: [String] = []
        for c in containers(spec) {
            let used = (c.ports ?? []).compactMap(\.hostPort).filter { $0 != 0 }
            if !used.isEmpty {
                bad.append(c.name)
                ports += used.map(String.init)
            }
        }
        guard !bad.isEmpty else { return nil }
        return (
            "hostPort",
            "\(named(bad)) \(plural("uses", "use", bad.count)) \(plural("hostPort", "hostPorts", Set(ports).count)) \(sortedSet(ports).joined(separator: ", "))"
        )
    }

    static let hostProbesAndHostLifecycle: Check = { spec in
        var bad: [String] = []
        var hosts: [String] = []
        for c in containers(spec) {
            let probes = [c.livenessProbe, c.readinessProbe, c.startupProbe].compactMap { $0 }
            var found = probes.compactMap { $0.httpGet?.host } + probes.compactMap { $0.tcpSocket?.host }
            for handler in [c.lifecycle?.postStart, c.lifecycle?.preStop].compactMap({ $0 }) {
                found += [handler.httpGet?.host, handler.tcpSocket?.host].compactMap { $0 }
            }
            found = found.filter { !$0.isEmpty }
            if !found.isEmpty {
                bad.append(c.name)
                hosts += found
            }
        }
        guard !bad.isEmpty else { return nil }
        return ("probe or lifecycle host", "\(named(bad)) \(plural("uses", "use", bad.count)) \(plural("host", "hosts", hosts.count)) \(joinQuote(hosts))")
    }

    static let procMount: Check = { spec in
        if spec.hostUsers == false { return nil }
        var bad: [String] = []
        var values: [String] = []
        for c in containers(spec) {
            if let value = c.securityContext?.procMount, value != "Default" {
                bad.append(c.name)
                values.append(value)
            }
        }
        guard !bad.isEmpty else { return nil }
        return ("procMount", "\(named(bad)) must not set securityContext.procMount to \(joinQuote(sortedSet(values)))")
    }

    static let seLinuxOptions: Check = { spec in
        let allowedTypes: Set<String> = ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]
        // Findings live in a reference type: the checker closure below updates them while filtering, and
        // plain captured `var`s made the compiler's dead-code analysis misread the later reads.
        final class Findings {
            var types: [String] = []
            var setUser = false
            var setRole = false
        }
        let found = Findings()
        func bad(_ options: SELinuxOptions?) -> Bool {
            guard let options else { return false }
            var isBad = false
            if let t = options.type, !allowedTypes.contains(t) {
                found.types.append(t)
                isBad = true
            }
            if let u = options.user, !u.isEmpty {
                found.setUser = true
                isBad = true
            }
            if let r = options.role, !r.isEmpty {
                found.setRole = true
                isBad = true
            }
            return isBad
        }
        var setters: [String] = []
        if bad(spec.securityContext?.seLinuxOptions) { setters.append("pod") }
        let badContainers = containers(spec).filter { bad($0.securityContext?.seLinuxOptions) }.map(\.name)
        if !badContainers.isEmpty { setters.append(named(badContainers)) }
        guard !setters.isEmpty else { return nil }
        var parts: [String] = []
        let t = sortedSet(found.types)
        if !t.isEmpty { parts.append("\(plural("type", "types", t.count)) \(joinQuote(t))") }
        if found.setUser { parts.append("user may not be set") }
        if found.setRole { parts.append("role may not be set") }
        return ("seLinuxOptions", "\(setters.joined(separator: " and ")) set forbidden securityContext.seLinuxOptions: \(parts.joined(separator: "; "))")
    }

    static let seccompBaseline: Check = { spec in
        var setters: [String] = []
        var values: [String] = []
        if let type = spec.securityContext?.seccompProfile?.type, type == "Unconfined" {
            setters.append("pod")
            values.append(type)
        }
        let bad = containers(spec).filter { $0.securityContext?.seccompProfile?.type == "Unconfined" }.map(\.name)
        if !bad.isEmpty {
            setters.append(named(bad))
            values.append("Unconfined")
        }
        guard !setters.isEmpty else { return nil }
        return ("seccompProfile", "\(setters.joined(separator: " and ")) must not set securityContext.seccompProfile.type to \(joinQuote(sortedSet(values)))")
    }

    static let sysctls: Check = { spec in
        let allowed = Set(Sysctls.safe.map(\.name))
        let bad = (spec.securityContext?.sysctls ?? []).map(\.name).filter { !allowed.contains($0) }
        guard !bad.isEmpty else { return nil }
        return ("forbidden sysctls", bad.joined(separator: ", "))
    }

    static let appArmorProfile: Check = { spec in
        var values: [String] = []
        func bad(_ p: AppArmorProfile?) -> Bool {
            guard let p, p.type != "RuntimeDefault", p.type != "Localhost" else { return false }
            values.append(p.type)
            return true
        }
        var setters: [String] = []
        if bad(spec.securityContext?.appArmorProfile) { setters.append("pod") }
        let badContainers = containers(spec).filter { bad($0.securityContext?.appArmorProfile) }.map(\.name)
        if !badContainers.isEmpty { setters.append(named(badContainers)) }
        guard !setters.isEmpty else { return nil }
        let v = sortedSet(values)
        return (
            plural("forbidden AppArmor profile", "forbidden AppArmor profiles", v.count),
            "\(setters.joined(separator: " and ")) must not set AppArmor profile type to \(joinQuote(v))"
        )
    }

    static let windowsHostProcess: Check = { spec in
        var setters: [String] = []
        if spec.securityContext?.windowsOptions?.hostProcess == true { setters.append("pod") }
        let bad = containers(spec).filter { $0.securityContext?.windowsOptions?.hostProcess == true }.map(\.name)
        if !bad.isEmpty { setters.append(named(bad)) }
        guard !setters.isEmpty else { return nil }
        return ("hostProcess", "\(setters.joined(separator: " and ")) must not set securityContext.windowsOptions.hostProcess=true")
    }

    static let allowPrivilegeEscalation: Check = { spec in
        let bad = containers(spec).filter { $0.securityContext?.allowPrivilegeEscalation != false }.map(\.name)
        guard !bad.isEmpty else { return nil }
        return ("allowPrivilegeEscalation != false", "\(named(bad)) must set securityContext.allowPrivilegeEscalation=false")
    }

    static let capabilitiesRestricted: Check = { spec in
        var missingDrop: [String] = []
        var adding: [String] = []
        var caps: [String] = []
        for c in containers(spec) {
            guard let capabilities = c.securityContext?.capabilities else {
                missingDrop.append(c.name)
                continue
            }
            if !(capabilities.drop ?? []).contains("ALL") { missingDrop.append(c.name) }
            let forbidden = (capabilities.add ?? []).filter { $0 != "NET_BIND_SERVICE" }
            if !forbidden.isEmpty {
                adding.append(c.name)
                caps += forbidden
            }
        }
        var details: [String] = []
        if !missingDrop.isEmpty { details.append("\(named(missingDrop)) must set securityContext.capabilities.drop=[\"ALL\"]") }
        if !adding.isEmpty {
            details.append("\(named(adding)) must not include \(joinQuote(sortedSet(caps))) in securityContext.capabilities.add")
        }
        return details.isEmpty ? nil : ("unrestricted capabilities", details.joined(separator: "; "))
    }

    static let restrictedVolumes: Check = { spec in
        var bad: [String] = []
        var types: [String] = []
        for v in spec.volumes ?? [] {
            var kinds: [String] = []
            if v.hostPath != nil { kinds.append("hostPath") }
            let allowed: Set<String> = ["csi", "ephemeral", "image"]
            kinds += v.unsupportedSources.filter { !allowed.contains($0) }
            if !kinds.isEmpty {
                bad.append(v.name)
                types += kinds
            }
        }
        guard !bad.isEmpty else { return nil }
        let t = sortedSet(types)
        return (
            "restricted volume types",
            "\(plural("volume", "volumes", bad.count)) \(joinQuote(bad)) \(plural("uses", "use", bad.count)) "
                + "\(plural("restricted volume type", "restricted volume types", t.count)) \(joinQuote(t))"
        )
    }

    static let runAsNonRoot: Check = { spec in
        if spec.hostUsers == false { return nil }
        var setters: [String] = []
        let podValue = spec.securityContext?.runAsNonRoot
        if podValue == false { setters.append("pod") }
        var explicit: [String] = []
        var implicit: [String] = []
        for c in containers(spec) {
            if let value = c.securityContext?.runAsNonRoot {
                if !value { explicit.append(c.name) }
            } else if podValue != true {
                implicit.append(c.name)
            }
        }
        if !explicit.isEmpty { setters.append(named(explicit)) }
        if !setters.isEmpty {
            return ("runAsNonRoot != true", "\(setters.joined(separator: " and ")) must not set securityContext.runAsNonRoot=false")
        }
        if !implicit.isEmpty { return ("runAsNonRoot != true", "pod or \(named(implicit)) must set securityContext.runAsNonRoot=true") }
        return nil
    }

    static let runAsUser: Check = { spec in
        if spec.hostUsers == false { return nil }
        var setters: [String] = []
        if spec.securityContext?.runAsUser == 0 { setters.append("pod") }
        let bad = containers(spec).filter { $0.securityContext?.runAsUser == 0 }.map(\.name)
        if !bad.isEmpty { setters.append(named(bad)) }
        guard !setters.isEmpty else { return nil }
        return ("runAsUser=0", "\(setters.joined(separator: " and ")) must not set runAsUser=0")
    }

    static let seccompRestricted: Check = { spec in
        let good: Set<String> = ["RuntimeDefault", "Localhost"]
        var setters: [String] = []
        var values: [String] = []
        let podType = spec.securityContext?.seccompProfile?.type
        if let podType, !good.contains(podType) {
            setters.append("pod")
            values.append(podType)
        }
        var explicit: [String] = []
        var implicit: [String] = []
        for c in containers(spec) {
            if let type = c.securityContext?.seccompProfile?.type {
                if !good.contains(type) {
                    explicit.append(c.name)
                    values.append(type)
                }
            } else if podType.map({ !good.contains($0) }) ?? true {
                implicit.append(c.name)
            }
        }
        if !explicit.isEmpty { setters.append(named(explicit)) }
        if !setters.isEmpty {
            return (
                "seccompProfile", "\(setters.joined(separator: " and ")) must not set securityContext.seccompProfile.type to \(joinQuote(sortedSet(values)))"
            )
        }
        if !implicit.isEmpty {
            return ("seccompProfile", "pod or \(named(implicit)) must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"")
        }
        return nil
    }
}
