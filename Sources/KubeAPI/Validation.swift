// The subset of the API server's pod validation (pkg/apis/core/validation) that matters to a node agent, run on
// a defaulted pod. Every error carries the field path and Kubernetes' wording so a user can match it with what
// `kubectl apply` would have said.

public enum Validation {
    public static let restartPolicies = ["Always", "OnFailure", "Never"]
    public static let dnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    public static let pullPolicies = ["Always", "IfNotPresent", "Never"]
    public static let protocols = ["SCTP", "TCP", "UDP"]
    public static let terminationMessagePolicies = ["File", "FallbackToLogsOnError"]
    public static let schemes = ["HTTP", "HTTPS"]
    public static let hostPathTypes = ["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"]
    public static let mountPropagationModes = ["Bidirectional", "HostToContainer", "None"]
    public static let profileTypes = ["Localhost", "RuntimeDefault", "Unconfined"]
    public static let procMountTypes = ["Default", "Unmasked"]
    public static let fieldRefPaths = [
        "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP",
        "status.hostIPs", "status.podIP", "status.podIPs",
    ]
    public static let resourceFieldRefs = [
        "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory",
    ]

    /// Validates a defaulted pod read from a static manifest. Empty means valid.
    public static func validate(_ pod: Pod) -> [FieldError] {
        var errors = validate(pod.metadata, path: FieldPath("metadata"))
        errors += validate(pod.spec, path: FieldPath("spec"))
        return errors
    }

    static func validate(_ meta: ObjectMeta, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        if let generateName = meta.generateName, !generateName.isEmpty {
            // The file source has no API server to pick a name, and a random name would change on every read.
            errors.append(.forbidden(path.child("generateName"), "generateName is not supported for static pods; set metadata.name"))
        }
        if let name = meta.name, !name.isEmpty {
            errors += Names.dns1123Subdomain(name).map { .invalid(path.child("name"), .string(name), $0) }
        } else if meta.generateName?.isEmpty ?? true {
            errors.append(.required(path.child("name"), "name or generateName is required"))
        }
        if let namespace = meta.namespace, !namespace.isEmpty {
            errors += Names.dns1123Label(namespace).map { .invalid(path.child("namespace"), .string(namespace), $0) }
        }
        for (key, value) in (meta.labels ?? [:]).sorted(by: { $0.key < $1.key }) {
            errors += Names.qualifiedName(key).map { .invalid(path.child("labels"), .string(key), $0) }
            errors += Names.labelValue(value).map { .invalid(path.child("labels"), .string(value), $0) }
        }
        for key in (meta.annotations ?? [:]).keys.sorted() {
            errors += Names.qualifiedName(key.lowercased()).map { .invalid(path.child("annotations"), .string(key), $0) }
        }
        return errors
    }

    static func validate(_ spec: PodSpec, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        let (volumeNames, volumeErrors) = validateVolumes(spec.volumes ?? [], path: path.child("volumes"))
        errors += volumeErrors
        var containerNames: Set<String> = []
        var hostPorts: Set<String> = []
        let initContainers = spec.initContainers ?? []
        for (index, container) in initContainers.enumerated() {
            errors += validate(
                container, isInit: true, path: path.child("initContainers").index(index), volumes: volumeNames, spec: spec,
                names: &containerNames, hostPorts: &hostPorts)
        }
        if spec.containers.isEmpty {
            errors.append(.required(path.child("containers")))
        }
        for (index, container) in spec.containers.enumerated() {
            errors += validate(
                container, isInit: false, path: path.child("containers").index(index), volumes: volumeNames, spec: spec,
                names: &containerNames, hostPorts: &hostPorts)
        }
        if let policy = spec.restartPolicy, !restartPolicies.contains(policy) {
            errors.append(.unsupported(path.child("restartPolicy"), .string(policy), restartPolicies))
        }
        if let policy = spec.dnsPolicy, !dnsPolicies.contains(policy) {
            errors.append(.unsupported(path.child("dnsPolicy"), .string(policy), dnsPolicies))
        }
        if spec.dnsPolicy == "None" && spec.dnsConfig == nil {
            errors.append(.required(path.child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
        }
        if let config = spec.dnsConfig {
            let nameservers = config.nameservers ?? []
            if nameservers.count > 3 {
                errors.append(.invalid(path.child("dnsConfig").child("nameservers"), .raw("\(nameservers)"), "must not have more than 3 nameservers"))
            }
            if spec.dnsPolicy == "None" && nameservers.isEmpty {
                errors.append(.required(path.child("dnsConfig").child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
            }
            for (index, server) in nameservers.enumerated() where !Names.isIP(server) {
                errors.append(.invalid(path.child("dnsConfig").child("nameservers").index(index), .string(server), "must be a valid IP address"))
            }
            if (config.searches ?? []).count > 32 {
                errors.append(.invalid(path.child("dnsConfig").child("searches"), .raw("\(config.searches ?? [])"), "must not have more than 32 search paths"))
            }
            for (index, option) in (config.options ?? []).enumerated() where option.name?.isEmpty ?? true {
                errors.append(.required(path.child("dnsConfig").child("options").index(index), "Option.Name must not be empty"))
            }
        }
        if let grace = spec.terminationGracePeriodSeconds, grace < 0 {
            errors.append(.invalid(path.child("terminationGracePeriodSeconds"), .int(grace), "must be greater than or equal to 0"))
        }
        if let deadline = spec.activeDeadlineSeconds, deadline < 1 || deadline > Int64(Int32.max) {
            errors.append(.invalid(path.child("activeDeadlineSeconds"), .int(deadline), "must be between 1 and 2147483647, inclusive"))
        }
        if let hostname = spec.hostname, !hostname.isEmpty {
            errors += Names.dns1123Label(hostname).map { .invalid(path.child("hostname"), .string(hostname), $0) }
        }
        if let subdomain = spec.subdomain, !subdomain.isEmpty {
            errors += Names.dns1123Label(subdomain).map { .invalid(path.child("subdomain"), .string(subdomain), $0) }
        }
        if let account = spec.serviceAccountName, !account.isEmpty {
            errors += Names.dns1123Subdomain(account).map { .invalid(path.child("serviceAccountName"), .string(account), $0) }
        }
        for (index, alias) in (spec.hostAliases ?? []).enumerated() {
            let aliasPath = path.child("hostAliases").index(index)
            if !Names.isIP(alias.ip ?? "") {
                errors.append(.invalid(aliasPath.child("ip"), .string(alias.ip ?? ""), "must be valid IP address"))
            }
            for (hostIndex, host) in (alias.hostnames ?? []).enumerated() {
                errors += Names.dns1123Subdomain(host).map { .invalid(aliasPath.child("hostnames").index(hostIndex), .string(host), $0) }
            }
        }
        if let context = spec.securityContext {
            errors += validate(context, path: path.child("securityContext"))
        }
        return errors
    }

    // MARK: containers

    static func validate(
        _ container: Container, isInit: Bool, path: FieldPath, volumes: Set<String>, spec: PodSpec, names: inout Set<String>,
        hostPorts: inout Set<String>
    ) -> [FieldError] {
        var errors: [FieldError] = []
        if container.name.isEmpty {
            errors.append(.required(path.child("name")))
        } else {
            errors += Names.dns1123Label(container.name).map { .invalid(path.child("name"), .string(container.name), $0) }
            if names.contains(container.name) {
                errors.append(.duplicate(path.child("name"), .string(container.name)))
            }
            names.insert(container.name)
        }
        let image = container.image ?? ""
        if image.isEmpty {
            errors.append(.required(path.child("image")))
        } else if image.trimmingSpaces() != image {
            errors.append(.invalid(path.child("image"), .string(image), "must not have leading or trailing whitespace"))
        }
        if let policy = container.imagePullPolicy, !pullPolicies.contains(policy) {
            errors.append(.unsupported(path.child("imagePullPolicy"), .string(policy), pullPolicies))
        }
        if let policy = container.terminationMessagePolicy, !terminationMessagePolicies.contains(policy) {
            errors.append(.unsupported(path.child("terminationMessagePolicy"), .string(policy), terminationMessagePolicies))
        }
        if let policy = container.restartPolicy {
            if !isInit {
                errors.append(.forbidden(path.child("restartPolicy"), "may not be set for non-init containers"))
            } else if policy != "Always" {
                errors.append(.unsupported(path.child("restartPolicy"), .string(policy), ["Always"]))
            }
        }

        // Ports.
        var portNames: Set<String> = []
        for (index, port) in (container.ports ?? []).enumerated() {
            let portPath = path.child("ports").index(index)
            if let name = port.name, !name.isEmpty {
                errors += Names.ianaServiceName(name).map { .invalid(portPath.child("name"), .string(name), $0) }
                if portNames.contains(name) {
                    errors.append(.duplicate(portPath.child("name"), .string(name)))
                }
                portNames.insert(name)
            }
            if port.containerPort == 0 {
                errors.append(.required(portPath.child("containerPort")))
            } else if !(1...65535).contains(port.containerPort) {
                errors.append(.invalid(portPath.child("containerPort"), .int(Int64(port.containerPort)), "must be between 1 and 65535, inclusive"))
            }
            if let hostPort = port.hostPort, hostPort != 0 {
                if !(1...65535).contains(hostPort) {
                    errors.append(.invalid(portPath.child("hostPort"), .int(Int64(hostPort)), "must be between 1 and 65535, inclusive"))
                } else {
                    let key = "\(hostPort)/\(port.protocol ?? "TCP")"
                    if hostPorts.contains(key) { errors.append(.duplicate(portPath.child("hostPort"), .string(key))) }
                    hostPorts.insert(key)
                }
                if spec.hostNetwork ?? false, hostPort != port.containerPort {
                    errors.append(.invalid(portPath.child("hostPort"), .int(Int64(hostPort)), "must match `containerPort` when `hostNetwork` is true"))
                }
            }
            if let proto = port.protocol, !protocols.contains(proto) {
                errors.append(.unsupported(portPath.child("protocol"), .string(proto), protocols))
            }
            if let hostIP = port.hostIP, !hostIP.isEmpty, !Names.isIP(hostIP) {
                errors.append(.invalid(portPath.child("hostIP"), .string(hostIP), "must be a valid IP address"))
            }
        }

        errors += validateEnv(container, path: path)
        errors += validateResources(container.resources, path: path.child("resources"))
        errors += validateMounts(container, path: path, volumes: volumes)

        // Probes and hooks: plain init containers run to completion, so they have none.
        let sidecar = container.isRestartableInitContainer
        let probes: [(String, Probe?)] = [
            ("livenessProbe", container.livenessProbe), ("readinessProbe", container.readinessProbe), ("startupProbe", container.startupProbe),
        ]
        for (name, probe) in probes {
            guard let probe else { continue }
            if isInit && !sidecar {
                errors.append(.forbidden(path.child(name), "may not be set for init containers without restartPolicy=Always"))
                continue
            }
            errors += validate(probe, kind: name, path: path.child(name), portNames: portNames)
        }
        if let lifecycle = container.lifecycle {
            if isInit && !sidecar {
                errors.append(.forbidden(path.child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
            } else {
                let grace = spec.terminationGracePeriodSeconds ?? Defaults.terminationGracePeriodSeconds
                for (name, hook) in [("postStart", lifecycle.postStart), ("preStop", lifecycle.preStop)] {
                    guard let hook else { continue }
                    errors += validate(hook, path: path.child("lifecycle").child(name), portNames: portNames, grace: grace)
                }
            }
        }
        if let context = container.securityContext {
            errors += validate(context, path: path.child("securityContext"))
        }
        return errors
    }

    static func validateEnv(_ container: Container, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        for (index, variable) in (container.env ?? []).enumerated() {
            let varPath = path.child("env").index(index)
            if variable.name.isEmpty {
                errors.append(.required(varPath.child("name")))
            } else {
                errors += Names.envVarName(variable.name).map { .invalid(varPath.child("name"), .string(variable.name), $0) }
            }
            guard let source = variable.valueFrom else { continue }
            let sourcePath = varPath.child("valueFrom")
            let count = [source.fieldRef != nil, source.resourceFieldRef != nil, source.configMapKeyRef != nil, source.secretKeyRef != nil]
                .filter { $0 }.count
            if !(variable.value ?? "").isEmpty {
                errors.append(.invalid(sourcePath, .string(""), "may not be specified when `value` is not empty"))
            }
            if count == 0 {
                errors.append(.invalid(sourcePath, .string(""), "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
                continue
            }
            if count > 1 {
                errors.append(.invalid(sourcePath, .string(""), "may not have more than one field specified at a time"))
                continue
            }
            if let ref = source.fieldRef {
                errors += validateFieldRef(ref, path: sourcePath.child("fieldRef"))
            }
            if let ref = source.resourceFieldRef {
                errors += validateResourceFieldRef(ref, path: sourcePath.child("resourceFieldRef"))
            }
            for (name, ref) in [("configMapKeyRef", source.configMapKeyRef), ("secretKeyRef", source.secretKeyRef)] {
                guard let ref else { continue }
                let refPath = sourcePath.child(name)
                if ref.name?.isEmpty ?? true { errors.append(.required(refPath.child("name"))) }
                if ref.key.isEmpty {
                    errors.append(.required(refPath.child("key")))
                } else {
                    errors += Names.configMapKey(ref.key).map { .invalid(refPath.child("key"), .string(ref.key), $0) }
                }
            }
        }
        for (index, source) in (container.envFrom ?? []).enumerated() {
            let sourcePath = path.child("envFrom").index(index)
            if let prefix = source.prefix, !prefix.isEmpty {
                errors += Names.envVarName(prefix).map { .invalid(sourcePath.child("prefix"), .string(prefix), $0) }
            }
            switch (source.configMapRef, source.secretRef) {
            case (nil, nil):
                errors.append(.invalid(sourcePath, .string(""), "must specify one of: `configMapRef` or `secretRef`"))
            case (.some, .some):
                errors.append(.invalid(sourcePath, .string(""), "may not have more than one field specified at a time"))
            case (.some(let ref), nil):
                if ref.name?.isEmpty ?? true { errors.append(.required(sourcePath.child("configMapRef").child("name"))) }
            case (nil, .some(let ref)):
                if ref.name?.isEmpty ?? true { errors.append(.required(sourcePath.child("secretRef").child("name"))) }
            }
        }
        return errors
    }

    static func validateFieldRef(_ ref: ObjectFieldSelector, path: FieldPath) -> [FieldError] {
        if ref.fieldPath.isEmpty { return [.required(path.child("fieldPath"))] }
        if let apiVersion = ref.apiVersion, apiVersion != "v1" {
            return [.unsupported(path.child("apiVersion"), .string(apiVersion), ["v1"])]
        }
        // Single label or annotation values use `metadata.labels['key']`.
        for prefix in ["metadata.labels['", "metadata.annotations['"] where ref.fieldPath.hasPrefix(prefix) {
            if ref.fieldPath.hasSuffix("']") && ref.fieldPath.count > prefix.count + 2 { return [] }
            return [.invalid(path.child("fieldPath"), .string(ref.fieldPath), "error converting fieldPath: field label not supported")]
        }
        if !fieldRefPaths.contains(ref.fieldPath) {
            return [.unsupported(path.child("fieldPath"), .string(ref.fieldPath), fieldRefPaths)]
        }
        return []
    }

    static func validateResourceFieldRef(_ ref: ResourceFieldSelector, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        if ref.resource.isEmpty {
            errors.append(.required(path.child("resource")))
        } else if !resourceFieldRefs.contains(ref.resource) && !ref.resource.hasPrefix("limits.hugepages-")
            && !ref.resource.hasPrefix("requests.hugepages-")
        {
            errors.append(.unsupported(path.child("resource"), .string(ref.resource), resourceFieldRefs))
        }
        if let divisor = ref.divisor, !divisor.isZero {
            let allowed: [String]
            let permitted: [Int128]
            if ref.resource.hasSuffix(".cpu") {
                allowed = ["1m", "1"]
                permitted = [1_000_000, Quantity.nano]
            } else {
                allowed = ["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"]
                let decimal = (0...6).map { Quantity.power10(3 * $0) * Quantity.nano }
                let binary = (1...6).map { (Int128(1) << (10 * $0)) * Quantity.nano }
                permitted = decimal + binary
            }
            if !permitted.contains(divisor.nanoValue) {
                errors.append(.unsupported(path.child("divisor"), .string(divisor.description), allowed))
            }
        }
        return errors
    }

    static func validateResources(_ resources: ResourceRequirements?, path: FieldPath) -> [FieldError] {
        guard let resources else { return [] }
        var errors: [FieldError] = []
        let limits = resources.limits ?? [:]
        let requests = resources.requests ?? [:]
        for (part, values) in [("limits", limits), ("requests", requests)] {
            for (name, quantity) in values.sorted(by: { $0.key < $1.key }) {
                let quantityPath = path.child(part).key(name)
                if quantity.nanoValue < 0 {
                    errors.append(.invalid(quantityPath, .string(quantity.description), "must be greater than or equal to 0"))
                }
                errors += Names.qualifiedName(name).map { .invalid(quantityPath, .string(name), $0) }
                // Unprefixed names must be ones Kubernetes knows; this catches typos such as `memroy`.
                if !name.contains("/") && !["cpu", "memory", "ephemeral-storage"].contains(name) && !name.hasPrefix("hugepages-") {
                    errors.append(.invalid(quantityPath, .string(name), "must be a standard resource for containers"))
                }
            }
        }
        for (name, request) in requests.sorted(by: { $0.key < $1.key }) {
            // Huge pages have their own rules (request must equal limit); the agent does not manage them.
            if name.hasPrefix("hugepages-") { continue }
            if let limit = limits[name], request > limit {
                errors.append(
                    .invalid(path.child("requests"), .string(request.description), "must be less than or equal to \(name) limit of \(limit.description)"))
            }
        }
        return errors
    }

    static func validateMounts(_ container: Container, path: FieldPath, volumes: Set<String>) -> [FieldError] {
        var errors: [FieldError] = []
        var mountPaths: Set<String> = []
        for (index, mount) in (container.volumeMounts ?? []).enumerated() {
            let mountPath = path.child("volumeMounts").index(index)
            if mount.name.isEmpty {
                errors.append(.required(mountPath.child("name")))
            } else if !volumes.contains(mount.name) {
                errors.append(.notFound(mountPath.child("name"), .string(mount.name)))
            }
            if mount.mountPath.isEmpty {
                errors.append(.required(mountPath.child("mountPath")))
            } else {
                if mountPaths.contains(mount.mountPath) {
                    errors.append(.invalid(mountPath.child("mountPath"), .string(mount.mountPath), "must be unique"))
                }
                mountPaths.insert(mount.mountPath)
            }
            if let subPath = mount.subPath, !subPath.isEmpty {
                errors += validateRelativePath(subPath, path: mountPath.child("subPath"))
            }
            if let expr = mount.subPathExpr, !expr.isEmpty {
                if !(mount.subPath ?? "").isEmpty {
                    errors.append(.invalid(mountPath.child("subPathExpr"), .string(expr), "subPathExpr and subPath are mutually exclusive"))
                }
                errors += validateRelativePath(expr, path: mountPath.child("subPathExpr"))
            }
            if let mode = mount.mountPropagation {
                if !mountPropagationModes.contains(mode) {
                    errors.append(.unsupported(mountPath.child("mountPropagation"), .string(mode), mountPropagationModes))
                } else if mode == "Bidirectional" && !(container.securityContext?.privileged ?? false) {
                    errors.append(.forbidden(mountPath.child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
                }
            }
        }
        return errors
    }

    static func validateRelativePath(_ value: String, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        if value.hasPrefix("/") {
            errors.append(.invalid(path, .string(value), "must be a relative path"))
        }
        if value.split(separator: "/").contains("..") {
            errors.append(.invalid(path, .string(value), "must not contain '..'"))
        }
        return errors
    }

    // MARK: probes and hooks

    static func validate(_ probe: Probe, kind: String, path: FieldPath, portNames: Set<String>) -> [FieldError] {
        var errors: [FieldError] = []
        let handlers: [(String, Bool)] = [
            ("exec", probe.exec != nil), ("httpGet", probe.httpGet != nil), ("tcpSocket", probe.tcpSocket != nil), ("grpc", probe.grpc != nil),
        ]
        errors += validateHandlerCount(handlers, path: path)
        if let exec = probe.exec, exec.command?.isEmpty ?? true {
            errors.append(.required(path.child("exec").child("command")))
        }
        if let action = probe.httpGet { errors += validate(action, path: path.child("httpGet"), portNames: portNames) }
        if let action = probe.tcpSocket { errors += validatePort(action.port, path: path.child("tcpSocket").child("port"), portNames: portNames) }
        if let action = probe.grpc, !(1...65535).contains(action.port) {
            errors.append(.invalid(path.child("grpc").child("port"), .int(Int64(action.port)), "must be between 1 and 65535, inclusive"))
        }
        // Defaulting turned 0 into the defaults (1, 10, 1, 3), so after it every accepted value is >= 1 except
        // initialDelaySeconds; only negative values reach these errors. Kubernetes' validateProbe uses
        // ValidateNonnegativeField for all five, so the wording is "greater than or equal to 0" for each.
        let fields: [(String, Int32?)] = [
            ("initialDelaySeconds", probe.initialDelaySeconds), ("timeoutSeconds", probe.timeoutSeconds), ("periodSeconds", probe.periodSeconds),
            ("successThreshold", probe.successThreshold), ("failureThreshold", probe.failureThreshold),
        ]
        for (name, value) in fields {
            guard let value else { continue }
            if value < 0 {
                errors.append(.invalid(path.child(name), .int(Int64(value)), "must be greater than or equal to 0"))
            }
        }
        if kind != "readinessProbe", let threshold = probe.successThreshold, threshold != 1 {
            errors.append(.invalid(path.child("successThreshold"), .int(Int64(threshold)), "must be 1"))
        }
        if let grace = probe.terminationGracePeriodSeconds {
            if kind == "readinessProbe" {
                errors.append(.invalid(path.child("terminationGracePeriodSeconds"), .int(grace), "must not be set for readinessProbes"))
            } else if grace <= 0 {
                errors.append(.invalid(path.child("terminationGracePeriodSeconds"), .int(grace), "must be greater than 0"))
            }
        }
        return errors
    }

    static func validateHandlerCount(_ handlers: [(String, Bool)], path: FieldPath) -> [FieldError] {
        let set = handlers.filter(\.1)
        if set.isEmpty { return [.required(path, "must specify a handler type")] }
        return set.dropFirst().map { .forbidden(path.child($0.0), "may not specify more than 1 handler type") }
    }

    static func validate(_ action: HTTPGetAction, path: FieldPath, portNames: Set<String>) -> [FieldError] {
        var errors = validatePort(action.port, path: path.child("port"), portNames: portNames)
        if let scheme = action.scheme, !schemes.contains(scheme) {
            errors.append(.unsupported(path.child("scheme"), .string(scheme), schemes))
        }
        for header in action.httpHeaders ?? [] {
            // Kubernetes reports these on `httpHeaders` itself, without the index.
            errors += Names.httpHeaderName(header.name).map { .invalid(path.child("httpHeaders"), .string(header.name), $0) }
        }
        return errors
    }

    static func validatePort(_ port: IntOrString, path: FieldPath, portNames: Set<String>?) -> [FieldError] {
        switch port {
        case .int(let number):
            if !(1...65535).contains(number) {
                return [.invalid(path, .int(Int64(number)), "must be between 1 and 65535, inclusive")]
            }
            return []
        case .string(let name):
            let problems = Names.ianaServiceName(name)
            if !problems.isEmpty { return problems.map { .invalid(path, .string(name), $0) } }
            // The agent resolves the name against this container's ports; an undefined name could never work.
            if let portNames, !portNames.contains(name) { return [.notFound(path, .string(name))] }
            return []
        }
    }

    static func validate(_ hook: LifecycleHandler, path: FieldPath, portNames: Set<String>, grace: Int64) -> [FieldError] {
        var errors: [FieldError] = []
        let handlers: [(String, Bool)] = [
            ("exec", hook.exec != nil), ("httpGet", hook.httpGet != nil), ("tcpSocket", hook.tcpSocket != nil), ("sleep", hook.sleep != nil),
        ]
        errors += validateHandlerCount(handlers, path: path)
        if let exec = hook.exec, exec.command?.isEmpty ?? true {
            errors.append(.required(path.child("exec").child("command")))
        }
        if let action = hook.httpGet { errors += validate(action, path: path.child("httpGet"), portNames: portNames) }
        if let action = hook.tcpSocket { errors += validatePort(action.port, path: path.child("tcpSocket").child("port"), portNames: portNames) }
        if let sleep = hook.sleep, sleep.seconds < 0 || sleep.seconds > grace {
            errors.append(
                .invalid(
                    path.child("sleep").child("seconds"), .int(sleep.seconds), "must be non-negative and less than terminationGracePeriodSeconds (\(grace))"))
        }
        return errors
    }

    // MARK: security

    static func validate(_ context: SecurityContext, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        for (name, id) in [("runAsUser", context.runAsUser), ("runAsGroup", context.runAsGroup)] {
            if let id, id < 0 || id > Int64(Int32.max) {
                errors.append(.invalid(path.child(name), .int(id), "must be between 0 and 2147483647, inclusive"))
            }
        }
        if context.allowPrivilegeEscalation == false && context.privileged == true {
            errors.append(
                .invalid(
                    path, .raw("{allowPrivilegeEscalation: false, privileged: true}"), "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
                ))
        }
        if context.allowPrivilegeEscalation == false, (context.capabilities?.add ?? []).contains(where: { ["SYS_ADMIN", "CAP_SYS_ADMIN"].contains($0) }) {
            errors.append(
                .invalid(
                    path, .raw("{allowPrivilegeEscalation: false, capabilities.add: [SYS_ADMIN]}"),
                    "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
        }
        if let procMount = context.procMount, !procMountTypes.contains(procMount) {
            errors.append(.unsupported(path.child("procMount"), .string(procMount), procMountTypes))
        }
        if let profile = context.seccompProfile {
            errors += validateProfile(type: profile.type, localhost: profile.localhostProfile, kind: "seccomp", path: path.child("seccompProfile"))
        }
        if let profile = context.appArmorProfile {
            errors += validateProfile(type: profile.type, localhost: profile.localhostProfile, kind: "AppArmor", path: path.child("appArmorProfile"))
        }
        return errors
    }

    static func validate(_ context: PodSecurityContext, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        let ids: [(String, Int64?)] = [("runAsUser", context.runAsUser), ("runAsGroup", context.runAsGroup), ("fsGroup", context.fsGroup)]
        for (name, id) in ids {
            if let id, id < 0 || id > Int64(Int32.max) {
                errors.append(.invalid(path.child(name), .int(id), "must be between 0 and 2147483647, inclusive"))
            }
        }
        for (index, group) in (context.supplementalGroups ?? []).enumerated() where group < 0 || group > Int64(Int32.max) {
            errors.append(.invalid(path.child("supplementalGroups").index(index), .int(group), "must be between 0 and 2147483647, inclusive"))
        }
        var sysctlNames: Set<String> = []
        for (index, sysctl) in (context.sysctls ?? []).enumerated() {
            let namePath = path.child("sysctls").index(index).child("name")
            if sysctl.name.isEmpty {
                errors.append(.required(namePath))
            } else if !isSysctlName(sysctl.name) {
                errors.append(
                    .invalid(
                        namePath, .string(sysctl.name),
                        "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"))
            } else if sysctlNames.contains(sysctl.name) {
                errors.append(.duplicate(namePath, .string(sysctl.name)))
            }
            sysctlNames.insert(sysctl.name)
        }
        if let profile = context.seccompProfile {
            errors += validateProfile(type: profile.type, localhost: profile.localhostProfile, kind: "seccomp", path: path.child("seccompProfile"))
        }
        if let profile = context.appArmorProfile {
            errors += validateProfile(type: profile.type, localhost: profile.localhostProfile, kind: "AppArmor", path: path.child("appArmorProfile"))
        }
        return errors
    }

    static func isSysctlName(_ name: String) -> Bool {
        guard name.utf8.count <= 253 else { return false }
        let segments = name.split(separator: /[.\/]/, omittingEmptySubsequences: false)
        return segments.allSatisfy { segment in
            guard let first = segment.first, let last = segment.last, Names.isAlnumLower(first), Names.isAlnumLower(last) else { return false }
            return segment.allSatisfy { Names.isAlnumLower($0) || $0 == "-" || $0 == "_" }
        }
    }

    static func validateProfile(type: String, localhost: String?, kind: String, path: FieldPath) -> [FieldError] {
        if type.isEmpty { return [.required(path.child("type"))] }
        if !profileTypes.contains(type) { return [.unsupported(path.child("type"), .string(type), profileTypes)] }
        if type == "Localhost" && (localhost?.isEmpty ?? true) {
            return [.required(path.child("localhostProfile"), "must be set when \(kind) type is Localhost")]
        }
        if type != "Localhost", let localhost {
            return [.invalid(path.child("localhostProfile"), .string(localhost), "can only be set when \(kind) type is Localhost")]
        }
        return []
    }

    // MARK: volumes

    static func validateVolumes(_ volumes: [Volume], path: FieldPath) -> (Set<String>, [FieldError]) {
        var names: Set<String> = []
        var errors: [FieldError] = []
        for (index, volume) in volumes.enumerated() {
            let volumePath = path.index(index)
            if volume.name.isEmpty {
                errors.append(.required(volumePath.child("name")))
            } else {
                errors += Names.dns1123Label(volume.name).map { .invalid(volumePath.child("name"), .string(volume.name), $0) }
                if names.contains(volume.name) {
                    errors.append(.duplicate(volumePath.child("name"), .string(volume.name)))
                }
                names.insert(volume.name)
            }
            let sources = volume.modelledSourceNames + volume.unsupportedSources
            if sources.isEmpty {
                errors.append(.required(volumePath, "must specify a volume type"))
            }
            for extra in sources.dropFirst() {
                errors.append(.forbidden(volumePath.child(extra), "may not specify more than 1 volume type"))
            }
            errors += validateSource(volume, path: volumePath)
        }
        return (names, errors)
    }

    static func validateSource(_ volume: Volume, path: FieldPath) -> [FieldError] {
        var errors: [FieldError] = []
        if let hostPath = volume.hostPath {
            if hostPath.path.isEmpty { errors.append(.required(path.child("hostPath").child("path"))) }
            if hostPath.path.split(separator: "/").contains("..") {
                errors.append(.invalid(path.child("hostPath").child("path"), .string(hostPath.path), "must not contain '..'"))
            }
            if let type = hostPath.type, !hostPathTypes.contains(type) {
                errors.append(.unsupported(path.child("hostPath").child("type"), .string(type), hostPathTypes))
            }
        }
        if let emptyDir = volume.emptyDir {
            let medium = emptyDir.medium ?? ""
            if !(medium.isEmpty || medium == "Memory" || medium == "HugePages" || medium.hasPrefix("HugePages-")) {
                errors.append(.unsupported(path.child("emptyDir").child("medium"), .string(medium), ["", "Memory", "HugePages"]))
            }
            if let limit = emptyDir.sizeLimit, limit.nanoValue < 0 {
                errors.append(.invalid(path.child("emptyDir").child("sizeLimit"), .string(limit.description), "must be greater than or equal to 0"))
            }
        }
        if let secret = volume.secret {
            if secret.secretName?.isEmpty ?? true { errors.append(.required(path.child("secret").child("secretName"))) }
            errors += validateItems(secret.items, mode: secret.defaultMode, path: path.child("secret"))
        }
        if let configMap = volume.configMap {
            if configMap.name?.isEmpty ?? true { errors.append(.required(path.child("configMap").child("name"))) }
            errors += validateItems(configMap.items, mode: configMap.defaultMode, path: path.child("configMap"))
        }
        if let claim = volume.persistentVolumeClaim, claim.claimName.isEmpty {
            errors.append(.required(path.child("persistentVolumeClaim").child("claimName")))
        }
        if let downward = volume.downwardAPI {
            errors += validateDownward(downward, path: path.child("downwardAPI"))
        }
        if let projected = volume.projected {
            let projectedPath = path.child("projected")
            errors += validateMode(projected.defaultMode, path: projectedPath.child("defaultMode"))
            for (index, source) in (projected.sources ?? []).enumerated() {
                let sourcePath = projectedPath.child("sources").index(index)
                let set = [source.secret != nil, source.configMap != nil, source.downwardAPI != nil, source.serviceAccountToken != nil].filter { $0 }
                if set.count > 1 {
                    errors.append(.forbidden(sourcePath, "may not specify more than 1 volume type per source"))
                }
                if let secret = source.secret { errors += validateItems(secret.items, mode: nil, path: sourcePath.child("secret")) }
                if let configMap = source.configMap { errors += validateItems(configMap.items, mode: nil, path: sourcePath.child("configMap")) }
                if let downward = source.downwardAPI { errors += validateDownward(downward, path: sourcePath.child("downwardAPI")) }
                if let token = source.serviceAccountToken {
                    if token.path.isEmpty { errors.append(.required(sourcePath.child("serviceAccountToken").child("path"))) }
                    if let seconds = token.expirationSeconds, seconds < 600 {
                        errors.append(
                            .invalid(
                                sourcePath.child("serviceAccountToken").child("expirationSeconds"), .int(seconds),
                                "may not specify a duration less than 10 minutes"))
                    }
                }
            }
        }
        return errors
    }

    static func validateItems(_ items: [KeyToPath]?, mode: Int32?, path: FieldPath) -> [FieldError] {
        var errors = validateMode(mode, path: path.child("defaultMode"))
        for (index, item) in (items ?? []).enumerated() {
            let itemPath = path.child("items").index(index)
            if item.key.isEmpty { errors.append(.required(itemPath.child("key"))) }
            if item.path.isEmpty {
                errors.append(.required(itemPath.child("path")))
            } else {
                errors += validateRelativePath(item.path, path: itemPath.child("path"))
            }
            errors += validateMode(item.mode, path: itemPath.child("mode"))
        }
        return errors
    }

    static func validateDownward(_ source: DownwardAPIVolumeSource, path: FieldPath) -> [FieldError] {
        var errors = validateMode(source.defaultMode, path: path.child("defaultMode"))
        for (index, item) in (source.items ?? []).enumerated() {
            let itemPath = path.child("items").index(index)
            if item.path.isEmpty {
                errors.append(.required(itemPath.child("path")))
            } else {
                errors += validateRelativePath(item.path, path: itemPath.child("path"))
            }
            switch (item.fieldRef, item.resourceFieldRef) {
            case (nil, nil):
                errors.append(.required(itemPath, "one of fieldRef and resourceFieldRef is required"))
            case (.some, .some):
                errors.append(.invalid(itemPath, .string(""), "fieldRef and resourceFieldRef can not be specified simultaneously"))
            case (.some(let ref), nil):
                // Whole label/annotation maps are allowed in downward API volumes (not in env).
                if !["metadata.labels", "metadata.annotations"].contains(ref.fieldPath) {
                    errors += validateFieldRef(ref, path: itemPath.child("fieldRef"))
                }
            case (nil, .some(let ref)):
                errors += validateResourceFieldRef(ref, path: itemPath.child("resourceFieldRef"))
            }
            errors += validateMode(item.mode, path: itemPath.child("mode"))
        }
        return errors
    }

    static func validateMode(_ mode: Int32?, path: FieldPath) -> [FieldError] {
        guard let mode, mode < 0 || mode > 0o777 else { return [] }
        return [.invalid(path, .int(Int64(mode)), "must be a number between 0 and 0777 (octal), both inclusive")]
    }
}
