import Testing

@testable import KubeAPI

struct ValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let yaml: String
        let errors: [String]
        var testDescription: String { name }

        init(_ name: String, _ yaml: String, _ errors: [String]) {
            self.name = name
            self.yaml = yaml
            self.errors = errors
        }
    }

    static let dns1123Subdomain =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    static let dns1123Label =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    static let envName =
        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"

    static func pod(_ name: String = "p", containers: String, spec: String = "") -> String {
        var yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \(name)\nspec:\n  containers:\n"
        for line in containers.split(separator: "\n") { yaml += "  " + line + "\n" }
        for line in spec.split(separator: "\n") { yaml += "  " + line + "\n" }
        return yaml
    }

    static let cases: [Case] = [
        // metadata
        Case(
            "name required", "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: c, image: i}]}",
            [
                "my-pod.yaml: metadata.name: Required value: name or generateName is required"
            ]),
        Case(
            "name invalid", pod("My_Pod", containers: "- {name: c, image: i}"),
            [
                "my-pod.yaml: metadata.name: Invalid value: \"My_Pod\": \(dns1123Subdomain)"
            ]),
        Case(
            "name too long", pod(String(repeating: "a", count: 254), containers: "- {name: c, image: i}"),
            [
                "my-pod.yaml: metadata.name: Invalid value: \"\(String(repeating: "a", count: 254))\": must be no more than 253 characters"
            ]),
        Case(
            "generateName forbidden", "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: c, image: i}]}",
            [
                "my-pod.yaml: metadata.generateName: Forbidden: generateName is not supported for static pods; set metadata.name"
            ]),
        Case(
            "namespace invalid", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: Prod}\nspec: {containers: [{name: c, image: i}]}",
            [
                "my-pod.yaml: metadata.namespace: Invalid value: \"Prod\": \(dns1123Label)"
            ]),
        // containers
        Case("containers required", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}", ["my-pod.yaml: spec.containers: Required value"]),
        Case("image required", pod(containers: "- name: c"), ["my-pod.yaml: spec.containers[0].image: Required value"]),
        Case("container name required", pod(containers: "- image: i"), ["my-pod.yaml: spec.containers[0].name: Required value"]),
        Case(
            "container name invalid", pod(containers: "- {name: Web_1, image: i}"),
            [
                "my-pod.yaml: spec.containers[0].name: Invalid value: \"Web_1\": \(dns1123Label)"
            ]),
        Case(
            "container name duplicate", pod(containers: "- {name: c, image: i}\n- {name: c, image: i}"),
            [
                "my-pod.yaml: spec.containers[1].name: Duplicate value: \"c\""
            ]),
        Case(
            "container name duplicate across init", pod(containers: "- {name: c, image: i}", spec: "initContainers: [{name: c, image: i}]"),
            [
                "my-pod.yaml: spec.containers[0].name: Duplicate value: \"c\""
            ]),
        Case(
            "imagePullPolicy", pod(containers: "- {name: c, image: i, imagePullPolicy: Sometimes}"),
            [
                "my-pod.yaml: spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
            ]),
        Case(
            "terminationMessagePolicy", pod(containers: "- {name: c, image: i, terminationMessagePolicy: Logs}"),
            [
                "my-pod.yaml: spec.containers[0].terminationMessagePolicy: Unsupported value: \"Logs\": supported values: \"File\", \"FallbackToLogsOnError\""
            ]),
        Case(
            "restartPolicy on regular container", pod(containers: "- {name: c, image: i, restartPolicy: Always}"),
            [
                "my-pod.yaml: spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"
            ]),
        // ports
        Case(
            "containerPort required", pod(containers: "- {name: c, image: i, ports: [{name: web}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].containerPort: Required value"
            ]),
        Case(
            "containerPort range", pod(containers: "- {name: c, image: i, ports: [{containerPort: 70000}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ]),
        Case(
            "hostPort range", pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, hostPort: -1}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive"
            ]),
        Case(
            "port name too long", pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, name: abcdefghijklmnop}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].name: Invalid value: \"abcdefghijklmnop\": must be no more than 15 characters"
            ]),
        Case(
            "port name characters", pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, name: Web_Port}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].name: Invalid value: \"Web_Port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
            ]),
        Case(
            "port name needs a letter", pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, name: \"8080\"}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].name: Invalid value: \"8080\": must contain at least one letter (a-z)"
            ]),
        Case(
            "port name duplicate", pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, name: web}, {containerPort: 81, name: web}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[1].name: Duplicate value: \"web\""
            ]),
        Case(
            "port protocol", pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, protocol: tcp}]}"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].protocol: Unsupported value: \"tcp\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ]),
        Case(
            "hostPort duplicate",
            pod(
                containers:
                    "- {name: a, image: i, ports: [{containerPort: 80, hostPort: 8080}]}\n- {name: b, image: i, ports: [{containerPort: 81, hostPort: 8080}]}"),
            [
                "my-pod.yaml: spec.containers[1].ports[0].hostPort: Duplicate value: \"8080/TCP\""
            ]),
        // pod spec
        Case(
            "restartPolicy", pod(containers: "- {name: c, image: i}", spec: "restartPolicy: Sometimes"),
            [
                "my-pod.yaml: spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            ]),
        Case(
            "dnsPolicy", pod(containers: "- {name: c, image: i}", spec: "dnsPolicy: Google"),
            [
                "my-pod.yaml: spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
            ]),
        Case(
            "terminationGracePeriodSeconds", pod(containers: "- {name: c, image: i}", spec: "terminationGracePeriodSeconds: -1"),
            [
                "my-pod.yaml: spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"
            ]),
        Case(
            "activeDeadlineSeconds", pod(containers: "- {name: c, image: i}", spec: "activeDeadlineSeconds: -5"),
            [
                "my-pod.yaml: spec.activeDeadlineSeconds: Invalid value: -5: must be between 1 and 2147483647, inclusive"
            ]),
        // probes
        Case(
            "probe period", pod(containers: "- {name: c, image: i, livenessProbe: {exec: {command: [x]}, periodSeconds: -1}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"
            ]),
        Case(
            "probe timeout", pod(containers: "- {name: c, image: i, readinessProbe: {exec: {command: [x]}, timeoutSeconds: -2}}"),
            [
                "my-pod.yaml: spec.containers[0].readinessProbe.timeoutSeconds: Invalid value: -2: must be greater than or equal to 0"
            ]),
        Case(
            "probe failureThreshold", pod(containers: "- {name: c, image: i, readinessProbe: {exec: {command: [x]}, failureThreshold: -1}}"),
            [
                "my-pod.yaml: spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0"
            ]),
        Case(
            "probe initialDelaySeconds", pod(containers: "- {name: c, image: i, readinessProbe: {exec: {command: [x]}, initialDelaySeconds: -1}}"),
            [
                "my-pod.yaml: spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0"
            ]),
        Case(
            "liveness successThreshold", pod(containers: "- {name: c, image: i, livenessProbe: {exec: {command: [x]}, successThreshold: 2}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"
            ]),
        Case(
            "startup successThreshold", pod(containers: "- {name: c, image: i, startupProbe: {exec: {command: [x]}, successThreshold: 3}}"),
            [
                "my-pod.yaml: spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1"
            ]),
        Case(
            "readiness successThreshold may exceed 1", pod(containers: "- {name: c, image: i, readinessProbe: {exec: {command: [x]}, successThreshold: 3}}"), []
        ),
        Case(
            "probe needs a handler", pod(containers: "- {name: c, image: i, livenessProbe: {periodSeconds: 5}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe: Required value: must specify a handler type"
            ]),
        Case(
            "probe with two handlers", pod(containers: "- {name: c, image: i, livenessProbe: {exec: {command: [x]}, tcpSocket: {port: 80}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"
            ]),
        Case(
            "exec command required", pod(containers: "- {name: c, image: i, livenessProbe: {exec: {}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.exec.command: Required value"
            ]),
        Case(
            "named probe port not defined", pod(containers: "- {name: c, image: i, livenessProbe: {httpGet: {port: http}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.httpGet.port: Not found: \"http\""
            ]),
        Case(
            "named probe port in another container",
            pod(
                containers: "- {name: a, image: i, ports: [{name: http, containerPort: 80}]}\n- {name: b, image: i, readinessProbe: {tcpSocket: {port: http}}}"),
            [
                "my-pod.yaml: spec.containers[1].readinessProbe.tcpSocket.port: Not found: \"http\""
            ]),
        Case(
            "probe port range", pod(containers: "- {name: c, image: i, livenessProbe: {httpGet: {port: 0}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"
            ]),
        Case(
            "httpGet scheme", pod(containers: "- {name: c, image: i, livenessProbe: {httpGet: {port: 80, scheme: FTP}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""
            ]),
        Case(
            "httpGet header name", pod(containers: "- {name: c, image: i, livenessProbe: {httpGet: {port: 80, httpHeaders: [{name: \"X Bad\", value: v}]}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.httpGet.httpHeaders: Invalid value: \"X Bad\": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')"
            ]),
        Case(
            "grpc port", pod(containers: "- {name: c, image: i, livenessProbe: {grpc: {port: 0}}}"),
            [
                "my-pod.yaml: spec.containers[0].livenessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive"
            ]),
        Case(
            "readiness probe grace", pod(containers: "- {name: c, image: i, readinessProbe: {exec: {command: [x]}, terminationGracePeriodSeconds: 5}}"),
            [
                "my-pod.yaml: spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"
            ]),
        Case(
            "init container probe",
            pod(containers: "- {name: c, image: i}", spec: "initContainers: [{name: init, image: i, livenessProbe: {exec: {command: [x]}}}]"),
            [
                "my-pod.yaml: spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"
            ]),
        Case(
            "sidecar probe allowed",
            pod(
                containers: "- {name: c, image: i}",
                spec: "initContainers: [{name: side, image: i, restartPolicy: Always, livenessProbe: {exec: {command: [x]}}}]"), []),
        Case(
            "init container restartPolicy", pod(containers: "- {name: c, image: i}", spec: "initContainers: [{name: init, image: i, restartPolicy: Never}]"),
            [
                "my-pod.yaml: spec.initContainers[0].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]),
        Case(
            "lifecycle needs a handler", pod(containers: "- {name: c, image: i, lifecycle: {preStop: {}}}"),
            [
                "my-pod.yaml: spec.containers[0].lifecycle.preStop: Required value: must specify a handler type"
            ]),
        Case(
            "lifecycle sleep", pod(containers: "- {name: c, image: i, lifecycle: {preStop: {sleep: {seconds: 60}}}}"),
            [
                "my-pod.yaml: spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 60: must be non-negative and less than terminationGracePeriodSeconds (30)"
            ]),
        // resources
        Case(
            "request above limit", pod(containers: "- {name: c, image: i, resources: {requests: {cpu: \"2\"}, limits: {cpu: \"1\"}}}"),
            [
                "my-pod.yaml: spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
            ]),
        Case(
            "memory request above limit", pod(containers: "- {name: c, image: i, resources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}}"),
            [
                "my-pod.yaml: spec.containers[0].resources.requests: Invalid value: \"1Gi\": must be less than or equal to memory limit of 512Mi"
            ]),
        Case(
            "negative limit", pod(containers: "- {name: c, image: i, resources: {limits: {cpu: -1}}}"),
            [
                "my-pod.yaml: spec.containers[0].resources.limits[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                "my-pod.yaml: spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
            ]),
        Case(
            "resource name typo", pod(containers: "- {name: c, image: i, resources: {limits: {memroy: 1Gi}}}"),
            [
                "my-pod.yaml: spec.containers[0].resources.limits[memroy]: Invalid value: \"memroy\": must be a standard resource for containers",
                "my-pod.yaml: spec.containers[0].resources.requests[memroy]: Invalid value: \"memroy\": must be a standard resource for containers",
            ]),
        Case("extended resource", pod(containers: "- {name: c, image: i, resources: {limits: {example.com/gpu: 1}}}"), []),
        Case("hugepages ignored", pod(containers: "- {name: c, image: i, resources: {requests: {hugepages-2Mi: 4Mi}, limits: {hugepages-2Mi: 2Mi}}}"), []),
        // volumes
        Case(
            "volume name duplicate", pod(containers: "- {name: c, image: i}", spec: "volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]"),
            [
                "my-pod.yaml: spec.volumes[1].name: Duplicate value: \"v\""
            ]),
        Case(
            "volume two sources", pod(containers: "- {name: c, image: i}", spec: "volumes: [{name: v, emptyDir: {}, hostPath: {path: /tmp}}]"),
            [
                "my-pod.yaml: spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type"
            ]),
        Case(
            "volumeMount unknown volume", pod(containers: "- {name: c, image: i, volumeMounts: [{name: x, mountPath: /x}]}"),
            [
                "my-pod.yaml: spec.containers[0].volumeMounts[0].name: Not found: \"x\""
            ]),
        Case(
            "volumeMount mountPath required", pod(containers: "- {name: c, image: i, volumeMounts: [{name: v}]}", spec: "volumes: [{name: v}]"),
            [
                "my-pod.yaml: spec.containers[0].volumeMounts[0].mountPath: Required value"
            ]),
        Case(
            "volumeMount subPath absolute",
            pod(containers: "- {name: c, image: i, volumeMounts: [{name: v, mountPath: /v, subPath: /etc}]}", spec: "volumes: [{name: v}]"),
            [
                "my-pod.yaml: spec.containers[0].volumeMounts[0].subPath: Invalid value: \"/etc\": must be a relative path"
            ]),
        Case(
            "volumeMount propagation",
            pod(containers: "- {name: c, image: i, volumeMounts: [{name: v, mountPath: /v, mountPropagation: Bidirectional}]}", spec: "volumes: [{name: v}]"),
            [
                "my-pod.yaml: spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers"
            ]),
        Case(
            "hostPath type", pod(containers: "- {name: c, image: i}", spec: "volumes: [{name: v, hostPath: {path: /x, type: Folder}}]"),
            [
                "my-pod.yaml: spec.volumes[0].hostPath.type: Unsupported value: \"Folder\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\""
            ]),
        Case(
            "configMap name required", pod(containers: "- {name: c, image: i}", spec: "volumes: [{name: v, configMap: {}}]"),
            [
                "my-pod.yaml: spec.volumes[0].configMap.name: Required value"
            ]),
        Case(
            "pvc claimName required", pod(containers: "- {name: c, image: i}", spec: "volumes: [{name: v, persistentVolumeClaim: {}}]"),
            [
                "my-pod.yaml: spec.volumes[0].persistentVolumeClaim.claimName: Required value"
            ]),
        // env
        Case(
            "env name invalid", pod(containers: "- {name: c, image: i, env: [{name: 1BAD, value: x}]}"),
            [
                "my-pod.yaml: spec.containers[0].env[0].name: Invalid value: \"1BAD\": \(envName)"
            ]),
        Case(
            "env name required", pod(containers: "- {name: c, image: i, env: [{value: x}]}"),
            [
                "my-pod.yaml: spec.containers[0].env[0].name: Required value"
            ]),
        Case(
            "env value and valueFrom", pod(containers: "- {name: c, image: i, env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}"),
            [
                "my-pod.yaml: spec.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"
            ]),
        Case(
            "env fieldRef path", pod(containers: "- {name: c, image: i, env: [{name: A, valueFrom: {fieldRef: {fieldPath: spec.hostname}}}]}"),
            [
                "my-pod.yaml: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.hostname\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""
            ]),
        Case(
            "env label fieldRef", pod(containers: "- {name: c, image: i, env: [{name: A, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}]}"), []
        ),
        Case(
            "env secretKeyRef key required", pod(containers: "- {name: c, image: i, env: [{name: A, valueFrom: {secretKeyRef: {name: s}}}]}"),
            [
                "my-pod.yaml: spec.containers[0].env[0].valueFrom.secretKeyRef.key: Required value"
            ]),
        Case(
            "envFrom needs a source", pod(containers: "- {name: c, image: i, envFrom: [{prefix: P_}]}"),
            [
                "my-pod.yaml: spec.containers[0].envFrom[0]: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"
            ]),
        // security
        Case(
            "privileged without escalation", pod(containers: "- {name: c, image: i, securityContext: {privileged: true, allowPrivilegeEscalation: false}}"),
            [
                "my-pod.yaml: spec.containers[0].securityContext: Invalid value: {allowPrivilegeEscalation: false, privileged: true}: cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
            ]),
        Case(
            "seccomp localhost needs profile", pod(containers: "- {name: c, image: i, securityContext: {seccompProfile: {type: Localhost}}}"),
            [
                "my-pod.yaml: spec.containers[0].securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost"
            ]),
        Case(
            "seccomp type", pod(containers: "- {name: c, image: i}", spec: "securityContext: {seccompProfile: {type: Strict}}"),
            [
                "my-pod.yaml: spec.securityContext.seccompProfile.type: Unsupported value: \"Strict\": supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\""
            ]),
        Case(
            "runAsUser negative", pod(containers: "- {name: c, image: i, securityContext: {runAsUser: -1}}"),
            [
                "my-pod.yaml: spec.containers[0].securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive"
            ]),
        Case(
            "procMount", pod(containers: "- {name: c, image: i, securityContext: {procMount: Masked}}"),
            [
                "my-pod.yaml: spec.containers[0].securityContext.procMount: Unsupported value: \"Masked\": supported values: \"Default\", \"Unmasked\""
            ]),
        Case(
            "sysctl duplicate",
            pod(
                containers: "- {name: c, image: i}",
                spec: "securityContext: {sysctls: [{name: net.core.somaxconn, value: \"1\"}, {name: net.core.somaxconn, value: \"2\"}]}"),
            [
                "my-pod.yaml: spec.securityContext.sysctls[1].name: Duplicate value: \"net.core.somaxconn\""
            ]),
        Case(
            "labels", pod(containers: "- {name: c, image: i}").replacingOccurrences(of: "  name: p\n", with: "  name: p\n  labels: {app: \"-bad\"}\n"),
            [
                "my-pod.yaml: metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ]),
        Case(
            "dnsPolicy None needs dnsConfig", pod(containers: "- {name: c, image: i}", spec: "dnsPolicy: None"),
            [
                "my-pod.yaml: spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
            ]),
        Case(
            "hostNetwork hostPort must match",
            pod(containers: "- {name: c, image: i, ports: [{containerPort: 80, hostPort: 8080}]}", spec: "hostNetwork: true"),
            [
                "my-pod.yaml: spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true"
            ]),
    ]

    @Test(arguments: cases)
    func rule(_ c: Case) {
        let file = decode(c.yaml)
        #expect(file.errorMessages == c.errors)
        #expect(file.documents.first?.object == nil || c.errors.isEmpty)
    }

    @Test func yaml11BooleansAreNotStrings() {
        // `No` is a boolean in YAML 1.1, as in Kubernetes' YAML reader; the message says how to fix it.
        let file = decode(Self.pod(containers: "- {name: c, image: i}", spec: "restartPolicy: No"))
        #expect(file.errorMessages == ["my-pod.yaml: spec.restartPolicy: Invalid value: No: expected a string, got a boolean (quote it: \"No\")"])
    }

    @Test func validPodHasNoErrorsAndKeepsObject() {
        let file = decode(Self.pod(containers: "- {name: c, image: i}"))
        #expect(file.errorMessages.isEmpty)
        #expect(file.objects.count == 1)
    }

    @Test func severalErrorsAreAllReported() {
        let file = decode(Self.pod(containers: "- {name: c}\n- {name: c, image: i, ports: [{containerPort: 0}]}", spec: "restartPolicy: Sometimes"))
        #expect(
            file.errorMessages == [
                "my-pod.yaml: spec.containers[0].image: Required value",
                "my-pod.yaml: spec.containers[1].name: Duplicate value: \"c\"",
                "my-pod.yaml: spec.containers[1].ports[0].containerPort: Required value",
                "my-pod.yaml: spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ])
    }
}
