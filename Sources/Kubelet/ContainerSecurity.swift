// Pod security on this node (issue 6): the PodSecurity module wired into admission, the container's OCI config,
// fsGroup on volumes and the pod's pids limit. Kept apart from PodWorker/BundleBuilder so that those stay about
// the container lifecycle; each hook there is one call into this file.
import Cgroups
import Foundation
import Images
import KubeAPI
import OCISpec
import PodSecurity

/// The node's security settings (kubelet flags).
public struct NodeSecurityConfig: Sendable, Equatable {
    /// `--pod-security`: the Pod Security Standards level enforced on every pod (namespace labels would override it).
    public var podSecurity: String
    /// `--seccomp-default`: an unset seccompProfile means RuntimeDefault (true, the default) or Unconfined.
    public var seccompDefault: Bool
    /// `--allowed-unsafe-sysctls`: sysctl names or `prefix*` patterns allowed beyond kubelet's safe set.
    public var allowedUnsafeSysctls: [String]
    /// `--pod-max-pids` (kubelet's podPidsLimit): the pids limit of each pod's cgroup, shared by all its containers;
    /// <= 0 means unlimited.
    public var podMaxPids: Int64

    /// The Pod Security Standards levels `--pod-security` accepts.
    public static let levels = PodSecurityLevel.allCases.map(\.rawValue)

    public init(podSecurity: String = "baseline", seccompDefault: Bool = true, allowedUnsafeSysctls: [String] = [], podMaxPids: Int64 = 4096) {
        self.podSecurity = podSecurity
        self.seccompDefault = seccompDefault
        self.allowedUnsafeSysctls = allowedUnsafeSysctls
        self.podMaxPids = podMaxPids
    }

    var level: PodSecurityLevel { PodSecurityLevel(rawValue: podSecurity) ?? .baseline }

    func options(root: String) -> SecurityOptions {
        SecurityOptions(seccompDefault: seccompDefault, root: root, allowedUnsafeSysctls: allowedUnsafeSysctls)
    }
}

enum ContainerSecurity {
    /// Admission before anything runs: the Pod Security Standards level first (in Kubernetes the API server
    /// refuses such a pod before a kubelet sees it), then kubelet's sysctl allow-list. Namespaces are not objects
    /// on this node yet, so the namespace `pod-security.kubernetes.io/enforce` label hook finds no labels.
    static func admit(_ pod: Pod, config: NodeSecurityConfig) -> (reason: String, message: String)? {
        do throws(PodSecurityError) {
            let level = PodSecurityStandards.level(for: pod, defaultLevel: config.level, namespaceLabels: { _ in nil })
            try PodSecurityStandards.check(pod, level: level)
            try Sysctls.admit(pod: pod, allowedUnsafe: config.allowedUnsafeSysctls)
        } catch {
            return (error.reason, error.message)
        }
        return nil
    }

    /// Resolves the container's effective security (image user looked up in the rootfs's /etc/passwd) and writes
    /// it onto `spec`. Throws kubelet's refusal (runAsNonRoot, seccomp profile, ...).
    static func apply(
        pod: Pod, container: Container, imageUser: String, rootfs: String, config: AgentConfig, to spec: inout OCI.Spec
    ) throws(PodSecurityError) -> EffectiveSecurity {
        let users = ImageUsers(rootfs: rootfs)
        let effective = try EffectiveSecurity.resolve(
            pod: pod, container: container, imageUser: imageUser, options: config.security.options(root: config.root),
            lookupUser: { users.lookup($0) })
        effective.apply(to: &spec)
        return effective
    }

    /// fsGroup on the writable emptyDir volumes the container mounts (kubelet's SetVolumeOwnership; hostPath
    /// volumes are never changed). Idempotent; `fsGroupChangePolicy: OnRootMismatch` skips volumes already done.
    static func applyFSGroup(pod: Pod, container: Container, volumeDirectory: (String) -> String?) throws(VolumeOwnership.Failure) {
        guard let fsGroup = pod.spec.securityContext?.fsGroup, fsGroup >= 0, fsGroup <= Int64(Int32.max) else { return }
        for mount in container.volumeMounts ?? [] where mount.readOnly != true {
            guard pod.spec.volumes?.first(where: { $0.name == mount.name })?.emptyDir != nil, let directory = volumeDirectory(mount.name) else {
                continue
            }
            try VolumeOwnership.apply(fsGroup: UInt32(fsGroup), to: directory, changePolicy: pod.spec.securityContext?.fsGroupChangePolicy)
        }
    }

    /// Creates the pod's cgroup (the parent of every container's `pods/<uid>/<name>`) with the pids limit, so that
    /// all containers of the pod share it: a fork bomb in one stops there. Idempotent.
    static func preparePodCgroup(path: String, pidsLimit: Int64) throws(CgroupError) {
        guard pidsLimit > 0 else { return }
        let manager = try makeCgroupManager(path: path)
        try manager.create()
        try manager.apply(CgroupResources(pidsLimit: pidsLimit))
    }

    /// What `agentctl describe` shows per container, kept next to the container's config.json.
    static let reportFile = "security.json"

    struct Row: Codable, Sendable, Equatable {
        var key: String
        var value: String
    }

    static func record(_ effective: EffectiveSecurity, containerDirectory: String) throws {
        let rows = effective.describeRows.map { Row(key: $0.key, value: $0.value) }
        try JSONEncoder().encode(rows).write(to: URL(fileURLWithPath: containerDirectory + "/" + reportFile))
    }
}

/// `GET /v1/pods/{ns}/{name}/security`: each container's effective settings (its latest run) and an explanation of
/// every security refusal in the pod's status.
struct SecurityReport: Codable, Sendable {
    struct ContainerSettings: Codable, Sendable {
        var name: String
        var settings: [ContainerSecurity.Row]
    }
    struct Explanation: Codable, Sendable {
        /// nil for a pod rejection.
        var container: String?
        var reason: String
        var message: String
        var explanation: String
        var fix: String
    }
    var containers: [ContainerSettings] = []
    var diagnoses: [Explanation] = []
}

extension Agent {
    func securityReport(namespace: String, name: String) -> SecurityReport? {
        guard let record = podRecord(namespace: namespace, name: name) else { return nil }
        let pod = podObjects().first { $0.metadata.uid == record.uid }
        var report = SecurityReport()
        let runs = containerRecords(uid: record.uid)
        for container in (pod?.spec.initContainers ?? []) + (pod?.spec.containers ?? []) {
            guard let run = runs.filter({ $0.name == container.name }).max(by: { $0.attempt < $1.attempt }) else { continue }
            let file = config.root + "/pods/\(record.uid)/containers/\(run.id)/" + ContainerSecurity.reportFile
            guard let data = FileManager.default.contents(atPath: file),
                let rows = try? JSONDecoder().decode([ContainerSecurity.Row].self, from: data)
            else { continue }
            report.containers.append(SecurityReport.ContainerSettings(name: container.name, settings: rows))
        }
        let status = pod?.status
        if let reason = status?.reason, let message = status?.message {
            let text = message.hasPrefix("Pod was rejected: ") ? String(message.dropFirst("Pod was rejected: ".count)) : message
            if let diagnosis = Diagnosis(reason: reason, message: text) { report.diagnoses.append(.init(nil, diagnosis)) }
        }
        for containerStatus in (status?.initContainerStatuses ?? []) + (status?.containerStatuses ?? []) {
            guard let waiting = containerStatus.state?.waiting, let reason = waiting.reason, let message = waiting.message,
                let diagnosis = Diagnosis(reason: reason, message: message)
            else { continue }
            report.diagnoses.append(.init(containerStatus.name, diagnosis))
        }
        return report
    }
}

extension SecurityReport.Explanation {
    init(_ container: String?, _ diagnosis: Diagnosis) {
        self.init(
            container: container, reason: diagnosis.reason, message: diagnosis.message, explanation: diagnosis.explanation, fix: diagnosis.suggestedFix)
    }
}

extension PodWorker {
    /// The security part of a container start: effective settings onto `spec`, Warning events for fields not
    /// honoured (first attempt only), fsGroup on the volumes, the pod's pids limit, and the describe report.
    /// False when the container must not start; `fail(reason, message)` has then recorded why.
    func applySecurity(
        _ container: Container, rootfs: String, image: ImageRecord, attempt: Int, directory: String, to spec: inout OCI.Spec,
        fail: (String, String) -> Void
    ) -> Bool {
        let effective: EffectiveSecurity
        do throws(PodSecurityError) {
            effective = try ContainerSecurity.apply(
                pod: pod, container: container, imageUser: image.imageConfig.User ?? "", rootfs: rootfs, config: context.config, to: &spec)
        } catch {
            fail(error.reason, error.message)
            return false
        }
        if attempt == 0 {
            for warning in effective.warnings {
                context.events.pod(
                    uid: uid, namespace: namespace, name: name, "Warning", "UnsupportedField", warning.description,
                    fieldPath: fieldPath(container, (pod.spec.initContainers ?? []).contains { $0.name == container.name }))
            }
        }
        do { try ContainerSecurity.applyFSGroup(pod: pod, container: container, volumeDirectory: volumeDirectory) } catch {
            fail("CreateContainerConfigError", "\(error)")
            return false
        }
        do { try ContainerSecurity.preparePodCgroup(path: podCgroup, pidsLimit: context.config.security.podMaxPids) } catch {
            fail("CreateContainerError", "pod cgroup \(podCgroup): \(error)")
            return false
        }
        do { try ContainerSecurity.record(effective, containerDirectory: directory) } catch {
            Log.warning("pod \(podDescription): cannot write the security report of \(container.name): \(error)")
        }
        return true
    }
}
