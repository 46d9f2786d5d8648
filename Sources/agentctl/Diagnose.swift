import AgentAPI
import ArgumentParser
import Foundation
import KubeAPI

/// `agentctl diagnose NAME`: walks the usual reasons a pod does not start or keeps failing and prints, for
/// this pod, what was found and the fix it suggests. Read-only: it uses the same API as `get` and `logs`.
struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Explain why a pod does not start or keeps failing, with suggested fixes.")
    @OptionGroup var connection: Connection
    @Argument(help: "Pod name.") var name: String
    @Option(name: .shortAndLong, help: "Namespace.") var namespace = "default"

    struct Finding {
        var problem: String
        var fix: String
    }

    func run() throws {
        let pods = try connection.pods()
        let events = (try? connection.client.getJSON("/v1/events", as: EventListBody.self, decoder: KubeJSON.decoder()).items) ?? []
        guard let pod = pods.filter({ $0.metadata.name == name && $0.metadata.namespace == namespace }).last else {
            print(missingPod(events: events))
            throw ExitCode.failure
        }
        let podEvents = events.filter { $0.involvedObject.kind == "Pod" && $0.involvedObject.name == name }
        let findings = diagnose(pod, events: podEvents)
        let phase = pod.status?.phase ?? "Pending"
        print("Pod \(namespace)/\(name): \(PodTableRow(pod: pod, now: Date()).status) (phase \(phase))")
        if findings.isEmpty {
            print(Terminal.color("✔ no problems found", for: "Running"))
            return
        }
        for finding in findings {
            print(Terminal.color("✘ ", for: "Error") + finding.problem)
            print("    fix: \(finding.fix)")
        }
    }

    /// No such pod: its manifest may not decode, may duplicate another, or may not be in the directory.
    func missingPod(events: [EventBody]) -> String {
        let related = events.filter { event in
            event.involvedObject.kind == "File"
                && (event.involvedObject.fieldPath == "\(namespace)/\(name)" || event.message.contains("\"\(namespace)/\(name)\""))
        }
        var out = "Pod \(namespace)/\(name) does not exist.\n"
        if related.isEmpty {
            let info = (try? connection.client.get("/v1/info")).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: String] }
            out += "    fix: put its manifest in \(info?["manifests"] ?? "the manifest directory") (agentctl apply -f FILE); "
            out += "check `agentctl get events` for files that did not decode.\n"
        }
        for event in related {
            out += "✘ \(event.involvedObject.name): \(event.message)\n    fix: correct the manifest; the agent re-reads it when it is saved.\n"
        }
        return out
    }

    func diagnose(_ pod: Pod, events: [EventBody]) -> [Finding] {
        var findings: [Finding] = []
        let status = pod.status ?? PodStatus()
        // Security refusals (Pod Security Standards, sysctls, runAsNonRoot, seccomp ...) as the agent explains them.
        let security = SecurityReportBody.fetch(connection.client, namespace: namespace, name: name)?.diagnoses ?? []
        for diagnosis in security {
            let subject = diagnosis.container.map { "container \($0): " } ?? "rejected at admission: "
            findings.append(
                Finding(problem: "\(subject)\(diagnosis.reason): \(diagnosis.message)\n    why: \(diagnosis.explanation)", fix: diagnosis.fix))
        }
        // Admission.
        if let reason = status.reason, !security.contains(where: { $0.container == nil }) {
            let fix: String
            switch reason {
            case "OutOfcpu", "OutOfmemory": fix = "lower the pod's resources.requests or free the node (other pods' requests count)"
            case "OutOfpods": fix = "remove pods or raise minikubelet --max-pods"
            case "NodeAffinity":
                fix = "make spec.nodeSelector match the node's labels (kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch) or remove it"
            case "NodeName": fix = "set spec.nodeName to this node's name or remove it"
            default: fix = "see the message"
            }
            findings.append(Finding(problem: "rejected at admission: \(reason): \(status.message ?? "")", fix: fix))
        }
        let specs = (pod.spec.initContainers ?? []) + pod.spec.containers
        let statuses = (status.initContainerStatuses ?? []) + (status.containerStatuses ?? [])
        for container in specs {
            guard let containerStatus = statuses.first(where: { $0.name == container.name }) else { continue }
            if security.contains(where: { $0.container == container.name }) { continue }
            if let waiting = containerStatus.state?.waiting, let reason = waiting.reason {
                switch reason {
                case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName":
                    findings.append(
                        Finding(
                            problem: "container \(container.name): image \(container.image ?? "") cannot be used: \(reason): \(waiting.message ?? "")",
                            fix: "load it (agentctl image load ARCHIVE --name \(container.image ?? "")) or fix the image name; "
                                + "imagePullPolicy is \(container.imagePullPolicy ?? "IfNotPresent")"))
                case "CreateContainerConfigError":
                    findings.append(
                        Finding(
                            problem: "container \(container.name): configuration error: \(waiting.message ?? "")",
                            fix: "fix the env / volume / securityContext reference named in the message"))
                case "CreateContainerError", "RunContainerError":
                    findings.append(
                        Finding(
                            problem: "container \(container.name): the runtime could not start it: \(waiting.message ?? "")",
                            fix: "check the command exists in the image and the agent log for the runtime's error"))
                case "CrashLoopBackOff":
                    findings.append(crashFinding(container, containerStatus.lastState?.terminated, backoff: waiting.message))
                default:
                    break
                }
            } else if let terminated = containerStatus.state?.terminated, terminated.exitCode != 0 {
                findings.append(crashFinding(container, terminated, backoff: nil))
            }
            // Probes pointing at ports no container declares.
            let declared = Set(pod.spec.containers.flatMap { ($0.ports ?? []).flatMap { [String($0.containerPort), $0.name ?? ""] } })
            for (kind, probe) in [("liveness", container.livenessProbe), ("readiness", container.readinessProbe), ("startup", container.startupProbe)] {
                guard let probe, let port = probe.httpGet?.port ?? probe.tcpSocket?.port else { continue }
                let text: String
                switch port {
                case .int(let number): text = String(number)
                case .string(let name): text = name
                }
                if !declared.contains(text) {
                    findings.append(
                        Finding(
                            problem: "container \(container.name): \(kind) probe uses port \(text), which no container declares in ports",
                            fix: "add the port to the container's ports or point the probe at the port the process listens on"))
                }
            }
        }
        for event in events where event.reason == "FailedCreatePodSandBox" {
            findings.append(
                Finding(problem: "pod namespaces could not be set up: \(event.message)", fix: "check the agent log; unshare(1) and mount must work"))
        }
        for event in events where event.reason == "UnsupportedField" {
            findings.append(Finding(problem: "not acted on by this agent: \(event.message)", fix: "remove the field or expect it to be ignored"))
        }
        return findings
    }

    func crashFinding(_ container: Container, _ terminated: ContainerStateTerminated?, backoff: String?) -> Finding {
        var problem = "container \(container.name) keeps failing"
        if let terminated {
            problem += ": last run ended with \(terminated.reason ?? "Error") (exit code \(terminated.exitCode))"
            if let message = terminated.message { problem += ", message: \(message)" }
        }
        if let backoff { problem += "; \(backoff)" }
        let logs =
            (try? connection.client.get("/v1/pods/\(namespace)/\(name)/log?container=\(container.name)&tail=5&previous=true"))
            ?? (try? connection.client.get("/v1/pods/\(namespace)/\(name)/log?container=\(container.name)&tail=5"))
        if let logs, !logs.isEmpty {
            problem += "\n    last log lines:\n" + String(decoding: logs, as: UTF8.self).split(separator: "\n").map { "      \($0)" }.joined(separator: "\n")
        }
        let fix =
            terminated?.reason == "OOMKilled"
            ? "raise resources.limits.memory or make the process use less memory"
            : "fix the command or its input (see the log: agentctl logs \(name) -c \(container.name) --previous)"
        return Finding(problem: problem, fix: fix)
    }
}
