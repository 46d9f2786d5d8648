import KubeAPI
import Testing

@testable import PodSecurity

@Suite struct PodSecurityStandardsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var pod: Pod
        var level: PodSecurityLevel
        var message: String?
        var testDescription: String { "\(level): \(name)" }
    }

    static func restrictedOK(_ name: String = "x") -> Container {
        var c = Container(name: name, image: "busybox")
        c.securityContext = sc(runAsNonRoot: true, allowPrivilegeEscalation: false, add: ["NET_BIND_SERVICE"], drop: ["ALL"], seccomp: "RuntimeDefault")
        return c
    }

    static func pod(_ containers: [Container], _ edit: (inout Pod) -> Void = { _ in }) -> Pod {
        var p = Pod(metadata: ObjectMeta(name: "p", namespace: "ns"), spec: PodSpec(containers: containers))
        edit(&p)
        return p
    }

    static func container(_ name: String, _ sc: SecurityContext? = nil, _ edit: (inout Container) -> Void = { _ in }) -> Container {
        var c = Container(name: name, image: "busybox")
        c.securityContext = sc
        edit(&c)
        return c
    }

    static let cases: [Case] = [
        Case(name: "plain pod passes baseline", pod: pod([container("x")]), level: .baseline, message: nil),
        Case(name: "anything passes privileged", pod: pod([container("x", sc(privileged: true))]) { $0.spec.hostPID = true }, level: .privileged, message: nil),
        Case(
            name: "plain pod, restricted", pod: pod([container("x")]), level: .restricted,
            message:
                #"violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "x" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "x" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "x" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "x" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        ),
        Case(name: "compliant pod passes restricted", pod: pod([restrictedOK()]), level: .restricted, message: nil),
        Case(
            name: "pod-level runAsNonRoot and seccomp satisfy restricted",
            pod: pod([container("x", sc(allowPrivilegeEscalation: false, drop: ["ALL"]))]) {
                $0.spec.securityContext = podSC(runAsNonRoot: true, seccomp: "Localhost")
            }, level: .restricted, message: nil),
        Case(
            name: "privileged + host namespaces, baseline",
            pod: pod([container("a", sc(privileged: true)), container("b", sc(privileged: true))]) {
                $0.spec.hostNetwork = true
                $0.spec.hostIPC = true
            }, level: .baseline,
            message:
                #"violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true, hostIPC=true), privileged (containers "a", "b" must not set securityContext.privileged=true)"#
        ),
        Case(
            name: "non-default capabilities", pod: pod([container("a", sc(add: ["NET_RAW", "SYS_ADMIN", "CHOWN"]))]), level: .baseline,
            message:
                #"violates PodSecurity "baseline:latest": non-default capabilities (container "a" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add)"#
        ),
        Case(
            name: "hostPath, hostPort, Unconfined, sysctl",
            pod: pod([
                container("web", sc(seccomp: "Unconfined")) { $0.ports = [ContainerPort(containerPort: 80)] }
            ]) {
                var v = Volume(name: "host")
                v.hostPath = HostPathVolumeSource(path: "/etc")
                $0.spec.volumes = [v]
                $0.spec.containers[0].ports?[0].hostPort = 8080
                $0.spec.securityContext = podSC(sysctls: ["kernel.msgmax"])
            }, level: .baseline,
            message:
                #"violates PodSecurity "baseline:latest": hostPath volumes (volume "host"), hostPort (container "web" uses hostPort 8080), seccompProfile (container "web" must not set securityContext.seccompProfile.type to "Unconfined"), forbidden sysctls (kernel.msgmax)"#
        ),
        Case(
            name: "procMount Unmasked", pod: pod([container("a", sc(procMount: "Unmasked"))]), level: .baseline,
            message: #"violates PodSecurity "baseline:latest": procMount (container "a" must not set securityContext.procMount to "Unmasked")"#
        ),
        Case(
            name: "restricted: runAsNonRoot false, runAsUser 0, extra caps, hostPath",
            pod: pod([
                container(
                    "a", sc(runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, add: ["SYS_TIME"], drop: ["ALL"], seccomp: "RuntimeDefault")),
                restrictedOK("b"),
            ]) {
                var v = Volume(name: "data")
                v.hostPath = HostPathVolumeSource(path: "/data")
                $0.spec.volumes = [v]
            }, level: .restricted,
            message:
                #"violates PodSecurity "restricted:latest": unrestricted capabilities (container "a" must not include "SYS_TIME" in securityContext.capabilities.add), restricted volume types (volume "data" uses restricted volume type "hostPath"), runAsNonRoot != true (container "a" must not set securityContext.runAsNonRoot=false), runAsUser=0 (container "a" must not set runAsUser=0)"#
        ),
        Case(
            name: "restricted: baseline violations come first",
            pod: pod([container("x", sc(runAsNonRoot: true, privileged: true, allowPrivilegeEscalation: true, drop: ["ALL"]))]) {
                $0.spec.securityContext = podSC(seccomp: "Unconfined")
                $0.spec.hostPID = true
            }, level: .restricted,
            message:
                #"violates PodSecurity "restricted:latest": host namespaces (hostPID=true), privileged (container "x" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "x" must set securityContext.allowPrivilegeEscalation=false), seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")"#
        ),
        Case(
            name: "init containers are checked first",
            pod: pod([restrictedOK("app")]) { $0.spec.initContainers = [container("init")] }, level: .restricted,
            message:
                #"violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "init" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "init" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "init" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "init" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
        ),
        Case(
            name: "seLinuxOptions and AppArmor",
            pod: pod([
                container("a") {
                    var o = SELinuxOptions()
                    o.type = "spc_t"
                    o.user = "system_u"
                    $0.securityContext = SecurityContext()
                    $0.securityContext?.seLinuxOptions = o
                    $0.securityContext?.appArmorProfile = AppArmorProfile(type: "Unconfined")
                }
            ]) {
                var o = SELinuxOptions()
                o.type = "container_t"
                $0.spec.securityContext = PodSecurityContext()
                $0.spec.securityContext?.seLinuxOptions = o
            }, level: .baseline,
            message: #"violates PodSecurity "baseline:latest": forbidden AppArmor profile (container "a" must not set AppArmor profile type to "Unconfined"), "#
                + #"seLinuxOptions (container "a" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)"#
        ),
    ]

    @Test(arguments: cases)
    func check(_ c: Case) {
        do {
            try PodSecurityStandards.check(c.pod, level: c.level)
            #expect(c.message == nil)
        } catch {
            #expect(error.message == c.message)
            #expect(error.reason == "Forbidden")
            #expect(error.kind == .podSecurityStandards)
        }
    }

    @Test func namespaceLabelOverride() {
        let p = Self.pod([Self.container("x")])
        let labels: (String) -> [String: String]? = { ns in
            ns == "ns" ? [PodSecurityStandards.enforceLabel: "restricted"] : nil
        }
        #expect(PodSecurityStandards.level(for: p, defaultLevel: .baseline, namespaceLabels: labels) == .restricted)
        #expect(PodSecurityStandards.level(for: p, defaultLevel: .baseline) == .baseline)
        let bogus: (String) -> [String: String]? = { _ in [PodSecurityStandards.enforceLabel: "strict"] }
        #expect(PodSecurityStandards.level(for: p, defaultLevel: .privileged, namespaceLabels: bogus) == .privileged)
    }
}
