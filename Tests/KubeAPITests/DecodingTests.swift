import Foundation
import Testing

@testable import KubeAPI

struct DecodingTests {
    @Test func seedExampleDecodesWithDefaults() throws {
        let pod = try decodePod(
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: my-pod
            spec:
              containers:
              - name: my-container
                image: nginx
            """)
        #expect(pod.key == "default/my-pod")
        #expect(pod.metadata.namespace == "default")
        #expect(pod.spec.restartPolicy == "Always")
        #expect(pod.spec.terminationGracePeriodSeconds == 30)
        #expect(pod.spec.dnsPolicy == "ClusterFirst")
        #expect(pod.spec.schedulerName == "default-scheduler")
        #expect(pod.spec.enableServiceLinks == true)
        #expect(pod.spec.securityContext == PodSecurityContext())
        let container = try #require(pod.spec.containers.first)
        #expect(container.name == "my-container")
        #expect(container.image == "nginx")
        #expect(container.imagePullPolicy == "Always")
        #expect(container.terminationMessagePath == "/dev/termination-log")
        #expect(container.terminationMessagePolicy == "File")
    }

    @Test(arguments: [
        ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"), ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"), ("nginx@sha256:abcd", "IfNotPresent"), ("registry.k8s.io/pause:3.9", "IfNotPresent"),
    ])
    func imagePullPolicyDefault(image: String, policy: String) {
        #expect(Defaults.imagePullPolicy(forImage: image) == policy)
    }

    @Test func explicitValuesAreKept() throws {
        let pod = try decodePod(
            podYAML(
                container: "imagePullPolicy: Never\nports: [{containerPort: 80, protocol: UDP}]",
                spec: "restartPolicy: Never\nterminationGracePeriodSeconds: 0\ndnsPolicy: Default"))
        #expect(pod.spec.restartPolicy == "Never")
        #expect(pod.spec.terminationGracePeriodSeconds == 0)
        #expect(pod.spec.dnsPolicy == "Default")
        #expect(pod.spec.containers[0].imagePullPolicy == "Never")
        #expect(pod.spec.containers[0].ports?[0].protocol == "UDP")
    }

    @Test func portAndVolumeDefaults() throws {
        let pod = try decodePod(
            podYAML(
                container:
                    "ports: [{containerPort: 8080, name: http}]\nvolumeMounts: [{name: a, mountPath: /a}, {name: b, mountPath: /b}, {name: s, mountPath: /s}]",
                spec: "volumes:\n- name: a\n- name: b\n  hostPath: {path: /tmp}\n- name: s\n  secret: {secretName: x}"))
        #expect(pod.spec.containers[0].ports?[0].protocol == "TCP")
        #expect(pod.spec.containers[0].ports?[0].hostPort == nil)
        #expect(pod.spec.volumes?[0].emptyDir == EmptyDirVolumeSource())
        #expect(pod.spec.volumes?[1].hostPath?.type == "")
        #expect(pod.spec.volumes?[2].secret?.defaultMode == 0o644)
    }

    @Test func hostNetworkPortsDefaultHostPort() throws {
        let pod = try decodePod(podYAML(container: "ports: [{containerPort: 8080}]", spec: "hostNetwork: true"))
        #expect(pod.spec.containers[0].ports?[0].hostPort == 8080)
    }

    @Test func limitsDefaultRequests() throws {
        let pod = try decodePod(podYAML(container: "resources:\n  limits: {cpu: 500m, memory: 64Mi}\n  requests: {cpu: 250m}"))
        let resources = try #require(pod.spec.containers[0].resources)
        #expect(resources.requests?["cpu"]?.description == "250m")
        #expect(resources.requests?["memory"]?.description == "64Mi")
    }

    @Test func httpGetLivenessProbeExample() throws {
        let pod = try decodePod(
            podYAML(container: "livenessProbe:\n  httpGet:\n    path: /healthz\n    port: 8080\n  initialDelaySeconds: 30\n  periodSeconds: 10"))
        let probe = try #require(pod.spec.containers[0].livenessProbe)
        #expect(probe.httpGet?.path == "/healthz")
        #expect(probe.httpGet?.port == .int(8080))
        #expect(probe.httpGet?.scheme == "HTTP")
        #expect(probe.initialDelaySeconds == 30)
        #expect(probe.periodSeconds == 10)
        #expect(probe.timeoutSeconds == 1)
        #expect(probe.successThreshold == 1)
        #expect(probe.failureThreshold == 3)
    }

    @Test func execProbeExample() throws {
        let pod = try decodePod(
            podYAML(container: "livenessProbe:\n  exec:\n    command:\n    - cat\n    - /tmp/healthy\n  initialDelaySeconds: 5\n  periodSeconds: 5"))
        let probe = try #require(pod.spec.containers[0].livenessProbe)
        #expect(probe.exec?.command == ["cat", "/tmp/healthy"])
        #expect(probe.initialDelaySeconds == 5)
        #expect(probe.periodSeconds == 5)
        #expect(probe.failureThreshold == 3)
    }

    @Test func tcpSocketProbeExample() throws {
        let pod = try decodePod(
            podYAML(
                container: "ports: [{containerPort: 8080}]\nreadinessProbe:\n  tcpSocket:\n    port: 8080\n  initialDelaySeconds: 30\n  periodSeconds: 10"))
        let probe = try #require(pod.spec.containers[0].readinessProbe)
        #expect(probe.tcpSocket?.port == .int(8080))
        #expect(probe.initialDelaySeconds == 30)
        #expect(probe.periodSeconds == 10)
        #expect(probe.timeoutSeconds == 1)
    }

    @Test func namedProbePortAndDefaultsForHttpPath() throws {
        let pod = try decodePod(
            podYAML(container: "ports: [{name: http, containerPort: 80}]\nstartupProbe:\n  httpGet: {port: http}\n  periodSeconds: 0"))
        let probe = try #require(pod.spec.containers[0].startupProbe)
        #expect(probe.httpGet?.port == .string("http"))
        #expect(probe.httpGet?.path == "/")
        // Kubernetes' int32 probe fields treat 0 as unset.
        #expect(probe.periodSeconds == 10)
    }

    @Test func fullContainerAndPodFields() throws {
        let pod = try decodePod(
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: web
              namespace: prod
              uid: "1234"
              labels: {app: web}
              annotations: {note: "x"}
            spec:
              hostname: web-0
              subdomain: web
              nodeName: node1
              nodeSelector: {disk: ssd}
              serviceAccountName: sa
              hostPID: false
              hostIPC: false
              shareProcessNamespace: true
              activeDeadlineSeconds: 600
              dnsPolicy: None
              dnsConfig:
                nameservers: [1.1.1.1]
                searches: [svc.local]
                options: [{name: ndots, value: "2"}]
              hostAliases: [{ip: 127.0.0.1, hostnames: [foo.local]}]
              securityContext:
                runAsUser: 1000
                runAsGroup: 3000
                runAsNonRoot: true
                supplementalGroups: [4000]
                fsGroup: 2000
                sysctls: [{name: net.core.somaxconn, value: "1024"}]
                seccompProfile: {type: RuntimeDefault}
              initContainers:
              - name: init
                image: busybox
                command: [sh, -c, "true"]
              containers:
              - name: app
                image: app:1
                command: [/bin/app]
                args: [--port, "8080"]
                workingDir: /srv
                stdin: true
                tty: true
                ports: [{name: http, containerPort: 8080, hostPort: 80, hostIP: 0.0.0.0}]
                env:
                - {name: A, value: "1"}
                - name: POD
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
                - name: CPU
                  valueFrom: {resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 1m}}
                - name: CM
                  valueFrom: {configMapKeyRef: {name: cm, key: k, optional: true}}
                - name: S
                  valueFrom: {secretKeyRef: {name: s, key: k}}
                envFrom:
                - {prefix: P_, configMapRef: {name: cm}}
                - {secretRef: {name: s, optional: true}}
                resources:
                  requests: {cpu: 100m, memory: 64Mi}
                  limits: {cpu: "1", memory: 128Mi}
                volumeMounts:
                - {name: data, mountPath: /data, readOnly: true, subPath: x, mountPropagation: None}
                - {name: cfg, mountPath: /cfg, subPathExpr: $(POD)}
                livenessProbe:
                  grpc: {port: 9000, service: health}
                  terminationGracePeriodSeconds: 5
                readinessProbe:
                  httpGet:
                    path: /ready
                    port: http
                    host: 127.0.0.1
                    scheme: HTTPS
                    httpHeaders: [{name: X-Probe, value: "1"}]
                lifecycle:
                  postStart: {exec: {command: [touch, /tmp/started]}}
                  preStop: {sleep: {seconds: 5}}
                terminationMessagePolicy: FallbackToLogsOnError
                securityContext:
                  runAsUser: 1001
                  allowPrivilegeEscalation: false
                  readOnlyRootFilesystem: true
                  capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
                  seccompProfile: {type: Localhost, localhostProfile: profiles/app.json}
                  appArmorProfile: {type: RuntimeDefault}
                  procMount: Default
                  seLinuxOptions: {level: "s0:c123,c456"}
                  windowsOptions: {runAsUserName: app}
              volumes:
              - name: data
                emptyDir: {medium: Memory, sizeLimit: 1Gi}
              - name: cfg
                projected:
                  sources:
                  - configMap: {name: cm, items: [{key: a, path: a.txt}]}
                  - secret: {name: s}
                  - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
                  - serviceAccountToken: {path: token}
              - name: dapi
                downwardAPI: {items: [{path: cpu, resourceFieldRef: {containerName: app, resource: requests.cpu}}]}
              - name: claim
                persistentVolumeClaim: {claimName: c1, readOnly: true}
              - name: conf
                configMap: {name: cm, optional: true, defaultMode: 0400}
            """)
        #expect(pod.key == "prod/web")
        #expect(pod.metadata.uid == "1234")
        #expect(pod.spec.containers[0].env?.count == 5)
        #expect(pod.spec.containers[0].readinessProbe?.httpGet?.port == .string("http"))
        #expect(pod.spec.volumes?.count == 5)
        #expect(pod.spec.volumes?[1].projected?.sources?[3].serviceAccountToken?.expirationSeconds == 3600)
        #expect(pod.spec.volumes?[4].configMap?.defaultMode == 0o400)
        #expect(pod.spec.containers[0].env?[1].valueFrom?.fieldRef?.apiVersion == "v1")
    }
}
