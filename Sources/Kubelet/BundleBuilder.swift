import Foundation
import Images
import KubeAPI
import OCISpec
import RuntimeSecurity

/// Builds a container's OCI config from the pod spec, the image's process defaults and the sandbox.
struct BundleBuilder: Sendable {
    var pod: Pod
    var container: Container
    var podUID: String
    var podDirectory: String
    var sandbox: Sandbox
    var cgroupsPath: String
    var nodeName: String
    var memoryCapacity: Int64
    /// The pod's shared PID namespace (`shareProcessNamespace`), else each container gets its own.
    var pidNamespace: String? = nil
    var podIPs: [String] = []
    var hostIP = ""

    /// Kubernetes' environment (kubelet_pods.go makeEnvironmentVariables): `value` with `$(VAR)` expansion
    /// against earlier entries, and downward-API `fieldRef`s. Other sources are reported as unsupported.
    func environment() throws(ContainerConfigError) -> [(name: String, value: String)] {
        var out: [(name: String, value: String)] = []
        var known: [String: String] = [:]
        for variable in container.env ?? [] {
            var value = ""
            if let literal = variable.value {
                value = Self.expand(literal, known)
            } else if let fieldRef = variable.valueFrom?.fieldRef {
                value = try fieldValue(fieldRef.fieldPath)
            } else if variable.valueFrom?.configMapKeyRef != nil || variable.valueFrom?.secretKeyRef != nil {
                let kind = variable.valueFrom?.configMapKeyRef != nil ? "configmap" : "secret"
                let name = variable.valueFrom?.configMapKeyRef?.name ?? variable.valueFrom?.secretKeyRef?.name ?? ""
                throw ContainerConfigError(message: "\(kind) \"\(name)\" not found")
            } else if let resourceRef = variable.valueFrom?.resourceFieldRef {
                value = try resourceValue(resourceRef)
            }
            known[variable.name] = value
            out.append((variable.name, value))
        }
        return out
    }

    func fieldValue(_ path: String) throws(ContainerConfigError) -> String {
        switch path {
        case "metadata.name": return pod.metadata.name ?? ""
        case "metadata.namespace": return pod.metadata.namespace ?? "default"
        case "metadata.uid": return podUID
        case "spec.nodeName": return nodeName
        case "spec.serviceAccountName": return pod.spec.serviceAccountName ?? ""
        case "status.podIP": return podIPs.first ?? ""
        case "status.podIPs": return podIPs.joined(separator: ",")
        case "status.hostIP", "status.hostIPs": return hostIP
        default:
            for (prefix, map) in [("metadata.labels['", pod.metadata.labels), ("metadata.annotations['", pod.metadata.annotations)]
            where path.hasPrefix(prefix) && path.hasSuffix("']") {
                let key = String(path.dropFirst(prefix.count).dropLast(2))
                return map?[key] ?? ""
            }
            throw ContainerConfigError(message: "unsupported fieldPath \"\(path)\"")
        }
    }

    /// Downward API resourceFieldRef: the container's request/limit (limits default to the node's
    /// allocatable), divided by the divisor and rounded up, as kubelet's ExtractResourceValueByContainerName.
    func resourceValue(_ ref: ResourceFieldSelector) throws(ContainerConfigError) -> String {
        let target: Container
        if let name = ref.containerName, !name.isEmpty {
            guard let named = (pod.spec.containers + (pod.spec.initContainers ?? [])).first(where: { $0.name == name }) else {
                throw ContainerConfigError(message: "resourceFieldRef: container \(name) not found")
            }
            target = named
        } else {
            target = container
        }
        let parts = ref.resource.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["limits", "requests"].contains(parts[0]), ["cpu", "memory", "ephemeral-storage"].contains(parts[1]) else {
            throw ContainerConfigError(message: "unsupported container resource : \(ref.resource)")
        }
        let values = parts[0] == "limits" ? target.resources?.limits : target.resources?.requests
        let isCPU = parts[1] == "cpu"
        var amount: Int64  // milli-units for cpu, units otherwise
        if let quantity = values?[parts[1]] {
            amount = isCPU ? quantity.milliValue : quantity.value
        } else if parts[0] == "limits" {
            let node = NodeResources.detect(nodeName: nodeName)
            amount = isCPU ? node.milliCPU : parts[1] == "memory" ? node.memoryBytes : 0
        } else {
            amount = 0
        }
        let divisor = ref.divisor.map { isCPU ? $0.milliValue : $0.value } ?? (isCPU ? 1000 : 1)
        guard divisor > 0 else { return String(amount) }
        return String((amount + divisor - 1) / divisor)
    }

    /// `$(VAR)` → value of VAR if defined; `$$(VAR)` → `$(VAR)`; unresolvable references stay verbatim.
    static func expand(_ input: String, _ known: [String: String]) -> String {
        var out = ""
        var rest = Substring(input)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("$") {
                out += "$"
                rest = after.dropFirst()
            } else if after.hasPrefix("("), let close = after.firstIndex(of: ")") {
                let name = String(after[after.index(after: after.startIndex)..<close])
                if let value = known[name] { out += value } else { out += "$(\(name))" }
                rest = after[after.index(after: close)...]
            } else {
                out += "$"
                rest = after
            }
        }
        return out + rest
    }

    /// kubelet's mapping (runtime.md §3.5): cpu request → shares (milli × 1024 / 1000, min 2),
    /// cpu limit → CFS quota with a 100 ms period, memory limit → limit in bytes.
    func resources() -> OCI.Resources {
        var resources = OCI.Resources(devices: [OCI.DeviceCgroup(allow: false, access: "rwm")])
        let requests = container.resources?.requests ?? [:]
        let limits = container.resources?.limits ?? [:]
        let period: UInt64 = 100_000
        var cpu = OCI.CPU()
        if let request = requests["cpu"] {
            cpu.shares = UInt64(max(2, request.milliValue * 1024 / 1000))
        } else if let limit = limits["cpu"] {
            cpu.shares = UInt64(max(2, limit.milliValue * 1024 / 1000))
        } else {
            cpu.shares = 2
        }
        if let limit = limits["cpu"], limit.milliValue > 0 {
            // kubelet's minimum quota is 1 ms.
            cpu.quota = max(1000, limit.milliValue * Int64(period) / 1000)
            cpu.period = period
        }
        resources.cpu = cpu
        if let memory = limits["memory"], memory.value > 0 {
            resources.memory = OCI.Memory(limit: memory.value)
        }
        return resources
    }

    func mounts(volumeDirectory: (String) -> String?) throws(ContainerConfigError) -> [OCI.Mount] {
        var mounts: [OCI.Mount] = [
            OCI.Mount(destination: "/proc", type: "proc", source: "proc"),
            OCI.Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            OCI.Mount(
                destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            OCI.Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            OCI.Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            OCI.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
        ]
        for mount in container.volumeMounts ?? [] {
            guard let source = volumeDirectory(mount.name) else {
                throw ContainerConfigError(message: "volume \"\(mount.name)\" is not supported by this agent yet (emptyDir and hostPath are)")
            }
            var options = ["rbind", "rprivate"]
            options.append((mount.readOnly ?? false) ? "ro" : "rw")
            mounts.append(OCI.Mount(destination: mount.mountPath, type: "bind", source: source, options: options))
        }
        return mounts
    }

    func spec(rootfs: String, process defaults: ProcessDefaults, volumeDirectory: (String) -> String?) throws(ContainerConfigError) -> OCI.Spec {
        var hard = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &hard)
        // Root here lacks CAP_SYS_RESOURCE: never ask for more than the current hard limit.
        let nofile = min(UInt64(hard.rlim_max), 1_048_576)
        let securityContext = container.securityContext
        let capabilities = RuntimeSecurity.Capabilities.resolveKubernetes(
            add: securityContext?.capabilities?.add ?? [], drop: securityContext?.capabilities?.drop ?? [], defaults: DefaultProfiles.capabilities)
        let process = OCI.Process(
            terminal: false,
            user: OCI.User(uid: defaults.uid, gid: defaults.gid, additionalGids: defaults.additionalGids.isEmpty ? nil : defaults.additionalGids),
            args: defaults.args, env: defaults.env + ["HOSTNAME=\(Self.hostname(pod))"], cwd: defaults.workingDir,
            capabilities: OCI.Capabilities(bounding: capabilities, effective: capabilities, permitted: capabilities),
            rlimits: [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: nofile, soft: nofile)],
            noNewPrivileges: securityContext?.allowPrivilegeEscalation == false ? true : nil,
            oomScoreAdj: Admission.achievable(Admission.oomScoreAdj(pod, container: container, memoryCapacity: memoryCapacity)))
        // hostNetwork: no network entry, so the container stays in the agent's network namespace.
        var namespaces = sandbox.kinds.map { OCI.Namespace(type: $0 == "net" ? "network" : $0, path: sandbox.path($0)) } + [OCI.Namespace(type: "mount")]
        namespaces.append(OCI.Namespace(type: "pid", path: pidNamespace))
        let linux = OCI.Linux(
            resources: resources(), cgroupsPath: cgroupsPath, namespaces: namespaces,
            maskedPaths: [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])
        return OCI.Spec(
            process: process, root: OCI.Root(path: rootfs, readonly: securityContext?.readOnlyRootFilesystem ?? false),
            mounts: try mounts(volumeDirectory: volumeDirectory),
            annotations: [
                "io.kubernetes.pod.name": pod.metadata.name ?? "", "io.kubernetes.pod.namespace": pod.metadata.namespace ?? "default",
                "io.kubernetes.pod.uid": podUID, "io.kubernetes.container.name": container.name,
            ], linux: linux)
    }

    /// Pod hostname: spec.hostname or the pod name, at most 63 characters, no trailing `-`/`.`.
    static func hostname(_ pod: Pod) -> String {
        var name = String((pod.spec.hostname ?? pod.metadata.name ?? "pod").prefix(63))
        while name.hasSuffix("-") || name.hasSuffix(".") { name.removeLast() }
        return name
    }
}

/// A container that cannot be configured (kubelet: Waiting `CreateContainerConfigError`).
struct ContainerConfigError: Error, Sendable, CustomStringConvertible {
    var message: String
    var description: String { message }
}
