import Testing

@testable import KubeAPI

/// Pod manifests in the shape of the Kubernetes documentation's examples: each must decode without errors or
/// warnings (architecture rule 5: a real manifest works unchanged).
struct DocsExamplesTests {
    static let examples: [(String, String)] = [
        (
            "liveness-exec",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              labels:
                test: liveness
              name: liveness-exec
            spec:
              containers:
              - name: liveness
                image: registry.k8s.io/busybox
                args:
                - /bin/sh
                - -c
                - touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600
                livenessProbe:
                  exec:
                    command:
                    - cat
                    - /tmp/healthy
                  initialDelaySeconds: 5
                  periodSeconds: 5
            """
        ),
        (
            "liveness-http",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              labels:
                test: liveness
              name: liveness-http
            spec:
              containers:
              - name: liveness
                image: registry.k8s.io/e2e-test-images/agnhost:2.40
                args:
                - liveness
                livenessProbe:
                  httpGet:
                    path: /healthz
                    port: 8080
                    httpHeaders:
                    - name: Custom-Header
                      value: Awesome
                  initialDelaySeconds: 3
                  periodSeconds: 3
            """
        ),
        (
            "goproxy tcp",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: goproxy
              labels:
                app: goproxy
            spec:
              containers:
              - name: goproxy
                image: registry.k8s.io/goproxy:0.1
                ports:
                - containerPort: 8080
                readinessProbe:
                  tcpSocket:
                    port: 8080
                  initialDelaySeconds: 15
                  periodSeconds: 10
                livenessProbe:
                  tcpSocket:
                    port: 8080
                  initialDelaySeconds: 15
                  periodSeconds: 10
            """
        ),
        (
            "named port with startup probe",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: startup
            spec:
              containers:
              - name: app
                image: nginx
                ports:
                - name: liveness-port
                  containerPort: 8080
                livenessProbe:
                  httpGet:
                    path: /healthz
                    port: liveness-port
                  failureThreshold: 1
                  periodSeconds: 10
                startupProbe:
                  httpGet:
                    path: /healthz
                    port: liveness-port
                  failureThreshold: 30
                  periodSeconds: 10
            """
        ),
        (
            "init containers",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: myapp-pod
              labels:
                app.kubernetes.io/name: MyApp
            spec:
              containers:
              - name: myapp-container
                image: busybox:1.28
                command: ['sh', '-c', 'echo The app is running! && sleep 3600']
              initContainers:
              - name: init-myservice
                image: busybox:1.28
                command: ['sh', '-c', "until nslookup myservice.$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace).svc.cluster.local; do echo waiting for myservice; sleep 2; done"]
              - name: init-mydb
                image: busybox:1.28
                command: ['sh', '-c', "until nslookup mydb.$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace).svc.cluster.local; do echo waiting for mydb; sleep 2; done"]
            """
        ),
        (
            "security context",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: security-context-demo
            spec:
              securityContext:
                runAsUser: 1000
                runAsGroup: 3000
                fsGroup: 2000
                supplementalGroups: [4000]
              volumes:
              - name: sec-ctx-vol
                emptyDir: {}
              containers:
              - name: sec-ctx-demo
                image: busybox:1.28
                command: [ "sh", "-c", "sleep 1h" ]
                volumeMounts:
                - name: sec-ctx-vol
                  mountPath: /data/demo
                securityContext:
                  allowPrivilegeEscalation: false
                  capabilities:
                    add: ["NET_ADMIN", "SYS_TIME"]
            """
        ),
        (
            "env from fields",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: dapi-envars-fieldref
            spec:
              containers:
                - name: test-container
                  image: registry.k8s.io/busybox
                  command: [ "sh", "-c"]
                  args:
                  - while true; do
                      echo -en '\\n';
                      printenv MY_NODE_NAME MY_POD_NAME MY_POD_NAMESPACE;
                      printenv MY_POD_IP MY_POD_SERVICE_ACCOUNT;
                      sleep 10;
                    done;
                  env:
                    - name: MY_NODE_NAME
                      valueFrom:
                        fieldRef:
                          fieldPath: spec.nodeName
                    - name: MY_POD_NAME
                      valueFrom:
                        fieldRef:
                          fieldPath: metadata.name
                    - name: MY_POD_IP
                      valueFrom:
                        fieldRef:
                          fieldPath: status.podIP
                    - name: MY_CPU_LIMIT
                      valueFrom:
                        resourceFieldRef:
                          containerName: test-container
                          resource: limits.cpu
                  resources:
                    requests:
                      memory: "32Mi"
                      cpu: "125m"
                    limits:
                      memory: "64Mi"
                      cpu: "250m"
              restartPolicy: Never
            """
        ),
        (
            "downward api volume",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: kubernetes-downwardapi-volume-example
              labels:
                zone: us-est-coast
                cluster: test-cluster1
              annotations:
                build: two
                builder: john-doe
            spec:
              containers:
                - name: client-container
                  image: registry.k8s.io/busybox:1.27.2
                  command: ["sh", "-c"]
                  args:
                  - while true; do
                      if [[ -e /etc/podinfo/labels ]]; then
                        echo -en '\\n\\n'; cat /etc/podinfo/labels; fi;
                      sleep 5;
                    done;
                  volumeMounts:
                    - name: podinfo
                      mountPath: /etc/podinfo
              volumes:
                - name: podinfo
                  downwardAPI:
                    items:
                      - path: "labels"
                        fieldRef:
                          fieldPath: metadata.labels
                      - path: "annotations"
                        fieldRef:
                          fieldPath: metadata.annotations
            """
        ),
        (
            "configmap and secret",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: dapi-test-pod
            spec:
              containers:
                - name: test-container
                  image: registry.k8s.io/busybox
                  command: [ "/bin/sh", "-c", "env" ]
                  env:
                    - name: SPECIAL_LEVEL_KEY
                      valueFrom:
                        configMapKeyRef:
                          name: special-config
                          key: special.how
                    - name: SECRET_USERNAME
                      valueFrom:
                        secretKeyRef:
                          name: backend-user
                          key: backend-username
                  envFrom:
                  - configMapRef:
                      name: special-config
                  volumeMounts:
                  - name: config-volume
                    mountPath: /etc/config
                  - name: secret-volume
                    readOnly: true
                    mountPath: "/etc/secret-volume"
              volumes:
                - name: config-volume
                  configMap:
                    name: special-config
                - name: secret-volume
                  secret:
                    secretName: test-secret
              restartPolicy: Never
            """
        ),
        (
            "hostPath and lifecycle",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: lifecycle-demo
            spec:
              containers:
              - name: lifecycle-demo-container
                image: nginx
                lifecycle:
                  postStart:
                    exec:
                      command: ["/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message"]
                  preStop:
                    exec:
                      command: ["/bin/sh","-c","nginx -s quit; while killall -0 nginx; do sleep 1; done"]
                volumeMounts:
                - mountPath: /foo
                  name: example-volume
              volumes:
              - name: example-volume
                hostPath:
                  path: /data/foo
                  type: DirectoryOrCreate
            """
        ),
        (
            "static web (kubelet docs)",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: static-web
              labels:
                role: myrole
            spec:
              containers:
                - name: web
                  image: nginx
                  ports:
                    - name: web
                      containerPort: 80
                      protocol: TCP
            """
        ),
    ]

    @Test(arguments: examples)
    func decodesCleanly(_ name: String, _ yaml: String) {
        let file = decode(yaml, name: "\(name).yaml")
        #expect(file.errorMessages.isEmpty, "\(file.errorMessages)")
        #expect(file.warningMessages.isEmpty, "\(file.warningMessages)")
        #expect(file.objects.count == 1)
    }
}
