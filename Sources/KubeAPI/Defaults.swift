// Kubernetes' SetDefaults_* for a v1 Pod (pkg/apis/core/v1/defaults.go), applied to a decoded manifest so that
// the agent, `agentctl get -o yaml` and the spec hash all see the same fully defaulted object the API server
// would store. Integer fields that Kubernetes models as plain int32 (probe timings) treat 0 as "unset" exactly as
// Go's zero value does there; pointer fields (terminationGracePeriodSeconds) keep an explicit 0.

public enum Defaults {
    public static let namespace = "default"
    public static let restartPolicy = "Always"
    public static let terminationGracePeriodSeconds: Int64 = 30
    public static let dnsPolicy = "ClusterFirst"
    public static let schedulerName = "default-scheduler"
    public static let terminationMessagePath = "/dev/termination-log"
    public static let terminationMessagePolicy = "File"
    public static let portProtocol = "TCP"
    public static let probeTimeoutSeconds: Int32 = 1
    public static let probePeriodSeconds: Int32 = 10
    public static let probeSuccessThreshold: Int32 = 1
    public static let probeFailureThreshold: Int32 = 3
    public static let httpGetPath = "/"
    public static let httpGetScheme = "HTTP"
    /// 0644, the default file mode of secret, configMap, downwardAPI and projected volumes.
    public static let volumeFileMode: Int32 = 0o644
    public static let serviceAccountTokenExpirationSeconds: Int64 = 3600

    /// `Always` for `:latest` or an untagged image, else `IfNotPresent` (a digest counts as pinned).
    public static func imagePullPolicy(forImage image: String) -> String {
        if image.contains("@") { return "IfNotPresent" }
        let lastComponent = image.split(separator: "/", omittingEmptySubsequences: false).last ?? Substring(image)
        guard let colon = lastComponent.lastIndex(of: ":") else { return "Always" }
        let tag = lastComponent[lastComponent.index(after: colon)...]
        return tag.isEmpty || tag == "latest" ? "Always" : "IfNotPresent"
    }

    /// Applies every default in place. Idempotent.
    public static func apply(to pod: inout Pod) {
        if pod.metadata.namespace?.isEmpty ?? true { pod.metadata.namespace = namespace }
        apply(to: &pod.spec)
    }

    public static func apply(to spec: inout PodSpec) {
        if spec.restartPolicy?.isEmpty ?? true { spec.restartPolicy = restartPolicy }
        if spec.terminationGracePeriodSeconds == nil { spec.terminationGracePeriodSeconds = terminationGracePeriodSeconds }
        if spec.dnsPolicy?.isEmpty ?? true { spec.dnsPolicy = dnsPolicy }
        if spec.schedulerName?.isEmpty ?? true { spec.schedulerName = schedulerName }
        if spec.securityContext == nil { spec.securityContext = PodSecurityContext() }
        if spec.enableServiceLinks == nil { spec.enableServiceLinks = true }
        let hostNetwork = spec.hostNetwork ?? false
        for index in spec.containers.indices {
            apply(to: &spec.containers[index], hostNetwork: hostNetwork)
        }
        if var initContainers = spec.initContainers {
            for index in initContainers.indices {
                apply(to: &initContainers[index], hostNetwork: hostNetwork)
            }
            spec.initContainers = initContainers
        }
        if var volumes = spec.volumes {
            for index in volumes.indices {
                apply(to: &volumes[index])
            }
            spec.volumes = volumes
        }
    }

    public static func apply(to container: inout Container, hostNetwork: Bool = false) {
        if container.imagePullPolicy?.isEmpty ?? true {
            container.imagePullPolicy = imagePullPolicy(forImage: container.image ?? "")
        }
        if container.terminationMessagePath?.isEmpty ?? true { container.terminationMessagePath = terminationMessagePath }
        if container.terminationMessagePolicy?.isEmpty ?? true { container.terminationMessagePolicy = terminationMessagePolicy }
        if var ports = container.ports {
            for index in ports.indices {
                if ports[index].protocol?.isEmpty ?? true { ports[index].protocol = portProtocol }
                // With the host network the container port is the host port (SetDefaults_Pod defaultHostNetworkPorts).
                if hostNetwork && (ports[index].hostPort ?? 0) == 0 { ports[index].hostPort = ports[index].containerPort }
            }
            container.ports = ports
        }
        // A limit without a request means request == limit (SetDefaults_Pod), which is what makes QoS Guaranteed.
        if let limits = container.resources?.limits, !limits.isEmpty {
            var requests = container.resources?.requests ?? [:]
            for (name, limit) in limits where requests[name] == nil { requests[name] = limit }
            container.resources?.requests = requests
        }
        if var env = container.env {
            for index in env.indices where env[index].valueFrom?.fieldRef != nil {
                if env[index].valueFrom?.fieldRef?.apiVersion?.isEmpty ?? true { env[index].valueFrom?.fieldRef?.apiVersion = "v1" }
            }
            container.env = env
        }
        apply(to: &container.livenessProbe)
        apply(to: &container.readinessProbe)
        apply(to: &container.startupProbe)
        if var lifecycle = container.lifecycle {
            if var hook = lifecycle.postStart {
                apply(to: &hook.httpGet)
                lifecycle.postStart = hook
            }
            if var hook = lifecycle.preStop {
                apply(to: &hook.httpGet)
                lifecycle.preStop = hook
            }
            container.lifecycle = lifecycle
        }
    }

    public static func apply(to probe: inout Probe?) {
        guard var value = probe else { return }
        if (value.timeoutSeconds ?? 0) == 0 { value.timeoutSeconds = probeTimeoutSeconds }
        if (value.periodSeconds ?? 0) == 0 { value.periodSeconds = probePeriodSeconds }
        if (value.successThreshold ?? 0) == 0 { value.successThreshold = probeSuccessThreshold }
        if (value.failureThreshold ?? 0) == 0 { value.failureThreshold = probeFailureThreshold }
        if value.initialDelaySeconds == nil { value.initialDelaySeconds = 0 }
        apply(to: &value.httpGet)
        probe = value
    }

    public static func apply(to action: inout HTTPGetAction?) {
        guard var value = action else { return }
        if value.path?.isEmpty ?? true { value.path = httpGetPath }
        if value.scheme?.isEmpty ?? true { value.scheme = httpGetScheme }
        action = value
    }

    public static func apply(to volume: inout Volume) {
        // A volume with no source at all becomes an emptyDir (SetDefaults_Volume).
        if volume.modelledSourceNames.isEmpty && volume.unsupportedSources.isEmpty { volume.emptyDir = EmptyDirVolumeSource() }
        if volume.hostPath != nil && volume.hostPath?.type == nil { volume.hostPath?.type = "" }
        if volume.secret != nil && volume.secret?.defaultMode == nil { volume.secret?.defaultMode = volumeFileMode }
        if volume.configMap != nil && volume.configMap?.defaultMode == nil { volume.configMap?.defaultMode = volumeFileMode }
        if volume.downwardAPI != nil {
            if volume.downwardAPI?.defaultMode == nil { volume.downwardAPI?.defaultMode = volumeFileMode }
            let items = volume.downwardAPI?.items.map(defaultFieldRefs)
            volume.downwardAPI?.items = items
        }
        if var projected = volume.projected {
            if projected.defaultMode == nil { projected.defaultMode = volumeFileMode }
            if var sources = projected.sources {
                for index in sources.indices {
                    if sources[index].serviceAccountToken != nil && sources[index].serviceAccountToken?.expirationSeconds == nil {
                        sources[index].serviceAccountToken?.expirationSeconds = serviceAccountTokenExpirationSeconds
                    }
                    let items = sources[index].downwardAPI?.items.map(defaultFieldRefs)
                    sources[index].downwardAPI?.items = items
                }
                projected.sources = sources
            }
            volume.projected = projected
        }
    }

    private static func defaultFieldRefs(_ items: [DownwardAPIVolumeFile]) -> [DownwardAPIVolumeFile] {
        items.map { item in
            var item = item
            if item.fieldRef != nil && (item.fieldRef?.apiVersion?.isEmpty ?? true) { item.fieldRef?.apiVersion = "v1" }
            return item
        }
    }
}
