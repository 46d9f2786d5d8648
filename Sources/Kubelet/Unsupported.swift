import KubeAPI

/// Fields this agent accepts but does not act on yet. Each is reported as a Warning event on the pod
/// (rule 5: never silently dropped); the pod still runs without it.
enum Unsupported {
    static func fields(of pod: Pod) -> [String] {
        var fields: [String] = []
        let spec = pod.spec
        if spec.activeDeadlineSeconds != nil { fields.append("spec.activeDeadlineSeconds") }
        let groups: [(String, [Container])] = [("spec.initContainers", spec.initContainers ?? []), ("spec.containers", spec.containers)]
        for (prefix, containers) in groups {
            for (index, container) in containers.enumerated() {
                let path = "\(prefix)[\(index)]"
                // Probes of restartable init containers (sidecars): the sidecar itself is not supported yet.
                let probes = [
                    ("livenessProbe", container.livenessProbe), ("readinessProbe", container.readinessProbe), ("startupProbe", container.startupProbe),
                ]
                for (kind, probe) in probes where probe != nil && prefix == "spec.initContainers" {
                    fields.append("\(path).\(kind) (only probes of app containers)")
                }
                for (hookName, hook) in [("postStart", container.lifecycle?.postStart), ("preStop", container.lifecycle?.preStop)] {
                    if hook?.httpGet != nil || hook?.tcpSocket != nil { fields.append("\(path).lifecycle.\(hookName) (only exec and sleep)") }
                }
                if container.lifecycle?.stopSignal != nil { fields.append("\(path).lifecycle.stopSignal") }
                for (mountIndex, mount) in (container.volumeMounts ?? []).enumerated() where mount.mountPropagation != nil {
                    fields.append("\(path).volumeMounts[\(mountIndex)].mountPropagation")
                }
                if container.restartPolicy != nil { fields.append("\(path).restartPolicy (sidecar containers)") }
                if container.tty == true || container.stdin == true { fields.append("\(path).stdin/tty") }
            }
        }
        return fields
    }
}
